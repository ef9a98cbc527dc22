package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/roles"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// A fixture node is a real sshd on loopback whose sessions find, first on PATH, small
// scripts standing in for the node's tools (sudo, systemctl, journalctl, cloud-init,
// etcdctl, kubectl, calico-node, birdcl). The scripts print files under the node's
// fixture root ($KISGEN_FIXTURE), in the formats the real tools print, so each check can
// be made to pass or fail by changing a file. cat, head, sha256sum, stat and ss are the
// real ones: ports are real listeners opened by the test.

// fixtureScripts are the stand-ins, by name. Each appends the system directories to PATH
// so that it works even on a node whose PATH lacks them.
var fixtureScripts = map[string]string{
	// sudo -n CMD: runs CMD, or refuses as sudo does for a user without NOPASSWD.
	"sudo": `if [ -e "$KISGEN_FIXTURE/sudo-refuse" ]; then
	echo "sudo: a password is required" >&2
	exit 1
fi
[ "$1" = "-n" ] && shift
if ! command -v "$1" >/dev/null 2>&1; then
	echo "sudo: $1: command not found" >&2
	exit 1
fi
exec "$@"`,
	// systemctl show -p PROPS -- UNIT…; units/UNIT holds "ActiveState SubState Result
	// [UnitFileState]"; no file: no such unit.
	"systemctl": `[ "$1" = show ] || { echo "fixture systemctl: only show" >&2; exit 1; }
shift 3; [ "$1" = "--" ] && shift
first=1
for u in "$@"; do
	f="$KISGEN_FIXTURE/units/$u"
	if [ -f "$f" ]; then read -r active sub result file < "$f"; load=loaded
	else active=inactive; sub=dead; result=success; load=not-found; file=; fi
	[ $first = 1 ] || echo; first=0
	printf 'Id=%s\nLoadState=%s\nActiveState=%s\nSubState=%s\nResult=%s\nUnitFileState=%s\n' "$u" "$load" "$active" "$sub" "$result" "${file:-enabled}"
done`,
	// journalctl … -u UNIT | -t IDENT [-n N]: prints journal/UNIT or journal/IDENT.
	"journalctl": `unit=; n=1000
while [ $# -gt 0 ]; do case $1 in -u|-t) unit=$2; shift;; -n) n=$2; shift;; esac; shift; done
f="$KISGEN_FIXTURE/journal/$unit"
[ -f "$f" ] && tail -n "$n" "$f"
exit 0`,
	// cloud-init status --format json: prints cloud-init.json; exits 1 on error (22.4).
	"cloud-init": `cat "$KISGEN_FIXTURE/cloud-init.json"
grep -q '"status": "error"' "$KISGEN_FIXTURE/cloud-init.json" && exit 1
exit 0`,
	// etcdctl: the TLS files must be readable, as for the real one.
	"etcdctl": `while [ -f "$KISGEN_FIXTURE/etcd/hang" ] && [ -d "$KISGEN_FIXTURE" ]; do sleep 0.1; done
for a; do case $a in --cacert=*|--cert=*|--key=*) f=${a#*=}
	[ -r "$f" ] || { echo "Error: open $f: no such file or directory" >&2; exit 1; };; esac; done
case "$*" in
*"member list -w json"*) cat "$KISGEN_FIXTURE/etcd/members.json";;
*"endpoint health -w json"*) cat "$KISGEN_FIXTURE/etcd/health.json"
	grep -q '"health":false' "$KISGEN_FIXTURE/etcd/health.json" && { echo "Error: unhealthy cluster" >&2; exit 1; };;
*) echo "Error: unknown command $*" >&2; exit 1;;
esac`,
	// kubectl: get --raw=/readyz?verbose, get nodes -o json.
	"kubectl": `for a; do case $a in --kubeconfig=*) f=${a#*=}
	[ -r "$f" ] || { echo "error: stat $f: no such file or directory" >&2; exit 1; };; esac; done
case "$*" in
*"--raw=/readyz?verbose"*)
	if [ -f "$KISGEN_FIXTURE/kube/readyz-fail" ]; then
		printf 'Error from server (InternalError): an error on the server ("%s") has prevented the request from succeeding\n' "$(cat "$KISGEN_FIXTURE/kube/readyz-fail")" >&2
		exit 1
	fi
	cat "$KISGEN_FIXTURE/kube/readyz";;
*"get nodes -o json"*) cat "$KISGEN_FIXTURE/kube/nodes.json";;
*"get pods -n kube-system -l k8s-app=calico-node -o json"*) cat "$KISGEN_FIXTURE/kube/pods.json";;
*" exec "*" -c calico-node -- birdcl -s /var/run/calico/bird.ctl show protocols all"*)
	[ -f "$KISGEN_FIXTURE/calico/protocols-all" ] || { echo 'error: unable to upgrade connection: container not found ("calico-node")' >&2; exit 1; }
	cat "$KISGEN_FIXTURE/calico/protocols-all";;
*) echo "error: unknown command $*" >&2; exit 1;;
esac`,
	// calico-node -felix-ready -bird-ready: exit status from calico/not-ready.
	"calico-node": `if [ -f "$KISGEN_FIXTURE/calico/not-ready" ]; then cat "$KISGEN_FIXTURE/calico/not-ready" >&2; exit 1; fi`,
	// ip -d -o link show dev DEV | ip -o -4 addr show dev DEV: calico/DEV-link, DEV-addr;
	// ip -o -4 addr show (every interface): net/addrs.
	"ip": `if [ "$*" = "-o -4 addr show" ]; then cat "$KISGEN_FIXTURE/net/addrs"; exit; fi
for dev; do :; done
case "$*" in *" link show "*) f="$KISGEN_FIXTURE/calico/$dev-link";; *) f="$KISGEN_FIXTURE/calico/$dev-addr";; esac
[ -f "$f" ] || { echo "Device \"$dev\" does not exist." >&2; exit 1; }
cat "$f"`,
	// socat … UNIX-CONNECT:SOCKET (HAProxy's stats socket): haproxy/stat, HAProxy's
	// `show stat` as the real one printed it (testdata/haproxy).
	"socat": `[ -f "$KISGEN_FIXTURE/haproxy/stat" ] || { echo "socat E connect(...): No such file or directory" >&2; exit 1; }
cat "$KISGEN_FIXTURE/haproxy/stat"`,
	// birdcl … show protocols.
	"birdcl": `cat "$KISGEN_FIXTURE/calico/protocols"`,
	// hang: a command that does not finish (until the test's fixture root is removed, so
	// that it cannot outlive the test: sshd does not pass signals to root's sessions).
	"hang": `while [ -d "$KISGEN_FIXTURE" ]; do sleep 0.1; done`,
}

type fixtureNode struct {
	t       testing.TB
	root    string // $KISGEN_FIXTURE
	bin     string
	server  *sshdtest.Server
	target  Target
	ports   []net.Listener
	caKey   *ecdsa.PrivateKey
	caCert  *x509.Certificate
	nodeDoc map[string]any // this node in kube/nodes.json
	dns     *fakeDNS       // the cluster DNS Service's stand-in
}

type fixtureOptions struct {
	// omit are fixture commands left out of the node's PATH.
	omit []string
	// bareSystem leaves /usr/bin and /bin off the session PATH.
	bareSystem bool
	// authorize, when set, replaces the client key the node accepts.
	authorize ssh.PublicKey
	// env is more environment for the node's sessions.
	env map[string]string
}

// newFixtureNode starts a node named host whose every check passes for the target it
// returns: all roles, cloud-init, every expectation filled.
func newFixtureNode(t testing.TB, host string, signer ssh.Signer, o fixtureOptions) *fixtureNode {
	t.Helper()
	dir := t.TempDir()
	f := &fixtureNode{t: t, root: filepath.Join(dir, "root"), bin: filepath.Join(dir, "bin")}
	for _, d := range []string{f.root, f.bin} {
		must(t, os.MkdirAll(d, 0o755))
	}
	for name, body := range fixtureScripts {
		if contains(o.omit, name) {
			continue
		}
		script := "#!/bin/sh\nPATH=\"$PATH:/usr/bin:/bin\"\n" + body + "\n"
		must(t, os.WriteFile(filepath.Join(f.bin, name), []byte(script), 0o755))
	}
	path := f.bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	if o.bareSystem {
		path = f.bin
	}
	auth := signer.PublicKey()
	if o.authorize != nil {
		auth = o.authorize
	}
	env := map[string]string{"PATH": path, "KISGEN_FIXTURE": f.root}
	for k, v := range o.env {
		env[k] = v
	}
	f.server = sshdtest.Start(t, sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{auth}, Env: env})
	f.target = Target{Host: host, Addr: f.server.Addr, User: f.server.User, Signer: signer, HostKey: f.server.HostKey,
		Roles: []string{"etcd", "master", "worker"}}
	f.healthy()
	return f
}

// file writes a file under the fixture root.
func (f *fixtureNode) file(rel, content string) string {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	must(f.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(f.t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func (f *fixtureNode) remove(rel string) { must(f.t, os.Remove(filepath.Join(f.root, rel))) }

func (f *fixtureNode) jsonFile(rel string, v any) string {
	data, err := json.MarshalIndent(v, "", "  ")
	must(f.t, err)
	return f.file(rel, string(data)+"\n")
}

// status rewrites the install status file.
func (f *fixtureNode) status(mut func(*roles.Status)) {
	st := roles.Status{Phase: roles.PhaseDone, Step: "start kubelet", Host: f.target.Host, Roles: f.target.Roles,
		Versions: map[string]string{"kubernetes": "v1.37.2", "etcd": "v3.7.3"}, InstallPath: "download",
		Preflight:      []roles.Check{{Name: "swap off", OK: true, Fatal: true}, {Name: "ports free", OK: true, Fatal: true}},
		UserDataSHA256: strings.Repeat("ab", 32), ConfigSHA256: strings.Repeat("12", 32), Started: "2026-11-24T10:00:00Z", Updated: "2026-11-24T10:04:00Z"}
	if mut != nil {
		mut(&st)
	}
	f.jsonFile("var/lib/kisgen/status.json", st)
}

// cert issues a certificate signed by the fixture CA valid from notBefore to notAfter.
func (f *fixtureNode) cert(cn string, notBefore, notAfter time.Time) string {
	f.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(f.t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.caCert, &key.PublicKey, f.caKey)
	must(f.t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func (f *fixtureNode) listen() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(f.t, err)
	f.t.Cleanup(func() { l.Close() })
	f.ports = append(f.ports, l)
	return l.Addr().(*net.TCPAddr).Port
}

// healthy writes a fixture root on which every check passes and fills the target's
// expectations to match.
func (f *fixtureNode) healthy() {
	t := f.t
	var err error
	f.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fixture-ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &f.caKey.PublicKey, f.caKey)
	must(t, err)
	f.caCert, _ = x509.ParseCertificate(der)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))

	e := &f.target.Expect
	e.Provisioner = "cloud-init"
	e.IgnitionResult = filepath.Join(f.root, "etc/.ignition-result.json")
	f.jsonFile("cloud-init.json", map[string]any{"status": "done", "datasource": "nocloud", "detail": "DataSourceNoCloud [seed=/dev/vdb][dsmode=net]", "errors": []string{}})
	f.jsonFile("etc/.ignition-result.json", map[string]any{"provisioningBootID": "5f1c", "provisioningDate": "2026-11-24T10:00:00Z", "userConfigProvided": true})
	e.StatusPath = filepath.Join(f.root, "var/lib/kisgen/status.json")
	e.UserDataSHA256 = strings.Repeat("ab", 32)
	e.ConfigSHA256 = strings.Repeat("12", 32)
	e.Versions = map[string]string{"kubernetes": "v1.37.2", "etcd": "v3.7.3"}
	f.status(nil)
	e.AddOnsStatusPath = f.jsonFile("var/lib/kisgen/addons-status.json", roles.Status{Phase: roles.PhaseDone, Step: "apply coredns", Host: f.target.Host, Updated: "2026-11-24T10:06:00Z"})

	e.Units = []string{"containerd.service", "etcd.service", "kube-apiserver.service", "kubelet.service"}
	for _, u := range e.Units {
		f.file("units/"+u, "active running success\n")
	}
	e.Ports = []Port{{Number: f.listen(), Owner: "etcd"}, {Number: f.listen(), Owner: "kube-apiserver"}}
	// The controller manager and scheduler: real HTTPS servers the node's real curl asks
	// for /healthz; healthz/OWNER, when present, is a failing answer.
	for _, owner := range controlPlaneComponents {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			if b, err := os.ReadFile(filepath.Join(f.root, "healthz", owner)); err == nil {
				w.WriteHeader(http.StatusInternalServerError)
				w.Write(b)
				return
			}
			io.WriteString(w, "ok")
		}))
		t.Cleanup(srv.Close)
		e.Ports = append(e.Ports, Port{Number: srv.Listener.Addr().(*net.TCPAddr).Port, Address: "127.0.0.1", Owner: owner})
	}

	apiCert := f.cert("kube-apiserver", now.Add(-time.Hour), now.Add(365*24*time.Hour))
	keyPEM := "-----BEGIN EC PRIVATE KEY-----\nfixture\n-----END EC PRIVATE KEY-----\n"
	files := map[string]struct {
		content string
		mode    fs.FileMode
	}{
		"etc/kubernetes/pki/ca.crt":        {caPEM, 0o644},
		"etc/kubernetes/pki/apiserver.crt": {apiCert, 0o644},
		"etc/kubernetes/pki/apiserver.key": {keyPEM, 0o600},
	}
	for _, rel := range sortedKeys(files) {
		fl := files[rel]
		p := f.file(rel, fl.content)
		must(t, os.Chmod(p, fl.mode))
		sum := sha256.Sum256([]byte(fl.content))
		e.Files = append(e.Files, ExpectedFile{Path: p, SHA256: hex.EncodeToString(sum[:]), Mode: fl.mode})
	}
	e.Certs = []string{filepath.Join(f.root, "etc/kubernetes/pki/ca.crt"), filepath.Join(f.root, "etc/kubernetes/pki/apiserver.crt")}
	e.RenewBefore = 30 * 24 * time.Hour

	e.HostsBlock = "# BEGIN kisgen\n10.0.0.11 etcd1\n10.0.0.21 master1\n10.0.0.31 worker1\n# END kisgen\n"
	e.HostsPath = f.file("etc/hosts", "127.0.0.1 localhost\n\n"+e.HostsBlock+"::1 ip6-localhost\n")

	etcdCA := f.file("etc/kubernetes/pki/etcd/ca.crt", caPEM)
	hcCert := f.file("etc/kubernetes/pki/etcd/healthcheck-client.crt", f.cert("healthcheck", now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	hcKey := f.file("etc/kubernetes/pki/etcd/healthcheck-client.key", keyPEM)
	e.Etcd = &EtcdExpect{Endpoint: "https://10.0.0.11:2379", CACert: etcdCA, Cert: hcCert, Key: hcKey, Members: []string{"etcd1", "etcd2", "etcd3"}}
	f.file("etcd/members.json", etcdMembers("etcd1", "etcd2", "etcd3"))
	f.file("etcd/health.json", `[{"endpoint":"https://10.0.0.11:2379","health":true,"took":"1.834ms"}]`+"\n")

	e.APIServer = &APIServerExpect{URL: "https://10.0.0.21:6443"}
	e.Kubectl = &KubectlAccess{Path: "kubectl", Kubeconfig: f.file("etc/kubernetes/admin.kubeconfig", "apiVersion: v1\nkind: Config\n")}
	f.file("kube/readyz", "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]poststarthook/start-apiextensions-informers ok\nreadyz check passed\n")
	e.Node = &NodeExpect{Labels: map[string]string{"example.com/tier": "general"}, Taints: []string{"dedicated=db:NoSchedule"}}
	f.nodeDoc = kubeNodeDoc(f.target.Host, map[string]string{"example.com/tier": "general", "kubernetes.io/hostname": f.target.Host},
		[]map[string]string{{"key": "dedicated", "value": "db", "effect": "NoSchedule"}}, "True")
	f.nodes(f.nodeDoc)

	f.pods(calicoPodDoc(f.target.Host, true))
	e.Calico = &CalicoExpect{PodReady: true, ReadyCmd: []string{"calico-node", "-felix-ready", "-bird-ready"},
		BGPCmd: []string{"birdcl", "-s", "/var/run/calico/bird.ctl", "show", "protocols"}, BGPPeers: []string{"10.0.0.22", "10.0.0.31"}}
	f.file("calico/protocols", `BIRD v0.3.3+birdv1.6.8 ready.
name     proto    table    state  since       info
static1  Static   master   up     09:27:17
kernel1  Kernel   master   up     09:27:17
device1  Device   master   up     09:27:17
direct1  Direct   master   up     09:27:17
Mesh_10_0_0_22 BGP      master   up     09:27:18    Established
Mesh_10_0_0_31 BGP      master   up     09:27:19    Established
`)
	f.healthyServices()

	e.VirtualIP = &VirtualIPExpect{Address: "10.0.0.20", StatsSocket: "/run/kisgen-haproxy.sock", Backend: "kube-apiservers"}
	f.file("net/addrs", "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"+
		"3: ens4    inet 10.0.0.21/24 brd 10.0.0.255 scope global ens4\\       valid_lft forever preferred_lft forever\n"+
		"3: ens4    inet 10.0.0.20/32 scope global ens4\\       valid_lft forever preferred_lft forever\n")
	f.file("haproxy/stat", regexp.MustCompile(`(?m)^(kube-apiservers,master2,([^,]*,){15})DOWN,`).ReplaceAllString(testdataFile(f.t, "haproxy/show-stat-one-down.csv"), "${1}UP,"))
}

// testdataFile reads a file under testdata/.
func testdataFile(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	must(t, err)
	return string(b)
}

// nodes writes kube/nodes.json as `kubectl get nodes -o json` prints it.
func (f *fixtureNode) nodes(items ...map[string]any) {
	f.jsonFile("kube/nodes.json", map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}, "items": items})
}

// pods writes kube/pods.json as `kubectl get pods -o json` prints it.
func (f *fixtureNode) pods(items ...map[string]any) {
	f.jsonFile("kube/pods.json", map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}, "items": items})
}

// calicoPodDoc is a calico-node pod on node, Ready or crash-looping.
func calicoPodDoc(node string, ready bool) map[string]any {
	status := map[string]any{"phase": "Running",
		"conditions": []map[string]string{{"type": "Ready", "status": "True"}},
		"containerStatuses": []map[string]any{{"name": "calico-node", "ready": true, "restartCount": 0,
			"state": map[string]any{"running": map[string]string{"startedAt": "2026-11-24T10:05:00Z"}}}}}
	if !ready {
		status["conditions"] = []map[string]string{{"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "containers with unready status: [calico-node]"}}
		status["containerStatuses"] = []map[string]any{{"name": "calico-node", "ready": false, "restartCount": 7,
			"state": map[string]any{"waiting": map[string]string{"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=calico-node"}}}}
	}
	return map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "calico-node-" + node[len(node)-1:] + "x7k2q", "namespace": "kube-system", "labels": map[string]string{"k8s-app": "calico-node"}},
		"spec":     map[string]any{"nodeName": node}, "status": status}
}

func kubeNodeDoc(name string, labels map[string]string, taints []map[string]string, ready string) map[string]any {
	spec := map[string]any{"podCIDR": "172.16.1.0/24"}
	if len(taints) > 0 {
		spec["taints"] = taints
	}
	return map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{"name": name, "labels": labels},
		"spec":     spec,
		"status": map[string]any{"conditions": []map[string]string{
			{"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
			{"type": "Ready", "status": ready, "reason": map[string]string{"True": "KubeletReady", "False": "KubeletNotReady"}[ready],
				"message": map[string]string{"True": "kubelet is posting ready status", "False": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"}[ready]},
		}},
	}
}

// etcdMembers prints `etcdctl member list -w json` for started members; a name prefixed
// with "unstarted:" is a member added but never started.
func etcdMembers(names ...string) string {
	var ms []map[string]any
	for i, n := range names {
		peer := fmt.Sprintf("https://10.0.0.%d:2380", 11+i)
		if rest, ok := strings.CutPrefix(n, "unstarted:"); ok {
			_ = rest
			ms = append(ms, map[string]any{"ID": 1000 + i, "peerURLs": []string{peer}})
			continue
		}
		ms = append(ms, map[string]any{"ID": uint64(0x8e9e05c52164694d) + uint64(i), "name": n, "peerURLs": []string{peer},
			"clientURLs": []string{fmt.Sprintf("https://10.0.0.%d:2379", 11+i)}})
	}
	data, _ := json.Marshal(map[string]any{"header": map[string]any{"cluster_id": uint64(0xcdf818194e3a8c32), "member_id": uint64(0x8e9e05c52164694d), "raft_term": 2}, "members": ms})
	return string(data) + "\n"
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(content), 0o644))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// birdInPodFixture makes the node's Calico expectation the one FromPlan gives a routed
// node (BIRD read in its pod, peers 10.10.0.31 and .32, AS 64511) and BIRD's answer the
// fixture testdata/calico/NAME ("": the exec fails).
func (f *fixtureNode) birdFixture(name string) {
	if name == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join("testdata", "calico", name))
	if err != nil {
		f.t.Fatal(err)
	}
	f.file("calico/protocols-all", string(data))
}

func birdInPodFixture(f *fixtureNode, name string) {
	f.target.Expect.Calico = &CalicoExpect{PodReady: true, BirdInPod: true, ASNumber: 64511, BGPPeers: []string{"10.10.0.31", "10.10.0.32"}}
	f.birdFixture(name)
}

// tunnelFixture expects tunl0 (overlay) and makes `ip` print testdata/calico/LINK and
// ADDR for it ("": the device does not exist, or has no address).
func tunnelFixture(f *fixtureNode, link, addr string) {
	f.target.Expect.Calico = &CalicoExpect{PodReady: true, Tunnel: "tunl0"}
	for file, name := range map[string]string{"calico/tunl0-link": link, "calico/tunl0-addr": addr} {
		if name == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", "calico", name))
		if err != nil {
			f.t.Fatal(err)
		}
		f.file(file, string(data))
	}
	if link != "" && addr == "" {
		f.file("calico/tunl0-addr", "")
	}
}
