//go:build e2e

package test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
)

// TestAPIServerAcceptsTheGeneratedPKI runs a real kube-apiserver (and etcd) on loopback
// with the generated certificates and keys, and checks that the admin kubeconfig gets
// /readyz, that every kubeconfig authenticates as the identity Kubernetes' RBAC expects,
// that the front proxy's client certificate is trusted for request headers, that
// service-account tokens signed with the generated key are accepted, and that a client
// certificate of another CA is not. It builds Kubernetes from the Go module proxy on
// first use (about 10 minutes cold), hence the e2e build tag: run it with
// `go test -tags e2e -run TestAPIServer ./test/`.
func TestAPIServerAcceptsTheGeneratedPKI(t *testing.T) {
	api := startAPIServer(t)
	b, kubectl, adminConf, apiPort, planText := api.b, api.kubectl, api.adminConf, api.port, api.planText

	// Every kubeconfig authenticates as who RBAC expects.
	for _, tc := range []struct {
		name, user string
		group      string
	}{
		{pki.Admin, pki.AdminUser, pki.AdminGroup},
		{pki.ControllerManager, pki.ControllerManagerUser, ""},
		{pki.Scheduler, pki.SchedulerUser, ""},
		{pki.KubeProxy, pki.KubeProxyUser, ""},
		{pki.CalicoNode, pki.CalicoNodeUser, ""},
		{pki.CalicoCNI, pki.CalicoCNIUser, ""},
		{pki.Kubelet("master1"), pki.NodeUserPrefix + "master1", pki.NodesGroup},
		{pki.Kubelet("worker1"), pki.NodeUserPrefix + "worker1", pki.NodesGroup},
	} {
		t.Run("whoami "+tc.name, func(t *testing.T) {
			data, ok := b.Kubeconfig(tc.name)
			if !ok {
				t.Fatal("no kubeconfig")
			}
			conf := filepath.Join(t.TempDir(), "kubeconfig")
			writeTo(t, filepath.Dir(conf), "kubeconfig", data)
			out, err := runOut(kubectl, "--kubeconfig", conf, "auth", "whoami", "-o", "json")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var review struct {
				Status struct {
					UserInfo struct {
						Username string   `json:"username"`
						Groups   []string `json:"groups"`
					} `json:"userInfo"`
				} `json:"status"`
			}
			if err := json.Unmarshal([]byte(out), &review); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			u := review.Status.UserInfo
			if u.Username != tc.user || (tc.group != "" && !strings.Contains(strings.Join(u.Groups, ","), tc.group)) {
				t.Errorf("authenticated as %s %v, want %s in %q", u.Username, u.Groups, tc.user, tc.group)
			}
		})
	}
	if out, _ := runOut(kubectl, "--kubeconfig", adminConf, "auth", "can-i", "*", "*"); strings.TrimSpace(out) != "yes" {
		t.Errorf("admin can-i '*' '*': %s", out)
	}

	// Below, requests are made directly so that the test controls what is presented.
	ca, _ := b.Get(pki.CA)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	whoami := func(cert *pki.Pair, header http.Header) (string, error) {
		cfg := &tls.Config{RootCAs: roots}
		if cert != nil {
			c, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
			if err != nil {
				return "", err
			}
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		req, _ := http.NewRequest(http.MethodPost, url(apiPort)+"/apis/authentication.k8s.io/v1/selfsubjectreviews",
			strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", resp.Status, body)
		}
		var r struct {
			Status struct {
				UserInfo struct {
					Username string `json:"username"`
				} `json:"userInfo"`
			} `json:"status"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return "", err
		}
		return r.Status.UserInfo.Username, nil
	}
	get := func(b *pki.Bundle, name string) *pki.Pair {
		pair, ok := b.Get(name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		return pair
	}

	t.Run("the front proxy's client certificate asserts users in headers", func(t *testing.T) {
		h := http.Header{"X-Remote-User": {"alice"}, "X-Remote-Group": {"developers"}}
		if u, err := whoami(get(b, pki.FrontProxyClient), h); err != nil || u != "alice" {
			t.Errorf("front-proxy-client with X-Remote-User alice: %q, %v", u, err)
		}
		if u, err := whoami(get(b, pki.Kubelet("worker1")), h); err != nil || u != pki.NodeUserPrefix+"worker1" {
			t.Errorf("a kubelet certificate with X-Remote-User: %q, %v (the header must be ignored)", u, err)
		}
	})

	t.Run("a client certificate of another CA is refused", func(t *testing.T) {
		_, foreign, _ := issue(t, planText)
		u, err := whoami(get(foreign, pki.Admin), nil)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("another CA's admin certificate: %q, %v; want 401 Unauthorized", u, err)
		}
	})

	t.Run("service-account tokens signed with the generated key are accepted", func(t *testing.T) {
		if out, err := runOut(kubectl, "--kubeconfig", adminConf, "create", "serviceaccount", "kisgen-test", "-n", "default"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		token, err := runOut(kubectl, "--kubeconfig", adminConf, "create", "token", "kisgen-test", "-n", "default")
		if err != nil {
			t.Fatalf("%v\n%s", err, token)
		}
		u, err := whoami(nil, http.Header{"Authorization": {"Bearer " + strings.TrimSpace(token)}})
		if err != nil || u != "system:serviceaccount:default:kisgen-test" {
			t.Errorf("token review: %q, %v", u, err)
		}
	})
}

// apiServer is a real kube-apiserver (and its etcd) on loopback with the generated PKI.
type apiServer struct {
	b                                  *pki.Bundle
	port                               int
	kdir, kubectl, adminConf, planText string
}

// startAPIServer builds Kubernetes from the Go module proxy on first use (about 10
// minutes cold) and runs etcd and kube-apiserver until the test ends.
func startAPIServer(t *testing.T) apiServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	kdir, err := binbuild.Kubernetes(ctx, plan.DefaultKubernetesVersion, []string{"kube-apiserver", "kubectl"}, binCache(t), logWriter{t})
	if err != nil {
		t.Fatalf("build Kubernetes: %v", err)
	}
	apiserver, kubectl := filepath.Join(kdir, "kube-apiserver"), filepath.Join(kdir, "kubectl")
	etcd, _ := etcdBinaries(t)

	ports := freePorts(t, 3)
	apiPort, etcdClient, etcdPeer := ports[0], ports[1], ports[2]
	// The plan's load balancer is this machine's loopback, so the kubeconfigs point at
	// the test's API server and its certificate carries 127.0.0.1.
	planText := fmt.Sprintf(`apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: apitest
  version: %s
  networking: {pod_cidr_block: 172.16.0.0/16, service_cidr_block: 172.17.0.0/16}
  ssh: {user: kismaticuser, ssh_key: kismaticuser.key}
etcd:
  expected_count: 1
  nodes: [{host: etcd1, ip: 10.9.0.1}]
master:
  expected_count: 1
  load_balancer: 127.0.0.1:%d
  nodes: [{host: master1, ip: 10.9.0.11}]
worker:
  expected_count: 1
  nodes: [{host: worker1, ip: 10.9.0.21}]
`, plan.DefaultKubernetesVersion, apiPort)
	p, b, state := issue(t, planText)
	if got := p.APIServerURL(); got != url(apiPort) {
		t.Fatalf("API server URL %s, want %s", got, url(apiPort))
	}

	dir := files(t, b, pki.EtcdServer("etcd1"), pki.EtcdPeer("etcd1"), pki.EtcdAPIServerClient, pki.APIServer("master1"),
		pki.APIServerKubeletClient, pki.FrontProxyClient)
	for _, ca := range []string{pki.CA, pki.EtcdCA, pki.FrontProxyCA} {
		pair, _ := b.Get(ca)
		writeTo(t, dir, ca+".pem", pair.CertPEM)
	}
	sa, _ := b.Get(pki.ServiceAccount)
	writeTo(t, dir, "sa-key.pem", sa.KeyPEM)
	writeTo(t, dir, "sa.pub", sa.PublicKeyPEM)
	f := func(name string) string { return filepath.Join(dir, name) }

	testtool.Start(t, "etcd.log", etcd, "--name", "etcd1", "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", url(etcdClient), "--advertise-client-urls", url(etcdClient),
		"--listen-peer-urls", url(etcdPeer), "--initial-advertise-peer-urls", url(etcdPeer),
		"--initial-cluster", "etcd1="+url(etcdPeer),
		"--cert-file", f("etcd-server-etcd1.pem"), "--key-file", f("etcd-server-etcd1-key.pem"),
		"--trusted-ca-file", f("etcd-ca.pem"), "--client-cert-auth",
		"--peer-cert-file", f("etcd-peer-etcd1.pem"), "--peer-key-file", f("etcd-peer-etcd1-key.pem"),
		"--peer-trusted-ca-file", f("etcd-ca.pem"), "--peer-client-cert-auth", "--log-level", "warn")
	testtool.Start(t, "kube-apiserver.log", apiserver,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--endpoint-reconciler-type", "none",
		"--secure-port", fmt.Sprint(apiPort), "--cert-dir", t.TempDir(),
		"--etcd-servers", url(etcdClient), "--etcd-cafile", f("etcd-ca.pem"),
		"--etcd-certfile", f("apiserver-etcd-client.pem"), "--etcd-keyfile", f("apiserver-etcd-client-key.pem"),
		"--tls-cert-file", f("apiserver-master1.pem"), "--tls-private-key-file", f("apiserver-master1-key.pem"),
		"--client-ca-file", f("ca.pem"),
		"--kubelet-client-certificate", f("apiserver-kubelet-client.pem"), "--kubelet-client-key", f("apiserver-kubelet-client-key.pem"),
		"--kubelet-certificate-authority", f("ca.pem"),
		"--service-account-key-file", f("sa.pub"), "--service-account-signing-key-file", f("sa-key.pem"),
		"--service-account-issuer", "https://kubernetes.default.svc."+pki.ClusterDomain,
		"--service-cluster-ip-range", p.Network.ServiceCIDR.String(),
		"--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--requestheader-client-ca-file", f("front-proxy-ca.pem"), "--requestheader-allowed-names", pki.FrontProxyClientUser,
		"--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", f("front-proxy-client.pem"), "--proxy-client-key-file", f("front-proxy-client-key.pem"))

	admin, _ := b.Kubeconfig(pki.Admin)
	adminConf := filepath.Join(t.TempDir(), "admin.conf")
	writeTo(t, filepath.Dir(adminConf), "admin.conf", admin)
	if _, err := os.Stat(filepath.Join(state, "kubeconfig", "admin.conf")); err != nil {
		t.Errorf("admin kubeconfig not kept in the state directory: %v", err)
	}
	testtool.WaitFor(t, "kube-apiserver /readyz with the admin kubeconfig", 3*time.Minute, func() error {
		out, err := runOut(kubectl, "--kubeconfig", adminConf, "get", "--raw", "/readyz")
		if err != nil || strings.TrimSpace(out) != "ok" {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	return apiServer{b: b, port: apiPort, kdir: kdir, kubectl: kubectl, adminConf: adminConf, planText: planText}
}
