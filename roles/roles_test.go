package roles_test

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render/rendertest"
	"github.com/kisgen/kisgen/roles"
)

func TestEachRoleGetsOnlyItsSecrets(t *testing.T) {
	_, nodes := model(t, "ha.yaml")
	tests := []struct {
		name   string
		host   string
		has    []string
		hasNot []string
	}{
		// With managed hosts files an etcd node reads the hosts list from the API server:
		// the cluster CA's certificate and the shared hosts reader's key.
		{name: "an etcd node has its own etcd certificates and no CA key", host: "etcd2",
			has:    []string{roles.EtcdCACert, roles.EtcdServerCert, roles.EtcdServerKey, roles.EtcdPeerCert, roles.EtcdPeerKey, roles.EtcdHealthcheckKey, roles.SSHHostKeyPath, roles.CACert, roles.HostsReaderKey},
			hasNot: []string{roles.CAKey, roles.ServiceAccountKey, roles.AdminKey, roles.KubeletClientKey, roles.APIServerEtcdKey}},
		{name: "a master has the CA key and service-account key but no etcd server key", host: "master2",
			has:    []string{roles.CACert, roles.CAKey, roles.ServiceAccountKey, roles.ServiceAccountPub, roles.APIServerKey, roles.APIServerEtcdKey, roles.APIServerKubeletKey, roles.FrontProxyClientKey, roles.AdminKey, roles.AdminKubeconfig, roles.KubeletClientKey},
			hasNot: []string{roles.EtcdServerKey, roles.EtcdPeerKey, roles.EtcdHealthcheckKey}},
		{name: "a worker has no CA key, service-account key or admin credential", host: "worker2",
			has:    []string{roles.CACert, roles.KubeletClientKey, roles.KubeletServingKey, roles.KubeProxyKey, roles.KubeletKubeconfig},
			hasNot: []string{roles.CAKey, roles.ServiceAccountKey, roles.AdminKey, roles.AdminKubeconfig, roles.APIServerKey, roles.EtcdCACert, roles.EtcdHealthcheckKey}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := nodes[tc.host]
			for _, p := range tc.has {
				if !hasFile(n, p) {
					t.Errorf("%s lacks %s", tc.host, p)
				}
			}
			for _, p := range tc.hasNot {
				if hasFile(n, p) {
					t.Errorf("%s holds %s, which its roles do not need", tc.host, p)
				}
			}
			for _, f := range n.Files {
				isKey := strings.Contains(f.Content, "PRIVATE KEY")
				if isKey && (f.Mode != 0o600 || !f.Secret) {
					t.Errorf("%s: private key %s has mode %o secret=%v, want 0600 and secret", tc.host, f.Path, f.Mode, f.Secret)
				}
			}
		})
	}
	t.Run("each node's certificates are its own", func(t *testing.T) {
		for host, n := range nodes {
			for _, f := range n.Files {
				if strings.HasPrefix(f.What, "certificate ") || strings.HasPrefix(f.What, "private key ") {
					name := f.What[strings.IndexByte(f.What, ' ')+1:]
					for other := range nodes {
						if other != host && strings.HasSuffix(name, "-"+other) {
							t.Errorf("%s holds %s of %s", host, f.What, other)
						}
					}
				}
			}
		}
	})
}

func TestUnitsAndPortsFollowTheRoles(t *testing.T) {
	_, nodes := model(t, "ha.yaml")
	tests := []struct {
		host  string
		units []string
		ports []int
	}{
		{"etcd1", []string{"etcd.service", "kisgen-sync.timer"}, []int{2379, 2380, 2381}},
		// With the virtual IP, HAProxy and keepalived too; HAProxy listens on the
		// virtual IP's port, and answers keepalived on 127.0.0.1:6445.
		{"master1", []string{"kube-apiserver.service", "kube-controller-manager.service", "kube-scheduler.service", "kisgen-haproxy.service", "kisgen-keepalived.service",
			"containerd.service", "kisgen-service-route.service", "kubelet.service", "kube-proxy.service", "kisgen-sync.timer", "kisgen-addons.service"},
			[]int{6443, 10257, 10259, 6443, 6445, 10248, 10250, 10249, 10256}},
		{"master2", []string{"kube-apiserver.service", "kube-controller-manager.service", "kube-scheduler.service", "kisgen-haproxy.service", "kisgen-keepalived.service",
			"containerd.service", "kisgen-service-route.service", "kubelet.service", "kube-proxy.service", "kisgen-sync.timer"},
			[]int{6443, 10257, 10259, 6443, 6445, 10248, 10250, 10249, 10256}},
		{"worker3", []string{"containerd.service", "kisgen-service-route.service", "kubelet.service", "kube-proxy.service", "kisgen-sync.timer"}, []int{10248, 10250, 10249, 10256}},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			n := nodes[tc.host]
			if diff := cmp.Diff(tc.units, n.Expect.Units); diff != "" {
				t.Errorf("units (-want +got):\n%s", diff)
			}
			var ports []int
			for _, p := range n.Expect.Ports {
				ports = append(ports, p.Port)
			}
			if diff := cmp.Diff(tc.ports, ports); diff != "" {
				t.Errorf("ports (-want +got):\n%s", diff)
			}
			if u := unit(t, n, "kisgen-install.service"); !u.Enable || u.Start {
				t.Errorf("kisgen-install.service must be enabled by the user-data, not by the bootstrap")
			}
			for _, name := range tc.units {
				if u := unit(t, n, name); u.Enable || !u.Start {
					t.Errorf("%s must be started by the bootstrap once its binary is in place", name)
				}
			}
			env := file(t, n, roles.NodeEnvPath).Content
			if !strings.Contains(env, "KISGEN_UNITS='"+strings.Join(tc.units, " ")+"'") {
				t.Errorf("node.env does not start the expected units:\n%s", env)
			}
			if len(n.Expect.Files) != len(n.Files)+len(n.Units) || n.Expect.ConfigSHA256 != n.ConfigSHA256 || n.Expect.SSHHostKey == "" {
				t.Errorf("expectations incomplete: %d files for %d files and units, config %q", len(n.Expect.Files), len(n.Files)+len(n.Units), n.Expect.ConfigSHA256)
			}
		})
	}
}

func TestKubeletRegistersWithThePlansLabelsAndTaints(t *testing.T) {
	_, nodes := model(t, "ha.yaml")
	kubelet := unit(t, nodes["worker2"], "kubelet.service").Content
	for _, want := range []string{"--node-labels=example.com/gpu=true,kisgen.io/role-worker=true", "--register-with-taints=example.com/gpu=true:NoSchedule", "--node-ip=10.10.0.32", "--hostname-override=worker2"} {
		if !strings.Contains(kubelet, want) {
			t.Errorf("kubelet unit lacks %s:\n%s", want, kubelet)
		}
	}
	if master := unit(t, nodes["master1"], "kubelet.service").Content; !strings.Contains(master, "--register-with-taints=node-role.kubernetes.io/control-plane:NoSchedule") {
		t.Errorf("a dedicated master registers without the control-plane taint:\n%s", master)
	}
	want := map[string]string{"example.com/gpu": "true", "kisgen.io/role-worker": "true", "node-role.kubernetes.io/worker": ""}
	if diff := cmp.Diff(want, nodes["worker2"].Expect.Labels); diff != "" {
		t.Errorf("expected labels (-want +got):\n%s", diff)
	}
	// The role labels come from the masters' kisgen-sync, for nodes that join later too:
	// no list of nodes on the first master.
	if hasFile(nodes["master1"], roles.AddOnsDir+"/node-labels.tsv") {
		t.Error("the first master still carries a list of the nodes to label")
	}
	for _, host := range []string{"master1", "master2"} {
		if !strings.Contains(unit(t, nodes[host], "kubelet.service").Content, "kisgen.io/role-master=true") {
			t.Errorf("%s's kubelet does not register with its role label", host)
		}
	}
}

// TestEtcdMembership: the founding members start the cluster with the founding
// membership, a member added later (or after the cluster was applied) joins it, and
// neither kind names the other members in its etcd unit, so adding a member changes no
// running member's user-data.
func TestEtcdMembership(t *testing.T) {
	founding := "etcd1=https://10.10.0.11:2380,etcd2=https://10.10.0.12:2380,etcd3=https://10.10.0.13:2380"
	p3, nodes := model(t, "ha.yaml")
	etcd := unit(t, nodes["etcd2"], "etcd.service").Content
	for _, want := range []string{
		"--listen-client-urls=https://10.10.0.12:2379,https://127.0.0.1:2379", "--client-cert-auth=true", "--peer-client-cert-auth=true",
		"--name=etcd2", "--peer-cert-allowed-cn=kisgen-etcd-peer", "EnvironmentFile=" + roles.EtcdEnvPath + "\n",
	} {
		if !strings.Contains(etcd, want) {
			t.Errorf("etcd unit lacks %s", want)
		}
	}
	if strings.Contains(etcd, "initial-cluster=") || strings.Contains(etcd, "initial-cluster-state") {
		t.Errorf("the etcd unit names the membership (kisgen-etcd-join writes it):\n%s", etcd)
	}
	env := file(t, nodes["etcd2"], roles.NodeEnvPath).Content
	for _, want := range []string{"KISGEN_ETCD_INITIAL_CLUSTER='" + founding + "'", "KISGEN_ETCD_PEER_URL='https://10.10.0.12:2380'",
		"KISGEN_ETCD_JOIN_ENDPOINTS='https://10.10.0.11:2379,https://10.10.0.13:2379'"} {
		if !strings.Contains(env, want) {
			t.Errorf("etcd2's node.env lacks %s:\n%s", want, env)
		}
	}
	api := unit(t, nodes["master1"], "kube-apiserver.service").Content
	if !strings.Contains(api, "--etcd-servers=https://10.10.0.11:2379,https://10.10.0.12:2379,https://10.10.0.13:2379") {
		t.Errorf("kube-apiserver does not list every etcd member:\n%s", api)
	}

	// A fourth member added to the applied cluster joins it; the others do not change.
	// The edited plan replaces the first one beside the same state directory (PKI).
	text, err := os.ReadFile(p3.File)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(strings.Replace(string(text), "etcd:\n  expected_count: 3\n", "etcd:\n  expected_count: 4\n", 1),
		"  - host: etcd3\n    ip: 10.10.0.13\n", "  - host: etcd3\n    ip: 10.10.0.13\n  - host: etcd4\n    ip: 10.10.0.14\n", 1)
	if err := os.WriteFile(p3.File, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	p4 := rendertest.Load(t, p3.File)
	in, err := roles.LoadInputs(p4)
	if err != nil {
		t.Fatal(err)
	}
	in.EtcdInitialCluster = founding // from the record of intent
	c, err := roles.NewCluster(p4, rendertest.Bundle(t, p4), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"etcd4", "etcd2"} {
		m, err := c.Node(p4.Node(host))
		if err != nil {
			t.Fatal(err)
		}
		env := file(t, m, roles.NodeEnvPath).Content
		switch host {
		case "etcd4":
			if !strings.Contains(env, "KISGEN_ETCD_INITIAL_CLUSTER=''") || !strings.Contains(env, "KISGEN_ETCD_JOIN_ENDPOINTS='https://10.10.0.11:2379,https://10.10.0.12:2379,https://10.10.0.13:2379'") {
				t.Errorf("etcd4 does not join the running cluster:\n%s", env)
			}
		case "etcd2":
			// Its whole configuration, node.env (which carries the digest of every other
			// file) included, is what it was with three members.
			if m.ConfigSHA256 != nodes["etcd2"].ConfigSHA256 || env != file(t, nodes["etcd2"], roles.NodeEnvPath).Content {
				t.Errorf("etcd2's user-data changed with a new member:\n%s", env)
			}
		}
	}
	if p4.Node("etcd4") == nil {
		t.Fatal("the edited plan has no etcd4")
	}
}

func TestOverridesReachTheUnits(t *testing.T) {
	_, nodes := model(t, "minimal.yaml",
		"  ssh:\n", "  kube_apiserver:\n    option_overrides:\n      audit-log-path: /var/log/kube-audit.log\n      audit-log-maxage: \"30\"\n  etcd:\n    option_overrides:\n      heartbeat-interval: \"500\"\n      election-timeout: \"5000\"\n  kube_proxy:\n    option_overrides:\n      proxy-mode: ipvs\n      masquerade-all: \"true\"\n  ssh:\n",
		"    labels:\n", "    kubelet:\n      option_overrides:\n        max-pods: \"200\"\n    labels:\n")
	api := unit(t, nodes["master1"], "kube-apiserver.service").Content
	if !strings.Contains(api, "--audit-log-path=/var/log/kube-audit.log") || !strings.Contains(api, "--audit-log-maxage=30") {
		t.Errorf("apiserver overrides missing:\n%s", api)
	}
	if e := unit(t, nodes["etcd1"], "etcd.service").Content; !strings.Contains(e, "--heartbeat-interval=500") || !strings.Contains(e, "--election-timeout=5000") {
		t.Errorf("etcd overrides missing:\n%s", e)
	}
	if k := unit(t, nodes["worker1"], "kubelet.service").Content; !strings.Contains(k, "--max-pods=200") {
		t.Errorf("kubelet override missing:\n%s", k)
	}
	if k := unit(t, nodes["master1"], "kubelet.service").Content; strings.Contains(k, "--max-pods") {
		t.Errorf("worker1's kubelet override reached master1")
	}
	kp := file(t, nodes["worker1"], roles.KubeProxyConfigPath).Content
	if !strings.Contains(kp, "mode: ipvs") || !strings.Contains(kp, "masqueradeAll: true") {
		t.Errorf("kube-proxy overrides are not in its configuration file:\n%s", kp)
	}
}

func TestKubeProxyFlagsWithoutAConfigFieldAreRefused(t *testing.T) {
	p := rendertest.ExamplePlan(t, "minimal.yaml", "  ssh:\n", "  kube_proxy:\n    option_overrides:\n      oom-score-adj: \"-999\"\n  ssh:\n")
	_, err := roles.Build(p, rendertest.Bundle(t, p), p.Node("worker1"))
	if !errors.Is(err, roles.ErrUnsupported) || !strings.Contains(err.Error(), "--oom-score-adj") || !strings.Contains(err.Error(), "proxy-mode") {
		t.Fatalf("err = %v, want ErrUnsupported naming the flag and what can be set", err)
	}
}

// hiding wraps a bundle and hides one certificate.
type hiding struct {
	*pki.Bundle
	name string
}

func (h hiding) Get(name string) (*pki.Pair, bool) {
	if name == h.name {
		return nil, false
	}
	return h.Bundle.Get(name)
}

func TestMissingSecretsAreNamed(t *testing.T) {
	p := rendertest.ExamplePlan(t, "minimal.yaml")
	b := rendertest.Bundle(t, p)
	_, err := roles.Build(p, hiding{b, pki.KubeletServing("worker1")}, p.Node("worker1"))
	if !errors.Is(err, roles.ErrMissingSecret) || !strings.Contains(err.Error(), "kubelet-serving-worker1") || !strings.Contains(err.Error(), "worker1") {
		t.Fatalf("err = %v, want ErrMissingSecret naming the certificate and the node", err)
	}
	other := &plan.Node{Host: "stranger", Index: 0}
	if _, err := roles.Build(p, b, other); !errors.Is(err, roles.ErrNotInPlan) {
		t.Fatalf("a node from elsewhere: err = %v, want ErrNotInPlan", err)
	}
}

func TestBridgeGivesEachNodeASubnetAndRoutes(t *testing.T) {
	p, nodes := model(t, "ha.yaml", "    provider: calico\n", "    provider: bridge\n")
	want := map[string]string{"master1": "172.16.0.0/24", "master2": "172.16.1.0/24", "worker1": "172.16.2.0/24", "worker2": "172.16.3.0/24", "worker3": "172.16.4.0/24"}
	for host, subnet := range want {
		n := nodes[host]
		if n.PodSubnet.String() != subnet {
			t.Errorf("%s pod subnet %s, want %s", host, n.PodSubnet, subnet)
		}
		conf := file(t, n, roles.BridgeConfPath).Content
		if !strings.Contains(conf, `"subnet": "`+subnet+`"`) {
			t.Errorf("%s CNI configuration lacks its subnet:\n%s", host, conf)
		}
		routes := file(t, n, roles.BridgeRoutesPath).Content
		if strings.Contains(routes, subnet) || strings.Count(routes, "\n") != len(want)-1 {
			t.Errorf("%s routes must list every other node's subnet and not its own:\n%s", host, routes)
		}
		if !slices.Contains(n.Expect.Units, "kisgen-bridge-routes.service") {
			t.Errorf("%s does not start the bridge routes", host)
		}
	}
	if !strings.Contains(file(t, nodes["worker1"], roles.BridgeRoutesPath).Content, "172.16.3.0/24\t10.10.0.32\tworker2\n") {
		t.Error("worker1 has no route to worker2's subnet via worker2's internal ip")
	}
	if hasFile(nodes["etcd1"], roles.BridgeConfPath) || nodes["etcd1"].PodSubnet.IsValid() {
		t.Error("an etcd-only node got a pod subnet")
	}
	if cm := unit(t, nodes["master1"], "kube-controller-manager.service").Content; !strings.Contains(cm, "--allocate-node-cidrs=false") {
		t.Error("with bridge, the controller manager must not allocate other node subnets than the bridge's")
	}
	for _, f := range nodes["master1"].Files {
		if strings.Contains(f.Content, "ValidatingAdmissionPolicy") {
			t.Errorf("%s refuses objects: NetworkPolicy objects are never refused (docs/network.md)", f.Path)
		}
	}
	_ = p
}

func TestNodeMaskBits(t *testing.T) {
	tests := []struct {
		name   string
		pod    string
		nodes  int
		expect int
	}{
		{"a /16 gives each of a few nodes a /24", "10.0.0.0/16", 5, 24},
		{"a /16 fits 256 nodes in /24s", "10.0.0.0/16", 256, 24},
		{"a /16 with 257 nodes falls back to /25s", "10.0.0.0/16", 257, 25},
		{"a /16 with 1000 nodes gets /26s", "10.0.0.0/16", 1000, 26},
		{"a /24 with 4 nodes gets /26s", "10.0.0.0/24", 4, 26},
		{"a /12 with 10000 nodes gets /26s", "10.0.0.0/12", 10000, 26},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &plan.Plan{Network: plan.Network{PodCIDR: netip.MustParsePrefix(tc.pod)}}
			for i := 0; i < tc.nodes; i++ {
				p.Nodes = append(p.Nodes, &plan.Node{Roles: []plan.Role{plan.RoleWorker}})
			}
			if got := roles.NodeMaskBits(p); got != tc.expect {
				t.Errorf("NodeMaskBits = %d, want %d", got, tc.expect)
			}
		})
	}
}

func TestProxySettingsReachEveryUnit(t *testing.T) {
	_, nodes := model(t, "minimal.yaml", "    update_hosts_files: true\n", "    update_hosts_files: true\n    http_proxy: http://proxy.example.com:3128\n    https_proxy: http://proxy.example.com:3128\n    no_proxy: .example.com\n")
	for host, n := range nodes {
		env := file(t, n, roles.ProxyEnvPath).Content
		for _, want := range []string{"HTTPS_PROXY='http://proxy.example.com:3128'", "http_proxy='http://proxy.example.com:3128'", "NO_PROXY='", ".example.com", "10.10.0.21", "172.17.0.0/16"} {
			if !strings.Contains(env, want) {
				t.Errorf("%s proxy.env lacks %s:\n%s", host, want, env)
			}
		}
		for _, u := range n.Units {
			if strings.HasSuffix(u.Name, ".timer") {
				continue // a timer runs nothing itself: its service reads them
			}
			if !strings.Contains(u.Content, "EnvironmentFile=-"+roles.ProxyEnvPath) {
				t.Errorf("%s: unit %s does not read the proxy settings", host, u.Name)
			}
		}
	}
}

func TestImageManifestCanonicalForm(t *testing.T) {
	m := roles.ImageManifest{OS: "debian-12", Components: []roles.ImageComponent{
		{Name: "runc", Version: "v1.1.5", Path: "/usr/sbin/runc", SHA256: strings.Repeat("a", 64)},
		{Name: "cni-plugins", Version: "v1.1.1", Path: "/usr/lib/cni"},
		{Name: "containerd", Version: "v1.6.20", Path: "/usr/bin/containerd", SHA256: strings.Repeat("b", 64)},
	}}
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := roles.ParseImageManifest(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	want := m
	want.Schema = roles.ImageManifestSchema
	want.Components = []roles.ImageComponent{m.Components[1], m.Components[2], m.Components[0]}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("parse back (-want +got):\n%s", diff)
	}
	bad := []struct{ name, text string }{
		{"keys in another order", `{"schema":"kisgen.io/image-manifest/v1","components":[` + "\n" + `{"version":"v1","name":"runc","path":"/x","sha256":""}` + "\n]}\n"},
		{"all on one line", `{"schema":"kisgen.io/image-manifest/v1","components":[{"name":"runc","version":"v1","path":"/x","sha256":""}]}`},
		{"unknown schema", `{"schema":"other","components":[]}`},
		{"unknown key", `{"schema":"kisgen.io/image-manifest/v1","components":[],"extra":1}`},
	}
	for _, tc := range bad {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			if _, err := roles.ParseImageManifest([]byte(tc.text)); !errors.Is(err, roles.ErrImageManifest) {
				t.Errorf("err = %v, want ErrImageManifest", err)
			}
		})
	}
}

// TestImageBakeScriptManifestIsCanonical checks the manifest that the image bake script
// writes (image/bake.sh) against this package's canonical form.
func TestImageBakeScriptManifestIsCanonical(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	script := filepath.Join(rendertest.RepoRoot(t), "image", "bake.sh")
	if _, err := os.Stat(script); err != nil {
		t.Skip("no image/bake.sh in this tree")
	}
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	// Run only the manifest part of the script against a fake root, with what the binaries
	// part recorded for a baked runtime (unsorted, as the bake appends it).
	text := string(src)
	start := strings.Index(text, `mkdir -p "$R/etc/kisgen"`)
	end := strings.Index(text, `mv "$R/etc/kisgen/image-manifest.json.tmp"`)
	if start < 0 || end < 0 {
		t.Skip("image/bake.sh has changed shape: update this test")
	}
	root := t.TempDir()
	baked := filepath.Join(t.TempDir(), "baked")
	writeFile(t, baked, `{"name":"runc","version":"v1.5.3","path":"/opt/kisgen/bin/runc","sha256":"`+strings.Repeat("a", 64)+`"}
{"name":"cni-plugins","version":"v1.10.0","path":"/opt/cni/bin","sha256":""}
{"name":"containerd","version":"v2.4.2","path":"/opt/kisgen/bin/containerd","sha256":"`+strings.Repeat("b", 64)+`"}
`, 0o644)
	prog := "set -eu\nR=" + root + "\nOS=debian-12\nbaked=" + baked + "\n" + text[start:end]
	cmd := exec.Command("bash", "-c", prog)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(root, "etc/kisgen/image-manifest.json.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := roles.ParseImageManifest(data)
	if err != nil {
		t.Fatalf("the bake script's manifest is not canonical: %v\n%s", err, data)
	}
	var names []string
	for _, c := range m.Components {
		names = append(names, c.Name+" "+c.Version)
	}
	if diff := cmp.Diff([]string{"cni-plugins v1.10.0", "containerd v2.4.2", "runc v1.5.3"}, names); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
}

// TestImageArchivesOnlyWhereContainerdRuns proves an etcd-only node is not asked to import
// container images: it has no containerd, and the import would fail its install forever.
func TestImageArchivesOnlyWhereContainerdRuns(t *testing.T) {
	src := strings.Replace(string(rendertest.Example(t, "minimal.yaml")), "provider:\n",
		"mirror:\n  url: http://10.0.2.100\n  checksums: SHA256SUMS\n  image_archives: [images/pause-3.10.1.tar]\nprovider:\n", 1)
	path := rendertest.WritePlan(t, []byte(src))
	writeFile(t, filepath.Join(filepath.Dir(path), "SHA256SUMS"), strings.Repeat("0", 64)+"  images/pause-3.10.1.tar\n", 0o644)
	p := rendertest.Load(t, path)
	in, err := roles.LoadInputs(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := roles.NewCluster(p, rendertest.Bundle(t, p), in)
	if err != nil {
		t.Fatal(err)
	}
	for _, pn := range p.Nodes {
		host := pn.Host
		n, err := c.Node(pn)
		if err != nil {
			t.Fatal(err)
		}
		env := file(t, n, roles.NodeEnvPath).Content
		has := strings.Contains(env, "images/pause-3.10.1.tar")
		if want := host != "etcd1"; has != want {
			t.Errorf("%s: node.env lists the image archive: %v, want %v\n%s", host, has, want, env)
		}
	}
}

// TestHostsBlockResolvesTheLoadBalancerName: in hosts-file mode a load balancer named by
// DNS must be in every node's hosts block, or kubelets cannot reach the API server; with
// one master the name stands for it. An IP address needs no line.
func TestHostsBlockResolvesTheLoadBalancerName(t *testing.T) {
	for _, tc := range []struct {
		name, example string
		edits         []string
		want          string // the line the block must hold; "" for none beyond the nodes
	}{
		{"a DNS name with one master", "minimal.yaml", []string{"master:\n  expected_count: 1\n", "master:\n  expected_count: 1\n  load_balancer: api.minimal.test:6443\n"}, "10.10.0.21 api.minimal.test\n"},
		{"a node's own name", "minimal.yaml", []string{"master:\n  expected_count: 1\n", "master:\n  expected_count: 1\n  load_balancer: master1:6443\n"}, ""},
		{"an IP address", "ha.yaml", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, nodes := model(t, tc.example, tc.edits...)
			for _, n := range p.Nodes {
				block := file(t, nodes[n.Host], roles.HostsBlockPath).Content
				lines := strings.Count(block, "\n")
				extra := 0
				if tc.want != "" {
					extra = 1
					if !strings.Contains(block, "\n"+tc.want) || !strings.Contains(nodes[n.Host].Expect.HostsBlock, "\n"+tc.want) {
						t.Errorf("%s's hosts block has no %q:\n%s", n.Host, tc.want, block)
					}
					for _, f := range nodes[n.Host].Files {
						if f.Path == roles.KubeletKubeconfig && (!strings.Contains(f.Content, "server: "+p.APIServerURL()) || !strings.Contains(p.APIServerURL(), "api.minimal.test")) {
							t.Errorf("%s's kubelet does not dial the name (%s):\n%s", n.Host, p.APIServerURL(), f.Content)
						}
					}
				}
				// The user-data's seed: two markers, the node itself, the balancer. The
				// other nodes come from the cluster (kisgen-sync); verify expects them all.
				if want := 1 + extra + 2; lines != want {
					t.Errorf("%s's hosts block has %d lines, want %d:\n%s", n.Host, lines, want, block)
				}
				if !strings.Contains(block, "\n"+n.InternalIP.String()+" "+n.Host+"\n") {
					t.Errorf("%s's seed block does not name the node itself:\n%s", n.Host, block)
				}
				expected := nodes[n.Host].Expect.HostsBlock
				if want := len(p.Nodes) + extra + 2; strings.Count(expected, "\n") != want {
					t.Errorf("%s: verify expects %d lines, want %d:\n%s", n.Host, strings.Count(expected, "\n"), want, expected)
				}
			}
		})
	}
}

// TestAdminManifestsMatchTheArtifacts holds plan.AdminManifests (what the pinning rule
// checks) to the manifests the nodes really fetch, and proves a manifest kisgen knows the
// sum of is pinned in the user-data without mirror.checksums.
func TestAdminManifestsMatchTheArtifacts(t *testing.T) {
	p, nodes := model(t, "minimal.yaml")
	listed := map[string]bool{}
	for _, m := range plan.AdminManifests(p) {
		listed[m.Path] = true
	}
	var fetched int
	for _, n := range nodes {
		for _, a := range n.Artifacts {
			if a.Kind != roles.KindManifest {
				continue
			}
			fetched++
			if !listed[a.MirrorPath] {
				t.Errorf("%s fetches %s, which plan.AdminManifests does not list: the pinning rule would not check it", n.Host, a.MirrorPath)
			}
			if a.SHA256 == "" || a.SHA256 != plan.KnownSHA256(a.MirrorPath) {
				t.Errorf("%s: %s is fetched with sha256 %q, want kisgen's known sum", n.Host, a.MirrorPath, a.SHA256)
			}
		}
	}
	if fetched == 0 {
		t.Fatal("the Calico plan fetches no manifest: the test proves nothing")
	}
}

// TestCorefileDirectives: the directives of kisgen's Corefile are read from its server
// block only (not from inside a plugin's own block), once each.
func TestCorefileDirectives(t *testing.T) {
	corefile, err := roles.Corefile()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(roles.CorefileDirectives(corefile), " ")
	want := "cache errors forward health kubernetes loadbalance loop prometheus ready reload"
	if got != want {
		t.Errorf("directives = %q, want %q", got, want)
	}
	if got := roles.CorefileDirectives(".:53 {\n  # log\n  whoami\n  hosts {\n    fallthrough\n  }\n}\nexample.org {\n  file db\n}\n"); strings.Join(got, " ") != "file hosts whoami" {
		t.Errorf("second Corefile: %q", got)
	}
}
