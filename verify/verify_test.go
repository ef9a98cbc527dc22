package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/roles"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// quick are options that keep failing tests fast.
var quick = Options{DialTimeout: 5 * time.Second, CommandTimeout: 10 * time.Second}

func runTarget(t *testing.T, tg Target, o Options) NodeResult {
	t.Helper()
	rep := Run(context.Background(), []Target{tg}, o)
	if len(rep.Nodes) != 1 {
		t.Fatalf("got %d node results, want 1", len(rep.Nodes))
	}
	return rep.Nodes[0]
}

func result(t *testing.T, n NodeResult, name string) CheckResult {
	t.Helper()
	for _, c := range n.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s: no %s check in %v", n.Host, name, n.Checks)
	return CheckResult{}
}

func dump(n NodeResult) string {
	var b strings.Builder
	for _, c := range n.Checks {
		b.WriteString("\n  " + c.Name + " " + string(c.Status) + " " + c.Reason + ": " + c.Detail)
	}
	return b.String()
}

func TestHealthyNodePassesEveryCheckInOrder(t *testing.T) {
	signer := sshdtest.NewSigner(t)
	for _, agent := range []string{"cloud-init", "ignition"} {
		t.Run(agent, func(t *testing.T) {
			f := newFixtureNode(t, "etcd1", signer, fixtureOptions{})
			f.target.Expect.Provisioner = agent
			n := runTarget(t, f.target, quick)
			if !n.OK {
				t.Fatalf("healthy node failed:%s", dump(n))
			}
			// One session for sudo, one for every check's commands together.
			if n.sessions != 2 {
				t.Errorf("%d SSH sessions, want 2 (sudo, then the batch)", n.sessions)
			}
			want := Checks()
			if len(n.Checks) != len(want) {
				t.Fatalf("got %d checks, want %d", len(n.Checks), len(want))
			}
			for i, c := range n.Checks {
				if c.Name != want[i].Name || c.Title != want[i].Title {
					t.Errorf("check %d is %s, want %s", i, c.Name, want[i].Name)
				}
				if c.Status != Pass {
					t.Errorf("%s: %s (%s), want pass", c.Name, c.Status, c.Detail)
				}
			}
		})
	}
}

// TestEachCheckFailsAndSaysWhy breaks one thing per case on an otherwise healthy node and
// proves that exactly the check concerned fails (or passes with a note) with a detail
// that names the problem.
func TestEachCheckFailsAndSaysWhy(t *testing.T) {
	now := time.Now()
	signer := sshdtest.NewSigner(t)
	cases := []struct {
		name   string
		break_ func(f *fixtureNode)
		check  string
		status Status
		detail []string
		// alsoFail are other checks expected to fail as a consequence.
		alsoFail []string
	}{
		{"cloud-init error lists its errors", func(f *fixtureNode) {
			f.jsonFile("cloud-init.json", map[string]any{"status": "error", "errors": []string{"('scripts_user', RuntimeError('Runparts: 1 failures (part-001) in 1 attempted commands'))"}})
		}, "first-boot", Fail, []string{"cloud-init failed", "scripts_user"}, nil},
		{"cloud-init still running says its stage", func(f *fixtureNode) {
			f.jsonFile("cloud-init.json", map[string]any{"status": "running", "detail": "Running in stage: modules-final"})
		}, "first-boot", Fail, []string{"still running", "modules-final"}, nil},
		{"cloud-init disabled", func(f *fixtureNode) {
			f.jsonFile("cloud-init.json", map[string]any{"status": "disabled", "detail": "Cloud-init disabled by /etc/cloud/cloud-init.disabled"})
		}, "first-boot", Fail, []string{"disabled", "user-data was not applied"}, nil},
		{"cloud-init degraded but done passes with the recovered errors", func(f *fixtureNode) {
			f.jsonFile("cloud-init.json", map[string]any{"status": "done", "extended_status": "degraded done", "recoverable_errors": map[string][]string{"DEPRECATED": {"Key 'chpasswd' is deprecated"}}})
		}, "first-boot", Pass, []string{"recovered from errors", "DEPRECATED: Key 'chpasswd'"}, nil},
		{"Ignition result missing", func(f *fixtureNode) {
			f.target.Expect.Provisioner = "ignition"
			f.remove("etc/.ignition-result.json")
		}, "first-boot", Fail, []string{"Ignition has not finished", "No such file"}, nil},
		{"Ignition ran without the user config", func(f *fixtureNode) {
			f.target.Expect.Provisioner = "ignition"
			f.jsonFile("etc/.ignition-result.json", map[string]any{"provisioningDate": "2026-11-24T10:00:00Z", "userConfigProvided": false})
		}, "first-boot", Fail, []string{"without a user config"}, nil},
		{"Ignition critical journal lines", func(f *fixtureNode) {
			f.target.Expect.Provisioner = "ignition"
			f.file("journal/ignition", "files: createFilesystemsFiles: createFiles: op(1): [failed]   writing file \"/etc/kubernetes/pki/ca.crt\": open: permission denied\n")
		}, "first-boot", Fail, []string{"critical errors", "permission denied"}, nil},
		{"no status file means the install has not started", func(f *fixtureNode) {
			f.remove("var/lib/kisgen/status.json")
		}, "install", Fail, []string{"no status file at", "has not started"}, nil},
		{"failed install shows step and error", func(f *fixtureNode) {
			f.status(func(s *roles.Status) {
				s.Phase, s.Step, s.Error = roles.PhaseFailed, "fetch kubelet", "sha256 mismatch: got 1f2e…, want 9c0d…"
			})
		}, "install", Fail, []string{`failed at step "fetch kubelet"`, "sha256 mismatch"}, nil},
		{"install in progress shows phase and step", func(f *fixtureNode) {
			f.status(func(s *roles.Status) { s.Phase, s.Step = roles.PhaseConfigure, "start etcd" })
		}, "install", Fail, []string{"phase configure", `"start etcd"`}, nil},
		{"status file of another host", func(f *fixtureNode) {
			f.status(func(s *roles.Status) { s.Host = "worker9" })
		}, "install", Fail, []string{`"worker9"`, "another node's user-data"}, nil},
		{"stale user-data", func(f *fixtureNode) {
			f.status(func(s *roles.Status) { s.UserDataSHA256 = strings.Repeat("cd", 32) })
		}, "install", Fail, []string{"not up to date", "cdcdcdcdcdcd"}, nil},
		{"roles differ from the plan", func(f *fixtureNode) {
			f.status(func(s *roles.Status) { s.Roles = []string{"worker"} })
		}, "install", Fail, []string{"roles worker", "etcd,master,worker"}, nil},
		{"fatal pre-flight failure", func(f *fixtureNode) {
			f.status(func(s *roles.Status) {
				s.Phase, s.Step, s.Error = roles.PhaseFailed, "preflight", "pre-flight checks failed"
				s.Preflight = append(s.Preflight, roles.Check{Name: "swap off", OK: false, Fatal: true, Detail: "swap is on (/swapfile, 2 GiB)"})
			})
		}, "preflight", Fail, []string{"1 of 3 pre-flight checks failed", "swap off: swap is on"}, []string{"install"}},
		{"warning-only pre-flight passes with the warnings", func(f *fixtureNode) {
			f.status(func(s *roles.Status) {
				s.Preflight = append(s.Preflight, roles.Check{Name: "time synchronised", OK: false, Detail: "no NTP server answers"})
			})
		}, "preflight", Pass, []string{"warnings", "time synchronised: no NTP server answers"}, nil},
		{"failed unit shows its state and last journal lines", func(f *fixtureNode) {
			f.file("units/kubelet.service", "failed failed exit-code\n")
			f.file("journal/kubelet.service", "line 1\nE1124 kubelet.go:1566] \"Failed to start ContainerManager\" err=\"failed to get rootfs info\"\nkubelet.service: Main process exited, code=exited, status=1/FAILURE\n")
		}, "units", Fail, []string{"1 of 4 units not active and enabled", "kubelet.service: failed, result exit-code", "last journal lines", "Failed to start ContainerManager", "status=1/FAILURE"}, nil},
		{"activating unit shows its sub-state", func(f *fixtureNode) {
			f.file("units/etcd.service", "activating auto-restart exit-code\n")
		}, "units", Fail, []string{"etcd.service: activating (auto-restart), result exit-code", "(no journal lines)"}, nil},
		{"active unit that is not enabled", func(f *fixtureNode) {
			f.file("units/containerd.service", "active running success disabled\n")
		}, "units", Fail, []string{"containerd.service: active but disabled: it will not start at the next boot (systemctl enable containerd.service)"}, nil},
		{"unit not installed", func(f *fixtureNode) {
			f.remove("units/etcd.service")
		}, "units", Fail, []string{"etcd.service: not installed"}, nil},
		{"port not listening", func(f *fixtureNode) {
			f.ports[1].Close()
		}, "ports", Fail, []string{"nothing listens on", "/kube-apiserver"}, nil},
		{"port listening on another address than planned", func(f *fixtureNode) {
			f.target.Expect.Ports[0].Address = "10.0.0.11"
		}, "ports", Fail, []string{"nothing listens on 10.0.0.11:"}, nil},
		{"configuration of another render", func(f *fixtureNode) {
			f.target.Expect.ConfigSHA256 = strings.Repeat("ef", 32)
		}, "install", Fail, []string{"configuration is sha256", "efefefefefef"}, nil},
		{"installed versions differ from the plan", func(f *fixtureNode) {
			f.target.Expect.Versions = map[string]string{"etcd": "v3.7.3", "kubernetes": "v1.37.3"}
		}, "install", Fail, []string{"kubernetes v1.37.2, planned v1.37.3"}, nil},
		{"add-ons not applied yet", func(f *fixtureNode) {
			f.target.Expect.AddOnsStatusPath = f.jsonFile("var/lib/kisgen/addons-status.json", roles.Status{Phase: roles.PhaseConfigure, Step: "apply calico", Host: "etcd1"})
		}, "addons", Fail, []string{"not applied yet: phase configure", `"apply calico"`}, nil},
		{"add-ons failed", func(f *fixtureNode) {
			f.target.Expect.AddOnsStatusPath = f.jsonFile("var/lib/kisgen/addons-status.json", roles.Status{Phase: roles.PhaseFailed, Step: "apply coredns", Error: "the server could not find the requested resource"})
		}, "addons", Fail, []string{`failed at step "apply coredns"`, "could not find"}, nil},
		{"add-ons status missing", func(f *fixtureNode) {
			f.remove("var/lib/kisgen/addons-status.json")
		}, "addons", Fail, []string{"no status file at", "kisgen-addons has not started"}, nil},
		{"file content differs from the state directory", func(f *fixtureNode) {
			f.file("etc/kubernetes/pki/apiserver.crt", f.cert("kube-apiserver", now.Add(-time.Hour), now.Add(365*24*time.Hour)))
		}, "files", Fail, []string{"apiserver.crt: sha256", "the state directory has"}, nil},
		{"file missing", func(f *fixtureNode) {
			f.remove("etc/kubernetes/pki/apiserver.key")
		}, "files", Fail, []string{"apiserver.key: missing or unreadable"}, nil},
		{"key mode too open", func(f *fixtureNode) {
			must(f.t, os.Chmod(filepath.Join(f.root, "etc/kubernetes/pki/apiserver.key"), 0o644))
		}, "files", Fail, []string{"apiserver.key: mode 644, want 0600"}, nil},
		{"certificate within the renewal window", func(f *fixtureNode) {
			f.target.Expect.Certs = append(f.target.Expect.Certs, f.file("etc/kubernetes/pki/kubelet.crt", f.cert("kubelet", now.Add(-time.Hour), now.Add(10*24*time.Hour+time.Hour))))
		}, "cert-expiry", Fail, []string{"kubelet.crt: expires in 10d", "renewal window of 30d"}, nil},
		{"certificate expired", func(f *fixtureNode) {
			f.target.Expect.Certs = append(f.target.Expect.Certs, f.file("etc/kubernetes/pki/old.crt", f.cert("old", now.Add(-48*time.Hour), now.Add(-24*time.Hour))))
		}, "cert-expiry", Fail, []string{"old.crt: EXPIRED"}, nil},
		{"certificate not valid yet", func(f *fixtureNode) {
			f.target.Expect.Certs = append(f.target.Expect.Certs, f.file("etc/kubernetes/pki/future.crt", f.cert("future", now.Add(24*time.Hour), now.Add(365*24*time.Hour))))
		}, "cert-expiry", Fail, []string{"future.crt: not valid until", "clock"}, nil},
		{"hosts block differs line by line", func(f *fixtureNode) {
			f.file("etc/hosts", "127.0.0.1 localhost\n# BEGIN kisgen\n10.0.0.11 etcd1\n10.0.0.21 master1\n10.0.0.32 worker1\n# END kisgen\n")
		}, "hosts", Fail, []string{"missing: 10.0.0.31 worker1", "unexpected: 10.0.0.32 worker1"}, nil},
		{"hosts block absent", func(f *fixtureNode) {
			f.file("etc/hosts", "127.0.0.1 localhost\n")
		}, "hosts", Fail, []string{"no kisgen block", "# BEGIN kisgen"}, nil},
		{"etcd member missing", func(f *fixtureNode) {
			f.file("etcd/members.json", etcdMembers("etcd1", "etcd2"))
		}, "etcd", Fail, []string{"planned but not members: etcd3"}, nil},
		{"etcd member not in the plan", func(f *fixtureNode) {
			f.file("etcd/members.json", etcdMembers("etcd1", "etcd2", "etcd3", "etcd9"))
		}, "etcd", Fail, []string{"members not in the plan: etcd9"}, nil},
		{"etcd member added but never started", func(f *fixtureNode) {
			f.file("etcd/members.json", etcdMembers("etcd1", "etcd2", "unstarted:etcd3"))
		}, "etcd", Fail, []string{"https://10.0.0.13:2380 was added but never started", "planned but not members: etcd3"}, nil},
		{"etcd member unhealthy", func(f *fixtureNode) {
			f.file("etcd/health.json", `[{"endpoint":"https://10.0.0.11:2379","health":false,"took":"5.001s","error":"context deadline exceeded"}]`+"\n")
		}, "etcd", Fail, []string{"https://10.0.0.11:2379 is unhealthy: context deadline exceeded"}, nil},
		{"etcd healthcheck key missing", func(f *fixtureNode) {
			f.remove("etc/kubernetes/pki/etcd/healthcheck-client.key")
		}, "etcd", Fail, []string{"cannot list etcd members", "healthcheck-client.key: no such file"}, nil},
		{"API server not ready names the failing checks", func(f *fixtureNode) {
			f.file("kube/readyz-fail", `[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]informer-sync ok\nreadyz check failed`)
		}, "apiserver", Fail, []string{"not ready: etcd failed: reason withheld"}, nil},
		{"controller manager unhealthy", func(f *fixtureNode) {
			f.file("healthz/kube-controller-manager", "[+]leaderElection ok\n[-]serviceaccount-token-controller failed: reason withheld\nhealthz check failed\n")
		}, "control-plane", Fail, []string{`kube-controller-manager /healthz answered "[+]leaderElection ok"`}, nil},
		{"scheduler not answering", func(f *fixtureNode) {
			for i, p := range f.target.Expect.Ports {
				if p.Owner == "kube-scheduler" {
					_, port, _ := net.SplitHostPort(closedPort(f.t.(*testing.T)))
					f.target.Expect.Ports[i].Number, _ = strconv.Atoi(port)
				}
			}
		}, "control-plane", Fail, []string{"kube-scheduler: `curl -sS -k --max-time 10 https://127.0.0.1:", "exited 7"}, []string{"ports"}},
		{"node not registered lists who is", func(f *fixtureNode) {
			f.nodes(kubeNodeDoc("worker7", nil, nil, "True"))
		}, "registered", Fail, []string{"node etcd1 is not registered", "lists 1: worker7"}, nil},
		{"node not Ready says why", func(f *fixtureNode) {
			f.nodeDoc["status"].(map[string]any)["conditions"] = kubeNodeDoc("x", nil, nil, "False")["status"].(map[string]any)["conditions"]
			f.nodes(f.nodeDoc)
		}, "registered", Fail, []string{"not Ready (Ready=False: KubeletNotReady", "cni plugin not initialized"}, nil},
		{"label with another value", func(f *fixtureNode) {
			f.nodeDoc["metadata"].(map[string]any)["labels"] = map[string]string{"example.com/tier": "batch"}
			f.nodes(f.nodeDoc)
		}, "registered", Fail, []string{`label example.com/tier is "batch", planned "general"`}, nil},
		{"taint missing", func(f *fixtureNode) {
			delete(f.nodeDoc["spec"].(map[string]any), "taints")
			f.nodes(f.nodeDoc)
		}, "registered", Fail, []string{"taint dedicated=db:NoSchedule missing"}, nil},
		{"unplanned taint fails, Kubernetes' own taints do not", func(f *fixtureNode) {
			f.nodeDoc["spec"].(map[string]any)["taints"] = []map[string]string{
				{"key": "dedicated", "value": "db", "effect": "NoSchedule"},
				{"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"},
				{"key": "gpu", "effect": "NoExecute"}}
			f.nodes(f.nodeDoc)
		}, "registered", Fail, []string{"taint gpu:NoExecute is not in the plan"}, nil},
		{"calico-node pod crash-looping", func(f *fixtureNode) {
			f.pods(calicoPodDoc(f.target.Host, false))
		}, "calico", Fail, []string{"calico-node pod calico-node-1x7k2q is not Ready", "ContainersNotReady", "container calico-node waiting (CrashLoopBackOff): back-off 5m0s", "7 restarts"}, nil},
		{"no calico-node pod on the node", func(f *fixtureNode) {
			f.pods(calicoPodDoc("worker9", true))
		}, "calico", Fail, []string{"no calico-node pod runs on etcd1", "listed on etcd1"}, nil},
		{"Calico not ready", func(f *fixtureNode) {
			f.file("calico/not-ready", "calico/node is not ready: BIRD is not ready: BGP not established with 10.0.0.31\n")
		}, "calico", Fail, []string{"calico-node is not ready", "BGP not established with 10.0.0.31"}, nil},
		{"BGP peer not established", func(f *fixtureNode) {
			f.file("calico/protocols", "BIRD v0.3.3+birdv1.6.8 ready.\nname     proto    table    state  since       info\nMesh_10_0_0_22 BGP      master   up     09:27:18    Established\nMesh_10_0_0_31 BGP      master   start  09:27:19    Connect\n")
		}, "calico", Fail, []string{"1 of 2 peers: 10.0.0.31 (Connect)"}, nil},
		{"BIRD in the calico-node pod: every peer Established in the plan's AS", func(f *fixtureNode) {
			birdInPodFixture(f, "bird-routed-established.txt")
		}, "calico", Pass, []string{"BGP established in AS 64511 with 10.10.0.31, 10.10.0.32"}, nil},
		{"BIRD in the calico-node pod: a peer refuses", func(f *fixtureNode) {
			birdInPodFixture(f, "bird-one-peer-down.txt")
		}, "calico", Fail, []string{"1 of 2 peers", "10.10.0.32: Active (Mesh_10_10_0_32)", "calico-node-1x7k2q"}, nil},
		{"BIRD in the calico-node pod: the mesh runs under another AS", func(f *fixtureNode) {
			birdInPodFixture(f, "bird-wrong-as.txt")
		}, "calico", Fail, []string{"2 of 2 peers", "10.10.0.31: neighbour AS 64512, the plan's is 64511"}, nil},
		{"BIRD in the calico-node pod cannot be asked", func(f *fixtureNode) {
			birdInPodFixture(f, "")
		}, "calico", Fail, []string{"cannot read BIRD's sessions in calico-node-1x7k2q", "container not found"}, nil},
		{"the kubernetes Service does not answer", func(f *fixtureNode) {
			f.target.Expect.Services.Kubernetes = netip.MustParseAddrPort(closedPort(f.t.(*testing.T)))
		}, "services", Fail, []string{"does not answer from this node", "ip route get 127.0.0.1"}, nil},
		{"cluster DNS does not answer", func(f *fixtureNode) {
			f.dns.set(func(d *fakeDNS) { d.silent = true })
		}, "services", Fail, []string{"HTTP 401", "cluster DNS 127.0.0.1, asked for kubernetes.default.svc.cluster.local: no answer within 5 s"}, nil},
		{"cluster DNS does not know the name", func(f *fixtureNode) {
			f.dns.set(func(d *fakeDNS) { d.rcode = 3 })
		}, "services", Fail, []string{"rcode NXDOMAIN"}, nil},
		{"cluster DNS gives another address", func(f *fixtureNode) {
			f.dns.set(func(d *fakeDNS) { d.addr = netip.MustParseAddr("10.0.0.1") })
		}, "services", Fail, []string{"resolves kubernetes.default.svc.cluster.local to [10.0.0.1], want 172.17.0.1"}, nil},
		{"cluster DNS off: the Service alone", func(f *fixtureNode) {
			f.target.Expect.Services.DNS = netip.Addr{}
		}, "services", Pass, []string{"HTTP 401", "cluster DNS is off"}, nil},
		{"virtual IP: this master holds it, HAProxy sees both API servers", func(f *fixtureNode) {},
			"virtual-ip", Pass, []string{"holds 10.0.0.20; HAProxy: master1 UP, master2 UP"}, nil},
		{"virtual IP: another master holds it, one API server down", func(f *fixtureNode) {
			f.file("net/addrs", "3: ens4    inet 10.0.0.21/24 brd 10.0.0.255 scope global ens4\\       valid_lft forever preferred_lft forever\n")
			f.file("haproxy/stat", testdataFile(f.t, "haproxy/show-stat-one-down.csv"))
		}, "virtual-ip", Pass, []string{"standby (another master holds 10.0.0.20); HAProxy: master1 UP, master2 DOWN"}, nil},
		{"virtual IP: HAProxy reaches no API server", func(f *fixtureNode) {
			f.file("haproxy/stat", testdataFile(f.t, "haproxy/show-stat-all-down.csv"))
		}, "virtual-ip", Fail, []string{"HAProxy reaches no ready API server: master1 DOWN, master2 DOWN"}, nil},
		{"virtual IP: HAProxy is not running", func(f *fixtureNode) {
			f.remove("haproxy/stat")
		}, "virtual-ip", Fail, []string{"cannot read HAProxy's state on /run/kisgen-haproxy.sock", "systemctl status kisgen-haproxy"}, nil},
		{"overlay: tunl0 up with its address", func(f *fixtureNode) {
			tunnelFixture(f, "tunl0-link-up.txt", "tunl0-addr.txt")
		}, "calico", Pass, []string{"tunl0 up"}, nil},
		{"overlay: tunl0 down", func(f *fixtureNode) {
			tunnelFixture(f, "tunl0-link-down.txt", "")
		}, "calico", Fail, []string{"tunl0 is down (flags <NOARP>)"}, nil},
		{"overlay: no tunl0", func(f *fixtureNode) {
			tunnelFixture(f, "", "")
		}, "calico", Fail, []string{"tunl0 does not exist"}, nil},
		{"overlay: tunl0 without an address", func(f *fixtureNode) {
			tunnelFixture(f, "tunl0-link-up.txt", "")
		}, "calico", Fail, []string{"tunl0 has no IPv4 address"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixtureNode(t, "etcd1", signer, fixtureOptions{})
			tc.break_(f)
			n := runTarget(t, f.target, quick)
			got := result(t, n, tc.check)
			if got.Status != tc.status {
				t.Fatalf("%s: %s, want %s:%s", tc.check, got.Status, tc.status, dump(n))
			}
			for _, d := range tc.detail {
				if !strings.Contains(got.Detail, d) {
					t.Errorf("%s detail lacks %q:\n%s", tc.check, d, got.Detail)
				}
			}
			for _, c := range n.Checks {
				if c.Name != tc.check && c.Status == Fail && !contains(tc.alsoFail, c.Name) {
					t.Errorf("%s failed too: %s", c.Name, c.Detail)
				}
			}
			if (tc.status == Fail) == n.OK {
				t.Errorf("node OK = %v with %s %s", n.OK, tc.check, tc.status)
			}
		})
	}
}

func TestChecksThatDoNotApplyAreSkippedWithReason(t *testing.T) {
	signer := sshdtest.NewSigner(t)
	f := newFixtureNode(t, "worker1", signer, fixtureOptions{})
	f.status(func(s *roles.Status) { s.Roles = []string{"worker"}; s.Preflight = nil })
	f.target.Roles = []string{"worker"}
	f.target.Expect = Expectations{StatusPath: f.target.Expect.StatusPath, UserDataSHA256: f.target.Expect.UserDataSHA256, Node: f.target.Expect.Node}
	n := runTarget(t, f.target, quick)
	want := map[string]string{
		"first-boot":  "no first-boot agent given",
		"preflight":   "recorded no pre-flight checks",
		"units":       "no units expected",
		"ports":       "no ports expected",
		"files":       "no files expected",
		"cert-expiry": "no certificates expected",
		"hosts":       "not managed",
		"etcd":        "not an etcd node",
		"apiserver":   "not a master",
		"addons":      "applied from the first master",
		"registered":  "no master with kubectl access",
		"calico":      "Calico does not run on this node",
	}
	for name, why := range want {
		c := result(t, n, name)
		if c.Status != Skip || !strings.Contains(c.Detail, why) {
			t.Errorf("%s: %s %q, want skip saying %q", name, c.Status, c.Detail, why)
		}
	}
	if !n.OK {
		t.Errorf("skipped checks failed the node:%s", dump(n))
	}
}

// hungListener accepts connections and never speaks.
func hungListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return l.Addr().String()
}

// closingListener accepts connections and closes them at once.
func closingListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestFaultsSayWhatIsWrongAndNeverHang tries every fault on a real sshd (or a raw TCP
// listener) and checks which check fails, its reason code and message.
func TestFaultsSayWhatIsWrongAndNeverHang(t *testing.T) {
	signer := sshdtest.NewSigner(t)
	_, otherHostKey := sshdtest.NewHostKey(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	ecPub, err := ssh.NewPublicKey(&ecKey.PublicKey)
	must(t, err)
	cases := []struct {
		name   string
		opts   fixtureOptions
		setup  func(t *testing.T, f *fixtureNode)
		o      Options
		check  string
		reason string
		detail []string
		// skipped are later checks that must be skipped, saying why.
		skipped map[string]string
		// passed are checks that must still pass.
		passed []string
	}{
		{name: "connection refused", setup: func(t *testing.T, f *fixtureNode) { f.target.Addr = closedPort(t) },
			check: "reachable", reason: "connection-refused", detail: []string{"connection refused by 127.0.0.1:", "nothing listens there"},
			skipped: map[string]string{"host-key": "not run: reachable failed", "login": "not run: reachable failed", "install": "cannot log in"}},
		{name: "listener that never speaks SSH times out", setup: func(t *testing.T, f *fixtureNode) { f.target.Addr = hungListener(t) },
			o: Options{DialTimeout: 700 * time.Millisecond}, check: "reachable", reason: "timeout",
			detail: []string{"accepted the TCP connection but completed no SSH handshake within 700ms"}},
		{name: "listener that hangs up", setup: func(t *testing.T, f *fixtureNode) { f.target.Addr = closingListener(t) },
			check: "reachable", reason: "unreachable", detail: []string{"closed the connection before the SSH handshake finished"}},
		{name: "wrong host key fails before logging in", setup: func(t *testing.T, f *fixtureNode) { f.target.HostKey = otherHostKey },
			check: "host-key", reason: "host-key-mismatch",
			detail:  []string{"offered ssh-ed25519 SHA256:", "the pinned key is ssh-ed25519 " + ssh.FingerprintSHA256(otherHostKey), "not the node kisgen rendered"},
			skipped: map[string]string{"login": "not run: host-key failed", "sudo": "cannot log in"}, passed: []string{"reachable"}},
		{name: "no pinned host key fails and shows the offered key", setup: func(t *testing.T, f *fixtureNode) { f.target.HostKey = nil },
			check: "host-key", reason: "no-host-key", detail: []string{"no pinned host key for etcd1", "the node offers ssh-ed25519 SHA256:", "--insecure-ignore-host-key"}},
		{name: "pinned key of a type the node lacks", setup: func(t *testing.T, f *fixtureNode) { f.target.HostKey = ecPub },
			check: "host-key", reason: "host-key-mismatch", detail: []string{"has no ecdsa-sha2-nistp256 host key", ssh.FingerprintSHA256(ecPub)}},
		{name: "key not authorized", opts: fixtureOptions{authorize: sshdtest.NewSigner(t).PublicKey()},
			check: "login", reason: "auth-refused", detail: []string{"did not accept user", ssh.FingerprintSHA256(signer.PublicKey()), "authorized_keys"},
			passed: []string{"reachable", "host-key"}},
		{name: "sudo refused skips the root checks and runs the others", setup: func(t *testing.T, f *fixtureNode) { f.file("sudo-refuse", "") },
			check: "sudo", reason: "sudo-refused", detail: []string{"sudo refused", "without a password", "sudo: a password is required"},
			skipped: map[string]string{"install": "needs root and sudo was refused", "files": "needs root", "etcd": "needs root", "calico": "needs root"},
			passed:  []string{"login", "first-boot", "units", "ports", "hosts"}},
		{name: "command missing under sudo", setup: func(t *testing.T, f *fixtureNode) { f.target.Expect.Etcd.Etcdctl = "/opt/kisgen/bin/etcdctl" },
			check: "etcd", reason: "command-not-found", detail: []string{"command /opt/kisgen/bin/etcdctl not found on the node"},
			passed: []string{"apiserver", "registered", "calico"}},
		{name: "command missing without sudo", opts: fixtureOptions{bareSystem: true},
			check: "ports", reason: "command-not-found", detail: []string{"command ss not found on the node", "exit 127"},
			passed: []string{"sudo", "install", "units", "files"}},
		{name: "sudo missing", opts: fixtureOptions{bareSystem: true, omit: []string{"sudo"}},
			check: "sudo", reason: "command-not-found", detail: []string{"command sudo not found on the node"}},
		{name: "command that hangs times out and the next checks run", setup: func(t *testing.T, f *fixtureNode) { f.target.Expect.Etcd.Etcdctl = "hang" },
			o: Options{CommandTimeout: time.Second}, check: "etcd", reason: "command-timeout", detail: []string{"hang", "command timed out after 1s"},
			passed: []string{"apiserver", "registered", "calico"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixtureNode(t, "etcd1", signer, tc.opts)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			o := tc.o
			if o.DialTimeout == 0 {
				o.DialTimeout = quick.DialTimeout
			}
			n := runTarget(t, f.target, o)
			if n.OK {
				t.Fatalf("node passed:%s", dump(n))
			}
			got := result(t, n, tc.check)
			if got.Status != Fail || got.Reason != tc.reason {
				t.Fatalf("%s: %s reason %q, want fail %q:%s", tc.check, got.Status, got.Reason, tc.reason, dump(n))
			}
			for _, d := range tc.detail {
				if !strings.Contains(got.Detail, d) {
					t.Errorf("%s detail lacks %q: %s", tc.check, d, got.Detail)
				}
			}
			for name, why := range tc.skipped {
				if c := result(t, n, name); c.Status != Skip || !strings.Contains(c.Detail, why) {
					t.Errorf("%s: %s %q, want skip saying %q", name, c.Status, c.Detail, why)
				}
			}
			for _, name := range tc.passed {
				if c := result(t, n, name); c.Status != Pass {
					t.Errorf("%s: %s %q, want pass", name, c.Status, c.Detail)
				}
			}
		})
	}
}

func TestCancelledRunStopsARunningCommand(t *testing.T) {
	f := newFixtureNode(t, "etcd1", sshdtest.NewSigner(t), fixtureOptions{})
	f.target.Expect.Etcd.Etcdctl = "hang"
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(1500*time.Millisecond, func() { cancel(errors.New("interrupted by the user")) })
	rep := Run(ctx, []Target{f.target}, Options{CommandTimeout: time.Hour})
	n := rep.Nodes[0]
	if c := result(t, n, "etcd"); c.Status != Fail || !strings.Contains(c.Detail, "interrupted by the user") {
		t.Errorf("etcd: %s %q, want the cancellation", c.Status, c.Detail)
	}
	if c := result(t, n, "calico"); c.Status != Fail || !strings.Contains(c.Detail, "not run: interrupted by the user") {
		t.Errorf("calico: %s %q, want not run", c.Status, c.Detail)
	}
}

func TestInsecureIgnoreHostKey(t *testing.T) {
	signer := sshdtest.NewSigner(t)
	_, other := sshdtest.NewHostKey(t)
	f := newFixtureNode(t, "etcd1", signer, fixtureOptions{})
	o := quick
	o.InsecureIgnoreHostKey = true

	t.Run("no pinned key: not checked, the rest runs", func(t *testing.T) {
		tg := f.target
		tg.HostKey = nil
		n := runTarget(t, tg, o)
		c := result(t, n, "host-key")
		if c.Status != Skip || !strings.Contains(c.Detail, "NOT CHECKED") || !strings.Contains(c.Detail, ssh.FingerprintSHA256(f.server.HostKey)) {
			t.Errorf("host-key: %s %q", c.Status, c.Detail)
		}
		if !n.OK {
			t.Errorf("node failed:%s", dump(n))
		}
	})
	t.Run("a known mismatch is still reported", func(t *testing.T) {
		tg := f.target
		tg.HostKey = other
		n := runTarget(t, tg, o)
		c := result(t, n, "host-key")
		if c.Status != Fail || c.Reason != "host-key-mismatch" || !strings.Contains(c.Detail, "NOT the pinned key") {
			t.Errorf("host-key: %s %q", c.Status, c.Detail)
		}
		if result(t, n, "install").Status != Pass {
			t.Errorf("checks did not run:%s", dump(n))
		}
	})
}

// TestOneNodeFailureNeverStopsTheOthers mixes every kind of broken node with healthy
// ones under a concurrency limit below their number.
func TestOneNodeFailureNeverStopsTheOthers(t *testing.T) {
	signer := sshdtest.NewSigner(t)
	good1 := newFixtureNode(t, "good1", signer, fixtureOptions{})
	good2 := newFixtureNode(t, "good2", signer, fixtureOptions{})
	for _, g := range []*fixtureNode{good1, good2} {
		g.nodes(good1.nodeDoc, good2.nodeDoc)
		g.pods(calicoPodDoc("good1", true), calicoPodDoc("good2", true))
	}
	wrongKey := newFixtureNode(t, "wrongkey", signer, fixtureOptions{})
	_, other := sshdtest.NewHostKey(t)
	wrongKey.target.HostKey = other
	refused := Target{Host: "refused", Addr: closedPort(t), User: "x", Signer: signer}
	hung := Target{Host: "hung", Addr: hungListener(t), User: "x", Signer: signer}
	targets := []Target{refused, good1.target, hung, wrongKey.target, good2.target}
	rep := Run(context.Background(), targets, Options{Concurrency: 2, DialTimeout: time.Second})
	want := map[string]bool{"refused": false, "good1": true, "hung": false, "wrongkey": false, "good2": true}
	for i, n := range rep.Nodes {
		if n.Host != targets[i].Host {
			t.Errorf("result %d is %s, want %s (target order)", i, n.Host, targets[i].Host)
		}
		if n.OK != want[n.Host] {
			t.Errorf("%s: OK %v, want %v:%s", n.Host, n.OK, want[n.Host], dump(n))
		}
	}
	if rep.OK {
		t.Error("report OK with failing nodes")
	}
	err := rep.Err()
	for _, sentinel := range []error{ErrConnRefused, ErrTimeout, ErrHostKeyMismatch} {
		if !errors.Is(err, sentinel) {
			t.Errorf("report error does not wrap %v: %v", sentinel, err)
		}
	}
	if got := strings.Join(rep.Failing(), ","); got != "refused,hung,wrongkey" {
		t.Errorf("Failing() = %s", got)
	}
}

// TestNodeListComesFromTheFirstMasterThatAnswers proves the cluster-wide node list is
// read through another master when the first cannot answer, and that every node fails
// with the masters' reasons when none can.
func TestNodeListComesFromTheFirstMasterThatAnswers(t *testing.T) {
	signer := sshdtest.NewSigner(t)
	m1 := newFixtureNode(t, "master1", signer, fixtureOptions{})
	m1.target.Expect.Kubectl.Path = "/opt/kisgen/bin/kubectl" // not installed
	m2 := newFixtureNode(t, "master2", signer, fixtureOptions{})
	doc1 := m1.nodeDoc
	m2.nodes(doc1, m2.nodeDoc)
	m2.pods(calicoPodDoc("master1", true), calicoPodDoc("master2", true))

	rep := Run(context.Background(), []Target{m1.target, m2.target}, quick)
	for _, n := range rep.Nodes {
		c := result(t, n, "registered")
		if c.Status != Pass || !strings.Contains(c.Detail, "via master2") {
			t.Errorf("%s registered: %s %q, want pass via master2", n.Host, c.Status, c.Detail)
		}
	}
	if c := result(t, rep.Nodes[0], "apiserver"); c.Reason != "command-not-found" {
		t.Errorf("master1 apiserver: %s %q, want kubectl not found", c.Status, c.Detail)
	}

	_, other := sshdtest.NewHostKey(t)
	m2.target.HostKey = other
	rep = Run(context.Background(), []Target{m1.target, m2.target}, quick)
	c := result(t, rep.Nodes[0], "registered")
	if c.Status != Fail || !strings.Contains(c.Detail, "master1: command /opt/kisgen/bin/kubectl not found") || !strings.Contains(c.Detail, "master2: host key mismatch") {
		t.Errorf("master1 registered: %s %q, want both masters' reasons", c.Status, c.Detail)
	}
}

func TestWaitPollsUntilEverythingPasses(t *testing.T) {
	f := newFixtureNode(t, "etcd1", sshdtest.NewSigner(t), fixtureOptions{})
	f.status(func(s *roles.Status) { s.Phase, s.Step = roles.PhaseInstall, "fetch etcd" })
	var rounds []bool
	rep := Wait(context.Background(), []Target{f.target}, quick, WaitOptions{Timeout: time.Minute, Interval: 50 * time.Millisecond,
		OnRound: func(r *Report) {
			rounds = append(rounds, r.OK)
			if r.Rounds == 2 {
				f.status(nil) // the install finishes after the second round
			}
		}})
	if !rep.OK || rep.Rounds != 3 || len(rounds) != 3 || rounds[0] || rounds[1] || !rounds[2] {
		t.Fatalf("OK %v after %d rounds (%v):%s", rep.OK, rep.Rounds, rounds, dump(rep.Nodes[0]))
	}
}

func TestWaitGivesUpWithTheLastRealResult(t *testing.T) {
	f := newFixtureNode(t, "etcd1", sshdtest.NewSigner(t), fixtureOptions{})
	f.status(func(s *roles.Status) { s.Phase, s.Step = roles.PhaseInstall, "fetch etcd" })
	// From the second round on, etcdctl hangs until the wait time runs out.
	rep := Wait(context.Background(), []Target{f.target}, quick, WaitOptions{Timeout: 3 * time.Second, Interval: 10 * time.Millisecond,
		OnRound: func(*Report) { f.file("etcd/hang", "") }})
	if rep.OK || rep.Rounds < 2 {
		t.Fatalf("OK %v after %d rounds", rep.OK, rep.Rounds)
	}
	n := rep.Nodes[0]
	if c := result(t, n, "install"); c.Status != Fail || !strings.Contains(c.Detail, "phase install") {
		t.Errorf("install: %s %q, want the real reason, not the deadline:%s", c.Status, c.Detail, dump(n))
	}
}
