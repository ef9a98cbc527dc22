package topology

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// CalicoBlockBits is the prefix length of the address blocks Calico's IPAM hands out: a
// node claims a /26 (64 addresses) before it starts a pod, and further blocks as it needs
// them. roles sets CALICO_IPV4POOL_BLOCK_SIZE to the same value.
const CalicoBlockBits = 26

// Table is a plan's topology.
type Table struct {
	Cluster   string    `json:"cluster"`
	Nodes     []Node    `json:"nodes"`
	APIServer APIServer `json:"api_server"`
	Pods      PodRange  `json:"pod_range"`
	Services  string    `json:"service_range"`
	Provider  string    `json:"provider"`
}

// Node is one machine.
type Node struct {
	Host  string   `json:"host"`
	Roles []string `json:"roles"`
	// IP is the address kisgen and clients reach the node at; InternalIP is the one
	// cluster traffic uses (the same unless the plan gives internalip).
	IP         string   `json:"ip"`
	InternalIP string   `json:"internal_ip"`
	OS         string   `json:"os"`
	Format     string   `json:"format"`
	Labels     []string `json:"labels"`
}

// APIServer is the address every kubeconfig and component uses for the API servers.
type APIServer struct {
	// Address is host:port.
	Address string `json:"address"`
	// LoadBalanced is true when the plan names a load balancer; otherwise Address is the
	// first master's and the other masters are not used by clients.
	LoadBalanced bool `json:"load_balanced"`
	// Masters are the API servers behind Address, host:port each (the internal address).
	Masters []string `json:"masters"`
}

// PodRange says how the pod range is divided between the Kubernetes nodes.
type PodRange struct {
	CIDR string `json:"cidr"`
	// CNI is calico, bridge, or "" when the plan brings its own pod network.
	CNI string `json:"cni"`
	// BlockBits is the prefix length of one block: Calico's /26, or the bridge plugin's
	// per-node subnet. 0 when kisgen does not divide the range (CNI "").
	BlockBits int `json:"block_bits,omitempty"`
	// BlockAddresses is the size of one block, Blocks how many the range holds.
	BlockAddresses uint64 `json:"block_addresses,omitempty"`
	Blocks         uint64 `json:"blocks,omitempty"`
	// KubernetesNodes is how many nodes run a kubelet (each takes at least one block);
	// MaxNodes is how many the range has room for.
	KubernetesNodes int    `json:"kubernetes_nodes"`
	MaxNodes        uint64 `json:"max_nodes,omitempty"`
}

// Of returns the topology of a loaded, valid plan. It does not change p.
func Of(p *plan.Plan) *Table {
	t := &Table{
		Cluster:  p.Name,
		Services: p.Network.ServiceCIDR.String(),
		Provider: p.Provider.Name,
		Nodes:    []Node{},
	}
	kube := 0
	for _, n := range p.Nodes {
		row := Node{Host: n.Host, IP: n.IP.String(), InternalIP: n.InternalIP.String(), Labels: []string{}}
		for _, r := range n.Roles {
			row.Roles = append(row.Roles, string(r))
		}
		if n.Group != nil {
			row.OS, row.Format = n.Group.OS, string(n.Group.Format)
		}
		for _, k := range n.SortedLabelKeys() {
			row.Labels = append(row.Labels, k+"="+n.Labels[k])
		}
		if n.IsKubernetesNode() {
			kube++
		}
		t.Nodes = append(t.Nodes, row)
	}
	t.APIServer = APIServer{
		Address:      net.JoinHostPort(p.LoadBalancer, strconv.Itoa(p.LoadBalancerPort)),
		LoadBalanced: p.LoadBalancerPlanned,
		Masters:      []string{},
	}
	for _, m := range p.NodesWith(plan.RoleMaster) {
		t.APIServer.Masters = append(t.APIServer.Masters, net.JoinHostPort(m.InternalIP.String(), strconv.Itoa(plan.DefaultAPIServerPort)))
	}
	t.Pods = podRange(p, kube)
	return t
}

func podRange(p *plan.Plan, kube int) PodRange {
	pr := PodRange{CIDR: p.Network.PodCIDR.String(), KubernetesNodes: kube}
	bits := p.Network.PodCIDR.Bits()
	switch {
	case p.Network.CNIDisabled || bits < 0:
		return pr
	case p.Network.CNIProvider == "calico":
		pr.CNI, pr.BlockBits = "calico", CalicoBlockBits
	case p.Network.CNIProvider == "bridge":
		pr.CNI, pr.BlockBits = "bridge", roles.NodeMaskBits(p)
	default:
		return pr
	}
	pr.BlockAddresses = uint64(1) << (32 - pr.BlockBits)
	if pr.BlockBits >= bits {
		pr.Blocks = uint64(1) << (pr.BlockBits - bits)
	}
	// Each node takes one block at least (Calico) or exactly (bridge), so the blocks are
	// also the number of nodes the range has room for.
	pr.MaxNodes = pr.Blocks
	return pr
}

// Write prints the table as text: the nodes, then one line each for the API server
// address, the pod range and the service range.
func (t *Table) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLES\tHOST\tIP\tINTERNAL IP\tOS\tFORMAT\tLABELS")
	for _, n := range t.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(n.Roles, ","), n.Host, n.IP, n.InternalIP,
			dash(n.OS), dash(n.Format), dash(strings.Join(n.Labels, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\napi server: %s\npod range:  %s\nservices:   %s\n", t.APIServer.describe(), t.Pods.describe(), t.Services)
	return err
}

func (a APIServer) describe() string {
	if !a.LoadBalanced {
		return fmt.Sprintf("https://%s, the first master's address (the plan names no load balancer); masters: %s",
			a.Address, strings.Join(a.Masters, " "))
	}
	return fmt.Sprintf("https://%s, load-balanced to %d master(s): %s", a.Address, len(a.Masters), strings.Join(a.Masters, " "))
}

func (r PodRange) describe() string {
	switch r.CNI {
	case "calico":
		return fmt.Sprintf("%s (Calico): %d blocks of %d addresses (/%d); each of the %d Kubernetes nodes takes one or more, room for %d nodes",
			r.CIDR, r.Blocks, r.BlockAddresses, r.BlockBits, r.KubernetesNodes, r.MaxNodes)
	case "bridge":
		return fmt.Sprintf("%s (bridge): one /%d (%d addresses) per Kubernetes node, %d in use, room for %d nodes",
			r.CIDR, r.BlockBits, r.BlockAddresses, r.KubernetesNodes, r.MaxNodes)
	}
	return fmt.Sprintf("%s (the plan's own pod network; %d Kubernetes nodes)", r.CIDR, r.KubernetesNodes)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
