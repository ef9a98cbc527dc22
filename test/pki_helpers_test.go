package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
)

// repoRoot is the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// binCache is where built etcd and Kubernetes binaries are cached: the per-user cache
// every checkout shares, so a second clone does not rebuild Kubernetes.
func binCache(t testing.TB) string {
	t.Helper()
	dir, err := cachedir.Bin("")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// logWriter sends build output to the test log.
type logWriter struct{ t testing.TB }

func (l logWriter) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// etcdBinaries builds (or reuses) etcd and etcdctl of the plan's default version.
func etcdBinaries(t testing.TB) (etcd, etcdctl string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir, err := binbuild.Etcd(ctx, plan.DefaultEtcdVersion, binCache(t), logWriter{t})
	if err != nil {
		t.Fatalf("build etcd: %v", err)
	}
	return filepath.Join(dir, "etcd"), filepath.Join(dir, "etcdctl")
}

// freePorts returns n distinct free TCP ports on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// issue parses plan text and issues its PKI into a fresh state directory.
func issue(t testing.TB, text string) (*plan.Plan, *pki.Bundle, string) {
	t.Helper()
	p, rep := plan.Parse("plan.yaml", []byte(text), plan.Options{})
	if rep.IsFatal(false) {
		var b strings.Builder
		_ = rep.WriteText(&b, []byte(text))
		t.Fatalf("plan:\n%s", b.String())
	}
	dir := t.TempDir()
	b, _, err := pki.Ensure(p, dir, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p, b, dir
}

// files writes the named pairs' certificate and key (NAME.pem, NAME-key.pem) and the
// given CAs' trust bundles (CA.pem) into a fresh directory.
func files(t testing.TB, b *pki.Bundle, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		pair, ok := b.Get(n)
		if !ok {
			t.Fatalf("%s not in the bundle", n)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".pem"), pair.CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+"-key.pem"), pair.KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runOut runs a command and returns its combined output and error.
func runOut(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func url(port int) string { return fmt.Sprintf("https://127.0.0.1:%d", port) }
