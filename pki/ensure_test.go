package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/plan"
)

var (
	serverUse = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientUse = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	peerUse   = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
)

// verifyChain checks that pair name chains to the CA issuer for usage, and to no other
// of the three CAs (each CA trusts only what it should).
func verifyChain(t *testing.T, b *Bundle, name, issuer string, usage []x509.ExtKeyUsage, at time.Time) *x509.Certificate {
	t.Helper()
	pair, ok := b.Get(name)
	if !ok {
		t.Fatalf("%s missing from the bundle", name)
	}
	for _, ca := range []string{CA, EtcdCA, FrontProxyCA} {
		caPair, _ := b.Get(ca)
		_, err := pair.Cert.Verify(x509.VerifyOptions{Roots: pool(t, caPair.CertPEM), KeyUsages: usage, CurrentTime: at})
		switch {
		case ca == issuer && err != nil:
			t.Errorf("%s does not verify against %s for %v: %v", name, ca, usage, err)
		case ca != issuer && err == nil:
			t.Errorf("%s verifies against %s too: the CAs must be separate", name, ca)
		}
	}
	return pair.Cert
}

func sansOf(c *x509.Certificate) []string {
	var out []string
	out = append(out, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	sort.Strings(out)
	return out
}

func TestEnsureIssuesEveryCertificateTheHAPlanNeeds(t *testing.T) {
	p := examplePlan(t, "ha.yaml")
	now := time.Now().UTC().Truncate(time.Second)
	b, changes := mustEnsure(t, p, t.TempDir(), Options{Now: func() time.Time { return now }})

	wantNames := []string{
		"admin", "apiserver-etcd-client", "apiserver-kubelet-client", "apiserver-master1", "apiserver-master2",
		"ca", "calico-cni", "calico-node", "etcd-ca", "etcd-healthcheck-client",
		"etcd-peer-etcd1", "etcd-peer-etcd2", "etcd-peer-etcd3", "etcd-server-etcd1", "etcd-server-etcd2", "etcd-server-etcd3",
		"front-proxy-ca", "front-proxy-client", "kisgen-hosts-reader", "kube-controller-manager", "kube-proxy", "kube-scheduler",
		"kubelet-master1", "kubelet-master2", "kubelet-serving-master1", "kubelet-serving-master2",
		"kubelet-serving-worker1", "kubelet-serving-worker2", "kubelet-serving-worker3",
		"kubelet-worker1", "kubelet-worker2", "kubelet-worker3", "service-account",
	}
	if diff := cmp.Diff(wantNames, b.Names()); diff != "" {
		t.Errorf("bundle names (-want +got):\n%s", diff)
	}
	for _, c := range changes {
		if c.Action != ActionCreated {
			t.Errorf("first run: %s", c)
		}
	}

	etcdSANs := func(host, ip string) []string { return []string{ip, "127.0.0.1", host, "localhost"} }
	cases := []struct {
		name, issuer, cn string
		org              []string
		sans             []string
		usage            []x509.ExtKeyUsage
	}{
		{"etcd-server-etcd1", EtcdCA, "etcd1", nil, etcdSANs("etcd1", "10.10.0.11"), peerUse},
		{"etcd-peer-etcd2", EtcdCA, "kisgen-etcd-peer", nil, etcdSANs("etcd2", "10.10.0.12"), peerUse},
		{"apiserver-etcd-client", EtcdCA, "kube-apiserver-etcd-client", nil, nil, clientUse},
		{"etcd-healthcheck-client", EtcdCA, "kube-etcd-healthcheck-client", nil, nil, clientUse},
		{"apiserver-master1", CA, "kube-apiserver", nil, []string{
			"10.10.0.20", "10.10.0.21", "127.0.0.1", "172.17.0.1", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "kubernetes.example.com", "localhost", "master1"}, serverUse},
		{"apiserver-master2", CA, "kube-apiserver", nil, []string{
			"10.10.0.20", "10.10.0.22", "127.0.0.1", "172.17.0.1", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "kubernetes.example.com", "localhost", "master2"}, serverUse},
		{"apiserver-kubelet-client", CA, "kube-apiserver-kubelet-client", nil, nil, clientUse},
		{"front-proxy-client", FrontProxyCA, "front-proxy-client", nil, nil, clientUse},
		{"admin", CA, "admin", []string{"system:masters"}, nil, clientUse},
		{"kube-controller-manager", CA, "system:kube-controller-manager", nil, nil, clientUse},
		{"kube-scheduler", CA, "system:kube-scheduler", nil, nil, clientUse},
		{"kube-proxy", CA, "system:kube-proxy", nil, nil, clientUse},
		{"calico-node", CA, "calico-node", nil, nil, clientUse},
		{"calico-cni", CA, "calico-cni", nil, nil, clientUse},
		{"kisgen-hosts-reader", CA, "kisgen:hosts-reader", nil, nil, clientUse},
		{"kubelet-worker2", CA, "system:node:worker2", []string{"system:nodes"}, nil, clientUse},
		{"kubelet-master1", CA, "system:node:master1", []string{"system:nodes"}, nil, clientUse},
		{"kubelet-serving-worker2", CA, "worker2", nil, []string{"10.10.0.32", "worker2"}, serverUse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := verifyChain(t, b, tc.name, tc.issuer, tc.usage, now)
			if c.Subject.CommonName != tc.cn {
				t.Errorf("CN %q, want %q", c.Subject.CommonName, tc.cn)
			}
			if diff := cmp.Diff(tc.org, c.Subject.Organization); diff != "" {
				t.Errorf("O (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.sans, sansOf(c)); diff != "" {
				t.Errorf("SANs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.usage, c.ExtKeyUsage); diff != "" {
				t.Errorf("extended key usage (-want +got):\n%s", diff)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("key usage %b, want digital signature only (ECDSA key)", c.KeyUsage)
			}
			if c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("leaf has CA:TRUE or no basic constraints")
			}
			if got, want := c.NotAfter, now.Add(17520*time.Hour); !got.Equal(want) {
				t.Errorf("not after %s, want %s (expiry 17520h)", got, want)
			}
			if got, want := c.NotBefore, now.Add(-time.Hour); !got.Equal(want) {
				t.Errorf("not before %s, want %s (backdated an hour)", got, want)
			}
			if diff := cmp.Diff([]string{"Troy"}, c.Subject.Locality); diff != "" {
				t.Errorf("locality (-want +got):\n%s", diff)
			}
			if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
				t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
			}
		})
	}

	for _, tc := range []struct{ name, cn string }{{CA, "production"}, {EtcdCA, "production-etcd"}, {FrontProxyCA, "production-front-proxy"}} {
		pair, _ := b.Get(tc.name)
		c := pair.Cert
		if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
			t.Errorf("%s: want CA:TRUE, pathlen 0; got CA %v pathlen %d", tc.name, c.IsCA, c.MaxPathLen)
		}
		if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
			t.Errorf("%s: key usage %b, want cert sign and CRL sign", tc.name, c.KeyUsage)
		}
		if c.Subject.CommonName != tc.cn {
			t.Errorf("%s: CN %q, want %q", tc.name, c.Subject.CommonName, tc.cn)
		}
		if diff := cmp.Diff(pkixName{[]string{"US"}, []string{"New York"}, []string{"Troy"}, []string{"kisgen"}},
			pkixName{c.Subject.Country, c.Subject.Province, c.Subject.Locality, c.Subject.OrganizationalUnit}); diff != "" {
			t.Errorf("%s: subject (-want +got):\n%s", tc.name, diff)
		}
		if got, want := c.NotAfter, now.Add(43800*time.Hour); !got.Equal(want) {
			t.Errorf("%s: not after %s, want %s (ca_expiry 43800h)", tc.name, got, want)
		}
	}

	sa, _ := b.Get(ServiceAccount)
	key, err := parseKeyPEM(sa.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := key.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("service-account key %T, want ECDSA P-256 (ES256 tokens)", key)
	}
	if pub, _ := publicKeyPEM(key.Public()); string(pub) != string(sa.PublicKeyPEM) {
		t.Errorf("service-account public key does not match its private key")
	}
	if sa.CertPEM != nil || sa.Cert != nil {
		t.Errorf("service-account has a certificate")
	}

	for _, n := range p.Nodes {
		_, hasKC := b.Kubeconfig(Kubelet(n.Host))
		if hasKC != n.IsKubernetesNode() {
			t.Errorf("%s: kubelet kubeconfig present %v, want %v", n.Host, hasKC, n.IsKubernetesNode())
		}
		if _, line, ok := b.SSHHostKey(n.Host); !ok || len(line) == 0 {
			t.Errorf("%s: no SSH host key", n.Host)
		}
	}
}

type pkixName struct{ C, ST, L, OU []string }

// verifyAll checks every leaf of the plan against its CA and usage.
func verifyAll(t *testing.T, p *plan.Plan, b *Bundle, at time.Time) {
	t.Helper()
	specs, err := leafSpecs(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		use := map[kind][]x509.ExtKeyUsage{kindServer: serverUse, kindClient: clientUse, kindPeer: peerUse}[s.kind]
		verifyChain(t, b, s.name, s.issuer, use, at)
	}
}

func TestEnsureIssuesEveryExamplePlan(t *testing.T) {
	for _, name := range []string{"minimal.yaml", "ha.yaml", "kismatic-v1.12.yaml"} {
		t.Run(name, func(t *testing.T) {
			p := examplePlan(t, name)
			b, _ := mustEnsure(t, p, t.TempDir(), Options{})
			verifyAll(t, p, b, time.Now())
			// kismatic-v1.12 has internal IPs: they must be SANs too.
			for _, n := range p.NodesWith(plan.RoleMaster) {
				pair, _ := b.Get(APIServer(n.Host))
				for _, a := range []string{n.IP.String(), n.InternalIP.String(), p.FirstServiceIP().String()} {
					if !slices.ContainsFunc(pair.Cert.IPAddresses, func(ip net.IP) bool { return ip.String() == a }) {
						t.Errorf("%s lacks IP SAN %s", APIServer(n.Host), a)
					}
				}
			}
		})
	}
}

// checkKeys checks every key and certificate of b against the plan's key algorithm.
func checkKeys(t *testing.T, b *Bundle, rsaBits int, sig x509.SignatureAlgorithm) {
	t.Helper()
	for _, name := range b.Names() {
		pair, _ := b.Get(name)
		key, err := parseKeyPEM(pair.KeyPEM)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			if k.N.BitLen() != rsaBits {
				t.Errorf("%s: RSA-%d key, want RSA-%d", name, k.N.BitLen(), rsaBits)
			}
		case *ecdsa.PrivateKey:
			if rsaBits != 0 || k.Curve != elliptic.P256() {
				t.Errorf("%s: ECDSA %s key, want RSA-%d", name, k.Curve.Params().Name, rsaBits)
			}
		}
		if pair.Cert == nil {
			continue
		}
		if pair.Cert.SignatureAlgorithm != sig {
			t.Errorf("%s: signature %s, want %s", name, pair.Cert.SignatureAlgorithm, sig)
		}
		if !pair.Cert.IsCA {
			want := x509.KeyUsageDigitalSignature
			if rsaBits > 0 {
				want |= x509.KeyUsageKeyEncipherment
			}
			if pair.Cert.KeyUsage != want {
				t.Errorf("%s: key usage %b, want %b", name, pair.Cert.KeyUsage, want)
			}
		}
	}
}

func TestKeyAlgorithmOfThePlanIsUsedForEveryKey(t *testing.T) {
	for _, tc := range []struct {
		alg     plan.KeyAlgorithm
		rsaBits int
		sig     x509.SignatureAlgorithm
	}{
		{plan.ECDSAP256, 0, x509.ECDSAWithSHA256},
		{plan.RSA2048, 2048, x509.SHA256WithRSA},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			p := parsePlan(t, "allinone.yaml", allInOnePlan("key_algorithm: "+string(tc.alg)))
			b, _ := mustEnsure(t, p, t.TempDir(), Options{})
			verifyAll(t, p, b, time.Now())
			checkKeys(t, b, tc.rsaBits, tc.sig)
		})
	}
}

// TestLargeRSAKeys issues a CA and one server certificate per large RSA size (a whole
// PKI of RSA-4096 keys takes tens of seconds to generate on two cores).
func TestLargeRSAKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA-3072 and RSA-4096 key generation takes seconds per key")
	}
	for _, tc := range []struct {
		alg  plan.KeyAlgorithm
		bits int
		sig  x509.SignatureAlgorithm
	}{
		{plan.RSA3072, 3072, x509.SHA384WithRSA},
		{plan.RSA4096, 4096, x509.SHA512WithRSA},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			p := parsePlan(t, "allinone.yaml", allInOnePlan("key_algorithm: "+string(tc.alg)))
			now := time.Now()
			ca := newTestAuthority(t, p, caSpecs(p)[0], now)
			specs, _ := leafSpecs(p)
			var s *spec
			for _, x := range specs {
				if x.name == KubeletServing("node1") {
					s = x
				}
			}
			leafPEM, leafKeyPEM, err := issueLeaf(p, s, ca, now)
			if err != nil {
				t.Fatal(err)
			}
			leaf, _ := parseCertPEM(leafPEM)
			b := newBundle("")
			b.pairs[CA] = &Pair{Name: CA, CertPEM: ca.certPEM, KeyPEM: ca.keyPEM, Cert: ca.cert}
			b.pairs[s.name] = &Pair{Name: s.name, CertPEM: leafPEM, KeyPEM: leafKeyPEM, Cert: leaf}
			checkKeys(t, b, tc.bits, tc.sig)
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool(t, ca.certPEM), KeyUsages: serverUse}); err != nil {
				t.Error(err)
			}
		})
	}
}

// allInOnePlan is one host with the etcd, master and worker roles.
func allInOnePlan(certLines ...string) []byte {
	s := `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: aio
  version: v1.37.2
  certificates:
    expiry: 8760h
`
	for _, l := range certLines {
		s += "    " + l + "\n"
	}
	s += `  ssh:
    user: kismaticuser
    ssh_key: kismaticuser.key
etcd:
  expected_count: 1
  nodes:
  - {host: node1, ip: 10.0.0.1}
master:
  expected_count: 1
  nodes:
  - {host: node1, ip: 10.0.0.1}
worker:
  expected_count: 1
  nodes:
  - {host: node1, ip: 10.0.0.1}
`
	return []byte(s)
}

func TestSecondRunChangesNothing(t *testing.T) {
	p := examplePlan(t, "ha.yaml")
	dir := t.TempDir()
	b1, _ := mustEnsure(t, p, dir, Options{})
	before := snapshot(t, dir)
	b2, changes := mustEnsure(t, p, dir, Options{})
	if len(changes) != 0 {
		t.Errorf("second run changed %v", changedNames(changes))
	}
	if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
		t.Errorf("second run touched files (-before +after):\n%s", diff)
	}
	for _, n := range b1.Names() {
		p1, _ := b1.Get(n)
		p2, _ := b2.Get(n)
		if string(p1.CertPEM) != string(p2.CertPEM) || string(p1.KeyPEM) != string(p2.KeyPEM) || string(p1.PublicKeyPEM) != string(p2.PublicKeyPEM) {
			t.Errorf("%s differs between runs", n)
		}
	}
	for _, u := range kubeconfigUsers(p) {
		k1, _ := b1.Kubeconfig(u)
		k2, _ := b2.Kubeconfig(u)
		if string(k1) != string(k2) || len(k1) == 0 {
			t.Errorf("kubeconfig %s differs between runs or is empty", u)
		}
	}
}

func TestLoadReadsWhatEnsureWrote(t *testing.T) {
	p := examplePlan(t, "ha.yaml")
	dir := t.TempDir()
	want, _ := mustEnsure(t, p, dir, Options{})
	before := snapshot(t, dir)
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
		t.Errorf("Load changed the state directory:\n%s", diff)
	}
	if diff := cmp.Diff(want.Names(), got.Names()); diff != "" {
		t.Errorf("names (-Ensure +Load):\n%s", diff)
	}
	for _, n := range want.Names() {
		w, _ := want.Get(n)
		g, _ := got.Get(n)
		if diff := cmp.Diff(string(w.CertPEM)+string(w.KeyPEM)+string(w.PublicKeyPEM), string(g.CertPEM)+string(g.KeyPEM)+string(g.PublicKeyPEM)); diff != "" {
			t.Errorf("%s (-Ensure +Load):\n%s", n, diff)
		}
	}
	for _, u := range kubeconfigUsers(p) {
		w, _ := want.Kubeconfig(u)
		g, ok := got.Kubeconfig(u)
		if !ok || string(w) != string(g) {
			t.Errorf("kubeconfig %s: Load gives other bytes than Ensure", u)
		}
	}
	for _, n := range p.Nodes {
		wp, wl, _ := want.SSHHostKey(n.Host)
		gp, gl, ok := got.SSHHostKey(n.Host)
		if !ok || string(wp) != string(gp) || string(wl) != string(gl) {
			t.Errorf("SSH host key of %s: Load gives other bytes than Ensure", n.Host)
		}
	}
}

func TestLoadWithoutStateSaysHowToCreateIt(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nothing"))
	if !errors.Is(err, ErrNoState) || !contains(err.Error(), "kisgen certs issue") {
		t.Errorf("got %v, want ErrNoState with a hint", err)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(filepath.Join(dir, pkiDir), 0o755); err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, examplePlan(t, "minimal.yaml"), dir, Options{})
	for path, mode := range snapshot(t, dir) {
		isDir := path[len(path)-1] == '/'
		perm := mode
		if !isDir {
			perm = mode[17:27]
		}
		secret := contains(path, "-key.pem") || contains(path, "nodes/") || contains(path, ".conf")
		switch {
		case isDir && perm != "drwx------":
			t.Errorf("%s: %s, want drwx------", path, perm)
		case !isDir && secret && perm != "-rw-------":
			t.Errorf("%s: %s, want -rw------- (holds a private key)", path, perm)
		case !isDir && !secret && perm != "-rw-r--r--" && perm != "-rw-------":
			t.Errorf("%s: unexpected mode %s", path, perm)
		}
	}
}
