package plan

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan/kismatic"
	"github.com/kisgen/kisgen/plan/v1alpha1"
)

// Change is one thing converting a Kismatic plan does besides copying a value under the
// same key: a key renamed, a value mapped to what works today, a key dropped. Validating a
// Kismatic plan as it is reports each change as a warning (Why, Hint) at the key; `kisgen
// plan --from-kismatic` prints the list instead.
type Change struct {
	// From is the key's path in the Kismatic plan; Position is where it is in the file
	// (ConvertKismatic sets it).
	From     string
	Position report.Position
	// To is the kisgen path the value is written to, "" when the key is dropped.
	To string
	// Old is the value at From, New the value written at To, as written in YAML; both are
	// "" for a section that moves, and for a dropped key (so that no secret is printed).
	Old, New string
	// Why says why, in a sentence that also stands alone as the warning's message.
	Why string
	// Hint says what to write instead, for the warning.
	Hint string
	// Quiet marks the release's own spelling of a key that kisgen spells differently
	// (internalip, docker_registry.server): a plan used as it is gets no warning for it.
	Quiet bool
}

// String formats the change as "from → to: old → new — why".
func (c Change) String() string {
	var b strings.Builder
	b.WriteString(c.From)
	if c.To != "" && c.To != c.From {
		b.WriteString(" → " + c.To)
	}
	switch {
	case c.To == "":
		b.WriteString(": removed")
	case c.Old != c.New:
		b.WriteString(": " + scalar(c.Old) + " → " + scalar(c.New))
	case c.New != "":
		b.WriteString(": " + scalar(c.New))
	}
	if c.Why != "" {
		b.WriteString(" — " + c.Why)
	}
	return b.String()
}

// SortChanges puts changes in the order of their positions in the file.
func SortChanges(cs []Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i].Position, cs[j].Position
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
}

// scalar writes a value for the change list: as it is, or quoted when it is empty or
// holds what a terminal would act on (control characters, invalid UTF-8).
func scalar(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return s
}

// upgrade collects what UpgradeKismatic does besides copying values.
type upgrade struct {
	f       findings
	renames map[string]string
	changes []Change
}

func (u *upgrade) change(c Change) { u.changes = append(u.changes, c) }

// dropped records a key that is not carried over.
func (u *upgrade) dropped(from, why, hint string) {
	u.change(Change{From: from, Why: why, Hint: hint})
}

// UpgradeKismatic converts a Kismatic v1.12 plan into the kisgen schema: deprecated keys
// become their successors, names and versions become ones that work today, keys kisgen
// does not act on are dropped. renames records, for each canonical path that came from a
// differently named key, the key it came from; changes lists every change, unlocated, in
// the order of Kismatic's schema (ConvertKismatic locates and sorts them). rep gets what
// makes the plan ambiguous (two spellings of a key that disagree).
func UpgradeKismatic(k *kismatic.Plan, rep *report.Report) (*v1alpha1.Plan, map[string]string, []Change) {
	u := &upgrade{f: findings{rep}, renames: map[string]string{}}
	v := &v1alpha1.Plan{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind}
	c := k.Cluster
	v.Cluster = v1alpha1.Cluster{
		Name: upgradeName(u, c.Name), Version: upgradeVersion(u, c.Version),
		DisablePackageInstallation: c.DisablePackageInstallation,
		DisconnectedInstallation:   c.DisconnectedInstallation,
		Networking: v1alpha1.Networking{
			PodCIDRBlock: c.Networking.PodCIDRBlock, ServiceCIDRBlock: c.Networking.ServiceCIDRBlock,
			UpdateHostsFiles: c.Networking.UpdateHostsFiles,
			HTTPProxy:        c.Networking.HTTPProxy, HTTPSProxy: c.Networking.HTTPSProxy, NoProxy: c.Networking.NoProxy,
		},
		Certificates: v1alpha1.Certificates{
			Expiry: c.Certificates.Expiry, CAExpiry: c.Certificates.CAExpiry,
			APIServerCertExtraSANs: c.Certificates.APIServerCertExtraSANs,
		},
		SSH:               v1alpha1.SSH{User: c.SSH.User, Key: c.SSH.Key, Port: c.SSH.Port},
		APIServer:         v1alpha1.ComponentOptions{OptionOverrides: c.APIServer.OptionOverrides},
		ControllerManager: v1alpha1.ComponentOptions{OptionOverrides: c.ControllerManager.OptionOverrides},
		Scheduler:         v1alpha1.ComponentOptions{OptionOverrides: c.Scheduler.OptionOverrides},
		Proxy:             v1alpha1.ComponentOptions{OptionOverrides: c.Proxy.OptionOverrides},
		Kubelet:           v1alpha1.ComponentOptions{OptionOverrides: c.Kubelet.OptionOverrides},
		CloudProvider:     v1alpha1.CloudProvider{Provider: c.CloudProvider.Provider, Config: c.CloudProvider.Config},
	}
	if c.AdminPassword != "" {
		u.dropped("cluster.admin_password", "admin_password is ignored: password (ABAC/basic) authentication was removed from Kubernetes",
			"remove it: use the admin kubeconfig kisgen writes to the state directory")
	}
	if c.AllowPackageInstallation != nil {
		v.Cluster.DisablePackageInstallation = !*c.AllowPackageInstallation
		u.renames["cluster.disable_package_installation"] = "cluster.allow_package_installation"
		u.change(Change{From: "cluster.allow_package_installation", To: "cluster.disable_package_installation",
			Old: strconv.FormatBool(*c.AllowPackageInstallation), New: strconv.FormatBool(!*c.AllowPackageInstallation),
			Why:  "allow_package_installation is deprecated",
			Hint: "replace it with `disable_package_installation: " + strconv.FormatBool(!*c.AllowPackageInstallation) + "`"})
	}
	if c.PackageRepoURLs != "" {
		u.dropped("cluster.package_repository_urls", "package_repository_urls is ignored: kisgen installs binaries, not packages",
			"set mirror.url (kisgen schema) to an internal mirror instead")
	}
	if c.DisableRegistrySeeding {
		u.dropped("cluster.disable_registry_seeding", "disable_registry_seeding is ignored: kisgen never seeds a registry", "remove it")
	}
	upgradeNetwork(u, k, v)
	upgradeDocker(u, k, v)
	if len(k.AdditionalFiles) > 0 && !allEmpty(k.AdditionalFiles) {
		u.dropped("additional_files", "additional_files are not copied: kisgen never connects to nodes to install them",
			"bake such files into the node image (`kisgen packer`)")
	}
	upgradeAddOns(u, k, v)

	v.Etcd = upgradeGroup(u, k.Etcd, "etcd")
	m := upgradeGroup(u, kismatic.NodeGroup{ExpectedCount: k.Master.ExpectedCount, Nodes: k.Master.Nodes}, "master")
	v.Master = v1alpha1.MasterNodeGroup{ExpectedCount: m.ExpectedCount, Nodes: m.Nodes}
	upgradeLoadBalancer(u, k.Master, v)
	v.Worker = upgradeGroup(u, k.Worker, "worker")
	v.Ingress = upgradeGroup(u, k.Ingress, "ingress")
	v.Storage = upgradeGroup(u, k.Storage, "storage")
	if k.NFS != nil && len(k.NFS.Volumes) > 0 {
		u.dropped("nfs", "nfs volumes are not set up by kisgen", "create the persistent volumes with kubectl after the install")
	}
	return v, u.renames, u.changes
}

// upgradeName keeps a cluster name that is a DNS label and turns any other into one.
// Kismatic required only a name (its own example is my_cluster_name); kisgen uses the name
// in machine names, cloud tags and image names, where providers take a DNS label at most.
// One name for everything keeps the kubeconfig's cluster, the CA and the machines alike.
func upgradeName(u *upgrade, name string) string {
	name = strings.TrimSpace(name)
	if name == "" || isDNSLabel(name) {
		return name
	}
	label := DNSLabelFrom(name)
	if label == "" {
		return name // nothing usable in it: validation reports the name
	}
	u.change(Change{From: "cluster.name", To: "cluster.name", Old: name, New: label,
		Why:  fmt.Sprintf("cluster name %q is not a DNS label: kisgen names the cluster %s in certificates, kubeconfigs and machine names", name, label),
		Hint: "write `name: " + label + "`"})
	return label
}

// upgradeVersion maps the Kubernetes release a Kismatic plan names (v1.12 supported only
// v1.10.x) to kisgen's default when kisgen cannot install it; a version kisgen supports,
// or one that is not a version at all, is kept for validation to judge.
func upgradeVersion(u *upgrade, version string) string {
	if !strings.HasPrefix(version, "v1.") || !kubernetesTooOld(version) {
		return version
	}
	u.change(Change{From: "cluster.version", To: "cluster.version", Old: version, New: DefaultKubernetesVersion,
		Why:  fmt.Sprintf("Kubernetes %s is older than kisgen supports: kisgen installs its default, %s", version, DefaultKubernetesVersion),
		Hint: "write `version: " + DefaultKubernetesVersion + "` (or a later release)"})
	return DefaultKubernetesVersion
}

func upgradeNetwork(u *upgrade, k *kismatic.Plan, v *v1alpha1.Plan) {
	const mode = "add_ons.cni.options.calico.mode"
	if k.AddOns.CNI != nil {
		cn := k.AddOns.CNI
		v.AddOns.CNI = v1alpha1.CNI{Disable: cn.Disable, Provider: cn.Provider, Options: v1alpha1.CNIOptions{Calico: v1alpha1.Calico{
			Mode: cn.Options.Calico.Mode, LogLevel: cn.Options.Calico.LogLevel, WorkloadMTU: cn.Options.Calico.WorkloadMTU,
			FelixInputMTU: cn.Options.Calico.FelixInputMTU, IPAutodetectionMethod: cn.Options.Calico.IPAutodetectionMethod,
		}}}
	}
	t := k.Cluster.Networking.Type
	if t == "" {
		return
	}
	switch have := v.AddOns.CNI.Options.Calico.Mode; {
	case have == "":
		v.AddOns.CNI.Options.Calico.Mode = t
		u.renames[mode] = "cluster.networking.type"
		u.change(Change{From: "cluster.networking.type", To: mode, Old: t, New: t,
			Why: "cluster.networking.type is deprecated", Hint: "move it to " + mode})
	case have != t:
		u.dropped("cluster.networking.type", fmt.Sprintf("cluster.networking.type (%s) and %s (%s) disagree; the add-on setting wins", t, mode, have),
			"remove cluster.networking.type")
	default:
		u.dropped("cluster.networking.type", "cluster.networking.type is deprecated; "+mode+" says the same", "remove it")
	}
}

func upgradeDocker(u *upgrade, k *kismatic.Plan, v *v1alpha1.Plan) {
	d := k.Docker
	if d.Disable || d.Logs.Driver != "" || len(d.Logs.Opts) > 0 || d.Storage.Driver != "" || len(d.Storage.Opts) > 0 ||
		d.Storage.DirectLVM != nil || d.Storage.DirectLVMBlockDevice.Path != "" {
		u.dropped("docker", "the docker section is ignored: kisgen runs containerd, which Kubernetes talks to directly",
			"remove the docker section: containerd settings follow the plan's versions and proxy")
	}
	reg := k.DockerRegistry
	switch {
	case reg.Server != "":
		v.Mirror.Registry = reg.Server
		u.renames["mirror.registry"] = "docker_registry.server"
		u.change(Change{From: "docker_registry.server", To: "mirror.registry", Old: reg.Server, New: reg.Server, Quiet: true,
			Why: "the registry mirror containerd uses for every registry"})
		const why = "docker_registry.address and port are deprecated and ignored: server is set"
		if reg.Address != "" {
			u.dropped("docker_registry.address", why, "remove it")
		}
		if reg.Port != 0 {
			u.change(Change{From: "docker_registry.port", Why: why, Hint: "remove it", Quiet: reg.Address != ""})
		}
	case reg.Address != "":
		v.Mirror.Registry = reg.Address
		if reg.Port != 0 {
			v.Mirror.Registry = net.JoinHostPort(reg.Address, strconv.Itoa(reg.Port))
		}
		u.renames["mirror.registry"] = "docker_registry.address"
		u.change(Change{From: "docker_registry.address", To: "mirror.registry", Old: reg.Address, New: v.Mirror.Registry,
			Why: "docker_registry.address and port are deprecated", Hint: "write `server: " + v.Mirror.Registry + "`"})
		if reg.Port != 0 {
			// The warning about address names the port too.
			u.change(Change{From: "docker_registry.port", To: "mirror.registry", Old: strconv.Itoa(reg.Port), New: v.Mirror.Registry, Quiet: true,
				Why: "docker_registry.address and port are deprecated"})
		}
	}
	const why = "registry credentials and CA are not put into user-data, which any process on the node's network could read from the metadata service"
	const hint = "configure registry credentials in containerd through a baked image"
	if reg.CAPath != "" {
		u.dropped("docker_registry.CA", why, hint)
	}
	if reg.Username != "" {
		u.dropped("docker_registry.username", why, hint)
	}
	if reg.Password != "" {
		u.dropped("docker_registry.password", why, hint)
	}
	if reg.SetupInternal {
		u.dropped("docker_registry.setup_internal", "setup_internal is ignored: kisgen never runs a registry in the cluster", "remove it")
	}
}

func upgradeAddOns(u *upgrade, k *kismatic.Plan, v *v1alpha1.Plan) {
	a := k.AddOns
	if cn := a.CNI; cn != nil {
		if cn.Options.Portmap.Disable {
			u.dropped("add_ons.cni.options.portmap", "portmap cannot be turned off: the plugin is part of the pod network kisgen installs", "remove it")
		}
		if cn.Options.Weave.Password != "" {
			u.dropped("add_ons.cni.options.weave", "weave options are ignored: kisgen installs Calico", "remove it")
		}
	}
	v.AddOns.DNS = v1alpha1.DNS{Disable: a.DNS.Disable, Provider: a.DNS.Provider, Options: v1alpha1.DNSOptions{Replicas: a.DNS.Options.Replicas}}
	if a.DNS.Provider == "kubedns" {
		v.AddOns.DNS.Provider = DefaultDNSProvider
		u.change(Change{From: "add_ons.dns.provider", To: "add_ons.dns.provider", Old: "kubedns", New: DefaultDNSProvider,
			Why: "kube-dns was retired from Kubernetes; kisgen installs CoreDNS instead", Hint: "write `provider: coredns`"})
	}
	if h := a.Heapster; h != nil && !h.Disable {
		u.dropped("add_ons.heapster", "Heapster was retired from Kubernetes and is not installed",
			"set `disable: true`, or remove the section; metrics_server covers resource metrics")
	}
	v.AddOns.MetricsServer = v1alpha1.Toggle{Disable: a.MetricsServer.Disable}
	dash, at := a.Dashboard, "add_ons.dashboard"
	if dash == nil && a.DashboardMisspelled != nil {
		dash, at = a.DashboardMisspelled, "add_ons.dashbard"
		u.renames["add_ons.dashboard"] = at
		u.change(Change{From: at, To: "add_ons.dashboard", Why: "add_ons.dashbard is a deprecated misspelling of add_ons.dashboard",
			Hint: "rename the key to dashboard"})
	}
	if dash != nil {
		v.AddOns.Dashboard = v1alpha1.Toggle{Disable: dash.Disable}
		if st := dash.Options.ServiceType; (st != "" && st != "ClusterIP") || dash.Options.NodePort != "" {
			u.dropped(at+".options", "dashboard options are ignored: the dashboard is installed with its own defaults, a ClusterIP service",
				"remove them; expose the dashboard with kubectl if you need to")
		}
	}
	if pm := a.PackageManager; pm != nil && !pm.Disable {
		u.dropped("add_ons.package_manager", "the package_manager add-on (Helm 2 / Tiller) is not installed: Tiller was removed in Helm 3",
			"install Helm 3 yourself; it needs nothing in the cluster")
	}
	if r := a.Rescheduler; r != nil && !r.Disable {
		u.dropped("add_ons.rescheduler", "the rescheduler was removed from Kubernetes and is not installed", "remove it")
	}
	if k.Features != nil && k.Features.PackageManager != nil {
		u.dropped("features", "features.package_manager is deprecated and ignored", "remove the features section")
	}
}

// upgradeLoadBalancer maps the pre-v1.6 load_balanced_fqdn and load_balanced_short_name
// to load_balancer, as Kismatic read them: the FQDN (or else the short name) with the API
// server's port. Older releases also put the short name into the API server certificate,
// so a short name that is not the load balancer's host becomes an extra SAN.
func upgradeLoadBalancer(u *upgrade, mg kismatic.MasterNodeGroup, v *v1alpha1.Plan) {
	fqdn, short := mg.LoadBalancedFQDN, mg.LoadBalancedShortName
	v.Master.LoadBalancer = mg.LoadBalancer
	if mg.LoadBalancer != "" {
		const why = "load_balanced_fqdn and load_balanced_short_name are deprecated and ignored: load_balancer is set"
		if fqdn != "" {
			u.dropped("master.load_balanced_fqdn", why, "remove it")
		}
		if short != "" {
			// One warning names both keys.
			u.change(Change{From: "master.load_balanced_short_name", Why: why, Hint: "remove it", Quiet: fqdn != ""})
		}
		return
	}
	if fqdn == "" && short == "" {
		return
	}
	host, src := fqdn, "master.load_balanced_fqdn"
	if host == "" {
		host, src = short, "master.load_balanced_short_name"
	}
	v.Master.LoadBalancer = net.JoinHostPort(host, strconv.Itoa(DefaultAPIServerPort))
	u.renames["master.load_balancer"] = src
	u.change(Change{From: src, To: "master.load_balancer", Old: host, New: v.Master.LoadBalancer,
		Why: "load_balanced_fqdn and load_balanced_short_name are deprecated", Hint: "write `load_balancer: " + v.Master.LoadBalancer + "`"})
	if short == "" || src == "master.load_balanced_short_name" {
		return
	}
	sans := v.Cluster.Certificates.APIServerCertExtraSANs
	inSANs := false
	for _, s := range strings.Split(sans, ",") {
		inSANs = inSANs || strings.TrimSpace(s) == short
	}
	if short == host || inSANs {
		// Already in the certificate: the load balancer's host, or an extra SAN.
		u.change(Change{From: "master.load_balanced_short_name", Quiet: true,
			Why: "load_balanced_short_name is deprecated; the API server certificate names it already"})
		return
	}
	if sans != "" {
		sans += ","
	}
	sans += short
	v.Cluster.Certificates.APIServerCertExtraSANs = sans
	u.change(Change{From: "master.load_balanced_short_name", To: "cluster.certificates.apiserver_cert_extra_sans", Old: short, New: sans,
		Why:  "load_balanced_short_name is deprecated: Kismatic put it into the API server certificate, as an extra SAN does",
		Hint: "add it to cluster.certificates.apiserver_cert_extra_sans"})
}

func upgradeGroup(u *upgrade, g kismatic.NodeGroup, role string) v1alpha1.NodeGroup {
	out := v1alpha1.NodeGroup{ExpectedCount: g.ExpectedCount}
	for i, n := range g.Nodes {
		path := fmt.Sprintf("%s.nodes[%d]", role, i)
		internal := n.InternalIP
		if n.InternalIPGuide != "" {
			if internal != "" && internal != n.InternalIPGuide {
				u.f.errorf(path+".internal_ip", "keep one of internalip and internal_ip",
					"internalip (%s) and internal_ip (%s) disagree", internal, n.InternalIPGuide)
			}
			internal = n.InternalIPGuide
		} else if internal != "" {
			u.renames[path+".internal_ip"] = path + ".internalip"
			u.change(Change{From: path + ".internalip", To: path + ".internal_ip", Old: internal, New: internal, Quiet: true,
				Why: "the guide's spelling, which kisgen uses"})
		}
		var taints []v1alpha1.Taint
		for _, t := range n.Taints {
			taints = append(taints, v1alpha1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
		}
		out.Nodes = append(out.Nodes, v1alpha1.Node{
			Host: n.Host, IP: n.IP, InternalIP: internal, Labels: n.Labels, Taints: taints,
			Kubelet: v1alpha1.ComponentOptions{OptionOverrides: n.Kubelet.OptionOverrides},
		})
	}
	return out
}

// allEmpty reports whether every entry is blank: the v1.12 template writes one blank
// additional_files entry as an example.
func allEmpty(files []kismatic.AdditionalFile) bool {
	for _, f := range files {
		if len(f.Hosts) > 0 || f.Source != "" || f.Destination != "" {
			return false
		}
	}
	return true
}

// fromKismatic converts a decoded Kismatic plan into the internal model, as the plan would
// be after `kisgen plan --from-kismatic`; each change is reported as a warning at its key.
func fromKismatic(k *kismatic.Plan, rep *report.Report, name string) *Plan {
	v, renames, changes := UpgradeKismatic(k, rep)
	for _, c := range changes {
		if !c.Quiet {
			rep.Add(report.Finding{Severity: report.Warning, Path: c.From, Message: c.Why, Hint: c.Hint})
		}
	}
	p := fromV1alpha1(v, rep, name)
	p.SourceVersion = KismaticVersion
	p.origin.renames = renames
	return p
}

// DNSLabelFrom derives a DNS label from a cluster name: lowercase, each run of other
// characters than letters and digits one '-'. It returns "" when no letter or digit is
// left, or when the label would be longer than 63 characters.
func DNSLabelFrom(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	if s := b.String(); len(s) <= 63 {
		return s
	}
	// Cutting a long name could make two clusters' names one: its owner shortens it.
	return ""
}

func isDNSLabel(s string) bool { return len(s) <= 63 && dns1123Label.MatchString(s) }
