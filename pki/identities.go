package pki

// Identities the certificates carry. Kubernetes authenticates a client certificate as the
// user named by its CN, in the groups named by its O values; render and the add-ons use
// these constants to bind RBAC roles and to set flags such as
// --requestheader-allowed-names.
const (
	// AdminGroup is the admin certificate's group: members bypass authorization.
	AdminGroup = "system:masters"
	// NodesGroup is every kubelet's group, authorized by the Node authorizer.
	NodesGroup = "system:nodes"
	// NodeUserPrefix prefixes a kubelet's user name: system:node:HOST.
	NodeUserPrefix = "system:node:"

	// AdminUser is the admin certificate's CN.
	AdminUser = "admin"
	// APIServerKubeletClientUser is the API servers' identity towards kubelets. It is not
	// in system:masters: render must bind it to the built-in ClusterRole
	// system:kubelet-api-admin (kubectl logs, exec, port-forward, metrics).
	APIServerKubeletClientUser = "kube-apiserver-kubelet-client"
	// ControllerManagerUser, SchedulerUser and KubeProxyUser are bound by Kubernetes'
	// default RBAC policy.
	ControllerManagerUser = "system:kube-controller-manager"
	SchedulerUser         = "system:kube-scheduler"
	KubeProxyUser         = "system:kube-proxy"
	// CalicoNodeUser and CalicoCNIUser are bound to Calico's ClusterRoles calico-node and
	// calico-cni by the Calico manifests render writes.
	CalicoNodeUser = "calico-node"
	CalicoCNIUser  = "calico-cni"
	// FrontProxyClientUser is the aggregation layer's client CN; kube-apiserver's
	// --requestheader-allowed-names must list it.
	FrontProxyClientUser = "front-proxy-client"
	// EtcdAPIServerClientUser and EtcdHealthcheckClientUser are the CNs of the etcd
	// client certificates (etcd authenticates them by its CA only, not by name).
	EtcdAPIServerClientUser   = "kube-apiserver-etcd-client"
	EtcdHealthcheckClientUser = "kube-etcd-healthcheck-client"
	// HostsReaderUser is the CN of the HostsReader certificate, bound by the masters'
	// kisgen-sync to reading the kisgen-hosts ConfigMap only.
	HostsReaderUser = "kisgen:hosts-reader"
	// EtcdPeerCN is the CN of every etcd member's peer certificate. Members admit peers by
	// CN (--peer-cert-allowed-cn), so a CN shared by all peers, rather than each host's
	// name, lets a new member join without changing the flags of the running ones; the
	// host's names and addresses are the certificate's SANs.
	EtcdPeerCN = "kisgen-etcd-peer"
	// APIServerCN is the CN of every API server serving certificate (clients check SANs).
	APIServerCN = "kube-apiserver"

	// ClusterDomain is the cluster DNS domain the API server certificates are valid for.
	ClusterDomain = "cluster.local"
)
