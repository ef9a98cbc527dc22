package verify

import (
	"strings"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// ApplyRoles completes t (as FromPlan built it) with what the node's rendered model says
// must be on it: units, every file and unit file with its sha256 and mode, the
// certificates among them, ports, the hosts block, the status and add-ons status files,
// the configuration digest and component versions, labels and taints, and where etcdctl,
// kubectl and their credentials are (roles' on-node layout). The host key is taken from
// the model when t has none. calico-node, a DaemonSet, is judged by its pod's readiness.
func ApplyRoles(t *Target, n *roles.Node) error {
	re := n.Expect
	e := &t.Expect
	e.Units = append([]string(nil), re.Units...)
	e.Files, e.Certs = nil, nil
	for _, f := range re.Files {
		e.Files = append(e.Files, ExpectedFile{Path: f.Path, SHA256: f.SHA256, Mode: f.Mode})
		if strings.HasSuffix(f.Path, ".crt") {
			e.Certs = append(e.Certs, f.Path)
		}
	}
	e.Ports = nil
	for _, p := range re.Ports {
		e.Ports = append(e.Ports, Port{Number: p.Port, Address: p.Address, Owner: strings.TrimSuffix(p.Unit, ".service")})
	}
	e.HostsBlock = re.HostsBlock
	e.StatusPath = re.StatusPath
	e.AddOnsStatusPath = re.AddOnsStatusPath
	e.ConfigSHA256 = re.ConfigSHA256
	// Every version is compared, the container runtime's too: the bootstrap records what
	// containerd, runc and the CNI plugins report, and runs only the releases the plan pins.
	e.Versions = map[string]string{}
	for c, v := range re.Versions {
		e.Versions[c] = v
	}
	if t.HostKey == nil && re.SSHHostKey != "" {
		k, err := ParseHostKey([]byte(re.SSHHostKey))
		if err != nil {
			return err
		}
		t.HostKey = k
	}
	if re.KubernetesNode {
		ne := &NodeExpect{Name: n.Host, Labels: re.Labels}
		for _, tt := range re.Taints {
			ne.Taints = append(ne.Taints, tt.String())
		}
		e.Node = ne
	}
	for _, r := range n.Roles {
		switch r {
		case plan.RoleEtcd:
			if e.Etcd == nil {
				e.Etcd = &EtcdExpect{}
			}
			e.Etcd.Etcdctl = roles.BinDir + "/etcdctl"
			e.Etcd.CACert, e.Etcd.Cert, e.Etcd.Key = roles.EtcdCACert, roles.EtcdHealthcheckCert, roles.EtcdHealthcheckKey
		case plan.RoleMaster:
			e.Kubectl = &KubectlAccess{Path: roles.BinDir + "/kubectl", Kubeconfig: roles.AdminKubeconfig}
		}
	}
	if e.Calico != nil {
		e.Calico.PodReady = true
	}
	return nil
}
