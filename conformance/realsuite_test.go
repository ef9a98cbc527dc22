package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
)

// controlPlane runs etcd, kube-apiserver and kube-controller-manager of kisgen's builds
// on loopback (token authentication, RBAC), registers one Ready, untainted node object
// (no kubelet: pods never start) and returns an admin kubeconfig and kubectl.
func controlPlane(t *testing.T) (kubeconfig, kubectl string) {
	t.Helper()
	cache, err := cachedir.Bin("")
	if err != nil {
		t.Fatal(err)
	}
	how := "kisgen mirror build"
	k8s := filepath.Dir(testtool.Built(t, filepath.Join(cache, binbuild.ProjectKubernetes+"-"+plan.DefaultKubernetesVersion, "kube-apiserver"),
		"Kubernetes "+plan.DefaultKubernetesVersion, how))
	etcd := testtool.Built(t, filepath.Join(cache, binbuild.ProjectEtcd+"-"+plan.DefaultEtcdVersion, "etcd"), "etcd "+plan.DefaultEtcdVersion, how)
	kubectl = filepath.Join(k8s, "kubectl")

	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte("admintoken,admin,admin,system:masters\n"),
	}
	client, peer, api := testtool.FreePort(t), testtool.FreePort(t), testtool.FreePort(t)
	files["admin.kubeconfig"] = fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: lab, cluster: {server: "https://127.0.0.1:%d", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: admintoken}}]
contexts: [{name: lab, context: {cluster: lab, user: admin}}]
current-context: lab
`, api)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	kubeconfig = f("admin.kubeconfig")
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	testtool.Start(t, "etcd.log", etcd, "--data-dir", f("etcd"), "--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default="+peerURL, "--log-level", "warn")
	testtool.Start(t, "kube-apiserver.log", filepath.Join(k8s, "kube-apiserver"), "--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1", "--endpoint-reconciler-type", "none", "--secure-port", fmt.Sprint(api), "--cert-dir", f("certs"),
		"--etcd-servers", etcdURL, "--token-auth-file", f("tokens.csv"), "--authorization-mode", "RBAC",
		"--service-account-key-file", f("sa.pub"), "--service-account-signing-key-file", f("sa.key"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local", "--service-cluster-ip-range", "10.96.0.0/16")
	kc := func(args ...string) (string, error) {
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		return string(out), err
	}
	testtool.WaitFor(t, "kube-apiserver /readyz", 3*time.Minute, func() error {
		out, err := kc("get", "--raw", "/readyz")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	// The service account controller gives every namespace its default account, which
	// the suite waits for; node lifecycle would mark a node without a kubelet NotReady.
	testtool.Start(t, "kube-controller-manager.log", filepath.Join(k8s, "kube-controller-manager"), "--kubeconfig", kubeconfig,
		"--service-account-private-key-file", f("sa.key"), "--root-ca-file", f("certs/apiserver.crt"),
		"--use-service-account-credentials=false", "--controllers", "*,-nodeipam,-nodelifecycle", "--leader-elect=false",
		"--bind-address", "127.0.0.1", "--secure-port", "0")
	node := `{"apiVersion":"v1","kind":"Node","metadata":{"name":"node1","labels":{"kubernetes.io/hostname":"node1","kubernetes.io/os":"linux"}}}`
	if err := os.WriteFile(f("node.json"), []byte(node), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, args := range [][]string{
		{"create", "-f", f("node.json")},
		{"patch", "node", "node1", "--subresource=status", "--type=merge", "-p", `{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady",` +
			`"message":"stand-in","lastHeartbeatTime":"` + now + `","lastTransitionTime":"` + now + `"}],"addresses":[{"type":"InternalIP","address":"127.0.0.1"}],` +
			`"capacity":{"cpu":"2","memory":"2Gi","pods":"110"},"allocatable":{"cpu":"2","memory":"2Gi","pods":"110"}}}`},
		{"taint", "node", "node1", "node.kubernetes.io/not-ready:NoSchedule-"},
	} {
		if out, err := kc(args...); err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return kubeconfig, kubectl
}

// TestRunTheRealSuite runs the real e2e.test through the whole path — copied over a real
// SSH connection, started by the master's script as root (a stand-in sudo), its output
// read as it comes, its JUnit report read back — against a real API server: two API
// specs pass, a provider's spec is skipped by the suite with its reason.
func TestRunTheRealSuite(t *testing.T) {
	e2eTest := builtE2ETest(t)
	kubeconfig, kubectl := controlPlane(t)
	specs, err := ListSpecs(context.Background(), e2eTest)
	if err != nil {
		t.Fatal(err)
	}
	m := newFakeMaster(t)
	var progress bytes.Buffer
	o := m.options(t.TempDir(), &progress)
	o.E2ETest, o.Specs, o.Kubeconfig, o.Kubectl = e2eTest, specs, kubeconfig, kubectl
	if o.Selection, err = Select(ModeNetwork, plan.DefaultKubernetesVersion,
		`Services should find a service from listing|ConfigMap should update ConfigMap successfully|DNS should provide DNS for the cluster \[Provider`, ""); err != nil {
		t.Fatal(err)
	}
	o.Selection.Timeout = 5 * time.Minute
	s, err := Run(context.Background(), m.connect(), o)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	if s.Selected != 3 || s.Passed != 2 || s.Skipped != 1 || !s.OK() || s.JUnit == "" {
		t.Errorf("summary %+v", s)
	}
	if len(s.SkippedSpecs) != 1 || s.SkippedSpecs[0].Message != "Only supported for providers [gce] (not skeleton)" {
		t.Errorf("skipped %+v", s.SkippedSpecs)
	}
	for _, want := range []string{"the suite runs 3 of its " + fmt.Sprint(len(specs)) + " specs on master1",
		"PASSED  [sig-network] Services should find a service from listing all namespaces [Conformance]",
		"SKIPPED [sig-network] DNS should provide DNS for the cluster [Provider:gce]"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	if len(s.SuiteLines) != 2 || !strings.HasPrefix(s.SuiteLines[1], "SUCCESS! -- 2 Passed | 0 Failed") {
		t.Errorf("suite lines %q", s.SuiteLines)
	}
}
