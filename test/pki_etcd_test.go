package test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/pki"
)

// etcdPlan has three etcd nodes; their certificates carry 127.0.0.1 and localhost, so
// all three members can run on this machine's loopback.
const etcdPlan = `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: etcdtest
  version: v1.37.2
  ssh: {user: kismaticuser, ssh_key: kismaticuser.key}
etcd:
  expected_count: 3
  nodes:
  - {host: etcd1, ip: 10.9.0.1}
  - {host: etcd2, ip: 10.9.0.2}
  - {host: etcd3, ip: 10.9.0.3}
master:
  expected_count: 1
  nodes:
  - {host: master1, ip: 10.9.0.11}
worker:
  expected_count: 1
  nodes:
  - {host: worker1, ip: 10.9.0.21}
`

// TestEtcdTrustsOnlyTheEtcdCA runs a real three-member etcd cluster with the generated
// server and peer certificates, --client-cert-auth and --peer-client-cert-auth, and
// checks who gets in: the API servers' etcd client certificate and the health-check
// certificate do; certificates of the cluster CA (admin, kubelet), of another
// cluster's etcd CA, a server-only certificate on the peer port, or no certificate at
// all do not. The peer port also refuses the etcd CA's client certificates when etcd
// runs with --peer-cert-allowed-cn naming the CN every peer certificate shares.
func TestEtcdTrustsOnlyTheEtcdCA(t *testing.T) {
	etcd, etcdctl := etcdBinaries(t)
	_, b, _ := issue(t, etcdPlan)
	_, foreign, _ := issue(t, etcdPlan) // another cluster's PKI, same names

	hosts := []string{"etcd1", "etcd2", "etcd3"}
	ports := freePorts(t, 2*len(hosts))
	var initial []string
	for i, h := range hosts {
		initial = append(initial, fmt.Sprintf("%s=%s", h, url(ports[2*i+1])))
	}
	caDir := t.TempDir()
	for _, ca := range []string{pki.EtcdCA, pki.CA} {
		pair, _ := b.Get(ca)
		writeTo(t, caDir, ca+".pem", pair.CertPEM)
	}
	etcdCA := filepath.Join(caDir, "etcd-ca.pem")
	var endpoints []string
	for i, h := range hosts {
		dir := files(t, b, pki.EtcdServer(h), pki.EtcdPeer(h))
		client, peer := url(ports[2*i]), url(ports[2*i+1])
		endpoints = append(endpoints, client)
		testtool.Start(t, h+".log", etcd,
			"--name", h, "--data-dir", filepath.Join(t.TempDir(), "data"),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new", "--initial-cluster-token", "kisgen-test",
			"--cert-file", filepath.Join(dir, pki.EtcdServer(h)+".pem"), "--key-file", filepath.Join(dir, pki.EtcdServer(h)+"-key.pem"),
			"--trusted-ca-file", etcdCA, "--client-cert-auth",
			"--peer-cert-file", filepath.Join(dir, pki.EtcdPeer(h)+".pem"), "--peer-key-file", filepath.Join(dir, pki.EtcdPeer(h)+"-key.pem"),
			"--peer-trusted-ca-file", etcdCA, "--peer-client-cert-auth", "--peer-cert-allowed-cn", pki.EtcdPeerCN,
			"--log-level", "warn")
	}

	client := files(t, b, pki.EtcdAPIServerClient, pki.EtcdHealthcheckClient, pki.Admin, pki.Kubelet("worker1"))
	ctl := func(endpoint, caFile, name string, args ...string) (string, error) {
		base := []string{"--endpoints", endpoint, "--cacert", caFile, "--dial-timeout", "3s", "--command-timeout", "5s"}
		if name != "" {
			base = append(base, "--cert", filepath.Join(client, name+".pem"), "--key", filepath.Join(client, name+"-key.pem"))
		}
		return runOut(etcdctl, append(base, args...)...)
	}
	testtool.WaitFor(t, "etcd cluster health", 90*time.Second, func() error {
		out, err := ctl(strings.Join(endpoints, ","), etcdCA, pki.EtcdHealthcheckClient, "endpoint", "health")
		if err != nil || strings.Count(out, "is healthy") != 3 {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	// The API servers' client writes through one member and reads through another: the
	// peers replicate over their mutually authenticated peer connections.
	if out, err := ctl(endpoints[0], etcdCA, pki.EtcdAPIServerClient, "put", "/kisgen/test", "hello"); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("put with %s: %v\n%s", pki.EtcdAPIServerClient, err, out)
	}
	if out, err := ctl(endpoints[2], etcdCA, pki.EtcdAPIServerClient, "get", "/kisgen/test", "--print-value-only"); err != nil || strings.TrimSpace(out) != "hello" {
		t.Fatalf("get through another member: %v\n%s", err, out)
	}
	if out, err := ctl("https://localhost:"+strings.Split(endpoints[1], ":")[2], etcdCA, pki.EtcdHealthcheckClient, "endpoint", "health"); err != nil {
		t.Errorf("the server certificate is not valid for localhost: %v\n%s", err, out)
	}

	// Who gets in, asked over TLS directly so that a refusal is seen as what it is (a
	// TLS alert), not as a timeout.
	etcdCAPair, _ := b.Get(pki.EtcdCA)
	clusterCAPair, _ := b.Get(pki.CA)
	get := func(port int, roots []byte, pair *pki.Pair) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(roots)
		cfg := &tls.Config{RootCAs: pool}
		if pair != nil {
			cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
			if err != nil {
				return err
			}
			// Always present it, even when its issuer is not among the CAs the server
			// names, so that the server itself decides.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get(url(port) + "/version")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", resp.Status, body)
		}
		return nil
	}
	pair := func(bundle *pki.Bundle, name string) *pki.Pair {
		p, ok := bundle.Get(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		return p
	}
	clientPort, peerPort := ports[0], ports[1]
	for _, tc := range []struct {
		name   string
		port   int
		roots  []byte
		pair   *pki.Pair
		accept bool
	}{
		{"client port takes apiserver-etcd-client", clientPort, etcdCAPair.CertPEM, pair(b, pki.EtcdAPIServerClient), true},
		{"client port takes etcd-healthcheck-client", clientPort, etcdCAPair.CertPEM, pair(b, pki.EtcdHealthcheckClient), true},
		{"client port refuses admin (cluster CA, system:masters)", clientPort, etcdCAPair.CertPEM, pair(b, pki.Admin), false},
		{"client port refuses a kubelet (cluster CA)", clientPort, etcdCAPair.CertPEM, pair(b, pki.Kubelet("worker1")), false},
		{"client port refuses another cluster's apiserver-etcd-client", clientPort, etcdCAPair.CertPEM, pair(foreign, pki.EtcdAPIServerClient), false},
		{"client port refuses a client without a certificate", clientPort, etcdCAPair.CertPEM, nil, false},
		{"the cluster CA does not vouch for etcd's server", clientPort, clusterCAPair.CertPEM, pair(b, pki.EtcdAPIServerClient), false},
		{"peer port takes etcd2's peer certificate", peerPort, etcdCAPair.CertPEM, pair(b, pki.EtcdPeer("etcd2")), true},
		{"peer port refuses an etcd server certificate (not the peers' CN)", peerPort, etcdCAPair.CertPEM, pair(b, pki.EtcdServer("etcd2")), false},
		{"peer port refuses a client certificate of the etcd CA (--peer-cert-allowed-cn)", peerPort, etcdCAPair.CertPEM, pair(b, pki.EtcdAPIServerClient), false},
		{"peer port refuses another cluster's peer certificate", peerPort, etcdCAPair.CertPEM, pair(foreign, pki.EtcdPeer("etcd2")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := get(tc.port, tc.roots, tc.pair)
			switch {
			case tc.accept && err != nil:
				t.Errorf("refused: %v", err)
			case !tc.accept && err == nil:
				t.Error("accepted")
			case !tc.accept && !strings.Contains(err.Error(), "certificate"):
				t.Errorf("refused, but not by TLS certificate checks: %v", err)
			case !tc.accept:
				t.Logf("refused: %v", err)
			}
		})
	}
}

func writeTo(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}
