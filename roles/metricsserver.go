package roles

// apiService is apiregistration.k8s.io/v1 APIService: an aggregated API served by a
// Service in the cluster.
type apiService struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Group                 string `yaml:"group"`
		GroupPriorityMinimum  int    `yaml:"groupPriorityMinimum"`
		InsecureSkipTLSVerify bool   `yaml:"insecureSkipTLSVerify"`
		Service               struct {
			Name      string `yaml:"name"`
			Namespace string `yaml:"namespace"`
		} `yaml:"service"`
		Version         string `yaml:"version"`
		VersionPriority int    `yaml:"versionPriority"`
	} `yaml:"spec"`
}

// metricsServer is upstream metrics-server's components.yaml running image, as
// typed objects: the resource metrics API (metrics.k8s.io, what `kubectl top` and the
// HorizontalPodAutoscaler read) served through the API server's aggregation layer.
// Differences from upstream: metrics-server verifies the kubelets' serving certificates
// (kisgen's cluster CA signs them with every node address, so no --kubelet-insecure-tls),
// and it tolerates nothing beyond upstream's defaults. The API server reaches it through
// its Service's ClusterIP, which needs the node route kisgen-service-route adds.
func metricsServer(image string) (string, error) {
	const ns, name = "kube-system", "metrics-server"
	labels := map[string]string{"k8s-app": name}
	meta := func(n string, namespaced bool, extra map[string]string) objectMeta {
		l := map[string]string{"k8s-app": name, "app.kubernetes.io/managed-by": "kisgen"}
		for k, v := range extra {
			l[k] = v
		}
		m := objectMeta{Name: n, Labels: l}
		if namespaced {
			m.Namespace = ns
		}
		return m
	}
	rbac := "rbac.authorization.k8s.io/v1"
	sa := serviceAccount{typeMeta: typeMeta{"v1", "ServiceAccount"}, Metadata: meta(name, true, nil)}
	reader := clusterRole{typeMeta: typeMeta{rbac, "ClusterRole"},
		Metadata: meta("system:aggregated-metrics-reader", false, map[string]string{
			"rbac.authorization.k8s.io/aggregate-to-admin": "true", "rbac.authorization.k8s.io/aggregate-to-edit": "true",
			"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
		Rules: []policyRule{{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}}}}
	role := clusterRole{typeMeta: typeMeta{rbac, "ClusterRole"}, Metadata: meta("system:metrics-server", false, nil),
		Rules: []policyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes/metrics"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		}}
	subjects := []subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}
	authReader := clusterRoleBinding{typeMeta: typeMeta{rbac, "RoleBinding"}, Metadata: meta("metrics-server-auth-reader", true, nil),
		RoleRef: roleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "extension-apiserver-authentication-reader"}, Subjects: subjects}
	delegator := clusterRoleBinding{typeMeta: typeMeta{rbac, "ClusterRoleBinding"}, Metadata: meta("metrics-server:system:auth-delegator", false, nil),
		RoleRef: roleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:auth-delegator"}, Subjects: subjects}
	bind := clusterRoleBinding{typeMeta: typeMeta{rbac, "ClusterRoleBinding"}, Metadata: meta("system:metrics-server", false, nil),
		RoleRef: roleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:metrics-server"}, Subjects: subjects}

	var svc service
	svc.typeMeta = typeMeta{"v1", "Service"}
	svc.Metadata = meta(name, true, nil)
	svc.Spec.Selector = labels
	svc.Spec.Ports = []servicePort{{"https", 443, "TCP", 10250}}

	var d deployment
	d.typeMeta = typeMeta{"apps/v1", "Deployment"}
	d.Metadata = meta(name, true, nil)
	d.Spec.Replicas = 1
	d.Spec.Selector = labelSelector{MatchLabels: labels}
	d.Spec.Strategy.Type = "RollingUpdate"
	d.Spec.Strategy.RollingUpdate.MaxUnavailable = 0
	d.Spec.Template.Metadata.Labels = labels
	ps := &d.Spec.Template.Spec
	ps.PriorityClassName = "system-cluster-critical"
	ps.ServiceAccountName = name
	ps.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	ps.Volumes = []volume{{Name: "tmp-dir", EmptyDir: &struct{}{}}}
	live, ready := &probe{}, &probe{}
	live.HTTPGet.Path, live.HTTPGet.Port, live.HTTPGet.Scheme, live.FailureThreshold = "/livez", 10250, "HTTPS", 3
	ready.HTTPGet.Path, ready.HTTPGet.Port, ready.HTTPGet.Scheme, ready.FailureThreshold = "/readyz", 10250, "HTTPS", 3
	ready.InitialDelaySeconds = 20
	sc := &securityContext{ReadOnlyRootFilesystem: true, RunAsNonRoot: true, RunAsUser: 1000}
	sc.Capabilities.Drop = []string{"ALL"}
	ps.Containers = []container{{
		Name: name, Image: image, ImagePullPolicy: "IfNotPresent",
		Args: []string{"--cert-dir=/tmp", "--secure-port=10250", "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
			"--kubelet-use-node-status-port", "--metric-resolution=15s"},
		Ports:          []containerPort{{"https", 10250, "TCP"}},
		Resources:      &resources{Requests: map[string]string{"cpu": "100m", "memory": "200Mi"}},
		VolumeMounts:   []volumeMount{{Name: "tmp-dir", MountPath: "/tmp"}},
		LivenessProbe:  live,
		ReadinessProbe: ready, SecurityContext: sc,
	}}

	var api apiService
	api.typeMeta = typeMeta{"apiregistration.k8s.io/v1", "APIService"}
	api.Metadata = meta("v1beta1.metrics.k8s.io", false, nil)
	api.Spec.Group, api.Spec.Version = "metrics.k8s.io", "v1beta1"
	api.Spec.GroupPriorityMinimum, api.Spec.VersionPriority = 100, 100
	// As upstream: the API server does not verify metrics-server's self-signed serving
	// certificate (it has no CA to check it against); the aggregation layer authenticates
	// itself to metrics-server with the front-proxy client certificate.
	api.Spec.InsecureSkipTLSVerify = true
	api.Spec.Service.Name, api.Spec.Service.Namespace = name, ns
	return marshalYAMLDocs(sa, reader, role, authReader, delegator, bind, svc, d, api)
}
