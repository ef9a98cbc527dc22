package roles

import (
	"io/fs"
	"net/netip"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
)

// Secrets is the PKI material roles reads. *pki.Bundle implements it.
type Secrets interface {
	// Get returns a certificate and key pair by name (pki/names.go).
	Get(name string) (*pki.Pair, bool)
	// SSHHostKey returns a node's pre-generated ed25519 host key: OpenSSH private key PEM
	// and the public key as an authorized_keys line.
	SSHHostKey(host string) (privPEM, authorizedKeyLine []byte, ok bool)
}

var _ Secrets = (*pki.Bundle)(nil)

// Node is everything one machine's user-data carries, independent of the user-data
// format: render turns it into cloud-init or Ignition, both holding the same files,
// units and users. Build never shares mutable state between nodes; strings may be shared.
type Node struct {
	// Host is the plan's host name; it is also the machine's hostname and Kubernetes
	// node name.
	Host string
	// Roles are the node's roles in plan order.
	Roles []plan.Role
	// Users are created with their SSH keys; sudo rights come from a file in Files.
	Users []User
	// Files to write, sorted by path. Unit files are in Units, not here.
	Files []File
	// Units to write under UnitDir, sorted by name.
	Units []Unit
	// Artifacts are what the bootstrap fetches, or finds in the image, in install order
	// (also written to ArtifactsPath).
	Artifacts []Artifact
	// PodSubnet is the node's pod subnet with the bridge CNI provider (invalid otherwise).
	PodSubnet netip.Prefix
	// ConfigSHA256 identifies what was rendered for the node: the sha256 of every file
	// and unit (path, mode, content) except NodeEnvPath, which carries it. The node's
	// status file reports it as configSha256, and render's manifest lists it.
	ConfigSHA256 string
	// Expect is what `kisgen verify` should find on the node once it is installed.
	Expect Expectations
	// Warnings are things a user should know about this node's user-data (for example a
	// download that no pinned sum protects).
	Warnings []string
}

// File is one file a node's user-data writes.
type File struct {
	// Path is absolute.
	Path string
	// Mode is the permission bits (0600 for keys and credentials).
	Mode fs.FileMode
	// Content is written as is.
	Content string
	// Secret marks private keys and credentials: render never records their content, and
	// diff names them without details.
	Secret bool
	// What says what the file is, for people: "kubelet configuration", "certificate
	// apiserver", "managed hosts block".
	What string
	// SHA256 is the content's sha256 (hex), set by Cluster.Node.
	SHA256 string
	// Fetch is the URL the node downloads the content from (FetchScript, before the
	// bootstrap) instead of finding it in its user-data, which carries only the path,
	// mode and SHA256 in FetchListPath. "" (most files): the user-data carries it.
	Fetch string
}

// Unit is one systemd unit written to UnitDir.
type Unit struct {
	// Name includes the suffix, e.g. "kubelet.service".
	Name    string
	Content string
	// Enable: the user-data itself enables the unit, so it runs at every boot
	// (kisgen-install.service). Cloud-init runs `systemctl enable` and starts it; Ignition
	// enables it through a preset.
	Enable bool
	// Start: the bootstrap enables and starts the unit once the binaries are in place
	// (every unit of the node's roles). Units that are neither are written only.
	Start bool
	// What says what the unit runs, for people.
	What string
	// SHA256 is the content's sha256 (hex), set by Cluster.Node.
	SHA256 string
}

// User is a login user created on the node.
type User struct {
	Name string
	// SSHAuthorizedKeys are authorized_keys lines.
	SSHAuthorizedKeys []string
	Shell             string
}

// Artifact is a download the bootstrap makes unless the image already holds it.
type Artifact struct {
	// Name identifies the component: etcd, kubelet, containerd, cni-plugins,
	// calico-manifest… It is the key of the status file's versions.
	Name    string
	Version string
	// Kind is how it is installed: "file" (an executable), "tar" (executables taken from
	// a .tar.gz), "dirtar" (a .tgz unpacked into a directory: the CNI plugins) or
	// "manifest" (a file the add-ons apply).
	Kind string
	// URL is where the node fetches it: the plan's mirror, or the official site.
	URL string
	// MirrorPath is the path under a mirror's root, which is the official URL without its
	// scheme ("dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet"); mirror.checksums
	// lists sums by this path.
	MirrorPath string
	// SHA256 is pinned from the plan's checksums file; "" when not pinned.
	SHA256 string
	// SumsURL is the site's published sums file used when SHA256 is "" (a bare hex digest
	// or "SUM  FILE" lines); "" when the site publishes none.
	SumsURL string
	// Optional artifacts may fail to download without stopping the install.
	Optional bool
	// Provides lists what it installs: for "file" the executable's name; for "tar"
	// MEMBER=NAME pairs; for "dirtar" the executables that must be there.
	Provides []string
	// Dest is the directory it is installed into (the file itself for "manifest").
	Dest string
}

// Expectations is what `kisgen verify` checks on a node after its install is done.
type Expectations struct {
	// Units are active and enabled, in the order the bootstrap starts them.
	Units []string
	// Files lists every file and unit file the user-data writes, with its mode and sha256.
	Files []ExpectedFile
	// Ports are listening.
	Ports []Port
	// KubernetesNode says whether the node registers as a Kubernetes Node.
	KubernetesNode bool
	// Labels are on the Node object: the plan's labels and node-role.kubernetes.io/ROLE
	// labels (applied by the first master). Nil for etcd-only nodes.
	Labels map[string]string
	// Taints are on the Node object: the plan's and, on masters that are not workers,
	// node-role.kubernetes.io/control-plane:NoSchedule.
	Taints []plan.Taint
	// HostsBlock is the managed block in /etc/hosts, markers included ("" when the plan
	// does not manage hosts files).
	HostsBlock string
	// SSHHostKey is the host key's authorized_keys line, to pin in known_hosts.
	SSHHostKey string
	// Versions are the planned versions by component (the status file's versions key).
	// Container runtime components (containerd, runc, cni-plugins) may differ when the
	// image brings its own.
	Versions map[string]string
	// StatusPath is where the node's install reports; its phase ends as PhaseDone.
	StatusPath string
	// AddOnsStatusPath is set on the first master: kisgen-addons reports there.
	AddOnsStatusPath string
	// ConfigSHA256 is Node.ConfigSHA256: the status file's configSha256 must match it.
	ConfigSHA256 string
}

// ExpectedFile is a file the node must hold.
type ExpectedFile struct {
	Path   string
	Mode   fs.FileMode
	SHA256 string
}

// Port is a TCP port a unit listens on.
type Port struct {
	Port int
	// Address is where it listens: "127.0.0.1" for local-only endpoints, "" for all
	// addresses (or the internal ip).
	Address string
	Unit    string
}
