package binbuild

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildersRefuseVersionsThatAreNoRelease: every builder checks the version before it
// touches the cache or the network.
func TestBuildersRefuseVersionsThatAreNoRelease(t *testing.T) {
	builders := map[string]func(context.Context, string, string, io.Writer) (string, error){
		ProjectContainerd: Containerd, ProjectRunc: Runc, ProjectCNIPlugins: CNIPluginSet,
		ProjectCoreDNS: CoreDNS, ProjectMetricsServer: MetricsServer,
	}
	for name, build := range builders {
		for _, v := range []string{"2.4.2", "v2.4", "latest", ""} {
			cache := t.TempDir()
			if _, err := build(context.Background(), v, cache, io.Discard); err == nil || !strings.Contains(err.Error(), "want vX.Y.Z") {
				t.Errorf("%s %q: err = %v, want a version error", name, v, err)
			}
			if entries, _ := os.ReadDir(cache); len(entries) != 0 {
				t.Errorf("%s %q wrote into the cache: %v", name, v, entries)
			}
		}
	}
}

// TestCachedNeedsAFinishedBuild: only a directory with SHA256SUMS (written last, before
// the rename into place) counts as built.
func TestCachedNeedsAFinishedBuild(t *testing.T) {
	cache := t.TempDir()
	dir := filepath.Join(cache, "runc-v1.5.3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if Cached(ProjectRunc, "v1.5.3", cache) {
		t.Error("a directory without SHA256SUMS counts as built")
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte("x  runc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !Cached(ProjectRunc, "v1.5.3", cache) || Cached(ProjectRunc, "v1.5.4", cache) {
		t.Error("Cached does not follow the version's SHA256SUMS")
	}
}
