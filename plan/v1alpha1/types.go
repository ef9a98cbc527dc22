package v1alpha1

// APIVersion and Kind identify a kisgen plan document.
const (
	APIVersion = "kisgen.io/v1alpha1"
	Kind       = "ClusterPlan"
)

// Plan is a kisgen cluster plan: the Kismatic plan's sections plus kisgen's own
// (versions, mirror, provider, and per node group operating system and machine settings).
type Plan struct {
	// The schema version of this document.
	// +required
	// +options=kisgen.io/v1alpha1
	APIVersion string `yaml:"apiVersion"`
	// The kind of document.
	// +required
	// +options=ClusterPlan
	Kind string `yaml:"kind"`
	// Kubernetes cluster configuration.
	// +required
	Cluster Cluster `yaml:"cluster"`
	// Pinned versions of everything a node installs.
	Versions Versions `yaml:"versions"`
	// Where nodes download binaries and container image archives from.
	Mirror Mirror `yaml:"mirror"`
	// The infrastructure that boots the machines.
	Provider Provider `yaml:"provider"`
	// Add-ons installed on the cluster.
	AddOns AddOns `yaml:"add_ons"`
	// Nodes that run etcd.
	// +required
	Etcd NodeGroup `yaml:"etcd"`
	// Nodes that run the Kubernetes control plane.
	// +required
	Master MasterNodeGroup `yaml:"master"`
	// Nodes that run workloads.
	// +required
	Worker NodeGroup `yaml:"worker"`
	// Nodes dedicated to ingress controllers (optional).
	Ingress NodeGroup `yaml:"ingress"`
	// Nodes dedicated to storage (optional).
	Storage NodeGroup `yaml:"storage"`
}

// Cluster describes the Kubernetes cluster.
type Cluster struct {
	// Name of the cluster: the CA's common name and the kubeconfig cluster name.
	// Also used to tag and find the machines a provider creates.
	// +required
	Name string `yaml:"name"`
	// The Kubernetes version to install, e.g. v1.37.2.
	// +default=v1.37.2
	Version string `yaml:"version"`
	// When true, nodes must already have every binary (a baked image); user-data
	// then never downloads, and a node missing one stops with a clear reason.
	// +default=false
	DisablePackageInstallation bool `yaml:"disable_package_installation"`
	// When true, nodes have no internet access: a mirror URL is required.
	// +default=false
	DisconnectedInstallation bool `yaml:"disconnected_installation"`
	// Networking of the cluster.
	Networking Networking `yaml:"networking"`
	// Certificates issued for the cluster.
	Certificates Certificates `yaml:"certificates"`
	// How `kisgen verify` reaches the nodes; the user and its public key are also put on
	// every node by its user-data.
	SSH SSH `yaml:"ssh"`
	// Flag overrides for kube-apiserver.
	APIServer ComponentOptions `yaml:"kube_apiserver"`
	// Flag overrides for kube-controller-manager.
	ControllerManager ComponentOptions `yaml:"kube_controller_manager"`
	// Flag overrides for kube-scheduler.
	Scheduler ComponentOptions `yaml:"kube_scheduler"`
	// Flag overrides for kube-proxy.
	Proxy ComponentOptions `yaml:"kube_proxy"`
	// Flag overrides for the kubelet on every node.
	Kubelet ComponentOptions `yaml:"kubelet"`
	// Flag overrides for etcd on every member, e.g. heartbeat-interval and
	// election-timeout (milliseconds) for members on slow disks, far apart or emulated,
	// or quota-backend-bytes.
	Etcd ComponentOptions `yaml:"etcd"`
	// Kismatic's in-tree cloud provider setting. In-tree providers were removed from
	// Kubernetes; kisgen accepts the key and warns when it is set.
	// +deprecated
	CloudProvider CloudProvider `yaml:"cloud_provider"`
}

// Networking describes pod and service networks and name resolution.
type Networking struct {
	// The pod network. Each worker and master takes blocks of 64 addresses from it.
	// +default=172.16.0.0/16
	PodCIDRBlock string `yaml:"pod_cidr_block"`
	// The service network; its first address is the kubernetes service.
	// +default=172.17.0.0/16
	ServiceCIDRBlock string `yaml:"service_cidr_block"`
	// When true, every node's hosts file gets a managed block with every node's internal
	// ip and host name. Use it when there is no DNS for the nodes.
	// +default=false
	UpdateHostsFiles bool `yaml:"update_hosts_files"`
	// Proxy for HTTP connections of the nodes, containerd and the Kubernetes components.
	HTTPProxy string `yaml:"http_proxy"`
	// Proxy for HTTPS connections.
	HTTPSProxy string `yaml:"https_proxy"`
	// Comma-separated hosts and ranges that bypass the proxy. Every node's host, ip and
	// internal ip, the pod and service ranges and the load balancer are always added.
	NoProxy string `yaml:"no_proxy"`
}

// Certificates sets how the cluster PKI is issued.
type Certificates struct {
	// How long leaf certificates are valid.
	// +default=17520h
	Expiry string `yaml:"expiry"`
	// How long the certificate authorities are valid.
	// +default=17520h
	CAExpiry string `yaml:"ca_expiry"`
	// Comma-separated extra subject alternative names (DNS names or IPs) for the
	// API server certificate.
	APIServerCertExtraSANs string `yaml:"apiserver_cert_extra_sans"`
	// Subject location of every certificate.
	Location Location `yaml:"location"`
	// Key algorithm of every key kisgen generates.
	// +default=ecdsa-p256
	// +options=ecdsa-p256,rsa-2048,rsa-3072,rsa-4096
	KeyAlgorithm string `yaml:"key_algorithm"`
	// A leaf certificate is reissued when it expires within this window.
	// +default=720h
	RenewBefore string `yaml:"renew_before"`
}

// Location is the subject location of the certificates.
type Location struct {
	// City (L).
	City string `yaml:"city"`
	// State or province (ST).
	State string `yaml:"state"`
	// Two-letter ISO 3166 country code (C).
	// +default=US
	Country string `yaml:"country"`
}

// SSH is how kisgen reaches the nodes to verify them.
type SSH struct {
	// The user on every node; created by the user-data with passwordless sudo.
	// +default=kismaticuser
	User string `yaml:"user"`
	// Path of the private key, relative to the plan file's directory or absolute. Its
	// public half (KEY.pub) is put on every node.
	// +default=kismaticuser.key
	Key string `yaml:"ssh_key"`
	// The port sshd listens on.
	// +default=22
	Port int `yaml:"ssh_port"`
}

// ComponentOptions holds flag overrides for one Kubernetes component.
type ComponentOptions struct {
	// Flag name (without leading dashes) to value. Flags kisgen manages itself (certificate
	// paths, etcd servers, CIDRs, node name and ip…) cannot be overridden.
	OptionOverrides map[string]string `yaml:"option_overrides"`
}

// CloudProvider is Kismatic's in-tree cloud provider setting.
type CloudProvider struct {
	// The in-tree cloud provider name.
	// +deprecated
	Provider string `yaml:"provider"`
	// Path to the cloud provider config file.
	// +deprecated
	Config string `yaml:"config"`
}

// Versions pins what nodes install. Each must be a release version (vX.Y.Z).
type Versions struct {
	// etcd version.
	// +default=v3.7.3
	Etcd string `yaml:"etcd"`
	// containerd version (2.x): nodes run this release, from the mirror or baked into the
	// image at the same version.
	// +default=v2.4.2
	Containerd string `yaml:"containerd"`
	// runc version: nodes run this release, from the mirror or baked into the image at the
	// same version.
	// +default=v1.5.3
	Runc string `yaml:"runc"`
	// CNI reference plugins version.
	// +default=v1.10.0
	CNIPlugins string `yaml:"cni_plugins"`
	// Calico version.
	// +default=v3.32.1
	Calico string `yaml:"calico"`
	// CoreDNS version (the image registry.k8s.io/coredns/coredns:VERSION).
	// +default=v1.15.0
	CoreDNS string `yaml:"coredns"`
	// metrics-server version (the image registry.k8s.io/metrics-server/metrics-server:VERSION),
	// installed unless add_ons.metrics_server.disable is set.
	// +default=v0.8.0
	MetricsServer string `yaml:"metrics_server"`
	// Pause (sandbox) image tag.
	// +default=3.10.1
	Pause string `yaml:"pause"`
}

// Mirror says where nodes download from.
type Mirror struct {
	// Base URL of a mirror that keeps the official download sites' path layout under a
	// first path segment naming the site, e.g. URL/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet.
	// Empty: the official sites.
	URL string `yaml:"url"`
	// A SHA256SUMS file (as `kisgen mirror build` writes) whose sums are pinned into the
	// user-data. Without it nodes check each download against the site's published
	// .sha256 file.
	Checksums string `yaml:"checksums"`
	// Container image archives (OCI or docker-archive tarballs, paths under the mirror URL)
	// that nodes import into containerd at boot, for air-gapped clusters.
	ImageArchives []string `yaml:"image_archives"`
	// Registry mirror host (host:port) that containerd uses for every registry.
	Registry string `yaml:"registry"`
}

// Provider selects and configures the infrastructure that boots the machines.
type Provider struct {
	// Which provider `kisgen provision` uses when none is named.
	// +default=qemu
	// +options=qemu,aws,vsphere,packet,pxe,none
	Name string `yaml:"name"`
	// Local qemu/KVM virtual machines.
	QEMU QEMU `yaml:"qemu"`
	// Amazon EC2.
	AWS AWS `yaml:"aws"`
	// VMware vSphere.
	VSphere VSphere `yaml:"vsphere"`
	// Packet / Equinix Metal (the public service was retired on 2026-06-30).
	Packet Packet `yaml:"packet"`
	// Bare metal booted over the network.
	PXE PXE `yaml:"pxe"`
}

// QEMU configures local virtual machines.
type QEMU struct {
	// Accelerator: auto uses KVM when it works and TCG otherwise.
	// +default=auto
	// +options=auto,kvm,tcg
	Accel string `yaml:"accel"`
	// Base image name built by `kisgen image build`.
	// +default=debian-12
	Image string `yaml:"image"`
	// First loopback port forwarded to the nodes' SSH; node N gets this plus N.
	// +default=2220
	SSHBasePort int `yaml:"ssh_base_port"`
	// Directory for VM disks and state, relative to the plan.
	// +default=.cache/qemu
	Dir string `yaml:"dir"`
}

// AWS configures Amazon EC2.
type AWS struct {
	// Region, e.g. eu-west-1. Empty: the AWS config chain decides.
	Region string `yaml:"region"`
	// Subnet the instances are placed in; the nodes' ips must belong to it.
	SubnetID string `yaml:"subnet_id"`
	// More subnets, for nodes in several availability zones: each node goes into the
	// subnet (of subnet_id and these) that holds its internal ip, and the load balancer
	// kisgen creates for the API spans them all, one subnet per zone. Spread the masters
	// (and etcd) over the zones to survive the loss of one. subnet_id may then be left out.
	SubnetIDs []string `yaml:"subnet_ids"`
	// VPC of the security group kisgen creates.
	VPCID string `yaml:"vpc_id"`
	// EC2 key pair name for emergency access.
	KeyName string `yaml:"key_name"`
	// CIDR ranges allowed to reach SSH (22) and the API server (6443). Required for the aws
	// provider: there is no default, so that nothing is open to the internet unless the
	// plan says so (write [0.0.0.0/0] for that).
	AdminCIDRs []string `yaml:"admin_cidrs"`
	// CIDR ranges allowed to reach the ingress nodes' HTTP (80) and HTTPS (443). Empty:
	// admin_cidrs.
	IngressCIDRs []string `yaml:"ingress_cidrs"`
	// How secrets reach nodes: inline in user-data (readable by anyone who can read the
	// instance's user-data), s3 (an object only the node's role can read, deleted after use)
	// or ssm (a SecureString parameter).
	// +default=inline
	// +options=inline,s3,ssm
	Secrets string `yaml:"secrets"`
	// Bucket for secrets: s3.
	SecretsBucket string `yaml:"secrets_bucket"`
	// Instance profile that lets nodes read their secrets.
	InstanceProfile string `yaml:"instance_profile"`
	// The Network Load Balancer `kisgen provision aws` creates in front of the masters'
	// API servers; master.load_balancer is then a DNS name that you point at it.
	LoadBalancer AWSLoadBalancer `yaml:"load_balancer"`
}

// AWSLoadBalancer is the Network Load Balancer kisgen creates for the API servers.
type AWSLoadBalancer struct {
	// Whether provision creates it: auto with two or more masters; always also with one
	// (a stable address to add masters behind later); never when master.load_balancer is
	// a load balancer of yours.
	// +default=auto
	// +options=auto,always,never
	Create string `yaml:"create"`
	// internal: addresses in the subnets only, reached from the VPC and the networks
	// routed to it; internet-facing: public addresses (the subnets need a route to an
	// internet gateway). Either way its security group admits admin_cidrs and the nodes.
	// +default=internal
	// +options=internal,internet-facing
	Scheme string `yaml:"scheme"`
}

// VSphere configures vSphere clones.
type VSphere struct {
	// Datacenter name.
	Datacenter string `yaml:"datacenter"`
	// VM folder for the clones.
	Folder string `yaml:"folder"`
	// Resource pool for the clones.
	ResourcePool string `yaml:"resource_pool"`
	// Datastore for the clones' disks.
	Datastore string `yaml:"datastore"`
	// Network (port group) of the clones.
	Network string `yaml:"network"`
	// Prefix length of the node network, for the static address each clone gets.
	// +default=24
	PrefixLength int `yaml:"prefix_length"`
	// Default gateway of the node network; empty leaves the nodes without a default route.
	Gateway string `yaml:"gateway"`
	// DNS servers of the node network.
	DNS []string `yaml:"dns"`
}

// Packet configures Packet / Equinix Metal devices.
type Packet struct {
	// Project ID the devices belong to.
	ProjectID string `yaml:"project_id"`
	// Metro, e.g. da.
	Metro string `yaml:"metro"`
	// API base URL, for Metal-compatible APIs.
	// +default=https://api.equinix.com/metal/v1
	APIURL string `yaml:"api_url"`
}

// PXE configures network boot of bare metal.
type PXE struct {
	// URL the nodes fetch their iPXE scripts, kernels and user-data from.
	HTTPURL string `yaml:"http_url"`
	// Interface dnsmasq serves DHCP/TFTP on.
	Interface string `yaml:"interface"`
	// Gateway handed out with the reservations.
	Gateway string `yaml:"gateway"`
	// DNS servers handed out with the reservations.
	DNS []string `yaml:"dns"`
	// Serve proxy-DHCP only, for networks that already have a DHCP server.
	ProxyDHCP bool `yaml:"proxy_dhcp"`
}

// AddOns are components installed on the running cluster.
type AddOns struct {
	// Pod networking.
	CNI CNI `yaml:"cni"`
	// Cluster DNS.
	DNS DNS `yaml:"dns"`
	// metrics-server.
	MetricsServer Toggle `yaml:"metrics_server"`
	// Kubernetes dashboard.
	Dashboard Toggle `yaml:"dashboard"`
}

// Toggle turns an add-on off.
type Toggle struct {
	// Whether the add-on is left out.
	// +default=false
	Disable bool `yaml:"disable"`
}

// CNI is the pod network add-on.
type CNI struct {
	// When true no pod network is installed (bring your own).
	// +default=false
	Disable bool `yaml:"disable"`
	// The CNI provider: calico; bridge (the reference bridge and host-local plugins with
	// static routes between nodes: one L2 segment, no BGP, no container images — for labs and
	// air-gapped tests); or custom (a CNI-ready cluster, bring your own pod network).
	// +default=calico
	// +options=calico,bridge,custom
	Provider string `yaml:"provider"`
	// Provider options.
	Options CNIOptions `yaml:"options"`
}

// CNIOptions holds options per provider.
type CNIOptions struct {
	// Calico options.
	Calico Calico `yaml:"calico"`
}

// Calico configures Calico.
type Calico struct {
	// overlay: IP-in-IP tunnels between nodes; routed: plain BGP routes, no encapsulation.
	// +default=overlay
	// +options=overlay,routed
	Mode string `yaml:"mode"`
	// Felix log level.
	// +default=info
	// +options=warning,info,debug
	LogLevel string `yaml:"log_level"`
	// MTU of the workload interfaces.
	// +default=1500
	WorkloadMTU int `yaml:"workload_mtu"`
	// MTU of the IP-in-IP tunnel device.
	// +default=1440
	FelixInputMTU int `yaml:"felix_input_mtu"`
	// How calico-node finds the node's address.
	// +default=first-found
	IPAutodetectionMethod string `yaml:"ip_autodetection_method"`
	// BGP autonomous system number the nodes announce (1–4294967295; 64512–65534 and
	// 4200000000–4294967294 are private).
	// +default=64511
	ASNumber int64 `yaml:"as_number"`
	// Whether Calico enforces Kubernetes network policy.
	// +default=false
	NetworkPolicy bool `yaml:"network_policy"`
}

// DNS is the cluster DNS add-on.
type DNS struct {
	// When true no cluster DNS is installed.
	// +default=false
	Disable bool `yaml:"disable"`
	// The DNS provider.
	// +default=coredns
	// +options=coredns
	Provider string `yaml:"provider"`
	// Provider options.
	Options DNSOptions `yaml:"options"`
}

// DNSOptions configures the DNS add-on.
type DNSOptions struct {
	// Number of DNS replicas.
	// +default=2
	Replicas int `yaml:"replicas"`
}

// NodeGroup is the nodes of one role.
type NodeGroup struct {
	// Number of nodes; must equal the number listed.
	ExpectedCount int `yaml:"expected_count"`
	// Operating system of the group's machines; it decides the user-data format.
	// +default=debian-12
	// +options=debian-12,debian-13,ubuntu-22.04,ubuntu-24.04,rhel-9,rocky-9,almalinux-9,flatcar,fedora-coreos
	OS string `yaml:"os"`
	// User-data format; empty follows the operating system (ignition for flatcar and
	// fedora-coreos, cloud-init otherwise).
	// +options=cloud-init,ignition
	Format string `yaml:"format"`
	// Machine size and image for the provider.
	Machine Machine `yaml:"machine"`
	// The nodes.
	Nodes []Node `yaml:"nodes"`
}

// MasterNodeGroup is the control plane nodes and their load-balanced address.
type MasterNodeGroup struct {
	// Number of nodes; must equal the number listed.
	ExpectedCount int `yaml:"expected_count"`
	// The load-balanced address of the API servers, host:port. Required with two or
	// more masters; empty with one master means the master's internal ip on 6443.
	LoadBalancer string `yaml:"load_balancer"`
	// A free address on the masters' network that kisgen moves between healthy masters
	// (VRRP, keepalived) and serves the API on (HAProxy in front of every ready API
	// server), for infrastructure without a load balancer: local VMs, PXE bare metal,
	// vSphere. Empty: the load balancer is external (yours, or the one provision aws
	// creates). load_balancer is this address, or a DNS name for it; empty, it becomes
	// this address on port 6443.
	VirtualIP string `yaml:"virtual_ip"`
	// Operating system of the group's machines.
	// +default=debian-12
	// +options=debian-12,debian-13,ubuntu-22.04,ubuntu-24.04,rhel-9,rocky-9,almalinux-9,flatcar,fedora-coreos
	OS string `yaml:"os"`
	// User-data format; empty follows the operating system.
	// +options=cloud-init,ignition
	Format string `yaml:"format"`
	// Machine size and image for the provider.
	Machine Machine `yaml:"machine"`
	// The nodes.
	Nodes []Node `yaml:"nodes"`
}

// Machine is what a provider needs to create a group's machines. A host in several
// groups gets, for cpus, memory_mb and disk_gb, the largest any of its groups sets (one
// machine runs all its roles); image and type come from its first group.
type Machine struct {
	// Number of virtual CPUs (qemu, vSphere).
	CPUs int `yaml:"cpus"`
	// Memory in MiB (qemu, vSphere).
	MemoryMB int `yaml:"memory_mb"`
	// Root disk size in GiB.
	DiskGB int `yaml:"disk_gb"`
	// Image: an AMI id (aws), a template path (vsphere), an operating system slug
	// (packet), an image name (qemu).
	Image string `yaml:"image"`
	// Instance type (aws) or plan (packet).
	Type string `yaml:"type"`
}

// Node is one machine.
type Node struct {
	// Short host name (RFC 1123 label); the node's hostname and Kubernetes node name.
	// +required
	Host string `yaml:"host"`
	// Address kisgen reaches the node at (SSH, provider's primary address).
	// +required
	IP string `yaml:"ip"`
	// Address for cluster traffic; empty means ip.
	InternalIP string `yaml:"internal_ip"`
	// Kismatic's spelling of internal_ip.
	// +deprecated
	InternalIPLegacy string `yaml:"internalip"`
	// MAC address of the boot interface (PXE) or of the cluster interface.
	MAC string `yaml:"mac"`
	// Kubernetes labels; merged when a host is in several groups.
	Labels map[string]string `yaml:"labels"`
	// Kubernetes taints; merged when a host is in several groups.
	Taints []Taint `yaml:"taints"`
	// Kubelet flag overrides for this node.
	Kubelet ComponentOptions `yaml:"kubelet"`
}

// Taint is a Kubernetes node taint.
type Taint struct {
	// Taint key (a qualified name).
	// +required
	Key string `yaml:"key"`
	// Taint value.
	Value string `yaml:"value"`
	// What the taint does to pods that do not tolerate it.
	// +required
	// +options=NoSchedule,PreferNoSchedule,NoExecute
	Effect string `yaml:"effect"`
}
