package plan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/report"
)

// validate checks the content rules on the converted model. Every rule reports by
// canonical YAML path; Parse then points each finding at the source file.
func validate(p *Plan, rep *report.Report, opts Options) {
	f := findings{rep}
	validateCluster(p, f)
	validateGroups(p, f)
	validateNodes(p, f)
	validateNetwork(p, f)
	validateVirtualIP(p, f)
	validateCertificates(p, f)
	validateOverrides(p, f)
	validateVersions(p, f)
	validateMirror(p, f, opts.Root)
	validatePinning(p, f, opts.Root)
	validateProvider(p, f)
	validateSSH(p, f, opts.Root)
	for i := range rep.Findings {
		fd := &rep.Findings[i]
		if fd.Line == 0 && fd.Path != "" {
			fd.Path, fd.Position = p.origin.locate(fd.Path)
		}
	}
}

var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	qualifiedName    = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	labelValue       = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	flagName         = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	releaseVersion   = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$`)
	pauseVersion     = regexp.MustCompile(`^\d+\.\d+(\.\d+)?$`)
	unixUser         = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	macAddr          = regexp.MustCompile(`^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`)
)

func validateCluster(p *Plan, f findings) {
	switch {
	case p.Name == "":
		f.errorf("cluster.name", "give the cluster a name, e.g. `name: kubernetes`", "cluster.name is required")
	case !isDNSLabel(p.Name):
		hint := "use lowercase letters, digits and '-' (at most 63): the name is used in certificates, kubeconfigs and machine tags"
		if l := DNSLabelFrom(p.Name); l != "" {
			hint = fmt.Sprintf("write `name: %s`: the name is used in certificates, kubeconfigs and machine tags, which take lowercase letters, digits and '-' (at most 63)", l)
		}
		f.errorf("cluster.name", hint, "cluster name %q is not a DNS label", p.Name)
	}
	if p.Disconnected && p.Mirror.URL == "" && p.PackageInstallation {
		f.errorf("cluster.disconnected_installation", "set mirror.url to an internal mirror (`kisgen mirror build` makes one), or set disable_package_installation: true for baked images",
			"a disconnected installation needs a mirror or baked images")
	}
	if p.Network.UpdateHostsFiles && len(p.Nodes) > 50 {
		f.warnf("cluster.networking.update_hosts_files", "use DNS for clusters of this size",
			"managed hosts files do not scale beyond a few dozen nodes (%d planned): adding a node changes every node's user-data", len(p.Nodes))
	}
	for _, pr := range []struct{ path, v string }{{"cluster.networking.http_proxy", p.Network.Proxy.HTTP}, {"cluster.networking.https_proxy", p.Network.Proxy.HTTPS}} {
		if pr.v == "" {
			continue
		}
		u, err := url.Parse(pr.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			f.errorf(pr.path, "write a URL such as http://proxy.example.com:3128", "proxy %q is not an http(s) URL", pr.v)
		}
	}
}

func validateGroups(p *Plan, f findings) {
	counts := map[Role]int{}
	for _, n := range p.Nodes {
		for _, r := range n.Roles {
			counts[r]++
		}
	}
	entries := map[Role]int{}
	for _, n := range p.Nodes {
		for _, s := range n.Sources {
			entries[Role(s[:strings.IndexByte(s, '.')])]++
		}
	}
	for _, r := range Roles {
		g := p.Groups[r]
		required := r == RoleEtcd || r == RoleMaster || r == RoleWorker
		if required && entries[r] == 0 {
			f.errorf(string(r)+".nodes", fmt.Sprintf("list at least one node under %s.nodes", r), "the %s group needs at least one node", r)
		}
		if g.ExpectedCount < 0 {
			f.errorf(string(r)+".expected_count", "write the number of nodes listed", "expected_count cannot be negative")
		} else if (g.ExpectedCount != 0 || required) && g.ExpectedCount != entries[r] {
			f.errorf(string(r)+".expected_count", fmt.Sprintf("set expected_count: %d, or list the missing nodes", entries[r]),
				"expected_count is %d but %d %s listed", g.ExpectedCount, entries[r], plural(entries[r], "node is", "nodes are"))
		}
		if !isOneOf(g.OS, SupportedOS) {
			f.errorf(osPath(r), "use one of: "+strings.Join(SupportedOS, ", "), "unsupported operating system %q", g.OS)
		} else if g.Format != FormatCloudInit && g.Format != FormatIgnition {
			f.errorf(formatPath(r), "use cloud-init or ignition, or leave it empty to follow os", "unknown user-data format %q", g.Format)
		} else if want := FormatFor(g.OS); g.Format != want {
			f.errorf(formatPath(r), fmt.Sprintf("remove format (it follows os) or write format: %s", want),
				"%s reads %s user-data, not %s", g.OS, want, g.Format)
		}
		m := g.Machine
		if m.CPUs < 0 || m.MemoryMB < 0 || m.DiskGB < 0 {
			f.errorf(string(r)+".machine", "use positive numbers", "machine sizes cannot be negative")
		}
		if min := minimumMemoryMB[r]; m.MemoryMB > 0 && m.MemoryMB < min {
			f.warnf(string(r)+".machine.memory_mb", fmt.Sprintf("give %s nodes at least %d MiB", r, min),
				"%d MiB is below the guide's minimum for %s nodes", m.MemoryMB, r)
		}
	}
	switch n := entries[RoleEtcd]; {
	case n == 1:
		f.warnf("etcd.nodes", "use 3 etcd nodes to survive the loss of one", "a single etcd node is unsafe: use it only for small development clusters")
	case n > 1 && n%2 == 0:
		f.warnf("etcd.nodes", fmt.Sprintf("use %d or %d etcd nodes", n-1, n+1),
			"%d etcd nodes tolerate no more failures than %d: etcd needs a majority, so use an odd count", n, n-1)
	case n > 7:
		f.warnf("etcd.nodes", "use 3, 5 or 7 etcd nodes", "%d etcd nodes slow every write; more than 7 adds no useful availability", n)
	}
	masters := entries[RoleMaster]
	if masters == 1 {
		f.warnf("master.nodes", "use 2 masters behind a load-balanced address to survive the loss of one",
			"a single master is unsafe: use it only for small development clusters")
	}
	if masters >= 2 && !p.loadBalancerGiven && !p.VirtualIP.IsValid() {
		f.errorf("master.load_balancer", "set master.load_balancer to a virtual IP or DNS name that balances across the masters, e.g. kubernetes.example.com:6443",
			"%d masters need a load-balanced address", masters)
	}
	if p.LoadBalancerPlanned {
		if _, err := netip.ParseAddr(p.LoadBalancer); err != nil && (len(p.LoadBalancer) > 253 || !dns1123Subdomain.MatchString(strings.ToLower(p.LoadBalancer))) {
			f.errorf("master.load_balancer", "use a DNS name or an IP address", "load balancer host %q is neither a DNS name nor an IP address", p.LoadBalancer)
		}
		if a, err := netip.ParseAddr(p.LoadBalancer); err == nil {
			for _, r := range []struct {
				name string
				p    netip.Prefix
			}{{"pod", p.Network.PodCIDR}, {"service", p.Network.ServiceCIDR}} {
				if r.p.IsValid() && r.p.Contains(a) {
					f.errorf("master.load_balancer", fmt.Sprintf("use an address outside the %s range, on the node network", r.name),
						"load balancer %s is inside the %s range %s", a, r.name, r.p)
				}
			}
		}
		if a, err := netip.ParseAddr(p.LoadBalancer); err == nil && p.VirtualIP.IsValid() && a != p.VirtualIP {
			f.errorf("master.load_balancer", fmt.Sprintf("set it to %s:%d, or to a DNS name for %s, or leave it out", p.VirtualIP, p.LoadBalancerPort, p.VirtualIP),
				"load balancer %s is not the virtual IP %s, where kisgen serves the API", a, p.VirtualIP)
		}
		// On AWS the name stands for the load balancer kisgen creates, which DNS resolves
		// (validateAWSLoadBalancer says so).
		if p.Network.UpdateHostsFiles && masters >= 2 && p.loadBalancerIsUnlistedName() && !p.VirtualIP.IsValid() && !p.awsLoadBalancer() {
			f.errorf("master.load_balancer", "give the load balancer's IP address (e.g. 10.0.0.20:6443; list the name in cluster.certificates.apiserver_cert_extra_sans for clients that use it), or set cluster.networking.update_hosts_files: false where DNS resolves the nodes and this name",
				"load balancer %q is a DNS name that only the hosts files could resolve here, and kisgen cannot know its address: kubelets would not reach the API servers", p.LoadBalancer)
		}
		if masters >= 2 {
			for _, m := range p.NodesWith(RoleMaster) {
				if p.LoadBalancer == m.IP.String() || p.LoadBalancer == m.InternalIP.String() || p.LoadBalancer == m.Host {
					f.warnf("master.load_balancer", "point it at a virtual IP or DNS name in front of every master",
						"the load balancer is master %s itself: losing it cuts every client off", m.Host)
				}
			}
		}
	}
}

// validateVirtualIP checks master.virtual_ip: a free address of the node network that
// keepalived can move between masters that run keepalived and HAProxy.
func validateVirtualIP(p *Plan, f findings) {
	vip := p.VirtualIP
	if !vip.IsValid() {
		return
	}
	masters := p.NodesWith(RoleMaster)
	if len(masters) == 1 {
		f.warnf("master.virtual_ip", "add a second master, or leave virtual_ip out", "a virtual IP with one master moves nowhere: there is no failover")
	}
	for _, n := range p.Nodes {
		if vip == n.IP || vip == n.InternalIP {
			f.errorf("master.virtual_ip", "use a free address of the node network that no node has", "virtual IP %s is node %s's address", vip, n.Host)
		}
	}
	for _, r := range []struct {
		name string
		p    netip.Prefix
	}{{"pod", p.Network.PodCIDR}, {"service", p.Network.ServiceCIDR}} {
		if r.p.IsValid() && r.p.Contains(vip) {
			f.errorf("master.virtual_ip", fmt.Sprintf("use an address outside the %s range, on the node network", r.name), "virtual IP %s is inside the %s range %s", vip, r.name, r.p)
		}
	}
	if p.Provider.Name == "aws" {
		f.errorf("master.virtual_ip", "leave virtual_ip out and put the masters behind a Network Load Balancer, named in master.load_balancer",
			"a virtual IP cannot move between instances on AWS (the VPC does not follow VRRP's announcements)")
	}
	if g := p.Groups[RoleMaster]; g != nil && g.Format == FormatIgnition && len(masters) > 0 {
		f.errorf("master.virtual_ip", "run the masters on a cloud-init operating system (Debian, Ubuntu, RHEL family), or leave virtual_ip out and put a load balancer in front of them",
			"the masters boot %s with Ignition, which has no keepalived or HAProxy to serve the virtual IP", g.OS)
	}
}

// awsLoadBalancer says the plan's API address is a Network Load Balancer that
// `kisgen provision aws` creates, the plan's provider being aws.
func (p *Plan) awsLoadBalancer() bool {
	return p.Provider.Name == "aws" && p.CreatesAWSLoadBalancer()
}

// validateAWSLoadBalancer checks master.load_balancer against the Network Load Balancer
// kisgen creates on AWS. Its addresses are AWS's (one per availability zone, assigned
// when it is created, and an internet-facing one's change), while the certificates and
// kubeconfigs are rendered before it exists: clients must use a DNS name the user points
// at the load balancer's own DNS name, and that name resolves only through DNS.
func validateAWSLoadBalancer(p *Plan, f findings) {
	if !p.awsLoadBalancer() {
		return
	}
	if !p.LoadBalancerPlanned {
		// Two masters without a name: the groups' rule asks for one already.
		if len(p.NodesWith(RoleMaster)) == 1 {
			f.errorf("provider.aws.load_balancer.create", "set master.load_balancer to a DNS name you control, e.g. kubernetes.example.com:6443, or leave create at auto (no load balancer for one master)",
				"create: always makes a load balancer for the API, and clients need a name for it in master.load_balancer")
		}
		return
	}
	if a, err := netip.ParseAddr(p.LoadBalancer); err == nil {
		f.errorf("master.load_balancer", "name it by a DNS name you control, e.g. kubernetes.example.com:6443, and point that name at the load balancer's DNS name, which `kisgen provision aws` prints (a CNAME, or a Route 53 alias record); or set provider.aws.load_balancer.create: never and name a load balancer of yours",
			"load balancer %s is an IP address, but on AWS kisgen creates a Network Load Balancer whose addresses AWS assigns when it is created, one per availability zone: the certificates and kubeconfigs need the name clients will use", a)
		return
	}
	if p.Network.UpdateHostsFiles && p.loadBalancerIsUnlistedName() && len(p.NodesWith(RoleMaster)) >= 2 {
		f.warnf("master.load_balancer", "create the DNS record `kisgen provision aws` prints in a zone the VPC's resolver answers (a public zone, or a Route 53 private hosted zone associated with the VPC); the hosts files go on resolving the nodes' names",
			"load balancer %q resolves only through DNS: the hosts files cannot carry the Network Load Balancer's addresses, which AWS assigns per availability zone and may change", p.LoadBalancer)
	}
}

// loadBalancerIsUnlistedName says the plan names its load balancer by a DNS name that is
// no node's host name, so that the managed hosts block does not already resolve it.
func (p *Plan) loadBalancerIsUnlistedName() bool {
	if !p.LoadBalancerPlanned || p.LoadBalancer == "" {
		return false
	}
	if _, err := netip.ParseAddr(p.LoadBalancer); err == nil || !dns1123Subdomain.MatchString(strings.ToLower(p.LoadBalancer)) {
		return false // an address, or not a name at all (reported as such)
	}
	for _, n := range p.Nodes {
		if strings.EqualFold(n.Host, p.LoadBalancer) {
			return false
		}
	}
	return true
}

// LoadBalancerHostsEntry is the line the managed hosts block needs for the load
// balancer's name: with hosts files managed, a DNS name no node has stands for the
// virtual IP kisgen serves the API on, or, with one master and no virtual IP, for that
// master's internal address. ok is false when no line is needed (an IP address, a
// node's name, hosts files not managed) and with two or more masters behind an external
// balancer, whose address kisgen cannot know (validate refuses that plan).
func (p *Plan) LoadBalancerHostsEntry() (name string, addr netip.Addr, ok bool) {
	masters := p.NodesWith(RoleMaster)
	if !p.Network.UpdateHostsFiles || !p.loadBalancerIsUnlistedName() {
		return "", netip.Addr{}, false
	}
	switch {
	case p.VirtualIP.IsValid():
		return p.LoadBalancer, p.VirtualIP, true
	case len(masters) == 1:
		return p.LoadBalancer, masters[0].InternalIP, true
	}
	return "", netip.Addr{}, false
}

// minimumMemoryMB are the guide's hardware minimums per role.
var minimumMemoryMB = map[Role]int{RoleEtcd: 1024, RoleMaster: 2048, RoleWorker: 1024, RoleIngress: 1024, RoleStorage: 1024}

func osPath(r Role) string     { return string(r) + ".os" }
func formatPath(r Role) string { return string(r) + ".format" }

func validateNodes(p *Plan, f findings) {
	type seen struct {
		host, path string
	}
	byIP := map[netip.Addr]seen{}
	byInternal := map[netip.Addr]seen{}
	byMAC := map[string]seen{}
	entryHost := map[string]string{} // "role|host" -> first path, to catch a host listed twice in one group
	for _, n := range p.Nodes {
		first := n.Sources[0]
		for _, src := range n.Sources {
			role := src[:strings.IndexByte(src, '.')]
			if prev, dup := entryHost[role+"|"+n.Host]; dup && n.Host != "" {
				f.errorf(src+".host", "list each host once per group", "host %q is listed twice in the %s group (also %s)", n.Host, role, prev)
			} else {
				entryHost[role+"|"+n.Host] = src
			}
		}
		switch {
		case n.Host == "":
			f.errorf(first+".host", "give the node's short host name, e.g. worker1", "host is required")
		case strings.ToLower(n.Host) != n.Host:
			f.errorf(first+".host", fmt.Sprintf("write %q: Kubernetes node names are lowercase", strings.ToLower(n.Host)),
				"host %q has uppercase letters", n.Host)
		case strings.Contains(n.Host, ".") && dns1123Subdomain.MatchString(n.Host) && len(n.Host) <= 253:
			f.warnf(first+".host", "use the short name (the part before the first dot) unless the machines' hostnames really are FQDNs",
				"host %q is a fully qualified name; it becomes the node's hostname and Kubernetes node name as written", n.Host)
		case len(n.Host) > 63 || !dns1123Label.MatchString(n.Host):
			f.errorf(first+".host", "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63",
				"host %q is not a valid host name (RFC 1123)", n.Host)
		}
		checkAddr := func(path string, a netip.Addr, what string) {
			if !a.IsValid() {
				return
			}
			switch {
			case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
				f.errorf(path, "use the address the machine has on its network", "%s %s cannot be a node address", what, a)
			}
			for _, pr := range []struct {
				name string
				p    netip.Prefix
			}{{"pod", p.Network.PodCIDR}, {"service", p.Network.ServiceCIDR}} {
				if pr.p.IsValid() && pr.p.Contains(a) {
					f.errorf(path, fmt.Sprintf("move the %s range (%s) away from the node network", pr.name, pr.p),
						"%s %s is inside the %s range %s", what, a, pr.name, pr.p)
				}
			}
		}
		checkAddr(first+".ip", n.IP, "ip")
		if n.InternalIP != n.IP {
			checkAddr(first+".internal_ip", n.InternalIP, "internal ip")
		}
		if n.IP.IsValid() {
			if prev, dup := byIP[n.IP]; dup {
				f.errorf(first+".ip", "give every node its own address", "ip %s is also used by %s (%s)", n.IP, prev.host, prev.path)
			} else {
				byIP[n.IP] = seen{n.Host, first + ".ip"}
			}
		}
		// An internal ip that is only the ip repeated was reported with the ip.
		if n.InternalIP.IsValid() && (n.InternalIP != n.IP || byIP[n.IP].path == first+".ip") {
			if prev, dup := byInternal[n.InternalIP]; dup {
				f.errorf(first+".internal_ip", "give every node its own internal address", "internal ip %s is also used by %s (%s)", n.InternalIP, prev.host, prev.path)
			} else {
				byInternal[n.InternalIP] = seen{n.Host, first + ".internal_ip"}
			}
		}
		if n.MAC != "" {
			if !macAddr.MatchString(n.MAC) {
				f.errorf(first+".mac", "write six hex pairs separated by colons, e.g. 52:54:00:12:34:56", "%q is not a MAC address", n.MAC)
			} else if prev, dup := byMAC[n.MAC]; dup {
				f.errorf(first+".mac", "give every node its own MAC address", "MAC %s is also used by %s (%s)", n.MAC, prev.host, prev.path)
			} else {
				byMAC[n.MAC] = seen{n.Host, first + ".mac"}
			}
		}
		for _, k := range n.SortedLabelKeys() {
			path := first + ".labels." + k
			checkLabel(f, path, k, n.Labels[k])
		}
		taintSeen := map[string]bool{}
		for i, t := range n.Taints {
			// Taints merged in from a host's other groups follow its own; report those
			// against its entry in the group they came from.
			path := first + ".taints"
			if i < n.ownTaints {
				path = fmt.Sprintf("%s.taints[%d]", first, i)
			}
			if t.Key == "" {
				f.errorf(path+".key", "give the taint a key", "taint key is required")
			} else if msg := qualifiedNameError(t.Key); msg != "" {
				f.errorf(path+".key", "keys are an optional DNS prefix and '/', then a name of letters, digits, '-', '_' and '.'", "taint key %q %s", t.Key, msg)
			}
			if len(t.Value) > 63 || !labelValue.MatchString(t.Value) {
				f.errorf(path+".value", "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", "taint value %q is invalid", t.Value)
			}
			if !isOneOf(t.Effect, []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}) {
				hint := "use NoSchedule, PreferNoSchedule or NoExecute"
				if s := suggest(t.Effect, []string{"NoSchedule", "PreferNoSchedule", "NoExecute"}); s != "" && s != t.Effect {
					hint = fmt.Sprintf("did you mean %q?", s)
				}
				f.errorf(path+".effect", hint, "taint effect %q is invalid", t.Effect)
			}
			if k := t.Key + ":" + t.Effect; taintSeen[k] {
				f.errorf(path, "keep one taint per key and effect", "taint %s is listed twice", k)
			} else {
				taintSeen[k] = true
			}
		}
	}
}

// allowedKubeletLabels are the kubernetes.io labels a kubelet may set on its own node under
// the NodeRestriction admission plugin; any other kubernetes.io or k8s.io label would make
// the node's registration fail.
var allowedKubeletLabels = map[string]bool{
	"kubernetes.io/hostname": true, "kubernetes.io/arch": true, "kubernetes.io/os": true,
	"beta.kubernetes.io/instance-type": true, "node.kubernetes.io/instance-type": true,
	"failure-domain.beta.kubernetes.io/region": true, "failure-domain.beta.kubernetes.io/zone": true,
	"topology.kubernetes.io/region": true, "topology.kubernetes.io/zone": true,
}

func checkLabel(f findings, path, key, value string) {
	if msg := qualifiedNameError(key); msg != "" {
		f.errorf(path, "keys are an optional DNS prefix and '/', then a name of at most 63 letters, digits, '-', '_' and '.'", "label key %q %s", key, msg)
		return
	}
	if len(value) > 63 || !labelValue.MatchString(value) {
		f.errorf(path, "use at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit", "label value %q is invalid", value)
	}
	prefix := ""
	if i := strings.IndexByte(key, '/'); i >= 0 {
		prefix = key[:i]
	}
	switch {
	case strings.HasPrefix(key, ManagedLabelPrefix) || strings.HasPrefix(key, KismaticLabelPrefix):
		f.errorf(path, "choose a prefix of your own, e.g. example.com/", "label prefix %q is reserved for kisgen", prefix+"/")
	case strings.HasPrefix(key, "node-role.kubernetes.io/"):
		f.errorf(path, "remove it: kisgen labels each node with its roles itself, after registration",
			"the kubelet may not set node-role labels on its own node (NodeRestriction)")
	case isKubernetesPrefix(prefix) && !allowedKubeletLabels[key] && !strings.HasSuffix(prefix, "kubelet.kubernetes.io") && !strings.HasSuffix(prefix, "node.kubernetes.io"):
		f.errorf(path, "use your own prefix, or one under node.kubernetes.io/",
			"the kubelet may not set %q on its own node (NodeRestriction): the node would fail to register", key)
	}
}

func isKubernetesPrefix(prefix string) bool {
	return prefix == "kubernetes.io" || strings.HasSuffix(prefix, ".kubernetes.io") || prefix == "k8s.io" || strings.HasSuffix(prefix, ".k8s.io")
}

// qualifiedNameError explains why key is not a Kubernetes qualified name, or returns "".
func qualifiedNameError(key string) string {
	name := key
	if i := strings.IndexByte(key, '/'); i >= 0 {
		prefix := key[:i]
		name = key[i+1:]
		if prefix == "" || len(prefix) > 253 || !dns1123Subdomain.MatchString(prefix) {
			return "has an invalid prefix (it must be a lowercase DNS subdomain)"
		}
	}
	if name == "" || len(name) > 63 || !qualifiedName.MatchString(name) {
		return "is not a valid name (at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
	}
	return ""
}

func validateNetwork(p *Plan, f findings) {
	nw := p.Network
	if !isOneOf(nw.CNIProvider, []string{"calico", "bridge", "custom"}) {
		f.errorf("add_ons.cni.provider", "use calico; bridge (static routes between nodes on one L2 segment, reference CNI plugins only: labs and air-gapped tests); or custom to install your own pod network", "CNI provider %q is not supported", nw.CNIProvider)
	}
	if nw.Mode != ModeOverlay && nw.Mode != ModeRouted {
		f.errorf("add_ons.cni.options.calico.mode", "use overlay (IP-in-IP) or routed (BGP)", "unknown Calico mode %q", nw.Mode)
	}
	if !isOneOf(nw.LogLevel, []string{"warning", "info", "debug"}) {
		f.errorf("add_ons.cni.options.calico.log_level", "use warning, info or debug", "unknown log level %q", nw.LogLevel)
	}
	if nw.WorkloadMTU < 576 || nw.WorkloadMTU > 9000 {
		f.errorf("add_ons.cni.options.calico.workload_mtu", "use the node network's MTU, usually 1500 (or 9000 for jumbo frames)", "MTU %d is out of range 576–9000", nw.WorkloadMTU)
	}
	if nw.FelixInputMTU < 576 || nw.FelixInputMTU > 9000 {
		f.errorf("add_ons.cni.options.calico.felix_input_mtu", "use the node network's MTU minus 20 for IP-in-IP", "MTU %d is out of range 576–9000", nw.FelixInputMTU)
	} else if nw.Mode == ModeOverlay && nw.WorkloadMTU >= 576 && nw.WorkloadMTU <= 9000 && nw.FelixInputMTU > nw.WorkloadMTU-20 {
		f.warnf("add_ons.cni.options.calico.felix_input_mtu", fmt.Sprintf("use at most %d", nw.WorkloadMTU-20),
			"the IP-in-IP tunnel MTU must leave 20 bytes for the outer header, or large packets are dropped")
	}
	if !validAutodetect(nw.IPAutodetectionMethod) {
		f.errorf("add_ons.cni.options.calico.ip_autodetection_method",
			"use first-found, kubernetes-internal-ip, can-reach=ADDRESS, interface=REGEX, skip-interface=REGEX or cidr=CIDR",
			"unknown autodetection method %q", nw.IPAutodetectionMethod)
	}
	if asn := nw.ASNumber; asn != 0 {
		switch {
		case asn == 23456 || asn == 65535 || asn == 4294967295:
			f.errorf("add_ons.cni.options.calico.as_number", "use a private AS number: 64512–65534 or 4200000000–4294967294", "AS number %d is reserved", asn)
		case asn == DefaultASNumber:
			// The guide's default: in the documentation range, fine inside a cluster.
		case (asn >= 64512 && asn <= 65534) || (asn >= 4200000000 && asn <= 4294967294):
		default:
			f.warnf("add_ons.cni.options.calico.as_number", "use a private AS number (64512–65534) unless your organisation owns this one",
				"AS number %d is a public AS number", asn)
		}
	}
	if nw.NetworkPolicy && (nw.CNIDisabled || nw.CNIProvider != "calico") {
		f.warnf("add_ons.cni.options.calico.network_policy", "enable Calico or turn network_policy off",
			"network policy needs Calico, which this plan does not install")
	}
	pod, svc := nw.PodCIDR, nw.ServiceCIDR
	if pod.IsValid() && svc.IsValid() && pod.Overlaps(svc) {
		f.errorf("cluster.networking.service_cidr_block", "give pods and services separate ranges, e.g. 172.16.0.0/16 and 172.17.0.0/16",
			"the service range %s overlaps the pod range %s", svc, pod)
	}
	for _, r := range []struct {
		path, name string
		p          netip.Prefix
	}{{"cluster.networking.pod_cidr_block", "pod", pod}, {"cluster.networking.service_cidr_block", "service", svc}} {
		if !r.p.IsValid() {
			continue
		}
		for _, bad := range []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("224.0.0.0/4"), netip.MustParsePrefix("0.0.0.0/8")} {
			if r.p.Overlaps(bad) {
				f.errorf(r.path, "use a private range such as 172.16.0.0/16", "the %s range %s overlaps the reserved range %s", r.name, r.p, bad)
			}
		}
	}
	if svc.IsValid() {
		if svc.Bits() < 12 {
			f.errorf("cluster.networking.service_cidr_block", "use a /12 or smaller range, e.g. 172.17.0.0/16", "the service range %s is larger than kube-apiserver accepts (/12)", svc)
		}
		if svc.Bits() > 28 {
			f.errorf("cluster.networking.service_cidr_block", "use a /28 or larger range", "the service range %s is too small: the DNS service takes its 10th address", svc)
		}
	}
	if pod.IsValid() {
		kube := 0
		for _, n := range p.Nodes {
			if n.Has(RoleMaster) || n.Has(RoleWorker) || n.Has(RoleIngress) || n.Has(RoleStorage) {
				kube++
			}
		}
		need := uint64(kube) * 64
		size := uint64(1) << (32 - pod.Bits())
		if size < need {
			f.errorf("cluster.networking.pod_cidr_block", fmt.Sprintf("use a /%d or larger range", prefixFor(need)),
				"the pod range %s has %d addresses, but %d nodes take blocks of 64 (%d addresses)", pod, size, kube, need)
		}
	}
}

func prefixFor(addresses uint64) int {
	bits := 32
	for bits > 0 && uint64(1)<<(32-bits) < addresses {
		bits--
	}
	return bits
}

func validAutodetect(m string) bool {
	switch {
	case m == "first-found", m == "kubernetes-internal-ip":
		return true
	case strings.HasPrefix(m, "can-reach="):
		v := strings.TrimPrefix(m, "can-reach=")
		_, err := netip.ParseAddr(v)
		return err == nil || dns1123Subdomain.MatchString(v)
	case strings.HasPrefix(m, "interface="), strings.HasPrefix(m, "skip-interface="):
		re := m[strings.IndexByte(m, '=')+1:]
		for _, part := range strings.Split(re, ",") {
			if _, err := regexp.Compile(part); err != nil || part == "" {
				return false
			}
		}
		return true
	case strings.HasPrefix(m, "cidr="):
		for _, c := range strings.Split(strings.TrimPrefix(m, "cidr="), ",") {
			if _, err := netip.ParsePrefix(c); err != nil {
				return false
			}
		}
		return true
	}
	return false
}

func validateCertificates(p *Plan, f findings) {
	c := p.Certificates
	if c.Expiry > 0 && c.CAExpiry > 0 && c.CAExpiry < c.Expiry {
		f.errorf("cluster.certificates.ca_expiry", "make ca_expiry at least as long as expiry",
			"the CA would expire (%s) before the certificates it signs (%s)", c.CAExpiry, c.Expiry)
	}
	if c.Expiry > 0 && c.RenewBefore >= c.Expiry {
		f.errorf("cluster.certificates.renew_before", "make renew_before shorter than expiry, e.g. 720h",
			"a renewal window of %s would reissue every certificate on every run (expiry %s)", c.RenewBefore, c.Expiry)
	}
	if c.Expiry > 0 && c.Expiry < 24*60*60*1e9 {
		f.warnf("cluster.certificates.expiry", "use at least a few days; the guide's default is 17520h (2 years)", "certificates valid for only %s will expire before most clusters are replaced", c.Expiry)
	}
	if !isOneOf(string(c.KeyAlgorithm), []string{string(ECDSAP256), string(RSA2048), string(RSA3072), string(RSA4096)}) {
		f.errorf("cluster.certificates.key_algorithm", "use ecdsa-p256 (default: small and fast), rsa-2048, rsa-3072 or rsa-4096", "unknown key algorithm %q", c.KeyAlgorithm)
	}
	if !isCountryCode(c.Country) {
		hint := "use a two-letter ISO 3166 code such as US, DE or JP"
		f.errorf("cluster.certificates.location.country", hint, "%q is not an ISO 3166 country code", c.Country)
	}
	for i, san := range c.ExtraSANs {
		if _, err := netip.ParseAddr(san); err == nil {
			continue
		}
		d := strings.TrimPrefix(strings.ToLower(san), "*.")
		if len(d) > 253 || !dns1123Subdomain.MatchString(d) {
			f.errorf("cluster.certificates.apiserver_cert_extra_sans", "list DNS names or IP addresses separated by commas",
				"extra SAN #%d %q is neither a DNS name nor an IP address", i+1, san)
		}
	}
}

// protectedFlags are the flags kisgen sets from the plan and its PKI; overriding them
// would break the cluster or silently disagree with the plan.
var protectedFlags = map[Component][]string{
	KubeAPIServer: {"advertise-address", "client-ca-file", "etcd-cafile", "etcd-certfile", "etcd-keyfile", "etcd-servers",
		"kubelet-certificate-authority", "kubelet-client-certificate", "kubelet-client-key", "proxy-client-cert-file",
		"proxy-client-key-file", "requestheader-client-ca-file", "secure-port", "service-account-issuer",
		"service-account-key-file", "service-account-signing-key-file", "service-cluster-ip-range", "tls-cert-file", "tls-private-key-file"},
	KubeControllerManager: {"authentication-kubeconfig", "authorization-kubeconfig", "cluster-cidr", "cluster-name",
		"cluster-signing-cert-file", "cluster-signing-key-file", "kubeconfig", "root-ca-file", "service-account-private-key-file",
		"service-cluster-ip-range"},
	KubeScheduler: {"authentication-kubeconfig", "authorization-kubeconfig", "kubeconfig"},
	KubeProxy:     {"cluster-cidr", "config", "hostname-override", "kubeconfig"},
	Kubelet: {"bootstrap-kubeconfig", "client-ca-file", "config", "container-runtime-endpoint", "hostname-override",
		"kubeconfig", "node-ip", "node-labels", "register-with-taints", "tls-cert-file", "tls-private-key-file"},
	Etcd: {"advertise-client-urls", "cert-file", "client-cert-auth", "data-dir", "initial-advertise-peer-urls",
		"initial-cluster", "initial-cluster-state", "initial-cluster-token", "key-file", "listen-client-urls",
		"listen-metrics-urls", "listen-peer-urls", "name", "peer-cert-allowed-cn", "peer-cert-file",
		"peer-client-cert-auth", "peer-key-file", "peer-trusted-ca-file", "trusted-ca-file"},
}

// ProtectedFlags returns the flags of c that a plan cannot override.
func ProtectedFlags(c Component) []string { return protectedFlags[c] }

var componentPaths = map[Component]string{
	KubeAPIServer: "cluster.kube_apiserver", KubeControllerManager: "cluster.kube_controller_manager",
	KubeScheduler: "cluster.kube_scheduler", KubeProxy: "cluster.kube_proxy", Kubelet: "cluster.kubelet",
	Etcd: "cluster.etcd",
}

func validateOverrides(p *Plan, f findings) {
	for _, comp := range []Component{KubeAPIServer, KubeControllerManager, KubeScheduler, KubeProxy, Kubelet, Etcd} {
		checkOverrides(f, comp, componentPaths[comp]+".option_overrides", p.Overrides[comp])
	}
	for _, n := range p.Nodes {
		checkOverrides(f, Kubelet, n.Sources[0]+".kubelet.option_overrides", n.ownKubelet)
	}
}

func checkOverrides(f findings, comp Component, path string, o map[string]string) {
	for _, k := range sortedKeys(o) {
		kp := path + "." + k
		name := strings.TrimLeft(k, "-")
		if name != k {
			f.errorf(kp, fmt.Sprintf("write the flag without dashes: %q", name), "flag %q starts with dashes", k)
			continue
		}
		if !flagName.MatchString(k) {
			f.errorf(kp, "write the flag's name as in `"+string(comp)+" --help`, e.g. v or audit-log-path", "%q is not a flag name", k)
			continue
		}
		if isOneOf(k, protectedFlags[comp]) {
			f.errorf(kp, "remove it: kisgen sets this flag from the plan and its certificates", "%s flag --%s cannot be overridden", comp, k)
		}
	}
}

func validateVersions(p *Plan, f findings) {
	v := p.Versions
	checks := []struct{ path, val, name string }{
		{"cluster.version", v.Kubernetes, "Kubernetes"}, {"versions.etcd", v.Etcd, "etcd"},
		{"versions.containerd", v.Containerd, "containerd"}, {"versions.runc", v.Runc, "runc"},
		{"versions.cni_plugins", v.CNIPlugins, "CNI plugins"}, {"versions.calico", v.Calico, "Calico"},
		{"versions.coredns", v.CoreDNS, "CoreDNS"}, {"versions.metrics_server", v.MetricsServer, "metrics-server"},
	}
	for _, c := range checks {
		if !releaseVersion.MatchString(c.val) {
			hint := "write a release version such as v1.2.3"
			if releaseVersion.MatchString("v" + c.val) {
				hint = fmt.Sprintf("write %q: release versions start with v", "v"+c.val)
			}
			f.errorf(c.path, hint, "%s version %q is not a release version", c.name, c.val)
		}
	}
	if !pauseVersion.MatchString(v.Pause) {
		f.errorf("versions.pause", "write the pause image tag, e.g. 3.10.1", "pause version %q is not an image tag", v.Pause)
	}
	if m := releaseVersion.FindStringSubmatch(v.Kubernetes); m != nil {
		if kubernetesTooOld(v.Kubernetes) {
			f.errorf("cluster.version", "use Kubernetes v1.30 or later (kisgen is tested with "+DefaultKubernetesVersion+")",
				"Kubernetes %s is older than kisgen supports: its flags and configuration differ", v.Kubernetes)
		} else if atoi(m[2]) > 37 {
			f.warnf("cluster.version", "expect to adjust flags if the release removed any; kisgen is tested with "+DefaultKubernetesVersion,
				"Kubernetes %s is newer than kisgen has been tested with", v.Kubernetes)
		}
	}
}

// kubernetesTooOld reports whether a release version is older than kisgen can install
// (v1.30); a Kismatic plan's version (v1.10) is mapped to the default because of it.
func kubernetesTooOld(version string) bool {
	m := releaseVersion.FindStringSubmatch(version)
	return m != nil && (atoi(m[1]) != 1 || atoi(m[2]) < 30)
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func validateMirror(p *Plan, f findings, root *os.Root) {
	m := p.Mirror
	if m.URL != "" {
		u, err := url.Parse(m.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			f.errorf("mirror.url", "write an http(s) URL such as http://mirror.example.com:8080", "mirror %q is not an http(s) URL", m.URL)
		} else if u.Scheme == "http" && m.ChecksumsFile == "" {
			f.warnf("mirror.checksums", "set mirror.checksums to the mirror's SHA256SUMS so sums are pinned in the user-data",
				"downloads over plain http are checked only against sums fetched from the same mirror")
		}
	}
	for i, a := range m.ImageArchives {
		path := fmt.Sprintf("mirror.image_archives[%d]", i)
		if !archivePathOK(a) {
			f.errorf(path, "write a path under the mirror URL, e.g. images/pause-3.10.1.tar", "%q is not a relative path under the mirror", a)
		}
	}
	if len(m.ImageArchives) > 0 && m.URL == "" {
		f.errorf("mirror.image_archives", "set mirror.url", "image archives need a mirror URL to be fetched from")
	}
	if m.Registry != "" && !validHostPort(m.Registry) {
		f.errorf("mirror.registry", "write host or host:port, without http://", "registry %q is not host[:port]", m.Registry)
	}
	if m.ChecksumsFile != "" && root != nil {
		data, err := readConfined(root, m.ChecksumsFile)
		if errors.Is(err, fs.ErrNotExist) {
			f.errorf("mirror.checksums", "run `kisgen mirror build` to write it, or fix the path (relative to the plan file)", "%s %s", checksumsNotBuilt, m.ChecksumsFile)
		} else if err != nil {
			f.errorf("mirror.checksums", "fix the path (relative to the plan file) or the file's permissions", "cannot read checksums: %v", err)
		} else if _, err := ParseChecksums(data); err != nil {
			f.errorf("mirror.checksums", "use the SHA256SUMS format: \"<64 hex digits>  <path>\" per line", "checksums file %s: %v", m.ChecksumsFile, err)
		}
	}
}

// archivePathOK says whether an image archive's path stays under the mirror.
func archivePathOK(a string) bool {
	return a != "" && !strings.HasPrefix(a, "/") && !strings.Contains(a, "..") && !strings.Contains(a, "://")
}

// validHostPort says whether s is a DNS name or IPv4 address, optionally with a port.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, ""
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Is4()
	}
	return len(host) <= 253 && dns1123Subdomain.MatchString(strings.ToLower(host))
}

// ParseChecksums reads a SHA256SUMS file ("<sha256>  <path>" lines) into path → sum.
func ParseChecksums(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		fields := strings.Fields(t)
		if len(fields) != 2 || len(fields[0]) != 64 || strings.Trim(strings.ToLower(fields[0]), "0123456789abcdef") != "" {
			return nil, fmt.Errorf("line %d is not \"<sha256>  <path>\"", line)
		}
		out[strings.TrimPrefix(fields[1], "*")] = strings.ToLower(fields[0])
	}
	return out, sc.Err()
}

// readConfined reads a file the plan names, without leaving the plan's directory tree
// unless the plan gives an absolute path.
// checksumsNotBuilt starts the error that mirror.checksums names no file yet.
const checksumsNotBuilt = "no checksums file yet:"

// ForgiveUnbuiltChecksums drops from rep the error that the plan's mirror.checksums file does
// not exist, and the pinning rule's errors for files that file does not list yet. The
// commands that run before `kisgen mirror build` writes it — `kisgen plan` and mirror
// build itself — accept such a plan; render and provision do not.
func ForgiveUnbuiltChecksums(rep *report.Report) {
	kept := rep.Findings[:0]
	for _, f := range rep.Findings {
		if f.Severity == report.Error && f.Path == "mirror.checksums" && strings.HasPrefix(f.Message, checksumsNotBuilt) {
			continue
		}
		if f.Severity == report.Error && strings.HasSuffix(f.Message, notPinned) {
			continue
		}
		kept = append(kept, f)
	}
	rep.Findings = kept
}

func readConfined(root *os.Root, name string) ([]byte, error) {
	if path.IsAbs(name) {
		return os.ReadFile(name)
	}
	return root.ReadFile(name)
}

func validateProvider(p *Plan, f findings) {
	pv := p.Provider
	names := []string{"qemu", "aws", "vsphere", "packet", "pxe", "none"}
	if !isOneOf(pv.Name, names) {
		hint := "use one of: " + strings.Join(names, ", ")
		if s := suggest(pv.Name, names); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		f.errorf("provider.name", hint, "unknown provider %q", pv.Name)
	}
	if !isOneOf(pv.QEMU.Accel, []string{"auto", "kvm", "tcg"}) {
		f.errorf("provider.qemu.accel", "use auto, kvm or tcg", "unknown accelerator %q", pv.QEMU.Accel)
	}
	if pv.QEMU.SSHBasePort < 1024 || pv.QEMU.SSHBasePort+len(p.Nodes) > 65535 {
		msg := fmt.Sprintf("ssh_base_port %d leaves no room for %d nodes", pv.QEMU.SSHBasePort, len(p.Nodes))
		if pv.QEMU.SSHBasePort < 1024 {
			msg = fmt.Sprintf("ssh_base_port %d is a privileged port", pv.QEMU.SSHBasePort)
		}
		f.errorf("provider.qemu.ssh_base_port", "use a port from 1024 that leaves room for one port per node", "%s", msg)
	}
	if !isOneOf(pv.AWS.Secrets, []string{"inline", "s3", "ssm"}) {
		f.errorf("provider.aws.secrets", "use inline, s3 or ssm", "unknown secrets mode %q", pv.AWS.Secrets)
	}
	if pv.AWS.Secrets == "s3" && pv.AWS.SecretsBucket == "" {
		f.errorf("provider.aws.secrets_bucket", "name the bucket that holds the nodes' secrets", "secrets: s3 needs secrets_bucket")
	}
	if pv.AWS.Secrets != "inline" && pv.AWS.InstanceProfile == "" {
		f.errorf("provider.aws.instance_profile", "name an instance profile whose role may read the node's secrets", "secrets: %s needs instance_profile", pv.AWS.Secrets)
	}
	for _, key := range []struct {
		name  string
		cidrs []string
	}{{"admin_cidrs", pv.AWS.AdminCIDRs}, {"ingress_cidrs", pv.AWS.IngressCIDRs}} {
		for i, c := range key.cidrs {
			if _, err := netip.ParsePrefix(c); err != nil {
				f.errorf(fmt.Sprintf("provider.aws.%s[%d]", key.name, i), "write a CIDR range such as 203.0.113.0/24", "%q is not a CIDR range", c)
			}
		}
	}
	if lb := pv.AWS.LoadBalancer; !isOneOf(lb.Create, []string{"auto", "always", "never"}) {
		f.errorf("provider.aws.load_balancer.create", "use auto (a load balancer with two or more masters), always or never (master.load_balancer is yours)", "unknown load balancer setting %q", lb.Create)
	}
	if lb := pv.AWS.LoadBalancer; !isOneOf(lb.Scheme, []string{"internal", "internet-facing"}) {
		f.errorf("provider.aws.load_balancer.scheme", "use internal or internet-facing", "unknown load balancer scheme %q", lb.Scheme)
	}
	validateAWSLoadBalancer(p, f)
	if pv.Name == "aws" && len(pv.AWS.AdminCIDRs) == 0 {
		f.errorf("provider.aws.admin_cidrs", "name the ranges allowed to reach the nodes' SSH and the API server (your office's or your bastion's, e.g. [203.0.113.0/24]); write [0.0.0.0/0] to open them to everyone",
			"the aws provider needs admin_cidrs: without it the nodes cannot be reached, and kisgen opens nothing to the internet unless the plan says so")
	}
	if l := pv.VSphere.PrefixLength; l < 1 || l > 32 {
		f.errorf("provider.vsphere.prefix_length", "use the node network's prefix length, e.g. 24", "prefix length %d is out of range 1–32", l)
	}
	if g := pv.VSphere.Gateway; g != "" {
		if a, err := netip.ParseAddr(g); err != nil || !a.Is4() {
			f.errorf("provider.vsphere.gateway", "write the gateway's IPv4 address, e.g. 10.30.0.1", "%q is not an IPv4 address", g)
		}
	}
	for i, d := range pv.VSphere.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			f.errorf(fmt.Sprintf("provider.vsphere.dns[%d]", i), "write a DNS server's IP address", "%q is not an IP address", d)
		}
	}
	if pv.PXE.HTTPURL != "" {
		if u, err := url.Parse(pv.PXE.HTTPURL); err != nil || u.Scheme != "http" || u.Host == "" {
			f.errorf("provider.pxe.http_url", "write an http URL such as http://10.0.0.1:8080 (iPXE firmware rarely speaks https)", "%q is not an http URL", pv.PXE.HTTPURL)
		}
	}
	if pv.Name == "pxe" {
		for _, n := range p.Nodes {
			if n.MAC == "" {
				f.errorf(n.Sources[0]+".mac", "add the MAC address of the node's boot interface", "PXE boot needs every node's MAC address")
			}
		}
		if pv.PXE.HTTPURL == "" {
			f.errorf("provider.pxe.http_url", "set the URL `kisgen serve pxe` will be reachable at", "PXE boot needs http_url")
		}
	}
	if pv.Name == "packet" {
		for _, r := range Roles {
			if g := p.Groups[r]; g.Format == FormatIgnition && len(p.NodesWith(r)) > 0 && g.Machine.Image == "" {
				f.warnf(string(r)+".machine.image", "set the Metal operating system slug, e.g. flatcar_stable", "no operating system slug for the %s group", r)
			}
		}
	}
}

func validateSSH(p *Plan, f findings, root *os.Root) {
	s := p.SSH
	if !unixUser.MatchString(s.User) {
		f.errorf("cluster.ssh.user", "use a lowercase user name such as kismaticuser", "%q is not a valid user name", s.User)
	} else if s.User == "root" {
		f.errorf("cluster.ssh.user", "use an unprivileged user (kisgen gives it sudo)", "SSH as root is refused by kisgen's sshd configuration")
	}
	if s.Port < 1 || s.Port > 65535 {
		f.errorf("cluster.ssh.ssh_port", "use a port from 1 to 65535, usually 22", "ssh port %d is out of range", s.Port)
	}
	if root == nil {
		return
	}
	data, err := readConfined(root, s.KeyFile)
	if err != nil {
		// The path the plan resolves (relative to the plan file), not the one it names:
		// run from elsewhere, ssh-keygen -f NAME would write the key where no one looks.
		hint := fmt.Sprintf("create it: ssh-keygen -t ed25519 -N '' -f %s (or run `kisgen plan`, which creates it)", p.Path(s.KeyFile))
		if !errors.Is(err, fs.ErrNotExist) {
			hint = "make the key readable, or fix the path (relative to the plan file)"
		}
		f.errorf("cluster.ssh.ssh_key", hint, "cannot read the SSH key: %v", err)
		return
	}
	if _, err := ssh.ParseRawPrivateKey(data); err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			f.errorf("cluster.ssh.ssh_key", "use a key without a passphrase for kisgen's own user (ssh-keygen -p -N '' -f KEY removes it)",
				"the SSH key %s is encrypted", s.KeyFile)
			return
		}
		f.errorf("cluster.ssh.ssh_key", "point ssh_key at an OpenSSH or PEM private key (not the .pub file)", "%s is not a private key: %v", s.KeyFile, err)
	}
}

func isOneOf(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
