package roles

import (
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/templates"
)

// NetworkPolicyGuard is the ValidatingAdmissionPolicy that refuses NetworkPolicy objects
// when the plan turns network policy off (or uses the bridge provider, which cannot
// enforce it). Calico enforces every NetworkPolicy it sees and has no switch to ignore
// them, and a policy the network ignores would silently promise isolation that does not
// exist; so "off" means no NetworkPolicy can be created, with a message saying how to
// turn policy on.
const NetworkPolicyGuard = "kisgen-network-policy-disabled"

// renderAddOns renders the first master's add-on files once.
func (c *Cluster) renderAddOns() error {
	p := c.p
	if c.firstMaster == nil {
		return nil
	}
	var order []string
	add := func(path, what, content string) {
		c.addons = append(c.addons, File{Path: AddOnsDir + "/" + path, Mode: 0o644, Content: content, What: what})
	}

	// RBAC the cluster needs beyond Kubernetes' defaults: the API servers' client
	// certificate may use the kubelet API (logs, exec, port-forward, metrics).
	rbac := clusterRoleBinding{typeMeta: typeMeta{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding"},
		Metadata: objectMeta{Name: "kisgen:apiserver-kubelet-client", Labels: managedLabels()},
		RoleRef:  roleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects: []subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: pki.APIServerKubeletClientUser}}}
	text, err := marshalYAML(rbac)
	if err != nil {
		return err
	}
	add("rbac.yaml", "RBAC for the API servers' kubelet client", text)
	order = append(order, "rbac.yaml")

	if (calicoEnabled(p) && !p.Network.NetworkPolicy) || bridgeEnabled(p) {
		text, err := networkPolicyGuard(p)
		if err != nil {
			return err
		}
		add("network-policy.yaml", "network policy switched off", text)
		order = append(order, "network-policy.yaml")
	}

	if calicoEnabled(p) {
		files, err := calicoFiles(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			add("calico/"+f.Path, f.What, f.Content)
		}
		order = append(order, "calico")
	}

	if p.AddOns.DNS {
		text, err := coreDNS(p)
		if err != nil {
			return err
		}
		add("coredns.yaml", "CoreDNS", text)
		order = append(order, "coredns.yaml")
	}
	if p.AddOns.MetricsServer {
		text, err := metricsServer(p)
		if err != nil {
			return err
		}
		add("metrics-server.yaml", "metrics-server", text)
		order = append(order, "metrics-server.yaml")
	}
	if p.AddOns.Dashboard {
		c.warnings = append(c.warnings, "add_ons.dashboard is not installed by kisgen yet: set `disable: true` on it, or install it yourself")
	}

	var labels strings.Builder
	for _, n := range kubernetesNodes(p) {
		var ls []string
		for _, l := range roleLabels(n) {
			ls = append(ls, l+"=")
		}
		labels.WriteString(n.Host + "\t" + strings.Join(ls, " ") + "\n")
	}
	add("node-labels.tsv", "node role labels", labels.String())
	c.addonList = strings.Join(order, " ")
	return nil
}

func managedLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "kisgen"}
}

// firstMasterAddOns: the add-on files and the unit that applies them, on the first master.
func (b *builder) firstMasterAddOns() error {
	if b.n != b.c.firstMaster {
		return nil
	}
	for _, f := range b.c.addons {
		if err := b.add(f); err != nil {
			return err
		}
	}
	if calicoEnabled(b.p) {
		b.artifact(CompCalicoManifest)
	}
	return b.unit("kisgen-addons.service", "kisgen cluster add-ons", "kisgen-addons.service", b.unitData("", nil), true)
}

func networkPolicyGuard(p *plan.Plan) (string, error) {
	why := "this cluster's plan turns network policy off (add_ons.cni.options.calico.network_policy: false)"
	fix := "set network_policy: true in the plan and replace the nodes"
	if bridgeEnabled(p) {
		why = "this cluster's bridge pod network cannot enforce network policy"
		fix = "use the calico CNI provider with network_policy: true"
	}
	var vap validatingAdmissionPolicy
	vap.typeMeta = typeMeta{"admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"}
	vap.Metadata = objectMeta{Name: NetworkPolicyGuard, Labels: managedLabels()}
	vap.Spec.FailurePolicy = "Fail"
	vap.Spec.MatchConstraints.ResourceRules = []resourceRule{{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"*"},
		Operations: []string{"CREATE", "UPDATE"}, Resources: []string{"networkpolicies"}}}
	vap.Spec.Validations = []validation{{Expression: "false", Reason: "Forbidden",
		Message: "NetworkPolicy is refused: " + why + ", so it would not isolate anything; " + fix}}
	var bind validatingAdmissionPolicyBinding
	bind.typeMeta = typeMeta{"admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"}
	bind.Metadata = objectMeta{Name: NetworkPolicyGuard, Labels: managedLabels()}
	bind.Spec.PolicyName = NetworkPolicyGuard
	bind.Spec.ValidationActions = []string{"Deny"}
	return marshalYAMLDocs(vap, bind)
}

// calicoFiles is a kustomization over the upstream calico.yaml (fetched by the first
// master's bootstrap with a pinned sum) that sets the plan's networking through
// calico-node's environment, so the DaemonSet starts with them and the default IP pool
// is created with the plan's range and encapsulation:
//
//   - overlay: IP-in-IP between nodes (CALICO_IPV4POOL_IPIP=Always), MTU felix_input_mtu;
//   - routed: BGP routes, no encapsulation (IPIP=Never), MTU workload_mtu;
//   - both: BGP full mesh with the plan's AS number (AS), pod range as the IP pool in
//     blocks of 64 addresses, outgoing NAT, the plan's address autodetection and log level.
func calicoFiles(p *plan.Plan) ([]File, error) {
	nw := p.Network
	ipip, mtu := "Always", nw.FelixInputMTU
	if nw.Mode == plan.ModeRouted {
		ipip, mtu = "Never", nw.WorkloadMTU
	}
	asn := nw.ASNumber
	if asn == 0 {
		asn = plan.DefaultASNumber
	}
	var ds daemonSetPatch
	ds.typeMeta = typeMeta{"apps/v1", "DaemonSet"}
	ds.Metadata = objectMeta{Name: "calico-node", Namespace: "kube-system"}
	ds.Spec.Template.Spec.Containers = []container{{Name: "calico-node", Env: []envVar{
		{"AS", strconv.FormatUint(uint64(asn), 10)},
		{"CALICO_IPV4POOL_BLOCK_SIZE", "26"},
		{"CALICO_IPV4POOL_CIDR", nw.PodCIDR.String()},
		{"CALICO_IPV4POOL_IPIP", ipip},
		{"CALICO_IPV4POOL_NAT_OUTGOING", "true"},
		{"CALICO_IPV4POOL_VXLAN", "Never"},
		{"FELIX_LOGSEVERITYSCREEN", nw.LogLevel},
		{"IP_AUTODETECTION_METHOD", nw.IPAutodetectionMethod},
	}}}
	cm := configMap{typeMeta: typeMeta{"v1", "ConfigMap"}, Metadata: objectMeta{Name: "calico-config", Namespace: "kube-system"},
		Data: map[string]string{"veth_mtu": strconv.Itoa(mtu)}}
	k := kustomization{typeMeta: typeMeta{"kustomize.config.k8s.io/v1beta1", "Kustomization"},
		Resources: []string{"calico.yaml"}, Patches: []kustomizePatch{{Path: "calico-node-env.yaml"}, {Path: "calico-config.yaml"}}}
	var out []File
	for _, d := range []struct {
		path, what string
		v          any
	}{
		{"kustomization.yaml", "Calico kustomization", k},
		{"calico-node-env.yaml", "Calico settings (calico-node environment)", ds},
		{"calico-config.yaml", "Calico MTU", cm},
	} {
		text, err := marshalYAML(d.v)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: d.path, Content: text, What: d.what})
	}
	return out, nil
}

// coreDNS is CoreDNS as kubeadm deploys it, with the plan's replicas and version, and
// the kube-dns service at the service range's 10th address.
func coreDNS(p *plan.Plan) (string, error) {
	corefile, err := templates.Execute("Corefile", map[string]string{"ClusterDomain": pki.ClusterDomain})
	if err != nil {
		return "", err
	}
	sel := map[string]string{"k8s-app": "kube-dns"}
	ns := "kube-system"
	sa := serviceAccount{typeMeta: typeMeta{"v1", "ServiceAccount"}, Metadata: objectMeta{Name: "coredns", Namespace: ns}}
	role := clusterRole{typeMeta: typeMeta{"rbac.authorization.k8s.io/v1", "ClusterRole"}, Metadata: objectMeta{Name: "system:coredns", Labels: managedLabels()},
		Rules: []policyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		}}
	bind := clusterRoleBinding{typeMeta: typeMeta{"rbac.authorization.k8s.io/v1", "ClusterRoleBinding"}, Metadata: objectMeta{Name: "system:coredns", Labels: managedLabels()},
		RoleRef:  roleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:coredns"},
		Subjects: []subject{{Kind: "ServiceAccount", Name: "coredns", Namespace: ns}}}
	cm := configMap{typeMeta: typeMeta{"v1", "ConfigMap"}, Metadata: objectMeta{Name: "coredns", Namespace: ns}, Data: map[string]string{"Corefile": corefile}}

	var d deployment
	d.typeMeta = typeMeta{"apps/v1", "Deployment"}
	d.Metadata = objectMeta{Name: "coredns", Namespace: ns, Labels: map[string]string{"k8s-app": "kube-dns", "app.kubernetes.io/managed-by": "kisgen"}}
	d.Spec.Replicas = p.AddOns.DNSReplicas
	d.Spec.Selector = labelSelector{MatchLabels: sel}
	d.Spec.Strategy.Type = "RollingUpdate"
	d.Spec.Strategy.RollingUpdate.MaxUnavailable = 1
	d.Spec.Template.Metadata.Labels = sel
	ps := &d.Spec.Template.Spec
	ps.PriorityClassName = "system-cluster-critical"
	ps.ServiceAccountName = "coredns"
	ps.Tolerations = []toleration{{Key: "CriticalAddonsOnly", Operator: "Exists"}, {Key: ControlPlaneTaint.Key, Effect: ControlPlaneTaint.Effect}}
	ps.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	var aff affinity
	var term weightedPodAffinityTerm
	term.Weight = 100
	term.Term.LabelSelector = labelSelector{MatchLabels: sel}
	term.Term.TopologyKey = "kubernetes.io/hostname"
	aff.PodAntiAffinity.Preferred = []weightedPodAffinityTerm{term}
	ps.Affinity = &aff
	ps.DNSPolicy = "Default"
	var vol volume
	vol.Name = "config-volume"
	vol.ConfigMap = &configMapVolume{Name: "coredns", Items: []keyToPath{{Key: "Corefile", Path: "Corefile"}}}
	ps.Volumes = []volume{vol}
	live, ready := &probe{}, &probe{}
	live.HTTPGet.Path, live.HTTPGet.Port, live.HTTPGet.Scheme = "/health", 8080, "HTTP"
	live.InitialDelaySeconds, live.TimeoutSeconds, live.SuccessThreshold, live.FailureThreshold = 60, 5, 1, 5
	ready.HTTPGet.Path, ready.HTTPGet.Port, ready.HTTPGet.Scheme = "/ready", 8181, "HTTP"
	sc := &securityContext{ReadOnlyRootFilesystem: true}
	sc.Capabilities.Add = []string{"NET_BIND_SERVICE"}
	sc.Capabilities.Drop = []string{"ALL"}
	ps.Containers = []container{{
		Name: "coredns", Image: CoreDNSImage(p), ImagePullPolicy: "IfNotPresent",
		Args:          []string{"-conf", "/etc/coredns/Corefile"},
		Ports:         []containerPort{{"dns", 53, "UDP"}, {"dns-tcp", 53, "TCP"}, {"metrics", 9153, "TCP"}},
		Resources:     &resources{Limits: map[string]string{"memory": "170Mi"}, Requests: map[string]string{"cpu": "100m", "memory": "70Mi"}},
		VolumeMounts:  []volumeMount{{Name: "config-volume", MountPath: "/etc/coredns", ReadOnly: true}},
		LivenessProbe: live, ReadinessProbe: ready, SecurityContext: sc,
	}}

	var svc service
	svc.typeMeta = typeMeta{"v1", "Service"}
	svc.Metadata = objectMeta{Name: "kube-dns", Namespace: ns, Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
		Annotations: map[string]string{"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}}
	svc.Spec.Selector = sel
	svc.Spec.ClusterIP = p.ServiceIP(10).String()
	svc.Spec.Ports = []servicePort{{"dns", 53, "UDP", 53}, {"dns-tcp", 53, "TCP", 53}, {"metrics", 9153, "TCP", 9153}}
	return marshalYAMLDocs(sa, role, bind, cm, d, svc)
}
