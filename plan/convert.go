package plan

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan/v1alpha1"
)

// origin maps canonical (v1alpha1) paths back to the source document.
type origin struct {
	file string
	// pos holds the position of every value in the source, by source path.
	pos map[string]report.Position
	// renames maps a canonical path (or path prefix) to the source path it came from,
	// for documents in an older schema.
	renames map[string]string
}

// locate returns the source path and position for a canonical path. When the value is not
// in the source (a missing key), the nearest enclosing value that is there is used.
func (o *origin) locate(path string) (string, report.Position) {
	if o == nil {
		return path, report.Position{}
	}
	src := path
	if r, ok := o.renames[path]; ok {
		src = r
	} else {
		// A rename of a parent (e.g. a node entry) applies to everything under it.
		for from, to := range o.renames {
			if strings.HasPrefix(path, from+".") || strings.HasPrefix(path, from+"[") {
				src = to + path[len(from):]
				break
			}
		}
	}
	for p := src; ; {
		if pos, ok := o.pos[p]; ok {
			return src, pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			if pos, ok := o.pos[""]; ok {
				return src, pos // the document
			}
			return src, report.Position{Line: 1, Column: 1}
		}
		p = p[:i]
	}
}

// Locate returns where a canonical YAML path of the plan is in its file, for callers that
// report findings about a loaded plan (render size budgets, provider settings).
func (p *Plan) Locate(path string) (string, report.Position) { return p.origin.locate(path) }

// Finding builds a finding about a canonical YAML path of the plan, located in its file.
func (p *Plan) Finding(sev report.Severity, path, msg, hint string) report.Finding {
	src, pos := p.origin.locate(path)
	return report.Finding{Severity: sev, File: p.File, Path: src, Position: pos, Message: msg, Hint: hint}
}

// findings collects findings by canonical path; Parse locates them at the end.
type findings struct{ rep *report.Report }

func (f findings) add(sev report.Severity, path, msg, hint string) {
	f.rep.Add(report.Finding{Severity: sev, Path: path, Message: msg, Hint: hint})
}
func (f findings) errorf(path, hint, format string, a ...any) {
	f.add(report.Error, path, fmt.Sprintf(format, shortened(a)...), hint)
}
func (f findings) warnf(path, hint, format string, a ...any) {
	f.add(report.Warning, path, fmt.Sprintf(format, shortened(a)...), hint)
}

// shortened cuts long string arguments, so that a finding about a megabyte-long value
// quotes its start rather than all of it. Message fragments built by the rules are far
// below the limit.
func shortened(a []any) []any {
	out := make([]any, len(a))
	for i, v := range a {
		if s, ok := v.(string); ok && utf8.RuneCountInString(s) > 200 {
			v = string([]rune(s)[:60]) + "…"
		}
		out[i] = v
	}
	return out
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// fromV1alpha1 converts a decoded kisgen document into the internal model. Values that do
// not parse are reported and left zero; cross-field rules are checked later by validate.
func fromV1alpha1(v *v1alpha1.Plan, rep *report.Report, name string) *Plan {
	f := findings{rep}
	c := v.Cluster
	p := &Plan{
		File: name, SourceVersion: v1alpha1.APIVersion, origin: &origin{},
		Name: strings.TrimSpace(c.Name),
		Versions: Versions{
			Kubernetes:    or(c.Version, DefaultKubernetesVersion),
			Etcd:          or(v.Versions.Etcd, DefaultEtcdVersion),
			Containerd:    or(v.Versions.Containerd, DefaultContainerdVersion),
			Runc:          or(v.Versions.Runc, DefaultRuncVersion),
			CNIPlugins:    or(v.Versions.CNIPlugins, DefaultCNIPluginsVersion),
			Calico:        or(v.Versions.Calico, DefaultCalicoVersion),
			CoreDNS:       or(v.Versions.CoreDNS, DefaultCoreDNSVersion),
			MetricsServer: or(v.Versions.MetricsServer, DefaultMetricsServerVersion),
			Pause:         or(v.Versions.Pause, DefaultPauseVersion),
		},
		Mirror: Mirror{
			URL: strings.TrimRight(v.Mirror.URL, "/"), ChecksumsFile: v.Mirror.Checksums,
			ImageArchives: v.Mirror.ImageArchives, Registry: v.Mirror.Registry,
		},
		PackageInstallation: !c.DisablePackageInstallation,
		Disconnected:        c.DisconnectedInstallation,
		SSH: SSH{
			User:    or(c.SSH.User, DefaultSSHUser),
			KeyFile: or(c.SSH.Key, DefaultSSHKey),
			Port:    or(c.SSH.Port, DefaultSSHPort),
		},
		Overrides: map[Component]map[string]string{},
		Groups:    map[Role]*Group{},
	}
	for comp, o := range map[Component]map[string]string{
		KubeAPIServer: c.APIServer.OptionOverrides, KubeControllerManager: c.ControllerManager.OptionOverrides,
		KubeScheduler: c.Scheduler.OptionOverrides, KubeProxy: c.Proxy.OptionOverrides, Kubelet: c.Kubelet.OptionOverrides,
		Etcd: c.Etcd.OptionOverrides,
	} {
		if len(o) > 0 {
			p.Overrides[comp] = o
		}
	}
	if c.CloudProvider.Provider != "" || c.CloudProvider.Config != "" {
		f.warnf("cluster.cloud_provider", "remove it; run the provider's out-of-tree cloud controller manager if you need one",
			"cloud_provider is ignored: in-tree cloud providers were removed from Kubernetes")
	}

	// Networking.
	cni := v.AddOns.CNI
	cal := cni.Options.Calico
	p.Network = Network{
		CNIDisabled: cni.Disable, CNIProvider: or(cni.Provider, DefaultCNIProvider),
		Mode:          CalicoMode(or(cal.Mode, string(DefaultCalicoMode))),
		NetworkPolicy: cal.NetworkPolicy,
		LogLevel:      or(cal.LogLevel, DefaultCalicoLogLevel),
		WorkloadMTU:   or(cal.WorkloadMTU, DefaultWorkloadMTU), FelixInputMTU: or(cal.FelixInputMTU, DefaultFelixInputMTU),
		IPAutodetectionMethod: or(cal.IPAutodetectionMethod, DefaultIPAutodetect),
		UpdateHostsFiles:      c.Networking.UpdateHostsFiles,
		Proxy:                 Proxy{HTTP: c.Networking.HTTPProxy, HTTPS: c.Networking.HTTPSProxy, NoProxy: c.Networking.NoProxy},
	}
	asn := cal.ASNumber
	if asn == 0 {
		asn = DefaultASNumber
	}
	if asn < 1 || asn > 4294967295 {
		f.errorf("add_ons.cni.options.calico.as_number", "use a private AS number: 64512–65534 or 4200000000–4294967294 (the guide's default is 64511)",
			"AS number %d is out of range 1–4294967295", asn)
	} else {
		p.Network.ASNumber = uint32(asn)
	}
	p.Network.PodCIDR = parsePrefix(f, "cluster.networking.pod_cidr_block", or(c.Networking.PodCIDRBlock, DefaultPodCIDR))
	p.Network.ServiceCIDR = parsePrefix(f, "cluster.networking.service_cidr_block", or(c.Networking.ServiceCIDRBlock, DefaultServiceCIDR))

	// Certificates.
	cert := c.Certificates
	p.Certificates = Certificates{
		Expiry:       parseDuration(f, "cluster.certificates.expiry", or(cert.Expiry, DefaultExpiry)),
		CAExpiry:     parseDuration(f, "cluster.certificates.ca_expiry", or(cert.CAExpiry, DefaultExpiry)),
		RenewBefore:  parseDuration(f, "cluster.certificates.renew_before", or(cert.RenewBefore, DefaultRenewBefore)),
		City:         cert.Location.City,
		State:        cert.Location.State,
		Country:      strings.ToUpper(or(cert.Location.Country, DefaultCountry)),
		KeyAlgorithm: KeyAlgorithm(or(cert.KeyAlgorithm, string(DefaultKeyAlg))),
	}
	for _, s := range strings.Split(cert.APIServerCertExtraSANs, ",") {
		if s = strings.TrimSpace(s); s != "" {
			p.Certificates.ExtraSANs = append(p.Certificates.ExtraSANs, s)
		}
	}

	p.AddOns = AddOns{
		DNS: !v.AddOns.DNS.Disable, DNSProvider: or(v.AddOns.DNS.Provider, DefaultDNSProvider),
		DNSReplicas:   or(v.AddOns.DNS.Options.Replicas, DefaultDNSReplicas),
		MetricsServer: !v.AddOns.MetricsServer.Disable, Dashboard: !v.AddOns.Dashboard.Disable,
	}

	// Provider.
	pv := v.Provider
	p.Provider = Provider{
		Name: or(pv.Name, DefaultProvider),
		QEMU: QEMUProvider{Accel: or(pv.QEMU.Accel, DefaultQEMUAccel), Image: or(pv.QEMU.Image, DefaultQEMUImage),
			SSHBasePort: or(pv.QEMU.SSHBasePort, DefaultQEMUSSHBasePort), Dir: or(pv.QEMU.Dir, DefaultQEMUDir)},
		AWS: AWSProvider{Region: pv.AWS.Region, SubnetID: pv.AWS.SubnetID, VPCID: pv.AWS.VPCID, KeyName: pv.AWS.KeyName,
			AdminCIDRs: pv.AWS.AdminCIDRs, IngressCIDRs: pv.AWS.IngressCIDRs, Secrets: or(pv.AWS.Secrets, DefaultAWSSecrets), SecretsBucket: pv.AWS.SecretsBucket,
			InstanceProfile: pv.AWS.InstanceProfile, SubnetIDs: pv.AWS.SubnetIDs,
			LoadBalancer: AWSLoadBalancer{Create: or(pv.AWS.LoadBalancer.Create, DefaultAWSLoadBalancerCreate), Scheme: or(pv.AWS.LoadBalancer.Scheme, DefaultAWSLoadBalancerScheme)}},
		VSphere: VSphereProvider{Datacenter: pv.VSphere.Datacenter, Folder: pv.VSphere.Folder, ResourcePool: pv.VSphere.ResourcePool,
			Datastore: pv.VSphere.Datastore, Network: pv.VSphere.Network, PrefixLength: or(pv.VSphere.PrefixLength, DefaultVSpherePrefixLength),
			Gateway: pv.VSphere.Gateway, DNS: pv.VSphere.DNS},
		Packet: PacketProvider{ProjectID: pv.Packet.ProjectID, Metro: pv.Packet.Metro, APIURL: or(pv.Packet.APIURL, DefaultPacketAPIURL)},
		PXE:    PXEProvider{HTTPURL: pv.PXE.HTTPURL, Interface: pv.PXE.Interface, Gateway: pv.PXE.Gateway, DNS: pv.PXE.DNS, ProxyDHCP: pv.PXE.ProxyDHCP},
	}

	// Groups and nodes.
	groups := []struct {
		role    Role
		count   int
		os, fmt string
		machine v1alpha1.Machine
		nodes   []v1alpha1.Node
	}{
		{RoleEtcd, v.Etcd.ExpectedCount, v.Etcd.OS, v.Etcd.Format, v.Etcd.Machine, v.Etcd.Nodes},
		{RoleMaster, v.Master.ExpectedCount, v.Master.OS, v.Master.Format, v.Master.Machine, v.Master.Nodes},
		{RoleWorker, v.Worker.ExpectedCount, v.Worker.OS, v.Worker.Format, v.Worker.Machine, v.Worker.Nodes},
		{RoleIngress, v.Ingress.ExpectedCount, v.Ingress.OS, v.Ingress.Format, v.Ingress.Machine, v.Ingress.Nodes},
		{RoleStorage, v.Storage.ExpectedCount, v.Storage.OS, v.Storage.Format, v.Storage.Machine, v.Storage.Nodes},
	}
	byHost := map[string]*Node{}
	for _, g := range groups {
		osName := or(g.os, DefaultOS)
		format := Format(g.fmt)
		if format == "" {
			format = FormatFor(osName)
		}
		m := g.machine
		grp := &Group{Role: g.role, ExpectedCount: g.count, OS: osName, Format: format,
			Machine: Machine{CPUs: m.CPUs, MemoryMB: m.MemoryMB, DiskGB: m.DiskGB, Image: m.Image, Type: m.Type}}
		p.Groups[g.role] = grp
		for i, vn := range g.nodes {
			path := fmt.Sprintf("%s.nodes[%d]", g.role, i)
			host := strings.TrimSpace(vn.Host)
			ip := parseAddr(f, path+".ip", vn.IP, true)
			internalRaw := vn.InternalIP
			if vn.InternalIPLegacy != "" {
				if internalRaw != "" && internalRaw != vn.InternalIPLegacy {
					f.errorf(path+".internal_ip", "keep one of internalip and internal_ip", "internalip (%s) and internal_ip (%s) disagree", vn.InternalIPLegacy, internalRaw)
				}
				if internalRaw == "" {
					internalRaw = vn.InternalIPLegacy
					p.origin.renameOnce(path+".internal_ip", path+".internalip")
				}
			}
			internal := parseAddr(f, path+".internal_ip", internalRaw, false)
			if !internal.IsValid() {
				internal = ip
			}
			var taints []Taint
			for _, t := range vn.Taints {
				taints = append(taints, Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
			}
			if n, ok := byHost[host]; ok && host != "" {
				// The same machine in another group: addresses must agree; labels and
				// taints merge, the later group winning as in Kismatic.
				if n.IP != ip || n.InternalIP != internal {
					f.errorf(path, "give the host the same ip and internal ip in every group, or rename one",
						"host %q is also %s with different addresses (%s / %s here, %s / %s there)", host, n.Sources[0], ip, internal, n.IP, n.InternalIP)
				}
				if !sameMap(vn.Kubelet.OptionOverrides, n.ownKubelet) {
					f.errorf(path+".kubelet.option_overrides", "make the kubelet overrides identical in every group the host is in",
						"host %q has different kubelet overrides than in %s", host, n.Sources[0])
				}
				if vn.MAC != "" && n.MAC != "" && !strings.EqualFold(vn.MAC, n.MAC) {
					f.errorf(path+".mac", "give the host one MAC address", "host %q has MAC %s here and %s in %s", host, vn.MAC, n.MAC, n.Sources[0])
				}
				if n.MAC == "" {
					n.MAC = strings.ToLower(vn.MAC)
				}
				n.Roles = append(n.Roles, g.role)
				n.Sources = append(n.Sources, path)
				for k, val := range vn.Labels {
					n.Labels[k] = val
				}
				n.Taints = mergeTaints(n.Taints, taints)
				continue
			}
			n := &Node{
				Host: host, IP: ip, InternalIP: internal, MAC: strings.ToLower(vn.MAC),
				Roles: []Role{g.role}, Labels: map[string]string{}, Taints: taints, Group: grp,
				Index: len(p.Nodes), Sources: []string{path}, ownKubelet: vn.Kubelet.OptionOverrides, ownTaints: len(taints),
			}
			for k, val := range vn.Labels {
				n.Labels[k] = val
			}
			n.KubeletOverrides = mergeMaps(c.Kubelet.OptionOverrides, vn.Kubelet.OptionOverrides)
			p.Nodes = append(p.Nodes, n)
			if host != "" {
				byHost[host] = n
			}
		}
	}

	// kisgen's own load balancer.
	if vip := strings.TrimSpace(v.Master.VirtualIP); vip != "" {
		p.loadBalancerGiven = true // the virtual IP is one; when it does not parse, that is the error
		a, err := netip.ParseAddr(vip)
		if err != nil || !a.Is4() {
			f.errorf("master.virtual_ip", "give a free IPv4 address on the masters' network, e.g. 10.10.0.20", "virtual IP %q is not an IPv4 address", vip)
		} else {
			p.VirtualIP = a
		}
	}
	// Load balancer.
	if lb := strings.TrimSpace(v.Master.LoadBalancer); lb != "" {
		p.loadBalancerGiven = true
		host, port, err := splitHostPort(lb)
		if i := strings.Index(lb, "://"); i >= 0 {
			f.errorf("master.load_balancer", fmt.Sprintf("write host:port without %q, e.g. %s", lb[:i+3], strings.TrimRight(lb[i+3:], "/")),
				"load balancer %q is a URL, not host:port", lb)
		} else if err != nil {
			f.errorf("master.load_balancer", "write it as host:port, e.g. kubernetes.example.com:6443", "load balancer %q: %v", lb, err)
		} else {
			p.LoadBalancer, p.LoadBalancerPort, p.LoadBalancerPlanned = host, port, true
		}
	}
	return p
}

func (o *origin) renameOnce(canonical, src string) {
	if o.renames == nil {
		o.renames = map[string]string{}
	}
	o.renames[canonical] = src
}

// mergeTaints adds taints from later groups; a taint with the same key and effect is
// replaced, as Kismatic gave the later role precedence.
func mergeTaints(have, add []Taint) []Taint {
	out := append([]Taint(nil), have...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if out[i].Key == t.Key && out[i].Effect == t.Effect {
				out[i] = t
				replaced = true
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	return out
}

func mergeMaps(base, over map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func parsePrefix(f findings, path, s string) netip.Prefix {
	pr, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		f.errorf(path, "write an IPv4 range in CIDR notation, e.g. 172.16.0.0/16", "%q is not a CIDR range", s)
		return netip.Prefix{}
	}
	if !pr.Addr().Is4() {
		f.errorf(path, "use an IPv4 range; kisgen plans IPv4 clusters", "%s is not an IPv4 range", s)
		return netip.Prefix{}
	}
	if pr.Masked() != pr {
		f.warnf(path, fmt.Sprintf("write %s", pr.Masked()), "%s has host bits set; the range is %s", s, pr.Masked())
	}
	return pr.Masked()
}

func parseAddr(f findings, path, s string, required bool) netip.Addr {
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			f.errorf(path, "give the address kisgen reaches the node at, e.g. 10.0.0.11", "ip is required")
		}
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		f.errorf(path, "write an IPv4 address such as 10.0.0.11", "%q is not an IP address", s)
		return netip.Addr{}
	}
	if !a.Is4() {
		f.errorf(path, "use an IPv4 address; kisgen plans IPv4 clusters", "%s is not an IPv4 address", s)
		return netip.Addr{}
	}
	return a
}

// parseDuration accepts Go durations ("17520h", "90m") and, for convenience, days ("730d").
func parseDuration(f findings, path, s string) time.Duration {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "d") {
		if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && n > 0 && n < 100000 {
			return time.Duration(n) * 24 * time.Hour
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		f.errorf(path, "write a duration in hours such as 17520h (2 years), or days such as 730d", "%q is not a duration", s)
		return 0
	}
	if d <= 0 {
		f.errorf(path, "write a positive duration such as 17520h", "duration %s must be positive", s)
		return 0
	}
	return d
}

// splitHostPort parses host:port, allowing a bare host (port 6443).
func splitHostPort(s string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return s, DefaultAPIServerPort, nil
		}
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 1 to 65535", portStr)
	}
	if host == "" {
		return "", 0, fmt.Errorf("the host is empty")
	}
	return host, port, nil
}

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
