package plan

// KeyMapping says what becomes of a Kismatic v1.12 plan key that the kisgen schema does
// not keep under the same name with the same meaning. docs/plan.md prints this table, and
// a test checks every row against what UpgradeKismatic does.
type KeyMapping struct {
	// Kismatic is the key's path in a Kismatic plan; "[]" stands for any list index.
	Kismatic string
	// Kisgen is the kisgen path the value moves to, "" when the key is ignored.
	Kisgen string
	// Note says how the value is carried over, or why it is ignored.
	Note string
}

// KismaticKeys lists every Kismatic v1.12 key that is renamed, reinterpreted or ignored;
// `kisgen plan --from-kismatic` prints each such change it makes. Every other Kismatic key
// keeps its name and meaning in the kisgen schema.
var KismaticKeys = []KeyMapping{
	{"cluster.name", "cluster.name", "a name that is not a DNS label (Kismatic's example `my_cluster_name`) becomes one (`my-cluster-name`), used in certificates, kubeconfigs and machine names"},
	{"cluster.version", "cluster.version", "a release older than kisgen supports (v1.12 installed only v1.10.x) becomes kisgen's default version"},
	{"cluster.allow_package_installation", "cluster.disable_package_installation", "inverted: `allow_package_installation: false` becomes `disable_package_installation: true`"},
	{"cluster.networking.type", "add_ons.cni.options.calico.mode", "used when the add-on does not set a mode; when both are set and disagree, the add-on wins"},
	{"add_ons.dashbard", "add_ons.dashboard", "Kismatic's own misspelling, read when `dashboard` is absent"},
	{"master.load_balanced_fqdn", "master.load_balancer", "becomes `FQDN:6443`; both are ignored when load_balancer is set, as Kismatic did"},
	{"master.load_balanced_short_name", "master.load_balancer", "becomes `NAME:6443` when there is no load_balanced_fqdn; beside one, it is added to cluster.certificates.apiserver_cert_extra_sans, as older releases put it into the API server certificate"},
	{"docker_registry.server", "mirror.registry", "the registry mirror containerd uses for every registry"},
	{"docker_registry.address", "mirror.registry", "with docker_registry.port, becomes `address:port`; both are ignored when server is set"},
	{"etcd.nodes[].internalip", "etcd.nodes[].internal_ip", "the release's spelling; the guide's `internal_ip` is read too (the same in every group: master, worker, ingress, storage)"},
	{"add_ons.dns.provider", "add_ons.dns.provider", "`kubedns` becomes `coredns`: kube-dns was retired from Kubernetes"},
	{"cluster.admin_password", "", "ignored: password authentication was removed from Kubernetes; use the admin kubeconfig"},
	{"cluster.package_repository_urls", "", "ignored: kisgen installs binaries, not packages (see mirror.url)"},
	{"cluster.disable_registry_seeding", "", "ignored: kisgen never seeds a registry"},
	{"cluster.cloud_provider", "cluster.cloud_provider", "kept but ignored: in-tree cloud providers were removed from Kubernetes"},
	{"docker", "", "ignored: nodes run containerd, which Kubernetes talks to directly"},
	{"docker_registry.CA", "", "ignored with username and password: credentials are not put into user-data"},
	{"docker_registry.setup_internal", "", "ignored: kisgen never runs a registry in the cluster"},
	{"additional_files", "", "ignored: bake such files into the node image (`kisgen packer`)"},
	{"add_ons.cni.options.portmap", "", "ignored: the portmap plugin is part of the pod network kisgen installs"},
	{"add_ons.cni.options.weave", "", "ignored: kisgen installs Calico"},
	{"add_ons.dashboard.options", "", "ignored (service_type, node_port): the dashboard is installed with its own defaults, a ClusterIP service"},
	{"add_ons.heapster", "", "ignored: Heapster was retired; metrics_server covers resource metrics"},
	{"add_ons.package_manager", "", "ignored: Helm 2's Tiller was removed in Helm 3, which needs nothing in the cluster"},
	{"add_ons.rescheduler", "", "ignored: the rescheduler was removed from Kubernetes"},
	{"features", "", "ignored: features.package_manager is the deprecated add_ons.package_manager"},
	{"nfs", "", "ignored: create NFS persistent volumes with kubectl after the install"},
}
