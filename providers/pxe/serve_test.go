package pxe

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/kisgen/kisgen/internal/httpserve/httpservetest"
)

// servePXE builds the example bundle and serves it on loopback under limits.
func servePXE(t *testing.T, opts ServeOptions, prepare func(dir string)) (string, string) {
	t.Helper()
	p := examplePlan(t)
	res, err := Build(p, machinesOf(p), assets(t))
	if err != nil {
		t.Fatal(err)
	}
	prepare(res.Dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, res.Dir, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), res.Dir
}

// TestServeLimitsClients runs `kisgen serve pxe`'s server on loopback: idle, header and
// stall timeouts and the connection cap.
func TestServeLimitsClients(t *testing.T) {
	url, _ := servePXE(t, ServeOptions{Limits: httpservetest.Limits}, func(dir string) {
		httpservetest.WriteBig(t, filepath.Join(dir, "big.img"))
	})
	httpservetest.CheckLimits(t, url[len("http://"):], "/ipxe/boot.ipxe", "/big.img")
}

// TestServeFollowsNoSymlinkOutOfTheBundle: a symlink in the bundle (left by a user, or
// by whatever wrote into it) must not serve what lies outside.
func TestServeFollowsNoSymlinkOutOfTheBundle(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside the bundle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	url, _ := servePXE(t, ServeOptions{}, func(dir string) {
		rel, err := filepath.Rel(filepath.Join(dir, "ipxe"), filepath.Join(outside, "secret"))
		if err != nil {
			t.Fatal(err)
		}
		for name, target := range map[string]string{
			"escape":        filepath.Join(outside, "secret"),
			"escape-dir":    outside,
			"ipxe/relative": rel,
			"ipxe/inside":   "boot.ipxe",
		} {
			if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/escape", 404},
		{"/escape-dir/secret", 404},
		{"/escape-dir/", 404},
		{"/ipxe/relative", 404},
		{"/ipxe/inside", 200}, // a link that stays inside is fine
		{"/ipxe/boot.ipxe", 200},
	} {
		resp, err := http.Get(url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(body) == "outside the bundle\n" {
			t.Errorf("GET %s: %d %q, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
	}
}
