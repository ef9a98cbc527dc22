package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// PlanInputs are what FromPlan needs besides the plan.
type PlanInputs struct {
	// Signer is the plan's SSH key.
	Signer ssh.Signer
	// HostKey returns the pinned host key of a node, or nil when none is known (the node
	// then fails the host-key check unless host keys are ignored). Nil means none known.
	HostKey func(host string) (ssh.PublicKey, error)
	// SSHAddrs overrides a node's SSH address (host → "host:port"), e.g. from
	// LoadSSHAddrs.
	SSHAddrs map[string]string
}

// apiServerPort is where each master's API server listens (kube-apiserver's default
// --secure-port; the plan's load balancer port may differ).
const apiServerPort = 6443

// FromPlan builds a Target per node, in plan order, with what the plan alone decides:
// address, user, key, roles, first-boot agent, certificate renewal window, etcd endpoint
// and planned members, the master's API server URL, the node's labels and taints, and in
// routed mode its BGP peers. What the roles install (units, files, certificates, ports,
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
		if a, ok := in.SSHAddrs[n.Host]; ok && a != "" {
			t.Addr = a
		}
		if in.HostKey != nil {
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
		}
		if n.IsKubernetesNode() {
			ne := &NodeExpect{Name: n.Host, Labels: n.Labels}
			for _, tt := range n.Taints {
				ne.Taints = append(ne.Taints, tt.String())
			}
			e.Node = ne
			if !p.Network.CNIDisabled && p.Network.CNIProvider == "calico" {
				e.Calico = calicoExpect(p, n)
			}
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// LoadSSHAddrs reads the provider's record (STATE/providers/NAME.json, a JSON list of
// providers.Instance, or an object whose "instances" field is one) and returns the
// SSHAddr of every instance that has one, by host. No record is no error: an empty map.
func LoadSSHAddrs(stateDir, provider string) (map[string]string, error) {
	path := providers.RecordPath(stateDir, provider)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	var list []providers.Instance
	if err := json.Unmarshal(data, &list); err != nil {
		var obj struct {
			Instances []providers.Instance `json:"instances"`
		}
		if err2 := json.Unmarshal(data, &obj); err2 != nil || obj.Instances == nil {
			return nil, fmt.Errorf("%w: %s: want a JSON list of instances: %v", ErrBadRecord, path, err)
		}
		list = obj.Instances
	}
	addrs := map[string]string{}
	for i, in := range list {
		if in.SSHAddr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(in.SSHAddr); err != nil {
			return nil, fmt.Errorf("%w: %s: instance %d (%s): sshAddr %q: %v", ErrBadRecord, path, i, in.Host, in.SSHAddr, err)
		}
		addrs[in.Host] = in.SSHAddr
	}
	return addrs, nil
}
