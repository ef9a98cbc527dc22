package roles

// On-node layout: where a node's user-data puts things and where its bootstrap installs
// binaries. `kisgen verify`, the image bake script and the documentation use these
// constants; nothing else spells the paths out.
const (
	// BinDir holds every executable kisgen installs or links: etcd, etcdctl, kube-*,
	// kubectl, containerd, ctr, runc and kisgen's own scripts. On a baked image the
	// entries are symlinks to the image's binaries. /opt is writable on Flatcar and
	// Fedora CoreOS too (/usr is not).
	BinDir = "/opt/kisgen/bin"
	// LibDir holds the shell library the scripts source.
	LibDir = "/opt/kisgen/lib"
	// LibPath is the shell library (logging, status file).
	LibPath = LibDir + "/kisgen.sh"
	// ConfDir holds kisgen's own configuration on the node.
	ConfDir = "/etc/kisgen"
	// NodeEnvPath is the node's settings for the scripts (KEY='value' lines).
	NodeEnvPath = ConfDir + "/node.env"
	// ArtifactsPath lists what the bootstrap fetches or finds in the image (one
	// tab-separated line per artifact, see Artifact).
	ArtifactsPath = ConfDir + "/artifacts.tsv"
	// ProxyEnvPath holds HTTP(S)_PROXY and NO_PROXY (both cases) when the plan sets a
	// proxy; every kisgen unit reads it with EnvironmentFile=-.
	ProxyEnvPath = ConfDir + "/proxy.env"
	// HostsBlockPath is the managed hosts block the bootstrap merges into /etc/hosts.
	HostsBlockPath = ConfDir + "/hosts.block"
	// HostsSyncedPath is the hosts block kisgen-sync last read from the cluster; the
	// bootstrap merges it, rather than the seed, when it exists.
	HostsSyncedPath = NodeStateDir + "/hosts.block"
	// HostsReaderRBACPath, on masters, lets the HostsReader certificate read the
	// HostsConfigMap; kisgen-sync applies it.
	HostsReaderRBACPath = ConfDir + "/hosts-reader-rbac.yaml"
	// HostsConfigMap is the ConfigMap in kube-system where the masters publish the hosts
	// block: every node that is not a master reads it with the HostsReader certificate.
	HostsConfigMap = "kisgen-hosts"
	// EtcdRemoveConfigMap is the ConfigMap in kube-system where `kisgen provision --prune`
	// asks the masters' kisgen-sync to remove etcd members (data: NAME: remove).
	EtcdRemoveConfigMap = "kisgen-etcd-remove"
	// AddOnsDir holds the add-on manifests the first master applies.
	AddOnsDir = ConfDir + "/addons"
	// BridgeRoutesPath lists the routes of the bridge pod network.
	BridgeRoutesPath = ConfDir + "/bridge-routes.tsv"
	// FetchListPath lists the files the node downloads from the mirror instead of
	// carrying them in its user-data (tab-separated: path, mode, sha256, URL); see
	// Cluster.SharedFiles.
	FetchListPath = ConfDir + "/fetch.tsv"
	// FetchScript downloads them, before the bootstrap, at every boot.
	FetchScript = BinDir + "/kisgen-fetch"
	// ImageManifestPath is written by an image bake script: what the image already
	// holds (see ImageManifest).
	ImageManifestPath = ConfDir + "/image-manifest.json"

	// StateDir is the node's own state: status files, install stamps.
	NodeStateDir = "/var/lib/kisgen"
	// AddOnsStatusPath is the status of kisgen-addons on the first master (Status schema).
	AddOnsStatusPath = NodeStateDir + "/addons-status.json"
	// KubeletDetectedEnvPath holds kubelet flags the bootstrap derives from the node.
	KubeletDetectedEnvPath = NodeStateDir + "/kubelet.env"
	// EtcdEnvPath is the etcd member's initial cluster and state (ETCD_INITIAL_CLUSTER,
	// ETCD_INITIAL_CLUSTER_STATE), written by kisgen-etcd-join before etcd first starts:
	// founding members start the cluster, any other joins it (member add).
	EtcdEnvPath = NodeStateDir + "/etcd.env"
	// CacheDir holds downloads in progress.
	CacheDir = "/var/cache/kisgen"

	// KubeDir holds Kubernetes configuration and kubeconfigs.
	KubeDir = "/etc/kubernetes"
	// PKIDir holds the cluster CA and Kubernetes certificates and keys.
	PKIDir = KubeDir + "/pki"
	// EtcdPKIDir holds etcd's CA, server, peer and client certificates and keys.
	EtcdPKIDir = PKIDir + "/etcd"
	// EtcdDataDir is etcd's data directory.
	EtcdDataDir = "/var/lib/etcd"

	// AdminKubeconfig is on every master: cluster-admin (O=system:masters).
	AdminKubeconfig = KubeDir + "/admin.kubeconfig"
	// ControllerManagerKubeconfig, SchedulerKubeconfig, KubeletKubeconfig and
	// KubeProxyKubeconfig are the components' kubeconfigs.
	ControllerManagerKubeconfig = KubeDir + "/controller-manager.kubeconfig"
	SchedulerKubeconfig         = KubeDir + "/scheduler.kubeconfig"
	KubeletKubeconfig           = KubeDir + "/kubelet.kubeconfig"
	KubeProxyKubeconfig         = KubeDir + "/kube-proxy.kubeconfig"
	// KubeletConfigPath and KubeProxyConfigPath are the components' configuration files.
	KubeletConfigPath   = KubeDir + "/kubelet/config.yaml"
	KubeProxyConfigPath = KubeDir + "/kube-proxy/config.yaml"

	// ContainerdConfigPath is containerd's configuration; ContainerdCertsDir its registry
	// hosts directory; ContainerdSocket its CRI socket.
	ContainerdConfigPath = "/etc/containerd/config.toml"
	ContainerdCertsDir   = "/etc/containerd/certs.d"
	ContainerdSocket     = "/run/containerd/containerd.sock"

	// CNIBinDir and CNIConfDir are the CNI plugin and configuration directories.
	CNIBinDir  = "/opt/cni/bin"
	CNIConfDir = "/etc/cni/net.d"

	// SysctlPath holds the kernel settings Kubernetes nodes need; ModulesLoadPath the
	// modules they load at boot.
	SysctlPath      = "/etc/sysctl.d/90-kisgen.conf"
	ModulesLoadPath = "/etc/modules-load.d/kisgen.conf"

	// UnitDir is where units are written.
	UnitDir = "/etc/systemd/system"

	// SSHHostKeyPath is the node's pre-generated ed25519 host key.
	SSHHostKeyPath = "/etc/ssh/ssh_host_ed25519_key"
	// SSHDConfigPath is kisgen's sshd drop-in (host key, key-only logins).
	SSHDConfigPath = "/etc/ssh/sshd_config.d/10-kisgen.conf"

	// SystemPath is PATH for kisgen's units: BinDir first, then the system's.
	SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	UnitPath   = BinDir + ":" + SystemPath
)

// Certificate and key files on the node, by what they are. Masters and etcd nodes get
// only those their roles use (see the package documentation for who gets what).
const (
	CACert               = PKIDir + "/ca.crt"
	CAKey                = PKIDir + "/ca.key"
	APIServerCert        = PKIDir + "/apiserver.crt"
	APIServerKey         = PKIDir + "/apiserver.key"
	APIServerEtcdCert    = PKIDir + "/apiserver-etcd-client.crt"
	APIServerEtcdKey     = PKIDir + "/apiserver-etcd-client.key"
	APIServerKubeletCert = PKIDir + "/apiserver-kubelet-client.crt"
	APIServerKubeletKey  = PKIDir + "/apiserver-kubelet-client.key"
	FrontProxyCACert     = PKIDir + "/front-proxy-ca.crt"
	FrontProxyClientCert = PKIDir + "/front-proxy-client.crt"
	FrontProxyClientKey  = PKIDir + "/front-proxy-client.key"
	ServiceAccountKey    = PKIDir + "/sa.key"
	ServiceAccountPub    = PKIDir + "/sa.pub"
	AdminCert            = PKIDir + "/admin.crt"
	AdminKey             = PKIDir + "/admin.key"
	ControllerMgrCert    = PKIDir + "/controller-manager.crt"
	ControllerMgrKey     = PKIDir + "/controller-manager.key"
	SchedulerCert        = PKIDir + "/scheduler.crt"
	SchedulerKey         = PKIDir + "/scheduler.key"
	KubeletClientCert    = PKIDir + "/kubelet-client.crt"
	KubeletClientKey     = PKIDir + "/kubelet-client.key"
	KubeletServingCert   = PKIDir + "/kubelet-serving.crt"
	KubeletServingKey    = PKIDir + "/kubelet-serving.key"
	KubeProxyCert        = PKIDir + "/kube-proxy.crt"
	KubeProxyKey         = PKIDir + "/kube-proxy.key"
	HostsReaderCert      = PKIDir + "/kisgen-hosts-reader.crt"
	HostsReaderKey       = PKIDir + "/kisgen-hosts-reader.key"

	EtcdCACert          = EtcdPKIDir + "/ca.crt"
	EtcdServerCert      = EtcdPKIDir + "/server.crt"
	EtcdServerKey       = EtcdPKIDir + "/server.key"
	EtcdPeerCert        = EtcdPKIDir + "/peer.crt"
	EtcdPeerKey         = EtcdPKIDir + "/peer.key"
	EtcdHealthcheckCert = EtcdPKIDir + "/healthcheck-client.crt"
	EtcdHealthcheckKey  = EtcdPKIDir + "/healthcheck-client.key"
)

// EtcdctlCommand is the command line `kisgen verify` runs on an etcd node (as root) to
// reach the local member with the health-check client certificate, followed by args
// (e.g. "endpoint", "health", "--cluster", "-w", "json").
func EtcdctlCommand(args ...string) []string {
	return append([]string{BinDir + "/etcdctl", "--endpoints=https://127.0.0.1:2379",
		"--cacert=" + EtcdCACert, "--cert=" + EtcdHealthcheckCert, "--key=" + EtcdHealthcheckKey}, args...)
}

// KubectlCommand is the command line `kisgen verify` runs on a master (as root) to use
// the cluster as its administrator, followed by args (e.g. "get", "nodes", "-o", "json").
func KubectlCommand(args ...string) []string {
	return append([]string{BinDir + "/kubectl", "--kubeconfig=" + AdminKubeconfig}, args...)
}
