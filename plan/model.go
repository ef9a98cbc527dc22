package plan

import (
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// Role is what a node does in the cluster.
type Role string

const (
	RoleEtcd    Role = "etcd"
	RoleMaster  Role = "master"
	RoleWorker  Role = "worker"
	RoleIngress Role = "ingress"
	RoleStorage Role = "storage"
)

// Roles lists every role in the plan file's order; a node's roles are kept in this order.
var Roles = []Role{RoleEtcd, RoleMaster, RoleWorker, RoleIngress, RoleStorage}

// Format is a user-data format.
type Format string

const (
	FormatCloudInit Format = "cloud-init"
	FormatIgnition  Format = "ignition"
)

// CalicoMode is how pod traffic crosses between nodes.
type CalicoMode string

const (
	// ModeOverlay wraps pod traffic in IP-in-IP between nodes.
	ModeOverlay CalicoMode = "overlay"
	// ModeRouted announces pod routes over BGP; no encapsulation.
	ModeRouted CalicoMode = "routed"
)

// Component names a Kubernetes component whose flags can be overridden.
type Component string

const (
	KubeAPIServer         Component = "kube-apiserver"
	KubeControllerManager Component = "kube-controller-manager"
	KubeScheduler         Component = "kube-scheduler"
	KubeProxy             Component = "kube-proxy"
	Kubelet               Component = "kubelet"
	// Etcd is every etcd member.
	Etcd Component = "etcd"
)

// Plan is kisgen's internal model of a cluster plan: every versioned plan document is
// converted into it, defaults applied, and everything after loading uses only this.
// Render functions treat it as read-only.
type Plan struct {
	// File is the path the plan was read from ("" when parsed from bytes).
	File string
	// SourceVersion is the document's schema: "kisgen.io/v1alpha1" or "kismatic/v1.12".
	SourceVersion string

	Name     string
	Versions Versions
	Mirror   Mirror

	// PackageInstallation is false when nodes must already hold every binary.
	PackageInstallation bool
	Disconnected        bool

	Network      Network
	Certificates Certificates
	SSH          SSH
	// Overrides holds cluster-wide flag overrides per component.
	Overrides map[Component]map[string]string
	AddOns    AddOns

	// LoadBalancer is the host (name or ip) clients use for the API servers, and
	// LoadBalancerPort its port. When the plan names none, they are the first master's
	// internal ip and 6443, and LoadBalancerPlanned is false.
	LoadBalancer        string
	LoadBalancerPort    int
	LoadBalancerPlanned bool
	// VirtualIP, when valid, is the address kisgen's own load balancer serves the API on:
	// keepalived moves it between healthy masters and HAProxy on each master forwards to
	// every ready API server (master.virtual_ip).
	VirtualIP netip.Addr

	// Groups holds each role's group settings, including roles with no nodes.
	Groups map[Role]*Group
	// Nodes is every distinct host, in the order it first appears in the plan.
	Nodes []*Node

	Provider Provider

	// origin maps canonical (v1alpha1) YAML paths to where they came from in the source.
	origin *origin
	// loadBalancerGiven says the plan names a load balancer, even one that did not parse.
	loadBalancerGiven bool
}

// Versions pins what nodes install.
type Versions struct {
	Kubernetes string
	Etcd       string
	Containerd string
	Runc       string
	CNIPlugins string
	Calico     string
	CoreDNS    string
	// MetricsServer is the metrics-server release (e.g. v0.8.0).
	MetricsServer string
	Pause         string
}

// Mirror is where nodes download from.
type Mirror struct {
	// URL is the mirror base, "" for the official sites.
	URL string
	// ChecksumsFile is the SHA256SUMS file to pin, relative to the plan directory.
	ChecksumsFile string
	ImageArchives []string
	Registry      string
}

// Network is the cluster's networking.
type Network struct {
	CNIDisabled bool
	CNIProvider string
	Mode        CalicoMode
	PodCIDR     netip.Prefix
	ServiceCIDR netip.Prefix
	// ASNumber is the BGP AS number the nodes announce.
	ASNumber      uint32
	NetworkPolicy bool
	LogLevel      string
	WorkloadMTU   int
	FelixInputMTU int
	// IPAutodetectionMethod tells calico-node how to find the node's address.
	IPAutodetectionMethod string
	UpdateHostsFiles      bool
	Proxy                 Proxy
}

// Proxy holds outbound proxy settings; NoProxy already includes the cluster's own ranges.
type Proxy struct {
	HTTP    string
	HTTPS   string
	NoProxy string
}

// Enabled says whether any proxy is set.
func (p Proxy) Enabled() bool { return p.HTTP != "" || p.HTTPS != "" }

// KeyAlgorithm is the algorithm and size of generated keys.
type KeyAlgorithm string

const (
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
	RSA2048   KeyAlgorithm = "rsa-2048"
	RSA3072   KeyAlgorithm = "rsa-3072"
	RSA4096   KeyAlgorithm = "rsa-4096"
)

// Certificates sets how the PKI is issued.
type Certificates struct {
	Expiry      time.Duration
	CAExpiry    time.Duration
	RenewBefore time.Duration
	// ExtraSANs are extra API server names and addresses, in plan order.
	ExtraSANs    []string
	City         string
	State        string
	Country      string
	KeyAlgorithm KeyAlgorithm
}

// SSH is how kisgen reaches the nodes.
type SSH struct {
	User string
	// KeyFile is the private key path as written in the plan; resolve it with Plan.Path.
	KeyFile string
	Port    int
}

// AddOns are what runs on the cluster after it is up.
type AddOns struct {
	DNS           bool
	DNSProvider   string
	DNSReplicas   int
	MetricsServer bool
	Dashboard     bool
}

// Group is one role's group settings.
type Group struct {
	Role          Role
	ExpectedCount int
	OS            string
	// Format is the user-data format the group's nodes get.
	Format  Format
	Machine Machine
}

// Machine is what a provider needs to create a machine.
type Machine struct {
	CPUs     int
	MemoryMB int
	DiskGB   int
	Image    string
	Type     string
}

// Taint is a Kubernetes node taint.
type Taint struct {
	Key    string
	Value  string
	Effect string
}

// String renders the taint as kubelet's --register-with-taints does: key=value:Effect.
func (t Taint) String() string {
	if t.Value == "" {
		return t.Key + ":" + t.Effect
	}
	return t.Key + "=" + t.Value + ":" + t.Effect
}

// Node is one distinct machine with all its roles.
type Node struct {
	Host string
	IP   netip.Addr
	// InternalIP is the address for cluster traffic; it equals IP when the plan gives none.
	InternalIP netip.Addr
	MAC        string
	Roles      []Role
	Labels     map[string]string
	Taints     []Taint
	// KubeletOverrides are cluster-wide kubelet overrides merged with this node's own.
	KubeletOverrides map[string]string
	// Group is the group settings (OS, format, machine) that apply to this node: those of
	// its first role in plan order.
	Group *Group
	// Index is the node's position in Plan.Nodes.
	Index int
	// Sources are the canonical YAML paths of the node's entries, e.g. "etcd.nodes[0]".
	Sources []string

	// ownKubelet is the node entry's own kubelet overrides, to check that every group
	// a host is in agrees on them.
	ownKubelet map[string]string
	// ownTaints is how many of Taints the first entry lists itself.
	ownTaints int
}

// Has reports whether the node has role r.
func (n *Node) Has(r Role) bool {
	for _, x := range n.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// IsKubernetesNode reports whether the node runs a kubelet (every role but etcd alone).
func (n *Node) IsKubernetesNode() bool {
	for _, r := range n.Roles {
		if r != RoleEtcd {
			return true
		}
	}
	return false
}

// SortedLabelKeys returns the node's label keys sorted, for deterministic output.
func (n *Node) SortedLabelKeys() []string {
	keys := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Path resolves a path the plan names (ssh_key, mirror.checksums…) the way kisgen reads
// it: relative to the plan file's directory unless it is absolute. The result is relative
// to the current directory when the plan file's path is, so it can be shown to the user
// as a path to type.
func (p *Plan) Path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(p.File), name)
}

// NodesWith returns the nodes that have role r, in plan order.
func (p *Plan) NodesWith(r Role) []*Node {
	var out []*Node
	for _, n := range p.Nodes {
		if n.Has(r) {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node named host, or nil.
func (p *Plan) Node(host string) *Node {
	for _, n := range p.Nodes {
		if n.Host == host {
			return n
		}
	}
	return nil
}

// Machine is the machine the node needs: the image and type of its first group (they
// follow the group's operating system, which decides the user-data), and for CPUs, memory
// and disk the largest any of its groups sets, since one machine runs all the node's
// roles: a host in the etcd and master groups gets the master's size when the master
// group's is the larger. Zero where no group of the node sets a size.
func (p *Plan) Machine(n *Node) Machine {
	var m Machine
	if n.Group != nil {
		m = n.Group.Machine
	}
	for _, r := range n.Roles {
		g := p.Groups[r]
		if g == nil {
			continue
		}
		m.CPUs = max(m.CPUs, g.Machine.CPUs)
		m.MemoryMB = max(m.MemoryMB, g.Machine.MemoryMB)
		m.DiskGB = max(m.DiskGB, g.Machine.DiskGB)
	}
	return m
}

// APIServerURL is the URL every component and kubeconfig uses to reach the API servers.
func (p *Plan) APIServerURL() string {
	return "https://" + joinHostPort(p.LoadBalancer, p.LoadBalancerPort)
}

// FirstServiceIP is the kubernetes service's cluster ip: the service range's first address.
func (p *Plan) FirstServiceIP() netip.Addr {
	return p.ServiceIP(1)
}

// ServiceIP returns the n-th address of the service range (the DNS service is the 10th).
func (p *Plan) ServiceIP(n int) netip.Addr {
	a := p.Network.ServiceCIDR.Masked().Addr()
	for i := 0; i < n; i++ {
		a = a.Next()
	}
	return a
}

// EtcdEndpoints lists https://INTERNAL_IP:2379 for every etcd node, in plan order.
func (p *Plan) EtcdEndpoints() []string {
	var out []string
	for _, n := range p.NodesWith(RoleEtcd) {
		out = append(out, "https://"+joinHostPort(n.InternalIP.String(), 2379))
	}
	return out
}

// Provider selects and configures the infrastructure.
type Provider struct {
	Name    string
	QEMU    QEMUProvider
	AWS     AWSProvider
	VSphere VSphereProvider
	Packet  PacketProvider
	PXE     PXEProvider
}

// QEMUProvider configures local VMs.
type QEMUProvider struct {
	Accel       string
	Image       string
	SSHBasePort int
	Dir         string
}

// AWSProvider configures EC2.
type AWSProvider struct {
	Region          string
	SubnetID        string
	VPCID           string
	KeyName         string
	AdminCIDRs      []string
	IngressCIDRs    []string
	Secrets         string
	SecretsBucket   string
	InstanceProfile string
	// SubnetIDs are the subnets besides SubnetID (provider.aws.subnet_ids).
	SubnetIDs []string
	// LoadBalancer is the Network Load Balancer kisgen creates for the API.
	LoadBalancer AWSLoadBalancer
}

// AWSLoadBalancer is provider.aws.load_balancer.
type AWSLoadBalancer struct {
	// Create is auto, always or never.
	Create string
	// Scheme is internal or internet-facing.
	Scheme string
}

// Subnets lists the plan's subnets: subnet_id first, then subnet_ids, each once.
func (a AWSProvider) Subnets() []string {
	var out []string
	for _, s := range append([]string{a.SubnetID}, a.SubnetIDs...) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// CreatesAWSLoadBalancer says whether `kisgen provision aws` creates a Network Load
// Balancer for the plan's API servers: with provider.aws.load_balancer.create auto for two
// or more masters, with always for any. A virtual IP is kisgen's own balancer (refused
// on AWS), so none is created beside it.
func (p *Plan) CreatesAWSLoadBalancer() bool {
	if p.VirtualIP.IsValid() {
		return false
	}
	switch p.Provider.AWS.LoadBalancer.Create {
	case "always":
		return len(p.NodesWith(RoleMaster)) > 0
	case "auto":
		return len(p.NodesWith(RoleMaster)) >= 2
	}
	return false
}

// VSphereProvider configures vSphere.
type VSphereProvider struct {
	Datacenter   string
	Folder       string
	ResourcePool string
	Datastore    string
	Network      string
	PrefixLength int
	Gateway      string
	DNS          []string
}

// PacketProvider configures Packet / Equinix Metal.
type PacketProvider struct {
	ProjectID string
	Metro     string
	APIURL    string
}

// PXEProvider configures network boot.
type PXEProvider struct {
	HTTPURL   string
	Interface string
	Gateway   string
	DNS       []string
	ProxyDHCP bool
}
