package verify

import (
	"fmt"
	"io/fs"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// Target is one node to verify: where it is, how to log in, which host key it must
// present and what must be true on it.
type Target struct {
	// Host is the node's name in the plan: its hostname and Kubernetes node name.
	Host string
	// Addr is where its sshd listens, "host:port" (the plan's ip and ssh_port, or the
	// SSH address in the instances record, such as a qemu port forward on loopback).
	Addr string
	// User is the SSH user (the plan's cluster.ssh.user).
	User string
	// Signer authenticates User (the plan's ssh_key). Verify sends no other credential.
	Signer ssh.Signer
	// HostKey is the node's SSH host public key as kisgen put it into the user-data.
	// The node must present exactly this key; nil fails the host-key check unless
	// Options.InsecureIgnoreHostKey is set. ParseHostKey reads an authorized_keys line.
	HostKey ssh.PublicKey
	// Roles are the node's roles as planned ("etcd", "master", "worker", "ingress",
	// "storage"). The install status file must report the same roles.
	Roles []string
	// Expect is everything checked on the node. An empty field skips its check and the
	// report says so.
	Expect Expectations
}

// Expectations are what must be true on one node. Every field is optional: a zero value
// means "nothing to check" and its check is skipped with that reason. FromPlan fills the
// fields the plan alone decides; the rest come from the roles package (which units, files,
// ports and paths a role installs).
type Expectations struct {
	// Provisioner is the first-boot agent that must have finished without errors:
	// "cloud-init" (checked with `cloud-init status --format json`) or "ignition"
	// (checked with IgnitionResult and Ignition's journal). From the plan (group format).
	Provisioner string
	// IgnitionResult is the file Ignition writes when it has run; "" means
	// /etc/.ignition-result.json.
	IgnitionResult string

	// StatusPath is kisgen's install status file; "" means roles.StatusPath.
	StatusPath string
	// UserDataSHA256, when set, is the hex SHA-256 of the user-data rendered for the node:
	// the status file must report the same, or the node runs other (older) user-data.
	UserDataSHA256 string
	// ConfigSHA256, when set, is the node's rendered model (roles.Node.ConfigSHA256, the
	// same for cloud-init and Ignition): the status file's configSha256 must match.
	ConfigSHA256 string
	// Versions, when set, are component versions the status file must report (leave out
	// those an image may bring its own of: containerd, runc, cni-plugins).
	Versions map[string]string
	// AddOnsStatusPath, set on the first master, is kisgen-addons' status file (the same
	// schema as StatusPath): its phase must be done.
	AddOnsStatusPath string

	// Units are the systemd units of the node's roles that must be active and enabled
	// (or static), e.g. "etcd.service", "kubelet.service". From roles.
	Units []string
	// Files are files that must exist with exactly this content (certificates, keys,
	// kubeconfigs from the state directory) and, where Mode is set, this mode. From roles
	// and the PKI bundle.
	Files []ExpectedFile
	// Certs are PEM certificate files on the node whose validity is checked: each must be
	// valid now and for at least RenewBefore more. From roles.
	Certs []string
	// RenewBefore is how long before expiry a certificate fails the check (the plan's
	// certificates.renew_before); 0 means 30 days.
	RenewBefore time.Duration
	// Ports are TCP ports that must be listening (`ss -Hltn`). From roles.
	Ports []Port
	// HostsBlock is the exact block kisgen manages in the hosts file, its marker lines
	// included; the file must contain it verbatim. "" when the plan does not manage hosts
	// files (update_hosts_files: false). From roles.
	HostsBlock string
	// HostsPath is the hosts file; "" means /etc/hosts.
	HostsPath string

	// Etcd is set on etcd nodes: member list and health, through etcdctl.
	Etcd *EtcdExpect
	// APIServer is set on masters: the local API server's /readyz.
	APIServer *APIServerExpect
	// Kubectl is set on masters: how kubectl runs there. Verify lists the cluster's nodes
	// once per run through the first master that answers, then matches each node.
	Kubectl *KubectlAccess
	// Node is set on every node that runs a kubelet: how it must be registered.
	Node *NodeExpect
	// Calico is set on every node that runs calico-node.
	Calico *CalicoExpect
	// Services is set on every node that runs a kubelet: Services and cluster DNS must
	// answer there.
	Services *ServicesExpect
	// VirtualIP is set on masters of a plan with master.virtual_ip.
	VirtualIP *VirtualIPExpect
}

// ExpectedFile is a file that must be on the node as kisgen wrote it.
type ExpectedFile struct {
	// Path on the node.
	Path string
	// SHA256 is the hex SHA-256 of the content (of the file in the state directory).
	SHA256 string
	// Mode, when not 0, is the permission bits the file must have (e.g. 0600 for keys).
	Mode fs.FileMode
}

// Port is a TCP port a role listens on.
type Port struct {
	Number int
	// Address, when set, is where it must listen ("127.0.0.1" for local-only endpoints);
	// a wildcard listener (0.0.0.0, ::, *) also serves it. "" accepts any address.
	Address string
	// Owner names what listens, for the report ("kube-apiserver").
	Owner string
}

// String renders the port as "6443/kube-apiserver" or "127.0.0.1:2381/etcd".
func (p Port) String() string {
	s := fmt.Sprint(p.Number)
	if p.Address != "" {
		s = net.JoinHostPort(p.Address, s)
	}
	if p.Owner != "" {
		s += "/" + p.Owner
	}
	return s
}

// EtcdExpect is how to ask this etcd node about the cluster and what it must answer.
type EtcdExpect struct {
	// Etcdctl is the etcdctl command; "" means "etcdctl" (found on PATH).
	Etcdctl string
	// Endpoint is this member's client URL, e.g. https://10.0.0.11:2379. From the plan.
	Endpoint string
	// CACert, Cert and Key are the paths on the node of etcd's CA and the healthcheck
	// client certificate and key (pki.EtcdHealthcheckClient). Read as root.
	CACert, Cert, Key string
	// Members are the planned member names (the etcd nodes' hosts). The member list must
	// equal this set, every member started. From the plan.
	Members []string
}

// APIServerExpect is this master's API server.
type APIServerExpect struct {
	// URL is this master's own API server, e.g. https://10.0.0.21:6443 (not the load
	// balancer: each master is checked on its own). /readyz?verbose must pass. Uses the
	// master's Kubectl.
	URL string
}

// KubectlAccess is how kubectl runs on a master.
type KubectlAccess struct {
	// Path is the kubectl command; "" means "kubectl".
	Path string
	// Kubeconfig is an administrator kubeconfig on the node (read as root).
	Kubeconfig string
}

// NodeExpect is how a node must appear in the cluster.
type NodeExpect struct {
	// Name is the Kubernetes node name; "" means Target.Host.
	Name string
	// Labels must all be present with these values (others may exist).
	Labels map[string]string
	// Taints must all be present, as "key=value:Effect" or "key:Effect". Any other taint
	// fails, except those Kubernetes manages itself (node.kubernetes.io/…,
	// node.cloudprovider.kubernetes.io/…).
	Taints []string
}

// CalicoExpect is how to tell whether calico-node on this node is healthy: from its pod's
// readiness (calico-node as a DaemonSet) and/or from commands run on the node (the
// commands are parameters because calico-node may run on the host or in a pod).
type CalicoExpect struct {
	// PodReady: the calico-node pod on this node (kube-system, k8s-app=calico-node) must
	// be Ready. Its readiness probe (calico-node -felix-ready -bird-ready in Calico's
	// manifest) covers felix and, with BGP, every BIRD session. The pods are listed once
	// per run through a master's kubectl, with the nodes.
	PodReady bool
	// ReadyCmd exits 0 when calico-node is ready, run as root, e.g.
	// ["calico-node", "-felix-ready", "-bird-ready"]. Empty skips the readiness part.
	ReadyCmd []string
	// BGPCmd prints BGP session states, run as root, e.g. ["calicoctl", "node", "status"]
	// or ["birdcl", "-s", "/var/run/calico/bird.ctl", "show", "protocols"]. A peer is up
	// when a line naming it (by IP, or as BIRD's Mesh_10_0_0_2) says Established.
	BGPCmd []string
	// BGPPeers are the peer addresses whose sessions must be Established (the other
	// Calico nodes' internal IPs: the full mesh). Empty skips the BGP part.
	BGPPeers []string
	// BirdInPod reads BIRD's sessions inside this node's calico-node pod through a master
	// (kubectl exec … -- birdcl -s /var/run/calico/bird.ctl show protocols all, see
	// BirdCommand), with each session's neighbour AS, instead of BGPCmd on the node.
	BirdInPod bool
	// ASNumber, when not 0, is the AS every BGP session's neighbour must have: the
	// cluster's (a full mesh is internal BGP, one AS).
	ASNumber uint32
	// Tunnel, when set, is the IP-in-IP device that must be up with an address on the
	// node (overlay mode: tunl0).
	Tunnel string
}

// ParseHostKey reads an SSH public key in authorized_keys form ("ssh-ed25519 AAAA…
// comment"), the form the PKI bundle gives for each node's host key.
func ParseHostKey(line []byte) (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey(line)
	if err != nil {
		return nil, fmt.Errorf("%w: host key: %v", ErrBadTarget, err)
	}
	return k, nil
}
