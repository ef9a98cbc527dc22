package cmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"
)

// bundleFixture is the PXE example plan with rendered-looking user-data and fake boot
// assets beside it.
func bundleFixture(t *testing.T) (planPath, assets string) {
	t.Helper()
	planPath = planDir(t, "pxe-cluster.yaml")
	dir := filepath.Dir(planPath)
	for _, host := range []string{"etcd1", "master1", "worker1", "worker2"} {
		writeFile(t, filepath.Join(dir, "userdata", host+".yaml"), "#cloud-config\nhostname: "+host+"\n")
	}
	assets = filepath.Join(dir, "assets")
	writeFile(t, filepath.Join(assets, "vmlinuz"), "kernel")
	writeFile(t, filepath.Join(assets, "initrd.img"), "initrd")
	return planPath, assets
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBundlePXEWritesTheBundleAndArchive(t *testing.T) {
	planPath, assets := bundleFixture(t)
	out := filepath.Join(filepath.Dir(planPath), "bundle")
	code, stdout, stderr := run(t, nil, "bundle", "pxe", "-f", planPath, "--out", out, "--image-dir", assets, "--ipxe-dir", t.TempDir(), "--tar")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"worker1  0c:c4:7a:10:20:31  10.20.0.31  cloud-init  ipxe/0c-c4-7a-10-20-31.ipxe", "archive: " + out + ".tar.gz", "kisgen serve pxe " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "tftp/undionly.kpxe") {
		t.Errorf("no note about the missing iPXE binaries:\n%s", stderr)
	}
	if _, err := os.Stat(out + ".tar.gz"); err != nil {
		t.Error(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "nocloud", "worker2", "user-data")); string(b) != "#cloud-config\nhostname: worker2\n" {
		t.Errorf("worker2's user-data: %q", b)
	}
}

func TestBundlePXEFailsClearlyWithoutTheImage(t *testing.T) {
	planPath, _ := bundleFixture(t)
	code, _, stderr := run(t, nil, "bundle", "pxe", "-f", planPath, "--out", t.TempDir()+"/b", "--image-dir", "/nonexistent/images")
	if code != ExitFail || !strings.Contains(stderr, "/nonexistent/images/vmlinuz") || !strings.Contains(stderr, "kisgen image build") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
}

func TestServePXEServesTheBundleUntilCancelled(t *testing.T) {
	planPath, assets := bundleFixture(t)
	out := filepath.Join(filepath.Dir(planPath), "bundle")
	if code, stdout, stderr := run(t, nil, "bundle", "pxe", "-f", planPath, "--out", out, "--image-dir", assets); code != 0 {
		t.Fatalf("bundle: %s%s", stdout, stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var errOut testtool.SyncBuffer
	root := NewRootCmd(strings.NewReader(""), io.Discard, &errOut)
	root.SetArgs([]string{"serve", "pxe", out, "--listen", addr})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	var body string
	for i := 0; i < 100; i++ {
		resp, err := http.Get("http://" + addr + "/ipxe/boot.ipxe")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(body, "#!ipxe\n") {
		t.Errorf("boot.ipxe: %q", body)
	}
	// From 127.0.0.1, which is no node's address: user-data is refused.
	resp, err := http.Get("http://" + addr + "/nocloud/worker1/user-data")
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("user-data to a stranger: %v %v", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if log := errOut.String(); !strings.Contains(log, fmt.Sprintf("pxe: serving %s (cluster rack1, 4 nodes) on %s", out, addr)) || !strings.Contains(log, "GET /ipxe/boot.ipxe 200") {
		t.Errorf("log:\n%s", log)
	}
}
