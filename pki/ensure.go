package pki

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/plan"
)

// Ensure issues or reuses every certificate and key the plan needs in stateDir and
// returns them. It never overwrites a CA or the service-account key. A leaf certificate
// is reissued only when its CN, O, SANs, key algorithm, key usages or issuer no longer
// match the plan, when it is inside the renewal window (plan renew_before), when its
// files are incomplete, or when opts asks for rotation; each reissue is reported with
// its reason. A second run with the same plan changes nothing. Two Ensure calls on the
// same directory (in one process or several) run one after the other. stateDir must
// belong to p's cluster (see Binding); a new one is bound to it.
func Ensure(p *plan.Plan, stateDir string, opts Options) (*Bundle, []Change, error) {
	if p == nil {
		return nil, nil, errors.New("pki: no plan")
	}
	now := opts.now()
	specs, err := leafSpecs(p)
	if err != nil {
		return nil, nil, err
	}
	forced, err := rotationSet(specs, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := checkMisplaced(stateDir); err != nil {
		return nil, nil, err
	}
	if err := prepareDirs(stateDir); err != nil {
		return nil, nil, err
	}
	unlock, err := lockState(stateDir)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	binding, err := bindCluster(stateDir, p)
	if err != nil {
		return nil, nil, err
	}
	if err := removeTemps(stateDir); err != nil {
		return nil, nil, err
	}
	if err := checkForeign(stateDir); err != nil {
		return nil, nil, err
	}
	warnings, err := tightenKeys(stateDir)
	if err != nil {
		return nil, nil, err
	}
	pkiPath := filepath.Join(stateDir, pkiDir)
	cur, err := readPKIDir(pkiPath, nextDir, previousDir, retiredDir)
	if err != nil {
		return nil, nil, err
	}
	next, err := readPKIDir(filepath.Join(pkiPath, nextDir))
	if err != nil {
		return nil, nil, err
	}
	prev, err := readPKIDir(filepath.Join(pkiPath, previousDir))
	if err != nil {
		return nil, nil, err
	}

	w := &writer{}
	b := newBundle(stateDir)
	b.clusterID = binding.ID
	b.warnings = warnings
	var changes []Change

	// CAs first: everything else is signed by them.
	cas := map[string]*authority{}
	for _, s := range caSpecs(p) {
		a, ch, err := ensureCA(p, s, cur, next, w, now)
		if err != nil {
			return nil, nil, err
		}
		if ch != nil {
			changes = append(changes, *ch)
		}
		extra, err := trustExtras(s.name, next, prev, b.trustOnly)
		if err != nil {
			return nil, nil, err
		}
		pub, err := publicKeyPEM(a.cert.PublicKey)
		if err != nil {
			return nil, nil, err
		}
		cas[s.name] = a
		b.pairs[s.name] = &Pair{Name: s.name, CertPEM: append(encodeCert(a.cert), extra...), KeyPEM: a.keyPEM, Cert: a.cert, PublicKeyPEM: pub}
	}

	sa, ch, err := ensureServiceAccount(p, cur, w)
	if err != nil {
		return nil, nil, err
	}
	b.pairs[ServiceAccount] = sa
	if ch != nil {
		changes = append(changes, *ch)
	}

	// Leaves, in parallel: key generation and signatures are the bulk of the work.
	// Cluster-wide leaves are one job each; each host's leaves and SSH host key are one
	// job that writes the host's node file once.
	type job struct {
		host  string
		specs []*spec
	}
	var jobs []job
	byHost := map[string]int{}
	for _, s := range specs {
		if s.host == "" {
			jobs = append(jobs, job{specs: []*spec{s}})
		}
	}
	for _, n := range p.Nodes {
		byHost[n.Host] = len(jobs)
		jobs = append(jobs, job{host: n.Host})
	}
	for _, s := range specs {
		if s.host != "" {
			j := &jobs[byHost[s.host]]
			j.specs = append(j.specs, s)
		}
	}
	type result struct {
		pairs   []*Pair
		changes []Change
		ssh     sshKey
		err     error
	}
	results := make([]result, len(jobs))
	lc := leafContext{p: p, cas: cas, forced: forced, w: w, now: now}
	parallel(len(jobs), func(i int) {
		r := &results[i]
		if jobs[i].host == "" {
			pair, ch, err := lc.ensureClusterLeaf(jobs[i].specs[0], cur)
			r.pairs, r.err = []*Pair{pair}, err
			if ch != nil {
				r.changes = []Change{*ch}
			}
			return
		}
		r.pairs, r.ssh, r.changes, r.err = lc.ensureNode(stateDir, jobs[i].host, jobs[i].specs)
	})
	var errs []error
	reissued := map[string]bool{}
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		for _, pair := range r.pairs {
			b.pairs[pair.Name] = pair
		}
		if h := jobs[i].host; h != "" {
			b.ssh[h] = r.ssh
		}
		for _, c := range r.changes {
			reissued[c.Name] = true
		}
		changes = append(changes, r.changes...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, errors.Join(err, w.sync(stateDir))
	}

	// Kubeconfigs: the control plane's are written to kubeconfig/; the kubelets' are
	// derived from their certificates when asked for (Bundle.Kubeconfig), never stored.
	var users []string
	for _, u := range kubeconfigUsers(p) {
		if !isKubeletClient(u, b.pairs[u]) {
			users = append(users, u)
		}
	}
	b.kubeletCluster, b.kubeletServer = p.Name, p.APIServerURL()
	for _, u := range users {
		data, err := newKubeconfig(p.Name, p.APIServerURL(), b.pairs[CA].CertPEM, u, b.pairs[u]).Marshal()
		if err != nil {
			return nil, nil, fmt.Errorf("kubeconfig %s: %w", u, err)
		}
		ch, err := writeKubeconfig(stateDir, u, data, reissued[u], w)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b.kubeconfigs[u] = data
		if ch != nil {
			changes = append(changes, *ch)
		}
	}
	if err := writeKnownHosts(p, stateDir, b, w); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, w.sync(stateDir))
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if opts.Log != nil {
		for _, c := range changes {
			fmt.Fprintln(opts.Log, c.String())
		}
	}
	return b, changes, nil
}

// rotationSet checks the names to rotate and returns the set of leaves to reissue.
func rotationSet(specs []*spec, opts Options) (map[string]bool, error) {
	forced := map[string]bool{}
	known := map[string]bool{}
	for _, s := range specs {
		known[s.name] = true
		if opts.RotateAll {
			forced[s.name] = true
		}
	}
	var errs []error
	for _, n := range opts.Rotate {
		switch {
		case n == CA || n == EtcdCA || n == FrontProxyCA:
			errs = append(errs, fmt.Errorf("%w: %s is a CA: rotate it with `kisgen certs rotate --ca=%s` (a CA rotation has steps; see docs/pki.md)", ErrUnknownName, n, n))
		case n == ServiceAccount:
			errs = append(errs, fmt.Errorf("%w: %s is the service-account signing key, not a certificate: replacing it invalidates every token; see docs/pki.md", ErrUnknownName, n))
		case !known[n]:
			errs = append(errs, fmt.Errorf("%w: %q is not a certificate of this plan (see `kisgen certs list`)", ErrUnknownName, n))
		default:
			forced[n] = true
		}
	}
	return forced, errors.Join(errs...)
}

// checkMisplaced catches a brought CA placed at the top of the state directory, where
// Kismatic users may look for it, instead of in pki/.
func checkMisplaced(stateDir string) error {
	var errs []error
	for _, n := range []string{CA, EtcdCA, FrontProxyCA} {
		for _, f := range []string{n + certSuffix, n + keySuffix} {
			path := filepath.Join(stateDir, f)
			if _, err := os.Lstat(path); err == nil {
				errs = append(errs, fmt.Errorf("%w: %s: a CA you bring belongs in %s: move %s and %s there (mode 0600 for the key) before the first run",
					ErrForeign, path, filepath.Join(stateDir, pkiDir), n+certSuffix, n+keySuffix))
			}
		}
	}
	return errors.Join(errs...)
}

// ensureCA loads the CA s.name from cur or creates it. An existing CA is validated,
// never replaced; a CA key without a certificate (a creation that was interrupted, or a
// key brought alone) gets a certificate for that same key.
func ensureCA(p *plan.Plan, s *spec, cur, next *pkiFiles, w *writer, now time.Time) (*authority, *Change, error) {
	c, hasCert := cur.certs[s.name]
	k, hasKey := cur.keys[s.name]
	for _, f := range []file{c, k} {
		if f.path != "" && cur.empty[f.path] {
			return nil, nil, fmt.Errorf("%w: %s is empty: restore the CA from a backup (kisgen never replaces a CA file)", ErrCorrupt, f.path)
		}
	}
	certPath, keyPath := certFile(cur.dir, s.name), keyFile(cur.dir, s.name)
	switch {
	case hasCert && hasKey:
		a, err := loadAuthority(s.name, c, k, now)
		if errors.Is(err, ErrKeyMismatch) {
			if n, ok := next.certs[s.name]; ok {
				if nc, perr := parseCertPEM(n.data); perr == nil {
					if key, kerr := parseKeyPEM(k.data); kerr == nil && keyMatches(key, nc.PublicKey) {
						return nil, nil, fmt.Errorf("%w: the promotion of %s was interrupted (%s already holds the new key): run `kisgen certs rotate --ca=%s --promote` again to complete it",
							ErrRotation, s.name, keyPath, s.name)
					}
				}
			}
		}
		return a, nil, err
	case hasCert:
		return nil, nil, fmt.Errorf("%w: %s is there but %s is not: kisgen signs with the CA key, so place it beside the certificate (mode 0600)", ErrMissingKey, certPath, keyPath)
	case hasKey:
		key, err := parseKeyPEM(k.data)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, k.path, err)
		}
		certPEM, _, err := newCA(p, s, key, now)
		if err != nil {
			return nil, nil, err
		}
		if err := w.create(certPath, certPEM, publicPerm); err != nil {
			return nil, nil, err
		}
		a, err := loadAuthority(s.name, file{certPath, certPEM}, k, now)
		if err != nil {
			return nil, nil, err
		}
		return a, &Change{Name: s.name, Action: ActionCreated, Reason: fmt.Sprintf("CA certificate for the existing key %s (CN %s, valid until %s)", keyPath, s.cn, day(a.cert.NotAfter))}, nil
	}
	certPEM, keyPEM, err := newCA(p, s, nil, now)
	if err != nil {
		return nil, nil, err
	}
	// Key first: if the run stops between the two, the next run finds the key alone and
	// makes its certificate (above); it never makes a second key.
	if err := w.create(keyPath, keyPEM, keyPerm); err != nil {
		return nil, nil, err
	}
	if err := w.create(certPath, certPEM, publicPerm); err != nil {
		return nil, nil, err
	}
	a, err := loadAuthority(s.name, file{certPath, certPEM}, file{keyPath, keyPEM}, now)
	if err != nil {
		return nil, nil, err
	}
	return a, &Change{Name: s.name, Action: ActionCreated, Reason: fmt.Sprintf("new CA (CN %s, %s, valid until %s)", s.cn, keyAlgorithm(a.cert.PublicKey), day(a.cert.NotAfter))}, nil
}

// loadAuthority parses and checks a CA certificate and key (kisgen's or brought).
func loadAuthority(name string, c, k file, now time.Time) (*authority, error) {
	cert, err := parseCertPEM(c.data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, c.path, err)
	}
	if err := checkCA(cert, now); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotCA, c.path, err)
	}
	key, err := parseKeyPEM(k.data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, k.path, err)
	}
	if !keyMatches(key, cert.PublicKey) {
		return nil, fmt.Errorf("%w: %s is not the key of %s (CN %s): place the matching pair", ErrKeyMismatch, k.path, c.path, cert.Subject.CommonName)
	}
	return &authority{name: name, cert: cert, certPEM: encodeCert(cert), key: key, keyPEM: k.data}, nil
}

// checkCA says why cert cannot sign leaves, or nil.
func checkCA(cert *x509.Certificate, now time.Time) error {
	switch {
	case !cert.BasicConstraintsValid || !cert.IsCA:
		return fmt.Errorf("CN %s is not a CA certificate (basic constraints CA:TRUE missing)", cert.Subject.CommonName)
	case cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("CN %s lacks the certificate-signing key usage", cert.Subject.CommonName)
	case !now.Before(cert.NotAfter):
		return fmt.Errorf("CN %s expired on %s: start a CA rotation (`kisgen certs rotate --ca`)", cert.Subject.CommonName, day(cert.NotAfter))
	}
	switch keyAlgorithm(cert.PublicKey) {
	case plan.ECDSAP256, plan.RSA2048, plan.RSA3072, plan.RSA4096:
		return nil
	}
	if _, ok := cert.PublicKey.(ed25519.PublicKey); ok {
		return fmt.Errorf("CN %s has an ed25519 key: use ECDSA P-256 or RSA (2048-4096)", cert.Subject.CommonName)
	}
	return fmt.Errorf("CN %s has a %s key: use ECDSA P-256 or RSA (2048-4096)", cert.Subject.CommonName, keyAlgorithm(cert.PublicKey))
}

// ensureServiceAccount loads or creates the service-account key pair. Like a CA, it is
// never replaced: every token the cluster issued is signed with it.
func ensureServiceAccount(p *plan.Plan, cur *pkiFiles, w *writer) (*Pair, *Change, error) {
	keyPath := keyFile(cur.dir, ServiceAccount)
	pubPath := filepath.Join(cur.dir, ServiceAccount+pubSuffix)
	k, hasKey := cur.keys[ServiceAccount]
	if hasKey && cur.empty[k.path] {
		return nil, nil, fmt.Errorf("%w: %s is empty: restore it from a backup (kisgen never replaces it: every service-account token is signed with it)", ErrCorrupt, k.path)
	}
	if c, ok := cur.certs[ServiceAccount]; ok {
		return nil, nil, fmt.Errorf("%w: %s: the service-account key has no certificate", ErrForeign, c.path)
	}
	if !hasKey {
		keyPEM, pubPEM, err := newServiceAccountKey(p.Certificates.KeyAlgorithm)
		if err != nil {
			return nil, nil, err
		}
		if err := w.create(keyPath, keyPEM, keyPerm); err != nil {
			return nil, nil, err
		}
		if err := w.replace(pubPath, pubPEM, publicPerm); err != nil {
			return nil, nil, err
		}
		return &Pair{Name: ServiceAccount, KeyPEM: keyPEM, PublicKeyPEM: pubPEM}, &Change{Name: ServiceAccount, Action: ActionCreated, Reason: "new signing key for service-account tokens"}, nil
	}
	pub := cur.pubs[ServiceAccount]
	if cur.empty[pub.path] {
		pub = file{}
	}
	pair, err := loadServiceAccount(k, pub)
	if err != nil {
		return nil, nil, err
	}
	if pub.path == "" {
		if err := w.replace(pubPath, pair.PublicKeyPEM, publicPerm); err != nil {
			return nil, nil, err
		}
		return pair, &Change{Name: ServiceAccount, Action: ActionCreated, Reason: "public key file written from the existing key"}, nil
	}
	return pair, nil, nil
}

// leafContext is what every leaf job shares.
type leafContext struct {
	p      *plan.Plan
	cas    map[string]*authority
	forced map[string]bool
	w      *writer
	now    time.Time
}

// check decides whether the existing certificate and key of s (either may be nil) can be
// kept. It returns the pair to keep, or the action and reasons to issue it again.
func (lc *leafContext) check(s *spec, certPEM, keyPEM []byte, certPath, keyPath string) (*Pair, string, []string, error) {
	switch {
	case certPEM == nil && keyPEM == nil:
		return nil, ActionCreated, []string{"new"}, nil
	case certPEM == nil:
		return nil, ActionReissued, []string{"certificate missing"}, nil
	case keyPEM == nil:
		return nil, ActionReissued, []string{"key missing"}, nil
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w: %s: %s: %v: delete it to have it issued again", ErrCorrupt, certPath, s.name, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, "", nil, fmt.Errorf("%w: %s: key of %s: %v: delete it to have it issued again", ErrCorrupt, keyPath, s.name, err)
	}
	var reasons []string
	if !keyMatches(key, cert.PublicKey) {
		reasons = append(reasons, "key does not match the certificate (an interrupted run?)")
	}
	if lc.forced[s.name] {
		reasons = append(reasons, "rotation requested")
	}
	reasons = append(reasons, mismatches(lc.p, s, cert, lc.cas[s.issuer], lc.now)...)
	if len(reasons) > 0 {
		return nil, ActionReissued, reasons, nil
	}
	pub, err := publicKeyPEM(cert.PublicKey)
	if err != nil {
		return nil, "", nil, err
	}
	return &Pair{Name: s.name, CertPEM: certPEM, KeyPEM: keyPEM, Cert: cert, PublicKeyPEM: pub}, "", nil, nil
}

// issue issues s and returns the new pair.
func (lc *leafContext) issue(s *spec) (*Pair, error) {
	certPEM, keyPEM, err := issueLeaf(lc.p, s, lc.cas[s.issuer], lc.now)
	if err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: the new certificate does not parse: %w", s.name, err)
	}
	pub, err := publicKeyPEM(cert.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Pair{Name: s.name, CertPEM: certPEM, KeyPEM: keyPEM, Cert: cert, PublicKeyPEM: pub}, nil
}

// ensureClusterLeaf reuses or issues a cluster-wide leaf kept as pki/NAME.pem and
// pki/NAME-key.pem.
func (lc *leafContext) ensureClusterLeaf(s *spec, cur *pkiFiles) (*Pair, *Change, error) {
	c, k := cur.certs[s.name], cur.keys[s.name]
	certPath, keyPath := certFile(cur.dir, s.name), keyFile(cur.dir, s.name)
	var action string
	var reasons []string
	if cur.empty[c.path] || cur.empty[k.path] {
		action, reasons = ActionReissued, []string{"empty file left by an interrupted run"}
	} else {
		pair, a, r, err := lc.check(s, c.data, k.data, certPath, keyPath)
		if err != nil || pair != nil {
			return pair, nil, err
		}
		action, reasons = a, r
	}
	pair, err := lc.issue(s)
	if err != nil {
		return nil, nil, err
	}
	// Key first, then certificate: a run stopped in between leaves a pair that does not
	// match, which the next run detects and reissues.
	if err := lc.w.replace(keyPath, pair.KeyPEM, keyPerm); err != nil {
		return nil, nil, err
	}
	if err := lc.w.replace(certPath, pair.CertPEM, publicPerm); err != nil {
		return nil, nil, err
	}
	return pair, &Change{Name: s.name, Action: action, Reason: strings.Join(reasons, "; ")}, nil
}

// ensureNode reuses or issues every leaf of one host and its SSH host key, and rewrites
// the host's node file (one atomic rename) when anything in it changed.
func (lc *leafContext) ensureNode(stateDir, host string, specs []*spec) ([]*Pair, sshKey, []Change, error) {
	path := filepath.Join(stateDir, nodesDir, host+certSuffix)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, sshKey{}, nil, err
	}
	var existing []nodeItem
	emptyFile := err == nil && len(bytes.TrimSpace(data)) == 0
	if err == nil && !emptyFile {
		if existing, err = parseNodeFile(path, data); err != nil {
			return nil, sshKey{}, nil, err
		}
	}
	have := map[string]nodeItem{}
	for _, it := range existing {
		have[it.name] = it
	}
	var (
		pairs   []*Pair
		items   []nodeItem
		changes []Change
		wanted  = map[string]bool{sshHostKeyItem: true}
	)
	for _, s := range specs {
		wanted[s.name] = true
		it := have[s.name]
		var action string
		var reasons []string
		if emptyFile {
			action, reasons = ActionReissued, []string{"empty file left by an interrupted run"}
		} else {
			pair, a, r, err := lc.check(s, it.certPEM, it.keyPEM, path, path)
			if err != nil {
				return nil, sshKey{}, nil, err
			}
			if pair != nil {
				pairs = append(pairs, pair)
				items = append(items, it)
				continue
			}
			action, reasons = a, r
		}
		pair, err := lc.issue(s)
		if err != nil {
			return nil, sshKey{}, nil, err
		}
		pairs = append(pairs, pair)
		items = append(items, nodeItem{name: s.name, certPEM: pair.CertPEM, keyPEM: pair.KeyPEM})
		changes = append(changes, Change{Name: s.name, Action: action, Reason: strings.Join(reasons, "; ")})
	}

	sshItem, hasSSH := have[sshHostKeyItem]
	var key sshKey
	if hasSSH && !emptyFile {
		line, err := sshAuthorizedLine(sshItem.keyPEM)
		if err != nil {
			return nil, sshKey{}, nil, fmt.Errorf("%w: %s: SSH host key: %v", ErrCorrupt, path, err)
		}
		key = sshKey{priv: sshItem.keyPEM, authorized: line}
	} else {
		action, reason := ActionCreated, "new ed25519 host key"
		if emptyFile {
			action, reason = ActionReissued, "empty file left by an interrupted run"
		}
		if key, err = newSSHHostKey(host); err != nil {
			return nil, sshKey{}, nil, err
		}
		changes = append(changes, Change{Name: sshDir + "/" + host, Action: action, Reason: reason})
	}
	items = append(items, nodeItem{name: sshHostKeyItem, keyPEM: key.priv})
	// Items of roles the host no longer has are kept, so nothing is lost silently.
	for _, it := range existing {
		if !wanted[it.name] {
			items = append(items, it)
		}
	}
	if len(changes) > 0 {
		if err := lc.w.replace(path, formatNodeFile(host, items), keyPerm); err != nil {
			return nil, sshKey{}, nil, err
		}
	}
	return pairs, key, changes, nil
}

// mismatches lists every way cert differs from what the plan wants.
func mismatches(p *plan.Plan, s *spec, cert *x509.Certificate, ca *authority, now time.Time) []string {
	var out []string
	if !bytes.Equal(cert.RawIssuer, ca.cert.RawSubject) || cert.CheckSignatureFrom(ca.cert) != nil {
		if bytes.Equal(cert.RawIssuer, ca.cert.RawSubject) {
			out = append(out, fmt.Sprintf("issued by another %s with the same name (the CA was rotated or replaced)", s.issuer))
		} else {
			out = append(out, fmt.Sprintf("issued by %q, not by %s %q", cert.Issuer.String(), s.issuer, ca.cert.Subject.String()))
		}
	}
	if cert.Subject.CommonName != s.cn {
		out = append(out, fmt.Sprintf("CN %q, plan wants %q", cert.Subject.CommonName, s.cn))
	}
	if got, want := sortedCopy(cert.Subject.Organization), sortedCopy(s.org); !slices.Equal(got, want) {
		out = append(out, fmt.Sprintf("O %v, plan wants %v", got, want))
	}
	gotDNS, gotIPs := certSANs(cert.DNSNames, cert.IPAddresses)
	if d := sanDiff(append(gotDNS, gotIPs...), append(sortedCopy(s.dns), sortedCopy(s.ips)...)); d != "" {
		out = append(out, "SANs changed: "+d)
	}
	if got := keyAlgorithm(cert.PublicKey); got != p.Certificates.KeyAlgorithm {
		out = append(out, fmt.Sprintf("key algorithm %s, plan wants %s", got, p.Certificates.KeyAlgorithm))
	} else {
		ku, eku := wantUsage(s.kind, strings.HasPrefix(string(got), "rsa-"))
		if cert.KeyUsage != ku || !slices.Equal(cert.ExtKeyUsage, eku) || cert.IsCA {
			out = append(out, fmt.Sprintf("key usages are not those of a %s certificate", s.kind))
		}
	}
	switch {
	case !now.Before(cert.NotAfter):
		out = append(out, fmt.Sprintf("expired on %s", day(cert.NotAfter)))
	case !now.Add(p.Certificates.RenewBefore).Before(cert.NotAfter):
		out = append(out, fmt.Sprintf("expires on %s, within the renewal window (renew_before %s)", day(cert.NotAfter), p.Certificates.RenewBefore))
	}
	return out
}

// sanDiff describes how got differs from want ("" when they hold the same values).
func sanDiff(got, want []string) string {
	g, wnt := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		wnt[s] = true
	}
	var added, removed []string
	for _, s := range want {
		if !g[s] {
			added = append(added, s)
		}
	}
	for _, s := range got {
		if !wnt[s] {
			removed = append(removed, s)
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	return strings.Join(parts, "; ")
}

// writeKubeconfig writes kubeconfig/USER.conf when it is missing or out of date.
func writeKubeconfig(stateDir, user string, data []byte, certChanged bool, w *writer) (*Change, error) {
	path := filepath.Join(stateDir, kubeconfigDir, user+kubeconfigSuffix)
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, data):
		return nil, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	ch := &Change{Name: kubeconfigDir + "/" + user, Action: ActionReissued, Reason: "API server URL or CA bundle changed"}
	switch {
	case err != nil:
		ch.Action, ch.Reason = ActionCreated, "new"
	case certChanged:
		ch.Reason = "client certificate reissued"
	}
	if err := w.replace(path, data, keyPerm); err != nil {
		return nil, err
	}
	return ch, nil
}

// newSSHHostKey makes an ed25519 SSH host key for host.
func newSSHHostKey(host string) (sshKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return sshKey{}, err
	}
	block, err := ssh.MarshalPrivateKey(key, "root@"+host)
	if err != nil {
		return sshKey{}, err
	}
	priv := pem.EncodeToMemory(block)
	line, err := sshAuthorizedLine(priv)
	if err != nil {
		return sshKey{}, err
	}
	return sshKey{priv: priv, authorized: line}, nil
}

// writeKnownHosts writes ssh/known_hosts: every node's host key under its name and
// addresses, for `ssh -o UserKnownHostsFile=STATE/ssh/known_hosts`.
func writeKnownHosts(p *plan.Plan, stateDir string, b *Bundle, w *writer) error {
	var buf bytes.Buffer
	for _, n := range p.Nodes {
		names := []string{n.Host}
		for _, a := range []string{n.IP.String(), n.InternalIP.String()} {
			if a != "invalid IP" && !slices.Contains(names, a) {
				names = append(names, a)
			}
		}
		fmt.Fprintf(&buf, "%s %s\n", strings.Join(names, ","), b.ssh[n.Host].authorized)
	}
	path := filepath.Join(stateDir, sshDir, knownHosts)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, buf.Bytes()) {
		return nil
	}
	return w.replace(path, buf.Bytes(), publicPerm)
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

// encodeCert re-encodes a certificate as one clean PEM block.
func encodeCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// day formats t as a date for messages.
func day(t time.Time) string { return t.UTC().Format("2006-01-02") }
