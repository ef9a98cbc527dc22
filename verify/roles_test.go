package verify

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/roles"
)

// TestApplyRolesFromTheRenderedModel builds the real roles model of examples/ha.yaml with
// a real PKI and checks what verify will expect of each kind of node.
func TestApplyRolesFromTheRenderedModel(t *testing.T) {
	p := loadExample(t, "ha.yaml")
	state := filepath.Join(filepath.Dir(p.File), "generated")
	bundle, _, err := pki.Ensure(p, state, pki.Options{})
	must(t, err)
	in, err := roles.LoadInputs(p)
	must(t, err)
	cluster, err := roles.NewCluster(p, bundle, in)
	must(t, err)
	targets, err := FromPlan(p, PlanInputs{Signer: nil})
	must(t, err)
	byHost := map[string]*Target{}
	for i, n := range p.Nodes {
		rn, err := cluster.Node(n)
		must(t, err)
		must(t, ApplyRoles(&targets[i], rn))
		byHost[n.Host] = &targets[i]
	}

	etcd1 := byHost["etcd1"]
	_, line, _ := bundle.SSHHostKey("etcd1")
	want, err := ParseHostKey(line)
	must(t, err)
	if etcd1.HostKey == nil || string(etcd1.HostKey.Marshal()) != string(want.Marshal()) {
		t.Errorf("etcd1 host key %s, want the PKI's %s", describeKey(etcd1.HostKey), ssh.FingerprintSHA256(want))
	}
	e := etcd1.Expect
	if !slices.Contains(e.Units, "etcd.service") || !hasPort(e.Ports, 2379) {
		t.Errorf("etcd1 units %v ports %v", e.Units, e.Ports)
	}
	if e.Etcd == nil || e.Etcd.Etcdctl != roles.BinDir+"/etcdctl" || e.Etcd.Cert != roles.EtcdHealthcheckCert ||
		e.Etcd.Endpoint != "https://10.10.0.11:2379" || len(e.Etcd.Members) != 3 {
		t.Errorf("etcd1 etcd %+v", e.Etcd)
	}
	if !hasFile(e.Files, roles.EtcdHealthcheckCert) || !slices.Contains(e.Certs, roles.EtcdServerCert) {
		t.Errorf("etcd1 files lack the healthcheck or server certificate: certs %v", e.Certs)
	}
	for _, c := range e.Certs {
		if !strings.HasSuffix(c, ".crt") || !hasFile(e.Files, c) {
			t.Errorf("certificate %s is not one of the node's .crt files", c)
		}
	}
	for _, f := range e.Files {
		if len(f.SHA256) != 64 || f.Mode == 0 {
			t.Errorf("file %s: sha256 %q mode %o", f.Path, f.SHA256, f.Mode)
		}
	}
	if e.Versions["etcd"] != p.Versions.Etcd || e.ConfigSHA256 == "" || e.StatusPath != roles.StatusPath || e.Node != nil || e.Kubectl != nil {
		t.Errorf("etcd1: versions %v, config %q, status %q, node %v, kubectl %v", e.Versions, e.ConfigSHA256, e.StatusPath, e.Node, e.Kubectl)
	}

	m := byHost["master1"].Expect
	if m.Kubectl == nil || m.Kubectl.Kubeconfig != roles.AdminKubeconfig || m.APIServer == nil || m.AddOnsStatusPath != roles.AddOnsStatusPath {
		t.Errorf("master1: kubectl %v apiserver %v addons %q", m.Kubectl, m.APIServer, m.AddOnsStatusPath)
	}
	if byHost["master2"].Expect.AddOnsStatusPath != "" {
		t.Error("master2 is not the first master but expects the add-ons status")
	}
	if m.Node == nil || !slices.Contains(m.Node.Taints, "node-role.kubernetes.io/control-plane:NoSchedule") || !hasPort(m.Ports, 6443) {
		t.Errorf("master1 node %+v ports %v", m.Node, m.Ports)
	}
	for _, c := range []string{roles.CompContainerd, roles.CompRunc, roles.CompCNIPlugins} {
		if m.Versions[c] == "" {
			t.Errorf("master1 does not compare the runtime component %s with the plan's version", c)
		}
	}

	w := byHost["worker2"].Expect
	if w.Node == nil || w.Node.Labels["example.com/gpu"] != "true" || !slices.Contains(w.Node.Taints, "example.com/gpu=true:NoSchedule") {
		t.Errorf("worker2 node %+v", w.Node)
	}
	if w.Calico == nil || !w.Calico.PodReady || len(w.Calico.BGPPeers) == 0 || w.HostsBlock == "" || !slices.Contains(w.Units, "kubelet.service") {
		t.Errorf("worker2 calico %+v hosts %q units %v", w.Calico, w.HostsBlock, w.Units)
	}
}

func hasPort(ps []Port, n int) bool {
	return slices.ContainsFunc(ps, func(p Port) bool { return p.Number == n })
}

func hasFile(fs []ExpectedFile, path string) bool {
	return slices.ContainsFunc(fs, func(f ExpectedFile) bool { return f.Path == path })
}
