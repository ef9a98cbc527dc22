package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Pair is one certificate and its private key, or the service-account key pair.
type Pair struct {
	Name string
	// CertPEM is the certificate. For a CA it is the trust bundle: the signing CA first,
	// then, during a CA rotation, the incoming or outgoing CA, so that everything that
	// trusts CertPEM accepts certificates of both. Nil for ServiceAccount.
	CertPEM []byte
	// KeyPEM is the private key (PKCS#1 or SEC 1 PEM for keys kisgen made).
	KeyPEM []byte
	// Cert is CertPEM's first certificate, parsed (nil for ServiceAccount).
	Cert *x509.Certificate
	// PublicKeyPEM is the public key (PKIX PEM); for ServiceAccount it is what
	// kube-apiserver's --service-account-key-file needs.
	PublicKeyPEM []byte
}

// Options changes how Ensure issues.
type Options struct {
	// Now is the clock (nil: time.Now); tests move it to reach renewal windows.
	Now func() time.Time
	// Rotate names leaves to reissue even if they are valid.
	Rotate []string
	// RotateAll reissues every leaf certificate (not the CAs, not the service-account
	// key, not the SSH host keys).
	RotateAll bool
	// Log gets one line per created or reissued item; nil discards.
	Log io.Writer
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Change is one item Ensure created or reissued.
type Change struct {
	// Name is a certificate name (see names.go), "kubeconfig/NAME" or "ssh/HOST".
	Name string
	// Action is "created" or "reissued".
	Action string
	// Reason says why, e.g. "new", "SANs changed: added 10.0.0.9", "rotation requested".
	Reason string
}

// Actions a Change reports.
const (
	ActionCreated  = "created"
	ActionReissued = "reissued"
)

func (c Change) String() string { return c.Action + " " + c.Name + ": " + c.Reason }

// sshKey is a node's SSH host key.
type sshKey struct {
	priv, authorized []byte
}

// Bundle is the cluster's PKI: every certificate, key, kubeconfig and SSH host key.
type Bundle struct {
	dir string
	// clusterID is the state directory's binding id ("" when not bound yet, in Load).
	clusterID string
	// warnings are what reading the state found and fixed (keys readable by others).
	warnings []string
	pairs    map[string]*Pair
	// kubeconfigs holds the stored kubeconfigs and, once asked for, the kubelets'.
	kcMu        sync.Mutex
	kubeconfigs map[string][]byte
	// kubeletCluster and kubeletServer are what the kubelets' kubeconfigs point at;
	// they are built on demand (one per node adds up for a large plan).
	kubeletCluster, kubeletServer string
	ssh                           map[string]sshKey
	// trustOnly holds the CAs that are trusted but do not sign: "next/NAME" and
	// "previous/NAME" during a rotation (for listing).
	trustOnly map[string]*x509.Certificate
}

func newBundle(dir string) *Bundle {
	return &Bundle{dir: dir, pairs: map[string]*Pair{}, kubeconfigs: map[string][]byte{}, ssh: map[string]sshKey{}, trustOnly: map[string]*x509.Certificate{}}
}

// Dir is the state directory the bundle was read from or written to.
func (b *Bundle) Dir() string { return b.dir }

// ClusterID is the random id the state directory was bound with (see Binding).
func (b *Bundle) ClusterID() string { return b.clusterID }

// Warnings are what the bundle's reading found and fixed, each a sentence for the user:
// private keys that group or others could read, now 0600.
func (b *Bundle) Warnings() []string { return b.warnings }

// Get returns the pair named name.
func (b *Bundle) Get(name string) (*Pair, bool) {
	p, ok := b.pairs[name]
	return p, ok
}

// Names returns every pair's name, sorted.
func (b *Bundle) Names() []string {
	out := make([]string, 0, len(b.pairs))
	for n := range b.pairs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Kubeconfig returns the kubeconfig of a client certificate: Admin, ControllerManager,
// Scheduler, KubeProxy, CalicoNode, CalicoCNI or Kubelet(host). It points at the plan's
// API server URL and embeds the CA trust bundle and the client certificate and key.
func (b *Bundle) Kubeconfig(name string) ([]byte, bool) {
	b.kcMu.Lock()
	defer b.kcMu.Unlock()
	if k, ok := b.kubeconfigs[name]; ok {
		return k, true
	}
	pair, ok := b.pairs[name]
	if !ok || b.kubeletServer == "" || !isKubeletClient(name, pair) {
		return nil, false
	}
	data, err := newKubeconfig(b.kubeletCluster, b.kubeletServer, b.pairs[CA].CertPEM, name, pair).Marshal()
	if err != nil {
		return nil, false
	}
	b.kubeconfigs[name] = data
	return data, true
}

// isKubeletClient reports whether pair is a kubelet's client certificate (the kubelet
// kubeconfigs are derived from these).
func isKubeletClient(name string, pair *Pair) bool {
	return strings.HasPrefix(name, "kubelet-") && pair.Cert != nil && pair.Cert.Subject.CommonName == NodeUserPrefix+strings.TrimPrefix(name, "kubelet-") &&
		slices.Contains(pair.Cert.Subject.Organization, NodesGroup)
}

// KubeconfigPath is where the kubeconfig of name is kept in the state directory
// (e.g. for `kubectl --kubeconfig`).
func (b *Bundle) KubeconfigPath(name string) string {
	return filepath.Join(b.dir, kubeconfigDir, name+kubeconfigSuffix)
}

// SSHHostKey returns host's ed25519 SSH host key: the private key in OpenSSH PEM form
// (for the node's user-data) and its public key as one authorized_keys line without a
// trailing newline (for known_hosts pinning: "HOST " + line).
func (b *Bundle) SSHHostKey(host string) (privPEM, authorizedKeyLine []byte, ok bool) {
	k, ok := b.ssh[host]
	return k.priv, k.authorized, ok
}

// Load reads the PKI in stateDir without changing anything but the mode of a private
// key its group or others could read (made 0600, with a warning in Bundle.Warnings).
// Every certificate must have its matching key; an incomplete pair (left by an
// interrupted run) is an error that says to run `kisgen certs issue`.
func Load(stateDir string) (*Bundle, error) {
	pkiPath := filepath.Join(stateDir, pkiDir)
	if st, err := os.Stat(pkiPath); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: %s does not exist (create it with `kisgen certs issue` or `kisgen render`)", ErrNoState, pkiPath)
	}
	cur, err := readPKIDir(pkiPath, nextDir, previousDir, retiredDir)
	if err != nil {
		return nil, err
	}
	next, err := readPKIDir(filepath.Join(pkiPath, nextDir))
	if err != nil {
		return nil, err
	}
	prev, err := readPKIDir(filepath.Join(pkiPath, previousDir))
	if err != nil {
		return nil, err
	}
	if err := checkForeign(stateDir); err != nil {
		return nil, err
	}
	b := newBundle(stateDir)
	binding, err := ReadBinding(stateDir)
	if err != nil {
		return nil, err
	}
	if binding != nil {
		b.clusterID = binding.ID
	}
	if b.warnings, err = tightenKeys(stateDir); err != nil {
		return nil, err
	}
	var errs []error
	repair := "run `kisgen certs issue` to repair it"
	for path := range cur.empty {
		if precious(filepath.Base(path)) {
			errs = append(errs, fmt.Errorf("%w: %s is empty: restore the CA from a backup (kisgen never replaces a CA or the service-account key)", ErrCorrupt, path))
			continue
		}
		errs = append(errs, fmt.Errorf("%w: %s is empty (an interrupted run?): %s", ErrCorrupt, path, repair))
	}
	for name, c := range cur.certs {
		if cur.empty[c.path] {
			continue
		}
		k, ok := cur.keys[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s has no key %s: %s", ErrCorrupt, c.path, keyFile(pkiPath, name), repair))
			continue
		}
		if cur.empty[k.path] {
			continue
		}
		pair, err := loadPair(name, c, k)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w (%s)", err, repair))
			continue
		}
		b.pairs[name] = pair
	}
	for name, k := range cur.keys {
		if _, ok := cur.certs[name]; ok || cur.empty[k.path] {
			continue
		}
		if name != ServiceAccount {
			errs = append(errs, fmt.Errorf("%w: %s has no certificate %s: %s", ErrCorrupt, k.path, certFile(pkiPath, name), repair))
			continue
		}
		pair, err := loadServiceAccount(k, cur.pubs[ServiceAccount])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.pairs[ServiceAccount] = pair
	}
	for name, pub := range cur.pubs {
		if name != ServiceAccount {
			errs = append(errs, fmt.Errorf("%w: %s: the only public key file kisgen keeps is %s", ErrForeign, pub.path, ServiceAccount+pubSuffix))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, ca := range []string{CA, EtcdCA, FrontProxyCA} {
		pair, ok := b.pairs[ca]
		if !ok {
			continue
		}
		extra, err := trustExtras(ca, next, prev, b.trustOnly)
		if err != nil {
			return nil, err
		}
		pair.CertPEM = append(encodeCert(pair.Cert), extra...)
	}
	if err := loadKubeconfigs(b, filepath.Join(stateDir, kubeconfigDir)); err != nil {
		return nil, err
	}
	if err := loadNodes(b, filepath.Join(stateDir, nodesDir)); err != nil {
		return nil, err
	}
	if err := deriveNodeKubeconfigs(b); err != nil {
		return nil, err
	}
	return b, nil
}

// precious reports whether a pki/ file name is a CA's or the service-account key's,
// which kisgen never writes again.
func precious(base string) bool {
	for _, n := range []string{CA, EtcdCA, FrontProxyCA, ServiceAccount} {
		if base == n+certSuffix || base == n+keySuffix {
			return true
		}
	}
	return false
}

// loadPair parses a certificate and its key and checks they belong together.
func loadPair(name string, c, k file) (*Pair, error) {
	cert, err := parseCertPEM(c.data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c.path, err)
	}
	key, err := parseKeyPEM(k.data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, k.path, err)
	}
	if !keyMatches(key, cert.PublicKey) {
		return nil, fmt.Errorf("%w: %s does not belong to %s", ErrKeyMismatch, k.path, c.path)
	}
	pub, err := publicKeyPEM(cert.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c.path, err)
	}
	certPEM := c.data
	if cert.IsCA {
		certPEM = encodeCert(cert)
	}
	return &Pair{Name: name, CertPEM: certPEM, KeyPEM: k.data, Cert: cert, PublicKeyPEM: pub}, nil
}

// loadServiceAccount parses the service-account key; its .pub file must match.
func loadServiceAccount(k, pub file) (*Pair, error) {
	key, err := parseKeyPEM(k.data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, k.path, err)
	}
	want, err := publicKeyPEM(key.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, k.path, err)
	}
	if pub.path != "" && string(pub.data) != string(want) {
		return nil, fmt.Errorf("%w: %s is not the public half of %s: delete it and run `kisgen certs issue` to write it again", ErrKeyMismatch, pub.path, k.path)
	}
	return &Pair{Name: ServiceAccount, KeyPEM: k.data, PublicKeyPEM: want}, nil
}

// trustExtras returns the PEM of the incoming (next/) and outgoing (previous/) CA
// certificates of name, which are trusted beside the signing CA during a rotation.
func trustExtras(name string, next, prev *pkiFiles, trustOnly map[string]*x509.Certificate) ([]byte, error) {
	var out []byte
	for _, set := range []*pkiFiles{next, prev} {
		c, ok := set.certs[name]
		if !ok {
			continue
		}
		cert, err := parseCertPEM(c.data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c.path, err)
		}
		if !cert.IsCA {
			return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrNotCA, c.path)
		}
		trustOnly[filepath.Base(set.dir)+"/"+name] = cert
		out = append(out, encodeCert(cert)...)
	}
	return out, nil
}

func loadKubeconfigs(b *Bundle, dir string) error {
	names, err := listFiles(dir, "kubeconfig files NAME"+kubeconfigSuffix, kubeconfigSuffix)
	if err != nil {
		return err
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		if _, err := ParseKubeconfig(data); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, filepath.Join(dir, n), err)
		}
		b.kubeconfigs[strings.TrimSuffix(n, kubeconfigSuffix)] = data
	}
	return nil
}

// loadNodes reads every node file: its certificates and keys, and its SSH host key.
func loadNodes(b *Bundle, dir string) error {
	names, err := listFiles(dir, "node files HOST"+certSuffix, certSuffix)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		path := filepath.Join(dir, n)
		host := strings.TrimSuffix(n, certSuffix)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			errs = append(errs, fmt.Errorf("%w: %s is empty (an interrupted run?): run `kisgen certs issue` to repair it", ErrCorrupt, path))
			continue
		}
		items, err := parseNodeFile(path, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, it := range items {
			if it.name == sshHostKeyItem {
				line, err := sshAuthorizedLine(it.keyPEM)
				if err != nil {
					errs = append(errs, fmt.Errorf("%w: %s: SSH host key: %v", ErrCorrupt, path, err))
					continue
				}
				b.ssh[host] = sshKey{priv: it.keyPEM, authorized: line}
				continue
			}
			if it.certPEM == nil || it.keyPEM == nil {
				errs = append(errs, fmt.Errorf("%w: %s: %s lacks its certificate or key: run `kisgen certs issue` to repair it", ErrCorrupt, path, it.name))
				continue
			}
			pair, err := loadPair(it.name, file{path, it.certPEM}, file{path, it.keyPEM})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if _, dup := b.pairs[it.name]; dup {
				errs = append(errs, fmt.Errorf("%w: %s: %s is also kept elsewhere in %s", ErrCorrupt, path, it.name, b.dir))
				continue
			}
			b.pairs[it.name] = pair
		}
	}
	return errors.Join(errs...)
}

// deriveNodeKubeconfigs prepares the kubelets' kubeconfigs (never stored) to be built
// on demand, with the cluster name and API server URL of the stored admin kubeconfig.
func deriveNodeKubeconfigs(b *Bundle) error {
	admin, ok := b.kubeconfigs[Admin]
	if _, hasCA := b.pairs[CA]; !ok || !hasCA {
		return nil
	}
	k, err := ParseKubeconfig(admin)
	if err != nil {
		return err
	}
	b.kubeletCluster, b.kubeletServer = k.Clusters[0].Name, k.Clusters[0].Cluster.Server
	return nil
}

// sshAuthorizedLine parses an OpenSSH ed25519 private key and returns its public key as
// an authorized_keys line without a trailing newline.
func sshAuthorizedLine(privPEM []byte) ([]byte, error) {
	raw, err := ssh.ParseRawPrivateKey(privPEM)
	if err != nil {
		return nil, fmt.Errorf("not an OpenSSH private key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(raw)
	if err != nil {
		return nil, err
	}
	if t := signer.PublicKey().Type(); t != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("host key type %s, want %s", t, ssh.KeyAlgoED25519)
	}
	line := ssh.MarshalAuthorizedKey(signer.PublicKey())
	return line[:len(line)-1], nil
}
