// Package pki issues and keeps the cluster's certificates and keys: what every node's
// user-data carries and what `kisgen verify` and `kisgen certs` read.
//
// # What it issues
//
// Keys and signatures come from cfssl v1.6.5, called as a library: csr builds the keys
// and the CAs' certificate requests, initca's CA policy and signer/local sign the CAs,
// and a config.Signing policy (one profile per kind of leaf and key type) fills each
// leaf's certificate through signer.FillTemplate, as signer/local would from a CSR; the
// leaf is signed with crypto/x509 directly, without a CSR, since kisgen made its key in
// the same moment (a CSR would only be signed to be verified again). Ensure issues, for a
// plan:
//
//   - three CAs: the cluster CA "ca" (CN = cluster name), "etcd-ca" and
//     "front-proxy-ca"; basic constraints CA with path length 0, cert sign and CRL sign;
//   - per etcd node: etcd-server-HOST (server auth) and etcd-peer-HOST (server and
//     client auth), SANs host, ip, internal ip, 127.0.0.1, localhost; and the etcd
//     clients apiserver-etcd-client and etcd-healthcheck-client — all from etcd-ca;
//   - per master: apiserver-HOST, SANs kubernetes, kubernetes.default, .svc,
//     .svc.cluster.local, the first service IP, 127.0.0.1, localhost, host, ip, internal
//     ip, the load balancer and the plan's extra SANs;
//   - per Kubernetes node (every role but etcd alone): kubelet-HOST (client, CN
//     system:node:HOST, O system:nodes) and kubelet-serving-HOST (server, SANs host, ip,
//     internal ip);
//   - client certificates admin (O system:masters), kube-controller-manager,
//     kube-scheduler, kube-proxy, calico-node, calico-cni, apiserver-kubelet-client, and
//     front-proxy-client (from front-proxy-ca);
//   - the service-account signing key (ECDSA P-256 for ES256 tokens, or RSA of the
//     plan's size), kubeconfigs for the control plane and every kubelet, and an ed25519
//     SSH host key per node.
//
// Server certificates carry only server auth and clients only client auth, so a leaked
// kubelet serving key cannot log in anywhere; key encipherment is added for RSA keys
// only. Validity: plan expiry for leaves, ca_expiry for CAs, starting an hour in the past
// so nodes with lagging clocks at first boot accept them. Identities (CNs and groups)
// are constants in identities.go.
//
// etcd has its own CA so that etcd trusts no certificate the cluster CA signs: a kubelet
// or an admin certificate cannot open etcd (which holds every Secret) — only the two
// etcd clients above can. Calico uses the Kubernetes API, not etcd, so it has no etcd
// certificate. The front proxy has its own CA because kube-apiserver trusts any
// certificate of --requestheader-client-ca-file to assert any user in headers.
//
// apiserver-kubelet-client is not in system:masters (unlike Kismatic and older kubeadm):
// the API servers need the kubelet API, not cluster-admin, so a leak of that key on a
// master gives no more than kubelet access. Render binds the user
// kube-apiserver-kubelet-client to the built-in ClusterRole system:kubelet-api-admin.
//
// # State directory
//
//	STATE/pki/            0700  cluster-wide material, cfssl's naming
//	    NAME.pem, NAME-key.pem      CAs, etcd clients, control-plane clients, admin
//	    service-account-key.pem, service-account.pub
//	    next/ previous/ retired/    CA rotation (see rotate.go)
//	STATE/nodes/HOST.pem  0600  everything specific to one host: its etcd, API server and
//	                            kubelet certificates and keys and its SSH host key, each
//	                            PEM block after a "# NAME" line
//	STATE/kubeconfig/     0700  admin.conf and the control plane's kubeconfigs
//	                            (the kubelets' are derived in memory from nodes/)
//	STATE/ssh/known_hosts       every node's host key, for ssh -o UserKnownHostsFile
//	STATE/cluster.json          the cluster the directory belongs to: name and random id
//
// A state directory belongs to the cluster that created it (cluster.json, written by the
// first Ensure, or by the first Ensure after an upgrade for a directory made before it
// existed). Ensure, StartCARotation and CheckCluster refuse a plan of another cluster
// (ErrOtherCluster) and say to give it its own directory with --state: two plans beside
// each other share the default generated/, and the second used to get its certificates
// reissued under the first one's CA. A directory without cluster.json whose admin
// kubeconfig names another cluster is refused too, instead of being bound.
//
// One file per host instead of one per item keeps a host's identity consistent (one
// rename replaces it) and the file count low: on this project's 2-core build machines
// creating a file costs about 1 ms (ext4 inode allocation on a virtual disk; 17 µs on
// tmpfs), so the 7,000 files of a 1,000-node plan laid out per item took 4.3–13 s to
// write, the 1,050 of this layout 0.3–2.8 s (BenchmarkStateWrites, on a shared machine).
//
// # Reuse, reissue and durability
//
// Ensure is idempotent: it keeps every file whose certificate still matches the plan
// (CN, O, SANs, key algorithm, key usages, issuer's signature) and is outside the renewal
// window, and then writes nothing. It never replaces a CA or the service-account key: a
// CA brought by the user (pki/ca.pem and pki/ca-key.pem, likewise etcd-ca and
// front-proxy-ca) is checked (CA, can sign, not expired, key matches) and used.
//
// CA and service-account keys are created with atomicfile.CreateExclusive (fsync each,
// never overwrite). Everything else is written temp file + rename without an fsync, and
// Ensure ends with one syncfs(2) of the state directory's filesystem. Writing the 1,050
// files of a 1,000-node plan took 2.7 s with an fsync per file and 0.30 s with one
// syncfs at the end; in later runs, with other work hammering the same disk, 2.0 s
// against 1.0–1.4 s, and once no faster (docs/pki.md has the figures). A crash
// before that sync can leave a new file empty but never torn; Ensure reissues an empty
// leaf (reason "empty file left by an interrupted run") and refuses an empty CA file.
// Two Ensure runs on one state directory are serialized by a lock file (pki/.lock).
//
// # Who can read the secrets
//
// The state directory is 0700 and every key file 0600: only its owner can read them.
// A key file found open to its group or others (copied in with cp, unpacked under a
// loose umask) is made 0600 again by Ensure and Load, with a warning (Bundle.Warnings)
// naming the file, its mode and how to rotate it; kisgen tightens rather than refuses
// because the key is still the right one and a refusal cannot undo a copy already made.
// A key it cannot chmod is refused (internal/keyperm).
// Each node's user-data carries that node's keys (and any CA key render chooses to give
// a master), and user-data can be read from the instance metadata service by anything
// on the node that reaches it (render and the providers decide how to restrict that).
// The admin kubeconfig is cluster-admin; a CA key can mint any identity it signs for.
package pki
