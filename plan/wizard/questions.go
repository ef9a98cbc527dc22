package wizard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/plan"
)

// FlagKind is the type of a question's flag.
type FlagKind int

const (
	StringFlag FlagKind = iota
	IntFlag
	BoolFlag
)

// ClusterImageArchives is the image-archives answer that stands for the archive of every
// image the cluster runs (Answers.ClusterImageArchives).
const ClusterImageArchives = "cluster"

// ConformanceImageArchives is the image-archives answer that stands for the archive of
// every image Kubernetes' e2e suite runs that kisgen builds, for `kisgen conformance
// run` (Answers.ConformanceImageArchives).
const ConformanceImageArchives = "conformance"

// Question is one question of the interview. Every question is also a flag named Flag;
// an answer given as a flag is checked like a typed one and not asked.
type Question struct {
	Flag string
	Kind FlagKind
	// Section groups questions under the guide's headings.
	Section string
	// Prompt is the question as asked; Usage is the flag's help.
	Prompt string
	Usage  string
	// Default is the suggested answer, from the answers so far; "" means none.
	Default func(a *Answers) string
	// Required questions need an answer when Default is "".
	Required bool
	// When says whether the question is asked; a flag is taken whatever it says.
	When func(a *Answers) bool
	// Set checks an answer and stores it; its error says what is wrong.
	Set func(a *Answers, v string) error
	// Paths are the plan paths whose findings belong to this question: after Set, the
	// whole plan is checked by package plan's rules, and errors at these paths reject the
	// answer (warnings are shown as notes).
	Paths []string
}

func constant(s string) func(*Answers) string { return func(*Answers) string { return s } }

// Questions returns the interview, in the order it is asked. The node questions (how
// nodes are named and addressed, and each node's entries) come between Network and
// Load balancer; see Interview.
func Questions() []*Question { return questions }

var questions = []*Question{
	{Flag: "name", Section: "Cluster", Prompt: "Cluster name", Usage: "cluster name: the CA's common name, kubeconfig cluster name and machine tag",
		Default: constant(DefaultClusterName), Set: func(a *Answers, v string) error { a.ClusterName = v; return nil }, Paths: []string{"cluster.name"}},
	{Flag: "provider", Section: "Cluster", Prompt: "Infrastructure provider: qemu (local VMs), aws, vsphere, packet, pxe (bare metal) or none",
		Usage:   "infrastructure that boots the machines: qemu, aws, vsphere, packet, pxe or none",
		Default: constant(plan.DefaultProvider), Set: oneOf([]string{"qemu", "aws", "vsphere", "packet", "pxe", "none"}, func(a *Answers, v string) { a.Provider = v }),
		Paths: []string{"provider.name"}},
	{Flag: "os", Section: "Cluster", Prompt: "Operating system of the nodes (" + strings.Join(plan.SupportedOS, ", ") + ")",
		Usage:   "operating system of the nodes; flatcar and fedora-coreos read Ignition, the others cloud-init",
		Default: constant(plan.DefaultOS), Set: func(a *Answers, v string) error {
			if err := oneOf(plan.SupportedOS, func(a *Answers, v string) { a.OS = v })(a, v); err != nil {
				return err
			}
			// The qemu provider boots the images `kisgen image build` makes (it refuses
			// other systems when the plan is validated): ask again here instead.
			if a.Provider == "qemu" && !slices.Contains(image.SupportedOS(), a.OS) {
				return fmt.Errorf("the qemu provider boots kisgen's images of %s; choose one of them, or another provider", strings.Join(image.SupportedOS(), " and "))
			}
			return nil
		},
		Paths: []string{"etcd.os", "etcd.format", "master.os", "master.format", "worker.os", "worker.format"}},

	{Flag: "etcd", Kind: IntFlag, Section: "Compute", Prompt: "etcd nodes: 1 (development only), 3 (survives one failure), 5 (two) or 7 (three)",
		Usage:   "number of etcd nodes: 1, 3, 5 or 7 (default 3)",
		Default: constant(strconv.Itoa(DefaultEtcd)), Set: func(a *Answers, v string) error {
			n, err := count(v, 1, 7)
			if err == nil && n%2 == 0 {
				err = fmt.Errorf("%d etcd nodes survive no more failures than %d: etcd needs a majority, so choose 1, 3, 5 or 7", n, n-1)
			}
			a.Etcd = n
			return err
		}, Paths: []string{"etcd.nodes"}},
	{Flag: "masters", Kind: IntFlag, Section: "Compute", Prompt: "Master nodes: 1 (development only) or 2 and more (survive the loss of one)",
		Usage:   "number of master nodes (default 2)",
		Default: constant(strconv.Itoa(DefaultMasters)), Set: func(a *Answers, v string) (err error) { a.Masters, err = count(v, 1, 99); return },
		Paths: []string{"master.nodes"}},
	{Flag: "workers", Kind: IntFlag, Section: "Compute", Prompt: "Worker nodes: enough for your workloads plus one node's worth of slack",
		Usage:   "number of worker nodes (default 3)",
		Default: constant(strconv.Itoa(DefaultWorkers)), Set: func(a *Answers, v string) (err error) { a.Workers, err = count(v, 1, 10000); return },
		Paths: []string{"worker.nodes", "cluster.networking.pod_cidr_block"}},

	{Flag: "cni", Section: "Network", Prompt: "Pod network: calico (overlay or routed, network policy), bridge (static routes on one L2 segment, no container images: labs and air-gapped) or custom (bring your own)",
		Usage:   "pod network provider: calico, bridge or custom",
		Default: constant(plan.DefaultCNIProvider), Set: oneOf([]string{"calico", "bridge", "custom"}, func(a *Answers, v string) { a.CNI = v }),
		Paths: []string{"add_ons.cni.provider"}},
	{Flag: "networking", Section: "Network", When: calico, Prompt: "Pod networking: overlay (IP-in-IP tunnels, works anywhere) or routed (BGP, pods reachable from the network)",
		Usage:   "pod networking: overlay or routed",
		Default: constant(string(plan.DefaultCalicoMode)), Set: oneOf([]string{"overlay", "routed"}, func(a *Answers, v string) { a.Networking = v }),
		Paths: []string{"add_ons.cni.options.calico.mode"}},
	{Flag: "as-number", Kind: IntFlag, Section: "Network", Prompt: "BGP AS number the nodes announce (private: 64512-65534)",
		Usage:   "BGP autonomous system number of the nodes (default 64511)",
		Default: constant(strconv.Itoa(plan.DefaultASNumber)), When: func(a *Answers) bool { return calico(a) && a.Networking == "routed" },
		Set: func(a *Answers, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			a.ASNumber = n
			return nil
		}, Paths: []string{"add_ons.cni.options.calico.as_number"}},
	{Flag: "name-resolution", Section: "Network", Prompt: "How nodes find each other's names: hosts (kisgen writes every hosts file) or dns (you run DNS for them)",
		Usage:   "how nodes resolve each other's names: hosts or dns",
		Default: constant("hosts"), Set: oneOf([]string{"hosts", "dns"}, func(a *Answers, v string) { a.HostsFiles = v == "hosts" }),
		Paths: []string{"cluster.networking.update_hosts_files"}},
	{Flag: "network-policy", Kind: BoolFlag, Section: "Network", When: calico, Prompt: "Calico-managed network policy (restricts pod traffic; harder to prototype with): yes or no",
		Usage:   "let Calico enforce Kubernetes network policy",
		Default: constant("no"), Set: yesNo(func(a *Answers, v bool) { a.NetworkPolicy = v }),
		Paths: []string{"add_ons.cni.options.calico.network_policy"}},
	{Flag: "cluster-dns", Kind: BoolFlag, Section: "Network", Prompt: "Cluster DNS for pods and services (CoreDNS): yes or no",
		Usage:   "install cluster DNS (CoreDNS)",
		Default: constant("yes"), Set: yesNo(func(a *Answers, v bool) { a.ClusterDNS = v }),
		Paths: []string{"add_ons.dns.disable"}},
	{Flag: "pod-cidr", Section: "Network", Prompt: "Pod network CIDR block (each master and worker takes blocks of 64 addresses)",
		Usage:   "pod network range (default 172.16.0.0/16)",
		Default: constant(plan.DefaultPodCIDR), Set: cidr(func(a *Answers, v string) { a.PodCIDR = v }),
		Paths: []string{"cluster.networking.pod_cidr_block"}},
	{Flag: "service-cidr", Section: "Network", Prompt: "Service network CIDR block",
		Usage:   "service network range (default 172.17.0.0/16)",
		Default: constant(plan.DefaultServiceCIDR), Set: cidr(func(a *Answers, v string) { a.ServiceCIDR = v }),
		Paths: []string{"cluster.networking.service_cidr_block"}},

	{Flag: "addressing", Section: "Nodes", Prompt: "Node names and addresses: generate (from a base IP) or list (type each one)",
		Usage:   "generate node names and addresses from --base-ip, or list each node (with --node in scripts)",
		Default: constant("generate"), Set: oneOf([]string{"generate", "list"}, func(a *Answers, v string) { a.Addressing = v })},
	{Flag: "base-ip", Section: "Nodes", Prompt: "Base IP: etcd nodes get the next addresses, then the load balancer and masters, then workers",
		Usage:   "first address of the generated layout (default 10.10.0.10)",
		Default: constant(DefaultBaseIP), When: func(a *Answers) bool { return a.Addressing == "generate" },
		Set: func(a *Answers, v string) error {
			a.BaseIP = v
			nodes, err := GenerateNodes(a)
			a.Nodes = nodes
			return err
		}, Paths: []string{"etcd.nodes[", "master.nodes[", "worker.nodes["}},
	{Flag: "name-prefix", Section: "Nodes", Prompt: "Host name prefix (empty: etcd1, master1, worker1…)",
		Usage:   "prefix of generated host names, e.g. prod- for prod-etcd1",
		Default: constant(""), When: func(a *Answers) bool { return a.Addressing == "generate" },
		Set: func(a *Answers, v string) error {
			a.NamePrefix = v
			nodes, err := GenerateNodes(a)
			a.Nodes = nodes
			return err
		}, Paths: []string{"etcd.nodes[", "master.nodes[", "worker.nodes["}},

	{Flag: "load-balancer", Section: "Load balancer", Prompt: "Load-balanced address of the masters, host:port (a virtual IP or DNS name in front of every master)",
		Usage: "load-balanced address of the API servers, host[:port]; required with 2 or more masters",
		Default: func(a *Answers) string {
			// On AWS the address is a name for the load balancer provision creates: none to
			// generate.
			if a.Addressing == "generate" && a.Provider != "aws" {
				return generatedLoadBalancer(a)
			}
			return ""
		}, Required: true, When: func(a *Answers) bool { return a.Masters >= 2 },
		Set: func(a *Answers, v string) error {
			v = strings.TrimSuffix(strings.TrimPrefix(v, "https://"), "/")
			if _, _, err := net.SplitHostPort(v); err != nil {
				v += ":" + strconv.Itoa(plan.DefaultAPIServerPort)
			}
			if host, _, err := net.SplitHostPort(v); err == nil && a.Provider == "aws" && net.ParseIP(host) != nil {
				return fmt.Errorf("on AWS give a DNS name you control, e.g. kubernetes.example.com:6443: kisgen provision aws creates a Network Load Balancer whose addresses AWS assigns, and prints the name to point at it")
			}
			a.LoadBalancer = v
			return nil
		}, Paths: []string{"master.load_balancer"}},

	{Flag: "cert-expiry", Section: "Certificates", Prompt: "Certificate validity (hours, e.g. 17520h = 2 years, or days, e.g. 730d)",
		Usage:   "how long certificates are valid (default 17520h)",
		Default: constant(plan.DefaultExpiry), Set: func(a *Answers, v string) error {
			a.Expiry = v
			d := parseDurationish(v)
			if d > 0 && d <= 720*time.Hour {
				return fmt.Errorf("use more than 720h: certificates are renewed in the 720h before they expire")
			}
			return nil
		}, Paths: []string{"cluster.certificates.expiry", "cluster.certificates.ca_expiry"}},
	{Flag: "city", Section: "Certificates", Prompt: "Location city (optional)", Usage: "certificate subject city (L)",
		Default: constant(""), Set: func(a *Answers, v string) error { a.City = v; return nil }, Paths: []string{"cluster.certificates.location.city"}},
	{Flag: "state", Section: "Certificates", Prompt: "Location state or province (optional)", Usage: "certificate subject state (ST)",
		Default: constant(""), Set: func(a *Answers, v string) error { a.State = v; return nil }, Paths: []string{"cluster.certificates.location.state"}},
	{Flag: "country", Section: "Certificates", Prompt: "Location country (two-letter code)", Usage: "certificate subject country, ISO 3166 (default US)",
		Default: constant(plan.DefaultCountry), Set: func(a *Answers, v string) error { a.Country = strings.ToUpper(v); return nil },
		Paths: []string{"cluster.certificates.location.country"}},

	{Flag: "ssh-user", Section: "Access", Prompt: "SSH user on every node (gets passwordless sudo)", Usage: "user kisgen verifies the nodes as (default kismaticuser)",
		Default: constant(plan.DefaultSSHUser), Set: func(a *Answers, v string) error { a.SSHUser = v; return nil }, Paths: []string{"cluster.ssh.user"}},
	{Flag: "ssh-key", Section: "Access", Prompt: "SSH private key, relative to the plan (created with its .pub if missing)",
		Usage:   "SSH private key path, relative to the plan file; created when missing (default kismaticuser.key)",
		Default: constant(plan.DefaultSSHKey), Set: func(a *Answers, v string) error {
			a.SSHKey = v
			return checkKey(a.planDir, v)
		}, Paths: []string{"cluster.ssh.ssh_key"}},

	{Flag: "mirror-url", Section: "Binaries", Prompt: "Mirror the nodes download binaries from (empty: the official sites; `kisgen mirror build` makes one)",
		Usage:   "URL of the binaries mirror (default: the official download sites)",
		Default: constant(""), Set: func(a *Answers, v string) error {
			if v != "" {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return fmt.Errorf("%q is not an http:// or https:// URL (e.g. http://10.0.2.100:8080)", v)
				}
			}
			a.MirrorURL = strings.TrimSuffix(v, "/")
			return nil
		}, Paths: []string{"mirror.url"}},
	{Flag: "image-archives", Section: "Binaries", Prompt: "Container image archives on the mirror that nodes import at boot, comma-separated; \"cluster\" stands for every image the cluster runs, \"conformance\" for the e2e suite's (empty: none)",
		Usage:   "image archives under the mirror URL, comma-separated (e.g. images/pause-3.10.1.tar); \"cluster\": every image the cluster runs (pause, CoreDNS, Calico…), \"conformance\": the images of Kubernetes' e2e suite (kisgen conformance run), where `kisgen mirror build` writes them",
		Default: constant(""), When: func(a *Answers) bool { return a.MirrorURL != "" },
		Set: func(a *Answers, v string) error {
			a.ImageArchives, a.ClusterImageArchives, a.ConformanceImageArchives = nil, false, false
			for _, s := range strings.Split(v, ",") {
				switch s = strings.TrimSpace(s); s {
				case "":
				case ClusterImageArchives:
					a.ClusterImageArchives = true
				case ConformanceImageArchives:
					a.ConformanceImageArchives = true
				default:
					a.ImageArchives = append(a.ImageArchives, s)
				}
			}
			return nil
		}, Paths: []string{"mirror.image_archives"}},
	{Flag: "mirror-checksums", Section: "Binaries", Prompt: "The mirror's SHA256SUMS, relative to the plan, to pin every download's sum in the user-data (empty: sums come from the mirror)",
		Usage:   "SHA256SUMS of the mirror (written by `kisgen mirror build`), relative to the plan",
		Default: constant(""), When: func(a *Answers) bool { return a.MirrorURL != "" },
		Set: func(a *Answers, v string) error { a.MirrorChecksums = v; return nil }, Paths: []string{"mirror.checksums"}},
	{Flag: "aws-region", Section: "Provider", Prompt: "AWS region (empty: from your AWS configuration)", Usage: "AWS region",
		Default: constant(""), When: provider("aws"), Set: func(a *Answers, v string) error { a.AWSRegion = v; return nil }},
	{Flag: "aws-subnet-id", Section: "Provider", Prompt: "AWS subnet id the nodes' addresses belong to", Usage: "AWS subnet id",
		Default: constant(""), When: provider("aws"), Set: func(a *Answers, v string) error { a.AWSSubnetID = v; return nil }},
	{Flag: "aws-admin-cidrs", Section: "Provider", Prompt: "CIDR ranges allowed to reach the nodes' SSH and the API server, comma-separated (0.0.0.0/0 opens them to everyone)",
		Usage:   "comma-separated CIDR ranges allowed to reach SSH and the API server on AWS (no default: write 0.0.0.0/0 to open them to everyone)",
		Default: constant(""), When: provider("aws"), Set: func(a *Answers, v string) error {
			a.AWSAdminCIDRs = nil
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				if _, err := netip.ParsePrefix(s); err != nil {
					return fmt.Errorf("%q is not a CIDR range such as 203.0.113.0/24", s)
				}
				a.AWSAdminCIDRs = append(a.AWSAdminCIDRs, s)
			}
			return nil
		}, Paths: []string{"provider.aws.admin_cidrs"}},
	{Flag: "vsphere-datacenter", Section: "Provider", Prompt: "vSphere datacenter", Usage: "vSphere datacenter",
		Default: constant(""), When: provider("vsphere"), Set: func(a *Answers, v string) error { a.VSphereDatacenter = v; return nil }},
	{Flag: "vsphere-datastore", Section: "Provider", Prompt: "vSphere datastore", Usage: "vSphere datastore",
		Default: constant(""), When: provider("vsphere"), Set: func(a *Answers, v string) error { a.VSphereDatastore = v; return nil }},
	{Flag: "vsphere-network", Section: "Provider", Prompt: "vSphere network (port group)", Usage: "vSphere network",
		Default: constant(""), When: provider("vsphere"), Set: func(a *Answers, v string) error { a.VSphereNetwork = v; return nil }},
	{Flag: "packet-project-id", Section: "Provider", Prompt: "Packet / Equinix Metal project id", Usage: "Packet project id",
		Default: constant(""), When: provider("packet"), Set: func(a *Answers, v string) error { a.PacketProjectID = v; return nil }},
	{Flag: "packet-metro", Section: "Provider", Prompt: "Packet / Equinix Metal metro, e.g. da", Usage: "Packet metro",
		Default: constant(""), When: provider("packet"), Set: func(a *Answers, v string) error { a.PacketMetro = v; return nil }},
	{Flag: "pxe-http-url", Section: "Provider", Prompt: "URL the nodes fetch their boot files from, e.g. http://10.10.0.1:8080", Usage: "PXE HTTP URL",
		Default: constant(""), Required: true, When: provider("pxe"), Set: func(a *Answers, v string) error { a.PXEHTTPURL = v; return nil },
		Paths: []string{"provider.pxe.http_url"}},
	{Flag: "pxe-interface", Section: "Provider", Prompt: "Interface dnsmasq serves DHCP/TFTP on (empty: decide when serving)", Usage: "PXE interface",
		Default: constant(""), When: provider("pxe"), Set: func(a *Answers, v string) error { a.PXEInterface = v; return nil }},
}

// questionByFlag returns the question answered by flag name.
func questionByFlag(name string) *Question {
	for _, q := range questions {
		if q.Flag == name {
			return q
		}
	}
	return nil
}

func provider(name string) func(*Answers) bool {
	return func(a *Answers) bool { return a.Provider == name }
}

func oneOf(options []string, set func(*Answers, string)) func(*Answers, string) error {
	return func(a *Answers, v string) error {
		for _, o := range options {
			if strings.EqualFold(v, o) {
				set(a, o)
				return nil
			}
		}
		return fmt.Errorf("answer one of: %s", strings.Join(options, ", "))
	}
}

// calico says whether the Calico questions apply.
func calico(a *Answers) bool { return a.CNI == "calico" }

func yesNo(set func(*Answers, bool)) func(*Answers, string) error {
	return func(a *Answers, v string) error {
		switch strings.ToLower(v) {
		case "y", "yes", "true", "on":
			set(a, true)
		case "n", "no", "false", "off":
			set(a, false)
		default:
			return fmt.Errorf("answer yes or no")
		}
		return nil
	}
}

func count(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return n, fmt.Errorf("answer a number from %d to %d", lo, hi)
	}
	return n, nil
}

func cidr(set func(*Answers, string)) func(*Answers, string) error {
	return func(a *Answers, v string) error {
		if _, err := netip.ParsePrefix(v); err != nil {
			return fmt.Errorf("%q is not a CIDR block: write an address, a slash and the prefix length, e.g. 172.16.0.0/16", v)
		}
		set(a, v)
		return nil
	}
}

// parseDurationish reads a duration as the plan does (Go durations or days); 0 when it is
// neither, which the plan's rules then report.
func parseDurationish(s string) time.Duration {
	if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && strings.HasSuffix(s, "d") {
		return time.Duration(n) * 24 * time.Hour
	}
	d, _ := time.ParseDuration(s)
	return d
}

var nodeFlagRE = regexp.MustCompile(`^([a-z]+):([^=]*)=([^/]*)(?:/(.*))?$`)

// ParseNodeFlag reads a --node value, ROLE:HOST=IP[/INTERNAL_IP].
func ParseNodeFlag(s string) (NodeAnswer, error) {
	m := nodeFlagRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return NodeAnswer{}, fmt.Errorf("%q is not ROLE:HOST=IP[/INTERNAL_IP], e.g. etcd:etcd1=10.0.0.11", s)
	}
	role := plan.Role(m[1])
	for _, r := range plan.Roles {
		if r == role {
			return NodeAnswer{Role: role, Host: m[2], IP: m[3], InternalIP: m[4]}, nil
		}
	}
	return NodeAnswer{}, fmt.Errorf("%q: unknown role %q: use etcd, master, worker, ingress or storage", s, m[1])
}

// checkKey checks an SSH key path the plan will name: an existing key must be an
// unencrypted private key; a missing one will be created, so its directory must exist.
func checkKey(planDir, key string) error {
	path := key
	if !filepath.IsAbs(path) {
		path = filepath.Join(planDir, key)
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
			return fmt.Errorf("the directory of %s does not exist", key)
		}
		if _, err := os.Stat(path + ".pub"); err == nil {
			return fmt.Errorf("%s.pub exists without %s: remove it, or name another key", key, key)
		}
		return nil
	case err != nil:
		return fmt.Errorf("cannot read %s: %v", key, err)
	}
	if _, err := ssh.ParseRawPrivateKey(data); err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return fmt.Errorf("%s has a passphrase: kisgen needs a key without one (ssh-keygen -p -N '' -f %s)", key, key)
		}
		return fmt.Errorf("%s is not a private key (%v): name the private key, not the .pub", key, err)
	}
	return nil
}
