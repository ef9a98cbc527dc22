package roles

import (
	"sort"
	"strings"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/templates"
)

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

	// NetworkPolicy objects are always accepted: with Calico they are enforced whether
	// the plan's network_policy is on (pods isolated by default) or off (open by
	// default); the bridge network cannot enforce them (docs/network.md).
	if calicoEnabled(p) {
		files, err := calicoFiles(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			add("calico/"+f.Path, f.What, f.Content)
		}
		order = append(order, "calico")
		text, err := calicoResources(p)
		if err != nil {
			return err
		}
		what := "Calico BGP configuration and IP pool"
		if p.Network.NetworkPolicy {
			what += ", pod isolation policy"
		}
		add(CalicoResourcesFile, what, text)
		order = append(order, CalicoResourcesFile)
		switch {
		case declaredPortsEnabled(p):
			text, err := declaredPorts()
			if err != nil {
				return err
			}
			add("declared-ports.yaml", "the declared-ports controller (network policy on)", text)
			order = append(order, "declared-ports.yaml")
		case p.Network.NetworkPolicy:
			c.warnings = append(c.warnings, "network policy is on but the plan has no mirror: pods are isolated and the ports they declare stay closed "+
				"(kisgen's declared-ports controller image comes from `kisgen mirror build`; set mirror.url, or open ports with NetworkPolicies: docs/network.md)")
		}
	}

	if p.AddOns.DNS || p.AddOns.MetricsServer {
		bases, err := addOnBases()
		if err != nil {
			return err
		}
		for _, b := range bases {
			if !b.enabled(p) {
				continue
			}
			k, err := b.kustomization(p)
			if err != nil {
				return err
			}
			c.addons = append(c.addons, b.baseFile())
			add(b.dir+"/kustomization.yaml", b.what+": the plan's version and settings", k)
			order = append(order, b.dir)
		}
	}
	if p.AddOns.Dashboard {
		c.warnings = append(c.warnings, "add_ons.dashboard is not installed by kisgen yet: set `disable: true` on it, or install it yourself")
	}

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

// Corefile is the CoreDNS configuration kisgen deploys (the coredns ConfigMap).
func Corefile() (string, error) {
	return templates.Execute("Corefile", map[string]string{"ClusterDomain": pki.ClusterDomain})
}

// CorefileDirectives lists the plugin directives a Corefile's server blocks use, sorted
// and once each: the first word of each line directly inside a server block. The mirror
// checks that the CoreDNS it builds has every one (`coredns -plugins`).
func CorefileDirectives(corefile string) []string {
	seen := map[string]bool{}
	depth := 0
	for _, line := range strings.Split(corefile, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if depth == 1 && line != "}" {
			seen[strings.Fields(line)[0]] = true
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Add-on directories under AddOnsDir: CoreDNS and metrics-server, each a kustomization
// of kisgen's base.
const (
	CoreDNSAddOn       = "coredns"
	MetricsServerAddOn = "metrics-server"
)

// addOnBase is an add-on as kisgen renders it at its default version and settings (the
// same manifest for every plan) in its kustomization directory, and what the plan
// changes in it.
type addOnBase struct {
	dir, file, what, content string
	enabled                  func(p *plan.Plan) bool
	kustomization            func(p *plan.Plan) (string, error)
}

// baseFile is the base manifest as a node file, in its kustomization directory.
func (b addOnBase) baseFile() File {
	return File{Path: AddOnsDir + "/" + b.dir + "/" + b.file, Mode: 0o644, Content: b.content, What: b.what + " (kisgen's base)"}
}

// addOnBases renders CoreDNS and metrics-server's bases. A base reads no plan: a baked
// image holds it (ImageFiles) and a mirror serves one copy, and the user-data carries
// only the kustomization that sets the plan's image tag, replicas and DNS address.
func addOnBases() ([]addOnBase, error) {
	dns, err := coreDNS(CoreDNSImageAt(plan.DefaultCoreDNSVersion), plan.DefaultDNSReplicas, "")
	if err != nil {
		return nil, err
	}
	metrics, err := metricsServer(MetricsServerImageAt(plan.DefaultMetricsServerVersion))
	if err != nil {
		return nil, err
	}
	k := func(base string, images []kustomizeImage, replicas []kustomizeReplica, patches []kustomizePatch) (string, error) {
		return marshalYAML(kustomization{typeMeta: typeMeta{"kustomize.config.k8s.io/v1beta1", "Kustomization"},
			Resources: []string{base}, Images: images, Replicas: replicas, Patches: patches})
	}
	return []addOnBase{
		{CoreDNSAddOn, "coredns.yaml", "CoreDNS", dns, func(p *plan.Plan) bool { return p.AddOns.DNS }, func(p *plan.Plan) (string, error) {
			// The kube-dns Service's address is the service range's 10th.
			svc, err := marshalYAML(map[string]any{"apiVersion": "v1", "kind": "Service",
				"metadata": map[string]string{"name": "kube-dns", "namespace": "kube-system"},
				"spec":     map[string]string{"clusterIP": p.ServiceIP(10).String()}})
			if err != nil {
				return "", err
			}
			return k("coredns.yaml", []kustomizeImage{{coreDNSRepository, p.Versions.CoreDNS}},
				[]kustomizeReplica{{"coredns", p.AddOns.DNSReplicas}}, []kustomizePatch{{Patch: svc}})
		}},
		{MetricsServerAddOn, "metrics-server.yaml", "metrics-server", metrics, func(p *plan.Plan) bool { return p.AddOns.MetricsServer }, func(p *plan.Plan) (string, error) {
			return k("metrics-server.yaml", []kustomizeImage{{metricsServerRepository, p.Versions.MetricsServer}}, nil, nil)
		}},
	}, nil
}

// coreDNS is CoreDNS as kubeadm deploys it, with image and replicas, and the kube-dns
// service at clusterIP ("" in the base: the kustomization sets it).
func coreDNS(image string, replicas int, clusterIP string) (string, error) {
	corefile, err := Corefile()
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
	d.Spec.Replicas = replicas
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
		Name: "coredns", Image: image, ImagePullPolicy: "IfNotPresent",
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
	svc.Spec.ClusterIP = clusterIP
	svc.Spec.Ports = []servicePort{{"dns", 53, "UDP", 53}, {"dns-tcp", 53, "TCP", 53}, {"metrics", 9153, "TCP", 9153}}
	return marshalYAMLDocs(sa, role, bind, cm, d, svc)
}
