package wizard

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/plan/v1alpha1"
)

// Answers are the answers of the interview; NewAnswers holds the guide's defaults.
type Answers struct {
	ClusterName string
	Provider    string
	OS          string

	Etcd, Masters, Workers int

	// CNI is the pod network provider: calico, bridge or custom.
	CNI string
	// Networking is the Calico mode, overlay or routed.
	Networking    string
	ASNumber      int64
	HostsFiles    bool
	NetworkPolicy bool
	PodCIDR       string
	ServiceCIDR   string

	// Addressing is how nodes got their names and addresses: "generate" (from BaseIP and
	// NamePrefix) or "list" (typed, or given with --node).
	Addressing string
	BaseIP     string
	NamePrefix string
	Nodes      []NodeAnswer

	// LoadBalancer is host:port, empty for a single master without one.
	LoadBalancer string

	// ClusterDNS installs CoreDNS.
	ClusterDNS bool
	// MirrorURL is where nodes download from ("" for the official sites), ImageArchives
	// the container image archives under it that nodes import at boot, MirrorChecksums
	// its SHA256SUMS (relative to the plan) whose sums the user-data pins.
	MirrorURL       string
	ImageArchives   []string
	MirrorChecksums string
	// ClusterImageArchives asks for the archive of every image the cluster runs (the
	// answer "cluster"): the caller, which knows the images, fills ImageArchives with
	// them (cmd/plan.go, from roles.ClusterImages).
	ClusterImageArchives bool
	// ConformanceImageArchives likewise asks for the archives of the e2e suite's images
	// (the answer "conformance", roles.ConformanceImages).
	ConformanceImageArchives bool

	Expiry  string
	City    string
	State   string
	Country string

	SSHUser string
	SSHKey  string

	AWSRegion, AWSSubnetID                              string
	AWSAdminCIDRs                                       []string
	VSphereDatacenter, VSphereDatastore, VSphereNetwork string
	PacketProjectID, PacketMetro                        string
	PXEHTTPURL, PXEInterface                            string

	// planDir is where the plan will be written; the SSH key is checked there.
	planDir string
}

// NodeAnswer is one node of the plan.
type NodeAnswer struct {
	Role       plan.Role
	Host       string
	IP         string
	InternalIP string
	MAC        string
}

// Defaults of answers the guide gives no default for.
const (
	DefaultClusterName = "kubernetes"
	DefaultEtcd        = 3
	DefaultMasters     = 2
	DefaultWorkers     = 3
	// DefaultBaseIP is where generated addresses start; the examples use it too.
	DefaultBaseIP = "10.10.0.10"
)

// NewAnswers returns the defaults: the guide's where it has one.
func NewAnswers() *Answers {
	return &Answers{
		ClusterName: DefaultClusterName,
		Provider:    plan.DefaultProvider,
		OS:          plan.DefaultOS,
		Etcd:        DefaultEtcd, Masters: DefaultMasters, Workers: DefaultWorkers,
		CNI:         plan.DefaultCNIProvider,
		ClusterDNS:  true,
		Networking:  string(plan.DefaultCalicoMode),
		ASNumber:    plan.DefaultASNumber,
		HostsFiles:  true,
		PodCIDR:     plan.DefaultPodCIDR,
		ServiceCIDR: plan.DefaultServiceCIDR,
		Addressing:  "generate",
		BaseIP:      DefaultBaseIP,
		Expiry:      plan.DefaultExpiry,
		Country:     plan.DefaultCountry,
		SSHUser:     plan.DefaultSSHUser,
		SSHKey:      plan.DefaultSSHKey,
	}
}

// blockSize is the spacing of generated addresses between roles: 10, or the next multiple
// of 10 that leaves room for the largest group and the load balancer.
func blockSize(a *Answers) int {
	n := max(a.Etcd, a.Masters, a.Workers) + 1
	return (n + 9) / 10 * 10
}

// GenerateNodes names and addresses the nodes from BaseIP: etcd from base+1, masters
// from base+block+1 (the load balancer is base+block), workers from base+2·block+1, with
// block 10 unless a group needs more; names are NamePrefix + role + number.
func GenerateNodes(a *Answers) ([]NodeAnswer, error) {
	base, err := netip.ParseAddr(a.BaseIP)
	if err != nil || !base.Is4() {
		return nil, fmt.Errorf("%q is not an IPv4 address", a.BaseIP)
	}
	block := blockSize(a)
	var out []NodeAnswer
	for i, g := range []struct {
		role  plan.Role
		count int
	}{{plan.RoleEtcd, a.Etcd}, {plan.RoleMaster, a.Masters}, {plan.RoleWorker, a.Workers}} {
		for j := 1; j <= g.count; j++ {
			ip, ok := offset(base, i*block+j)
			if !ok {
				return nil, fmt.Errorf("the addresses from %s run past 255.255.255.255: choose a lower base", base)
			}
			out = append(out, NodeAnswer{Role: g.role, Host: fmt.Sprintf("%s%s%d", a.NamePrefix, g.role, j), IP: ip.String()})
		}
	}
	return out, nil
}

// generatedLoadBalancer is the address the generated layout keeps for the load balancer.
func generatedLoadBalancer(a *Answers) string {
	base, err := netip.ParseAddr(a.BaseIP)
	if err != nil {
		return ""
	}
	lb, ok := offset(base, blockSize(a))
	if !ok {
		return ""
	}
	return lb.String() + ":" + strconv.Itoa(plan.DefaultAPIServerPort)
}

func offset(a netip.Addr, n int) (netip.Addr, bool) {
	for i := 0; i < n; i++ {
		a = a.Next()
		if !a.IsValid() || !a.Is4() {
			return netip.Addr{}, false
		}
	}
	return a, true
}

// Plan turns the answers into a kisgen plan, with what the encoder needs to write it
// commented: the answers kept even when false or zero, and a word on the addressing.
func (a *Answers) Plan() (*v1alpha1.Plan, EncodeOptions) {
	p := &v1alpha1.Plan{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind}
	c := &p.Cluster
	c.Name = a.ClusterName
	c.Version = plan.DefaultKubernetesVersion
	c.Networking = v1alpha1.Networking{PodCIDRBlock: a.PodCIDR, ServiceCIDRBlock: a.ServiceCIDR, UpdateHostsFiles: a.HostsFiles}
	c.Certificates = v1alpha1.Certificates{Expiry: a.Expiry, CAExpiry: a.Expiry,
		Location: v1alpha1.Location{City: a.City, State: a.State, Country: a.Country}}
	c.SSH = v1alpha1.SSH{User: a.SSHUser, Key: a.SSHKey, Port: plan.DefaultSSHPort}
	p.Provider.Name = a.Provider
	if a.Provider == "qemu" && a.OS != plan.DefaultQEMUImage {
		p.Provider.QEMU.Image = a.OS // the VMs boot the image of the nodes' os
	}
	p.Provider.AWS.Region, p.Provider.AWS.SubnetID, p.Provider.AWS.AdminCIDRs = a.AWSRegion, a.AWSSubnetID, a.AWSAdminCIDRs
	p.Provider.VSphere.Datacenter, p.Provider.VSphere.Datastore, p.Provider.VSphere.Network = a.VSphereDatacenter, a.VSphereDatastore, a.VSphereNetwork
	p.Provider.Packet.ProjectID, p.Provider.Packet.Metro = a.PacketProjectID, a.PacketMetro
	p.Provider.PXE.HTTPURL, p.Provider.PXE.Interface = a.PXEHTTPURL, a.PXEInterface
	p.AddOns.CNI.Provider = a.CNI
	if a.CNI == "calico" {
		p.AddOns.CNI.Options.Calico = v1alpha1.Calico{Mode: a.Networking, ASNumber: a.ASNumber, NetworkPolicy: a.NetworkPolicy}
	}
	p.AddOns.DNS.Disable = !a.ClusterDNS
	// kisgen does not install these two yet (render says so); a new plan asks for neither,
	// so that it renders without that warning. Set disable: false to install them yourself.
	p.AddOns.MetricsServer.Disable, p.AddOns.Dashboard.Disable = true, true
	p.Mirror.URL, p.Mirror.ImageArchives, p.Mirror.Checksums = a.MirrorURL, a.ImageArchives, a.MirrorChecksums

	groups := map[plan.Role]*v1alpha1.NodeGroup{plan.RoleEtcd: &p.Etcd, plan.RoleWorker: &p.Worker, plan.RoleIngress: &p.Ingress, plan.RoleStorage: &p.Storage}
	var masters []v1alpha1.Node
	for _, n := range a.Nodes {
		vn := v1alpha1.Node{Host: n.Host, IP: n.IP, InternalIP: n.InternalIP, MAC: n.MAC}
		if n.Role == plan.RoleMaster {
			masters = append(masters, vn)
			continue
		}
		g := groups[n.Role]
		g.Nodes = append(g.Nodes, vn)
	}
	for _, r := range []plan.Role{plan.RoleEtcd, plan.RoleWorker, plan.RoleIngress, plan.RoleStorage} {
		if g := groups[r]; len(g.Nodes) > 0 || r != plan.RoleIngress && r != plan.RoleStorage {
			g.ExpectedCount, g.OS = len(g.Nodes), a.OS
		}
	}
	p.Master = v1alpha1.MasterNodeGroup{ExpectedCount: len(masters), OS: a.OS, LoadBalancer: a.LoadBalancer, Nodes: masters}

	opts := EncodeOptions{
		Keep: []string{"cluster.networking.update_hosts_files", "add_ons.cni.options.calico.network_policy",
			"etcd.expected_count", "master.expected_count", "worker.expected_count"},
		Comments: map[string]string{},
	}
	format := plan.FormatFor(a.OS)
	for _, g := range []string{"etcd", "master", "worker", "ingress", "storage"} {
		opts.Comments[g+".os"] = fmt.Sprintf("%s machines read %s user-data.", a.OS, format)
	}
	if a.Addressing == "generate" {
		block := blockSize(a)
		opts.Comments["etcd"] = fmt.Sprintf("Names and addresses were generated from base %s: etcd nodes from base+1,\n"+
			"masters from base+%d (the load balancer is base+%d), workers from base+%d.", a.BaseIP, block+1, block, 2*block+1)
	}
	if a.Masters >= 2 {
		opts.Comments["master.load_balancer"] = "A virtual IP or DNS name in front of every master's port 6443."
	}
	if !a.HostsFiles {
		opts.Comments["cluster.networking.update_hosts_files"] = "false: the nodes' names must resolve in DNS."
	}
	return p, opts
}

// Header is the comment at the top of a plan the interview wrote.
func (a *Answers) Header() string {
	return strings.Join([]string{
		"Cluster plan written by `kisgen plan`: " + a.Summary() + ".",
		"Check it with `kisgen validate`; docs/plan.md documents every key.",
	}, "\n")
}

// Summary says in a line what the answers plan: node counts, networking, provider.
func (a *Answers) Summary() string {
	count := map[plan.Role]int{}
	for _, n := range a.Nodes {
		count[n.Role]++
	}
	s := fmt.Sprintf("%d etcd, %d master, %d worker nodes", count[plan.RoleEtcd], count[plan.RoleMaster], count[plan.RoleWorker])
	if n := count[plan.RoleIngress] + count[plan.RoleStorage]; n > 0 {
		s += fmt.Sprintf(", %d ingress or storage", n)
	}
	switch a.CNI {
	case "", "calico":
		s += ", " + a.Networking + " networking"
	default:
		s += ", " + a.CNI + " pod network"
	}
	return s + ", provider " + a.Provider
}
