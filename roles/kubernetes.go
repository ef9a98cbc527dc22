package roles

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/templates"
)

// ServiceRouteScript adds the node's route to the Service range (kisgen-service-route).
const ServiceRouteScript = BinDir + "/kisgen-service-route"

// kubernetesNode: containerd, the route to the Service range, the kubelet and kube-proxy
// on every node that is not only an etcd member.
func (b *builder) kubernetesNode() error {
	n := b.n
	if !n.IsKubernetesNode() {
		return nil
	}
	p := b.p
	for _, c := range []struct{ name, cert, key string }{
		{pki.CA, CACert, ""},
		{pki.Kubelet(n.Host), KubeletClientCert, KubeletClientKey},
		{pki.KubeletServing(n.Host), KubeletServingCert, KubeletServingKey},
		{pki.KubeProxy, KubeProxyCert, KubeProxyKey},
	} {
		if err := b.pair(c.name, c.cert, c.key); err != nil {
			return err
		}
	}
	if err := b.kubeconfig(KubeletKubeconfig, pki.NodeUserPrefix+n.Host, KubeletClientCert, KubeletClientKey); err != nil {
		return err
	}
	if err := b.kubeconfig(KubeProxyKubeconfig, pki.KubeProxyUser, KubeProxyCert, KubeProxyKey); err != nil {
		return err
	}
	for _, f := range b.c.common {
		if err := b.add(f); err != nil {
			return err
		}
	}

	// containerd
	if err := b.unit("containerd.service", "containerd container runtime", "containerd.service", b.unitData("", nil), true); err != nil {
		return err
	}
	b.wait = append(b.wait, "containerd.service")

	// The route to the Service range, before kube-proxy: see kisgen-service-route.
	route, err := templates.Execute("kisgen-service-route", map[string]string{
		"ServiceCIDR": p.Network.ServiceCIDR.Masked().String(), "InternalIP": n.InternalIP.String()})
	if err != nil {
		return err
	}
	if err := b.add(File{Path: ServiceRouteScript, Mode: 0o755, Content: templates.CompactScript(route), What: "route to the Service range"}); err != nil {
		return err
	}
	if err := b.unit("kisgen-service-route.service", "route to the Service range", "kisgen-service-route.service", b.unitData("", nil), true); err != nil {
		return err
	}
	b.wait = append(b.wait, "kisgen-service-route.service")

	// kubelet
	kc := kubeletConfiguration{typeMeta: typeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"}}
	kc.Authentication.Anonymous.Enabled = false
	kc.Authentication.Webhook.Enabled = true
	kc.Authentication.Webhook.CacheTTL = "2m0s"
	kc.Authentication.X509.ClientCAFile = CACert
	kc.Authorization.Mode = "Webhook"
	kc.CgroupDriver = "systemd"
	if p.AddOns.DNS {
		kc.ClusterDNS = []string{p.ServiceIP(10).String()}
	}
	kc.ClusterDomain = pki.ClusterDomain
	kc.ContainerRuntimeEndpoint = "unix://" + ContainerdSocket
	kc.FailSwapOn = true
	kc.HealthzBindAddress = "127.0.0.1"
	kc.HealthzPort = 10248
	kc.ReadOnlyPort = 0
	kc.TLSCertFile = KubeletServingCert
	kc.TLSPrivateKeyFile = KubeletServingKey
	kc.TLSMinVersion = "VersionTLS12"
	if sub, ok := b.c.subnets[n.Host]; ok {
		// host-local hands out the subnet minus network, gateway and broadcast.
		kc.MaxPods = min(110, 1<<(32-sub.Bits())-3)
	}
	text, err := b.c.memo("kubelet-config "+strconv.Itoa(kc.MaxPods), func() (string, error) { return marshalYAML(kc) })
	if err != nil {
		return err
	}
	if err := b.file(KubeletConfigPath, 0o644, "kubelet configuration", text); err != nil {
		return err
	}
	flags := map[string]string{
		"config":            KubeletConfigPath,
		"hostname-override": n.Host,
		"kubeconfig":        KubeletKubeconfig,
		"node-ip":           n.InternalIP.String(),
	}
	// The node's own labels, and one per role that the masters' kisgen-sync turns into
	// node-role.kubernetes.io labels.
	var labels []string
	for _, k := range n.SortedLabelKeys() {
		labels = append(labels, k+"="+n.Labels[k])
	}
	for _, r := range n.Roles {
		labels = append(labels, RoleLabel(r)+"=true")
	}
	flags["node-labels"] = strings.Join(labels, ",")
	if taints := nodeTaints(n); len(taints) > 0 {
		var ts []string
		for _, t := range taints {
			ts = append(ts, t.String())
		}
		flags["register-with-taints"] = strings.Join(ts, ",")
	}
	if err := b.unit("kubelet.service", "Kubernetes node agent", "kubelet.service", b.unitData("", command(BinDir+"/kubelet", flags, n.KubeletOverrides)), true); err != nil {
		return err
	}
	b.wait = append(b.wait, "kubelet.service")

	// kube-proxy
	kp, err := kubeProxyConfig(p, n)
	if err != nil {
		return err
	}
	if text, err = marshalYAML(kp); err != nil {
		return err
	}
	if err := b.file(KubeProxyConfigPath, 0o644, "kube-proxy configuration", text); err != nil {
		return err
	}
	exec := command(BinDir+"/kube-proxy", map[string]string{"config": KubeProxyConfigPath}, nil)
	if err := b.unit("kube-proxy.service", "Kubernetes service proxy", "kube-proxy.service", b.unitData("Kubernetes service proxy (kisgen)", exec, "kubelet.service"), true); err != nil {
		return err
	}
	b.wait = append(b.wait, "kube-proxy.service")

	b.listen(10248, "127.0.0.1", "kubelet.service")
	b.listen(10250, "", "kubelet.service")
	b.listen(10249, "127.0.0.1", "kube-proxy.service")
	b.listen(10256, "", "kube-proxy.service")
	if n.Has(plan.RoleIngress) {
		// An ingress controller will need them; nothing of kisgen's listens there.
		b.preflight = append(b.preflight, Port{Port: 80, Unit: "ingress"}, Port{Port: 443, Unit: "ingress"})
	}
	b.exec = append(b.exec, "iptables", "iptables-save", "iptables-restore", "ip", "nsenter", "mount", "umount", "modprobe", "sysctl")
	for _, a := range []string{CompContainerd, CompRunc, CompCNIPlugins, CompKubelet, CompKubeProxy} {
		b.artifact(a)
	}
	return nil
}

// kubeProxyFlags maps the kube-proxy flags a plan may override to the configuration
// file's fields: kube-proxy ignores command-line flags when it reads a configuration
// file, so overrides must go into the file.
var kubeProxyFlags = map[string]func(c *kubeProxyConfiguration, v string) error{
	"proxy-mode":               func(c *kubeProxyConfiguration, v string) error { c.Mode = v; return nil },
	"detect-local-mode":        func(c *kubeProxyConfiguration, v string) error { c.DetectLocalMode = v; return nil },
	"metrics-bind-address":     func(c *kubeProxyConfiguration, v string) error { c.MetricsBindAddress = v; return nil },
	"healthz-bind-address":     func(c *kubeProxyConfiguration, v string) error { c.HealthzBindAddress = v; return nil },
	"bind-address":             func(c *kubeProxyConfiguration, v string) error { c.BindAddress = v; return nil },
	"ipvs-scheduler":           func(c *kubeProxyConfiguration, v string) error { ipvs(c).Scheduler = v; return nil },
	"iptables-sync-period":     func(c *kubeProxyConfiguration, v string) error { iptables(c).SyncPeriod = v; return nil },
	"iptables-min-sync-period": func(c *kubeProxyConfiguration, v string) error { iptables(c).MinSyncPeriod = v; return nil },
	"nodeport-addresses": func(c *kubeProxyConfiguration, v string) error {
		c.NodePortAddresses = strings.Split(v, ",")
		return nil
	},
	"masquerade-all": func(c *kubeProxyConfiguration, v string) (err error) {
		iptables(c).MasqueradeAll, err = strconv.ParseBool(v)
		return err
	},
	"ipvs-strict-arp": func(c *kubeProxyConfiguration, v string) (err error) {
		ipvs(c).StrictARP, err = strconv.ParseBool(v)
		return err
	},
	"profiling": func(c *kubeProxyConfiguration, v string) (err error) {
		c.EnableProfiling, err = strconv.ParseBool(v)
		return err
	},
	"v": func(c *kubeProxyConfiguration, v string) error {
		n, err := strconv.Atoi(v)
		c.Logging = &kubeProxyLogging{Verbosity: n}
		return err
	},
	"conntrack-max-per-core": func(c *kubeProxyConfiguration, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		m := int32(n)
		conntrack(c).MaxPerCore = &m
		return err
	},
	"conntrack-min": func(c *kubeProxyConfiguration, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		m := int32(n)
		conntrack(c).Min = &m
		return err
	},
	"feature-gates": func(c *kubeProxyConfiguration, v string) error {
		c.FeatureGates = map[string]bool{}
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
			b, err := strconv.ParseBool(val)
			if !ok || err != nil {
				return fmt.Errorf("%q is not NAME=true|false", kv)
			}
			c.FeatureGates[k] = b
		}
		return nil
	},
}

func ipvs(c *kubeProxyConfiguration) *kubeProxyIPVS {
	if c.IPVS == nil {
		c.IPVS = &kubeProxyIPVS{}
	}
	return c.IPVS
}

func iptables(c *kubeProxyConfiguration) *kubeProxyIPTables {
	if c.IPTables == nil {
		c.IPTables = &kubeProxyIPTables{}
	}
	return c.IPTables
}

func conntrack(c *kubeProxyConfiguration) *kubeProxyConntrack {
	if c.Conntrack == nil {
		c.Conntrack = &kubeProxyConntrack{}
	}
	return c.Conntrack
}

// KubeProxyOverridable lists the kube-proxy flags a plan can override, sorted.
func KubeProxyOverridable() []string {
	out := make([]string, 0, len(kubeProxyFlags))
	for k := range kubeProxyFlags {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kubeProxyConfig(p *plan.Plan, n *plan.Node) (*kubeProxyConfiguration, error) {
	c := &kubeProxyConfiguration{
		typeMeta:           typeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		BindAddress:        "0.0.0.0",
		ClusterCIDR:        p.Network.PodCIDR.String(),
		HealthzBindAddress: "0.0.0.0:10256",
		HostnameOverride:   n.Host,
		MetricsBindAddress: "127.0.0.1:10249",
		Mode:               "iptables",
	}
	c.ClientConnection.Kubeconfig = KubeProxyKubeconfig
	o := p.Overrides[plan.KubeProxy]
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set, ok := kubeProxyFlags[k]
		if !ok {
			return nil, fmt.Errorf("%w: kube-proxy flag --%s: kube-proxy ignores command-line flags when it reads its configuration file, and kisgen knows no configuration field for this one (it can set: %s)",
				ErrUnsupported, k, strings.Join(KubeProxyOverridable(), ", "))
		}
		if err := set(c, o[k]); err != nil {
			return nil, fmt.Errorf("%w: kube-proxy flag --%s=%s: %v", ErrUnsupported, k, o[k], err)
		}
	}
	return c, nil
}
