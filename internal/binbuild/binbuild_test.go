package binbuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelativeCacheBuildsWithTheRealInstallStep runs build and the etcd install step
// (`go install tool` with GOBIN in the cache) from a directory where the cache is given
// relative, as `kisgen mirror build --cache .cache/bin` once did: `go install` refused it
// ("GOBIN must be an absolute path"). The wrapper module's one tool is a local stand-in
// for etcd's server module, so nothing is fetched from the proxy.
func TestRelativeCacheBuildsWithTheRealInstallStep(t *testing.T) {
	src := standInModule(t)
	gomod := "module kisgen.local/etcd-build\n\ngo 1.26\n\ntool kisgen.local/server\n\nrequire kisgen.local/server v0.0.0\n\nreplace kisgen.local/server => " + src + "\n"
	cwd := t.TempDir()
	t.Chdir(cwd)
	ctx := context.Background()
	var log strings.Builder
	dir, err := build(ctx, "etcd", "v0.0.0-test", filepath.Join(".cache", "bin"), gomod, &log, func(work, out string) error {
		return installEtcd(ctx, work, out, &log)
	})
	if err != nil {
		t.Fatalf("build with a relative cache: %v\n%s", err, log.String())
	}
	if want := filepath.Join(cwd, ".cache", "bin", "etcd-v0.0.0-test"); dir != want {
		t.Errorf("dir = %q, want %q (absolute, in the cache)", dir, want)
	}
	for _, f := range []string{"etcd", "SHA256SUMS"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the build lacks %s: %v", f, err)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if !strings.HasSuffix(string(sums), "  etcd\n") {
		t.Errorf("SHA256SUMS = %q, want one line for etcd", sums)
	}
}

// standInModule writes a module kisgen.local/server with an empty main package, a local
// stand-in for a project's server, so that a build fetches nothing, and returns its
// directory.
func standInModule(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	for name, data := range map[string]string{
		"go.mod":  "module kisgen.local/server\n\ngo 1.26\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}
