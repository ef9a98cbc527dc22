package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// testCA issues certificates for the real-etcd test.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pem  []byte
}

func newTestCA(t *testing.T, cn string) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, _ := x509.ParseCertificate(der)
	return &testCA{key: key, cert: cert, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key in PEM.
func (ca *testCA) issue(t *testing.T, cn string, usage []x509.ExtKeyUsage, ips ...net.IP) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn}, IPAddresses: ips,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	must(t, err)
	kd, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func freeLoopbackPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestEtcdCheckAgainstRealEtcd runs the etcd check with the real etcdctl on the fixture
// node against a real etcd with client certificate authentication.
func TestEtcdCheckAgainstRealEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd from the Go module proxy when it is not cached yet")
	}
	ctx := context.Background()
	cache, err := cachedir.Bin("")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := binbuild.Etcd(ctx, plan.DefaultEtcdVersion, cache, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := newTestCA(t, "etcd-ca")
	srvCert, srvKey := ca.issue(t, "etcd1", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, net.ParseIP("127.0.0.1"))
	for name, data := range map[string][]byte{"ca.crt": ca.pem, "server.crt": srvCert, "server.key": srvKey} {
		must(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	client, peer := freeLoopbackPort(t), freeLoopbackPort(t)
	endpoint := fmt.Sprintf("https://127.0.0.1:%d", client)
	cmd := exec.Command(filepath.Join(bin, "etcd"), "--name=etcd1", "--data-dir="+filepath.Join(dir, "data"),
		"--listen-client-urls="+endpoint, "--advertise-client-urls="+endpoint,
		fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", peer), fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", peer),
		fmt.Sprintf("--initial-cluster=etcd1=http://127.0.0.1:%d", peer),
		"--cert-file="+filepath.Join(dir, "server.crt"), "--key-file="+filepath.Join(dir, "server.key"),
		"--client-cert-auth", "--trusted-ca-file="+filepath.Join(dir, "ca.crt"), "--log-level=error")
	var etcdLog strings.Builder
	cmd.Stderr = &etcdLog
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	f := newFixtureNode(t, "etcd1", sshdtest.NewSigner(t), fixtureOptions{omit: []string{"etcdctl"}})
	must(t, os.Symlink(filepath.Join(mustAbs(t, bin), "etcdctl"), filepath.Join(f.bin, "etcdctl")))
	hcCert, hcKey := ca.issue(t, "kube-etcd-healthcheck-client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	other := newTestCA(t, "another-ca")
	strangerCert, strangerKey := other.issue(t, "stranger", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	e := &EtcdExpect{Endpoint: endpoint, Members: []string{"etcd1"},
		CACert: f.file("etcd/ca.crt", string(ca.pem)), Cert: f.file("etcd/hc.crt", string(hcCert)), Key: f.file("etcd/hc.key", string(hcKey))}
	f.target.Expect = Expectations{StatusPath: f.target.Expect.StatusPath, UserDataSHA256: f.target.Expect.UserDataSHA256, Etcd: e}

	// etcd takes a moment to elect itself leader.
	var c CheckResult
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if c = result(t, runTarget(t, f.target, quick), "etcd"); c.Status == Pass {
			break
		}
	}
	if c.Status != Pass || !strings.Contains(c.Detail, "members etcd1; "+endpoint+" healthy") || !strings.HasSuffix(c.Detail, "; leader etcd1") {
		t.Fatalf("etcd: %s %q\netcd log: %s", c.Status, c.Detail, etcdLog.String())
	}
	// The real etcd's endpoint status names the leader, which the cluster check reports.
	rep := Run(context.Background(), []Target{f.target}, quick)
	if len(rep.Cluster) != 1 || rep.Cluster[0].Status != Pass || !strings.Contains(rep.Cluster[0].Detail, "1 of 1 members healthy (quorum 1); leader etcd1") {
		t.Errorf("cluster checks: %+v", rep.Cluster)
	}

	cases := []struct {
		name   string
		change func(e *EtcdExpect)
		detail []string
	}{
		{"a planned member that never joined", func(e *EtcdExpect) { e.Members = []string{"etcd1", "etcd2"} },
			[]string{"planned but not members: etcd2"}},
		{"a member the plan does not have", func(e *EtcdExpect) { e.Members = []string{"etcd0"} },
			[]string{"planned but not members: etcd0", "members not in the plan: etcd1"}},
		{"a client certificate etcd does not trust", func(e *EtcdExpect) {
			e.Cert, e.Key = f.file("etcd/stranger.crt", string(strangerCert)), f.file("etcd/stranger.key", string(strangerKey))
		}, []string{"cannot list etcd members at " + endpoint}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ec := *e
			tc.change(&ec)
			tg := f.target
			tg.Expect.Etcd = &ec
			c := result(t, runTarget(t, tg, quick), "etcd")
			t.Logf("etcd: %s", c.Detail)
			if c.Status != Fail {
				t.Fatalf("etcd: %s %q, want fail", c.Status, c.Detail)
			}
			for _, d := range tc.detail {
				if !strings.Contains(c.Detail, d) {
					t.Errorf("detail lacks %q: %s", d, c.Detail)
				}
			}
		})
	}
	t.Run("etcd stopped", func(t *testing.T) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		c := result(t, runTarget(t, f.target, quick), "etcd")
		if c.Status != Fail || !strings.Contains(c.Detail, "cannot list etcd members") {
			t.Errorf("etcd: %s %q", c.Status, c.Detail)
		}
	})
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	must(t, err)
	return a
}

// testWriter sends build progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
