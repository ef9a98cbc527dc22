// Package roles builds one node's model from the plan, the PKI bundle and the node: the
// files, systemd units, users and downloads its user-data carries, and the expectations
// `kisgen verify` checks once the node has installed itself. Package render turns the
// same model into cloud-init or Ignition, so both formats always carry the same files.
//
//	c, err := roles.NewCluster(plan, bundle, inputs) // shared work, once per render
//	node, err := c.Node(plan.Nodes[i])              // per node, safe to run concurrently
//
// # What each role gets (least privilege)
//
// Every node: its hostname, the plan's SSH user with its public key and passwordless sudo,
// its own pre-generated SSH host key (so verify pins it, no trust on first use), the
// kisgen scripts, the managed hosts block and proxy settings when the plan has them, and
// kisgen-install.service, which runs the bootstrap at every boot. Files the same on every
// node (scripts, add-on manifests) are downloaded from the plan's mirror instead when the
// mirror holds them (File.Fetch, fetch.go); the node ends up with the same files.
//
// etcd: the etcd CA certificate (never its key), its own server and peer certificate and
// key, the health-check client certificate (for etcdctl and verify). etcd.service.
//
// master: the cluster CA certificate and key (kube-controller-manager signs CSRs with
// it), its own API server certificate, the API servers' etcd client, kubelet client and
// front-proxy client certificates, the front-proxy CA certificate, the service-account
// key pair, and the admin, controller-manager and scheduler credentials with kubeconfigs.
// kube-apiserver, kube-controller-manager, kube-scheduler. The first master also holds
// the add-on manifests and kisgen-addons.service.
//
// Kubernetes node (every role but etcd alone): the cluster CA certificate (no key), its
// own kubelet client and serving certificates, the kube-proxy client certificate.
// containerd, kubelet, kube-proxy (and the bridge routes with the bridge provider).
// A worker never holds a CA key, the service-account key or another node's key.
//
// # Who can read the secrets
//
// User-data is not a secret store: on clouds it is readable by anyone who can read the
// instance's metadata or user-data (on AWS, any process on the instance through the
// instance metadata service unless IMDS is restricted, and anyone with
// ec2:DescribeInstanceAttribute), on vSphere by anyone who can read the VM's guestinfo,
// on qemu by anyone who can read the seed ISO, on PXE by anyone who can reach the HTTP
// server. On the node itself keys are root-only (0600) files. Safer routes: restrict
// metadata access (IMDSv2 with hop limit 1, firewall rules), serve PXE user-data only to
// the node's address, keep the state directory and rendered user-data 0700, and remove the
// user-data once the node has booted where the provider allows it.
//
// # On-node layout
//
// Binaries in BinDir (/opt/kisgen/bin), CNI plugins in CNIBinDir, certificates and keys in
// PKIDir and EtcdPKIDir, kubeconfigs in KubeDir (they refer to the certificate files
// rather than embedding them), units in UnitDir, kisgen's settings in ConfDir, the
// status file at StatusPath; see layout.go. A baked image declares what it already holds
// in ImageManifestPath (see ImageManifest).
package roles
