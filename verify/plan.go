package verify

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/roles"
)

// PlanInputs are what FromPlan needs besides the plan.
type PlanInputs struct {
	// Signer is the plan's SSH key.
	Signer ssh.Signer
	// HostKey returns the pinned host key of a node, or nil when none is known (the node
	// then fails the host-key check unless host keys are ignored). Nil means none known.
	HostKey func(host string) (ssh.PublicKey, error)
	// Instances is the instances record `kisgen provision` wrote (instances.LoadFor):
	// each listed node is reached at its recorded SSH address and must present its
	// recorded host key, which wins over HostKey and the rendered model's. Nil, or a node
	// it does not list, means the plan's ip and ssh_port.
	Instances *instances.Record
}

// apiServerPort is where each master's API server listens (kube-apiserver's default
// --secure-port; the plan's load balancer port may differ).
const apiServerPort = 6443

// FromPlan builds a Target per node, in plan order, with what the plan and the instances
// record decide: SSH address and pinned host key (recorded, else the plan's), user, key,
// roles, first-boot agent, certificate renewal window, etcd endpoint and planned members,
// the master's API server URL, the node's labels and taints, and in routed mode its BGP
// peers. What the roles install (units, files, certificates, ports,
// hosts block, etcdctl/kubectl paths and credentials) is ApplyRoles' part.
func FromPlan(p *plan.Plan, in PlanInputs) ([]Target, error) {
	var etcdNames []string
	for _, n := range p.NodesWith(plan.RoleEtcd) {
		etcdNames = append(etcdNames, n.Host)
	}
	targets := make([]Target, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		t := Target{
			Host:   n.Host,
			Addr:   net.JoinHostPort(n.IP.String(), strconv.Itoa(p.SSH.Port)),
			User:   p.SSH.User,
			Signer: in.Signer,
		}
		var recorded instances.Instance
		if in.Instances != nil {
			recorded, _ = in.Instances.Node(n.Host)
		}
		if recorded.SSHAddress != "" {
			t.Addr = recorded.SSHAddress
		}
		switch {
		case recorded.HostKey != "":
			k, err := ParseHostKey([]byte(recorded.HostKey))
			if err != nil {
				return nil, fmt.Errorf("%s: recorded host key: %w", n.Host, err)
			}
			t.HostKey = k
		case in.HostKey != nil:
			k, err := in.HostKey(n.Host)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", n.Host, err)
			}
			t.HostKey = k
		}
		for _, r := range n.Roles {
			t.Roles = append(t.Roles, string(r))
		}
		e := &t.Expect
		if n.Group != nil {
			e.Provisioner = string(n.Group.Format)
		}
		e.RenewBefore = p.Certificates.RenewBefore
		internal := n.InternalIP.String()
		if n.Has(plan.RoleEtcd) {
			e.Etcd = &EtcdExpect{Endpoint: "https://" + net.JoinHostPort(internal, "2379"), Members: etcdNames}
		}
		if n.Has(plan.RoleMaster) {
			e.APIServer = &APIServerExpect{URL: "https://" + net.JoinHostPort(internal, strconv.Itoa(apiServerPort))}
			if p.VirtualIP.IsValid() {
				e.VirtualIP = &VirtualIPExpect{Address: p.VirtualIP.String(), StatsSocket: roles.HAProxyStatsSocket, Backend: roles.HAProxyBackend}
			}
		}
		if n.IsKubernetesNode() {
			ne := &NodeExpect{Name: n.Host, Labels: n.Labels}
			for _, tt := range n.Taints {
				ne.Taints = append(ne.Taints, tt.String())
			}
			e.Node = ne
			e.Services = servicesExpect(p)
			if !p.Network.CNIDisabled && p.Network.CNIProvider == "calico" {
				e.Calico = calicoExpect(p, n)
			}
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// servicesExpect is what a Kubernetes node must reach: the kubernetes Service (the
// service range's first address, port 443) and, with cluster DNS on, the DNS Service (its
// 10th address) answering the kubernetes Service's name with that first address.
func servicesExpect(p *plan.Plan) *ServicesExpect {
	s := &ServicesExpect{Kubernetes: netip.AddrPortFrom(p.FirstServiceIP(), 443)}
	if p.AddOns.DNS {
		s.DNS, s.Name, s.Want = p.ServiceIP(10), "kubernetes.default.svc."+pki.ClusterDomain, p.FirstServiceIP()
	}
	return s
}
