package pki

// Names of the certificates and keys in a Bundle. Every other package refers to PKI
// material by these names only; where files live in the state directory is pki's business.
const (
	// CA is the cluster CA (CN = cluster name): it signs the API servers, kubelets and
	// every Kubernetes client certificate.
	CA = "ca"
	// EtcdCA is etcd's own CA: etcd trusts only certificates it signed, so no Kubernetes
	// client certificate (kubelet, admin, …) can talk to etcd directly.
	EtcdCA = "etcd-ca"
	// FrontProxyCA signs the aggregation layer's client certificate.
	FrontProxyCA = "front-proxy-ca"

	// EtcdAPIServerClient is the API servers' client certificate for etcd (signed by EtcdCA).
	EtcdAPIServerClient = "apiserver-etcd-client"
	// EtcdHealthcheckClient is used by `kisgen verify` and etcdctl on etcd nodes.
	EtcdHealthcheckClient = "etcd-healthcheck-client"
	// APIServerKubeletClient is the API servers' client certificate for kubelets
	// (O=system:masters is not used; CN kube-apiserver-kubelet-client is bound by RBAC).
	APIServerKubeletClient = "apiserver-kubelet-client"
	// FrontProxyClient is the API servers' client certificate for aggregated APIs.
	FrontProxyClient = "front-proxy-client"
	// Admin is the cluster administrator (O=system:masters).
	Admin = "admin"
	// ControllerManager is kube-controller-manager's client certificate.
	ControllerManager = "kube-controller-manager"
	// Scheduler is kube-scheduler's client certificate.
	Scheduler = "kube-scheduler"
	// KubeProxy is kube-proxy's client certificate (CN system:kube-proxy).
	KubeProxy = "kube-proxy"
	// CalicoNode is calico-node's client certificate (CN calico-node), for a calico-node
	// that runs on the host rather than as a pod.
	CalicoNode = "calico-node"
	// CalicoCNI is the Calico CNI plugin's client certificate (CN calico-cni).
	CalicoCNI = "calico-cni"
	// HostsReader is the one client certificate every node that is not a master uses to
	// read the cluster's hosts list (the kisgen-hosts ConfigMap, nothing else): shared by
	// all nodes, so that adding or removing a node changes no other node's user-data.
	HostsReader = "kisgen-hosts-reader"
	// ServiceAccount is the key pair that signs and verifies service account tokens
	// (no certificate).
	ServiceAccount = "service-account"
)

// EtcdServer is the name of an etcd node's serving certificate (signed by EtcdCA).
func EtcdServer(host string) string { return "etcd-server-" + host }

// EtcdPeer is the name of an etcd node's peer certificate (signed by EtcdCA).
func EtcdPeer(host string) string { return "etcd-peer-" + host }

// APIServer is the name of a master's API server serving certificate.
func APIServer(host string) string { return "apiserver-" + host }

// Kubelet is the name of a node's kubelet client certificate (CN system:node:HOST,
// O system:nodes).
func Kubelet(host string) string { return "kubelet-" + host }

// KubeletServing is the name of a node's kubelet serving certificate.
func KubeletServing(host string) string { return "kubelet-serving-" + host }
