package kismatic

// Plan is the plan file of Apprenda's Kismatic installer v1.12 (kismatic-cluster.yaml),
// with its deprecated keys, so that existing plans load as they are. It holds every key of
// v1.12's plan types (pkg/install/plan_types.go at v1.12.0, listed in keys_test.go), and a
// few that older releases wrote and v1.12 no longer had: `package_repository_urls`,
// `disable_registry_seeding` and `setup_internal` (v1.4–v1.5), `dashbard` (v1.5–v1.11),
// and the guide's spelling `internal_ip`.
type Plan struct {
	Cluster         Cluster          `yaml:"cluster"`
	Docker          Docker           `yaml:"docker"`
	DockerRegistry  DockerRegistry   `yaml:"docker_registry"`
	AdditionalFiles []AdditionalFile `yaml:"additional_files"`
	AddOns          AddOns           `yaml:"add_ons"`
	// Deprecated: add_ons.package_manager.
	Features *Features       `yaml:"features"`
	Etcd     NodeGroup       `yaml:"etcd"`
	Master   MasterNodeGroup `yaml:"master"`
	Worker   NodeGroup       `yaml:"worker"`
	Ingress  NodeGroup       `yaml:"ingress"`
	Storage  NodeGroup       `yaml:"storage"`
	NFS      *NFS            `yaml:"nfs"`
}

type Cluster struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	// Deprecated: ABAC was removed from Kubernetes.
	AdminPassword              string `yaml:"admin_password"`
	DisablePackageInstallation bool   `yaml:"disable_package_installation"`
	// Deprecated: disable_package_installation (inverted).
	AllowPackageInstallation *bool `yaml:"allow_package_installation"`
	// Removed after v1.5.
	PackageRepoURLs          string `yaml:"package_repository_urls"`
	DisconnectedInstallation bool   `yaml:"disconnected_installation"`
	// Removed after v1.5.
	DisableRegistrySeeding bool          `yaml:"disable_registry_seeding"`
	Networking             Networking    `yaml:"networking"`
	Certificates           Certificates  `yaml:"certificates"`
	SSH                    SSH           `yaml:"ssh"`
	APIServer              Options       `yaml:"kube_apiserver"`
	ControllerManager      Options       `yaml:"kube_controller_manager"`
	Scheduler              Options       `yaml:"kube_scheduler"`
	Proxy                  Options       `yaml:"kube_proxy"`
	Kubelet                Options       `yaml:"kubelet"`
	CloudProvider          CloudProvider `yaml:"cloud_provider"`
}

type Networking struct {
	// Deprecated: add_ons.cni.options.calico.mode.
	Type             string `yaml:"type"`
	PodCIDRBlock     string `yaml:"pod_cidr_block"`
	ServiceCIDRBlock string `yaml:"service_cidr_block"`
	UpdateHostsFiles bool   `yaml:"update_hosts_files"`
	HTTPProxy        string `yaml:"http_proxy"`
	HTTPSProxy       string `yaml:"https_proxy"`
	NoProxy          string `yaml:"no_proxy"`
}

type Certificates struct {
	Expiry                 string `yaml:"expiry"`
	CAExpiry               string `yaml:"ca_expiry"`
	APIServerCertExtraSANs string `yaml:"apiserver_cert_extra_sans"`
}

type SSH struct {
	User string `yaml:"user"`
	Key  string `yaml:"ssh_key"`
	Port int    `yaml:"ssh_port"`
}

type Options struct {
	OptionOverrides map[string]string `yaml:"option_overrides"`
}

type CloudProvider struct {
	Provider string `yaml:"provider"`
	Config   string `yaml:"config"`
}

type Docker struct {
	Disable bool          `yaml:"disable"`
	Logs    DockerLogs    `yaml:"logs"`
	Storage DockerStorage `yaml:"storage"`
}

type DockerLogs struct {
	Driver string            `yaml:"driver"`
	Opts   map[string]string `yaml:"opts"`
}

type DockerStorage struct {
	Driver               string               `yaml:"driver"`
	Opts                 map[string]string    `yaml:"opts"`
	DirectLVMBlockDevice DirectLVMBlockDevice `yaml:"direct_lvm_block_device"`
	// Deprecated: direct_lvm_block_device.
	DirectLVM *DirectLVM `yaml:"direct_lvm"`
}

type DirectLVMBlockDevice struct {
	Path                        string `yaml:"path"`
	ThinpoolPercent             string `yaml:"thinpool_percent"`
	ThinpoolMetaPercent         string `yaml:"thinpool_metapercent"`
	ThinpoolAutoextendThreshold string `yaml:"thinpool_autoextend_threshold"`
	ThinpoolAutoextendPercent   string `yaml:"thinpool_autoextend_percent"`
}

type DirectLVM struct {
	Enabled                bool   `yaml:"enabled"`
	BlockDevice            string `yaml:"block_device"`
	EnableDeferredDeletion bool   `yaml:"enable_deferred_deletion"`
}

type DockerRegistry struct {
	Server string `yaml:"server"`
	// Deprecated: server.
	Address string `yaml:"address"`
	// Deprecated: server.
	Port     int    `yaml:"port"`
	CAPath   string `yaml:"CA"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Removed after v1.5.
	SetupInternal bool `yaml:"setup_internal"`
}

type AdditionalFile struct {
	Hosts          []string `yaml:"hosts"`
	Source         string   `yaml:"source"`
	Destination    string   `yaml:"destination"`
	SkipValidation bool     `yaml:"skip_validation"`
}

type AddOns struct {
	CNI           *CNI       `yaml:"cni"`
	DNS           DNS        `yaml:"dns"`
	Heapster      *Heapster  `yaml:"heapster"`
	MetricsServer Toggle     `yaml:"metrics_server"`
	Dashboard     *Dashboard `yaml:"dashboard"`
	// Deprecated: dashboard (Kismatic's own misspelling, v1.5–v1.11, kept for old plans).
	DashboardMisspelled *Dashboard      `yaml:"dashbard"`
	PackageManager      *PackageManager `yaml:"package_manager"`
	Rescheduler         *Toggle         `yaml:"rescheduler"`
}

type Toggle struct {
	Disable bool `yaml:"disable"`
}

type Dashboard struct {
	Disable bool             `yaml:"disable"`
	Options DashboardOptions `yaml:"options"`
}

type DashboardOptions struct {
	ServiceType string `yaml:"service_type"`
	// The NodePort of a NodePort service; "" lets Kubernetes pick one.
	NodePort string `yaml:"node_port"`
}

type CNI struct {
	Disable  bool       `yaml:"disable"`
	Provider string     `yaml:"provider"`
	Options  CNIOptions `yaml:"options"`
}

type CNIOptions struct {
	Portmap Toggle       `yaml:"portmap"`
	Calico  Calico       `yaml:"calico"`
	Weave   WeaveOptions `yaml:"weave"`
}

type Calico struct {
	Mode                  string `yaml:"mode"`
	LogLevel              string `yaml:"log_level"`
	WorkloadMTU           int    `yaml:"workload_mtu"`
	FelixInputMTU         int    `yaml:"felix_input_mtu"`
	IPAutodetectionMethod string `yaml:"ip_autodetection_method"`
}

type WeaveOptions struct {
	Password string `yaml:"password"`
}

type DNS struct {
	Disable  bool       `yaml:"disable"`
	Provider string     `yaml:"provider"`
	Options  DNSOptions `yaml:"options"`
}

type DNSOptions struct {
	Replicas int `yaml:"replicas"`
}

type Heapster struct {
	Disable bool            `yaml:"disable"`
	Options HeapsterOptions `yaml:"options"`
}

type HeapsterOptions struct {
	Heapster         HeapsterSettings `yaml:"heapster"`
	InfluxDB         InfluxDB         `yaml:"influxdb"`
	HeapsterReplicas int              `yaml:"heapster_replicas"`
	InfluxDBPVCName  string           `yaml:"influxdb_pvc_name"`
}

type HeapsterSettings struct {
	Replicas    int    `yaml:"replicas"`
	ServiceType string `yaml:"service_type"`
	Sink        string `yaml:"sink"`
}

type InfluxDB struct {
	PVCName string `yaml:"pvc_name"`
}

type PackageManager struct {
	Disable  bool                  `yaml:"disable"`
	Provider string                `yaml:"provider"`
	Options  PackageManagerOptions `yaml:"options"`
}

type PackageManagerOptions struct {
	Helm HelmOptions `yaml:"helm"`
}

type HelmOptions struct {
	Namespace string `yaml:"namespace"`
}

type Features struct {
	PackageManager *DeprecatedPackageManager `yaml:"package_manager"`
}

type DeprecatedPackageManager struct {
	Enabled bool `yaml:"enabled"`
}

type NodeGroup struct {
	ExpectedCount int    `yaml:"expected_count"`
	Nodes         []Node `yaml:"nodes"`
}

type MasterNodeGroup struct {
	ExpectedCount int    `yaml:"expected_count"`
	LoadBalancer  string `yaml:"load_balancer"`
	// Deprecated: load_balancer.
	LoadBalancedFQDN string `yaml:"load_balanced_fqdn"`
	// Deprecated: load_balancer.
	LoadBalancedShortName string `yaml:"load_balanced_short_name"`
	Nodes                 []Node `yaml:"nodes"`
}

type Node struct {
	Host string `yaml:"host"`
	IP   string `yaml:"ip"`
	// The release's spelling.
	InternalIP string `yaml:"internalip"`
	// The guide's spelling.
	InternalIPGuide string            `yaml:"internal_ip"`
	Labels          map[string]string `yaml:"labels"`
	Taints          []Taint           `yaml:"taints"`
	Kubelet         Options           `yaml:"kubelet"`
}

type Taint struct {
	Key    string `yaml:"key"`
	Value  string `yaml:"value"`
	Effect string `yaml:"effect"`
}

type NFS struct {
	Volumes []NFSVolume `yaml:"nfs_volume"`
}

type NFSVolume struct {
	Host string `yaml:"nfs_host"`
	Path string `yaml:"mount_path"`
}
