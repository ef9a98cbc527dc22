package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/mirror/mirrortest"
	"github.com/kisgen/kisgen/plan"
)

// fakeBinCache makes a binbuild cache holding stand-ins for the default versions, so
// mirror build compiles nothing.
func fakeBinCache(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	mirrortest.FakeCalico(t, cache, plan.DefaultCalicoVersion)
	for dir, names := range map[string][]string{
		"etcd-" + plan.DefaultEtcdVersion:             {"etcd", "etcdctl"},
		"kubernetes-" + plan.DefaultKubernetesVersion: binbuild.KubernetesComponents,
	} {
		d := filepath.Join(cache, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(d, n), []byte(n), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(d, "SHA256SUMS"), []byte("built\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cache
}

func TestMirrorBuildWritesChecksumsAndSaysWhatIsNotMirrored(t *testing.T) {
	planFile := planDir(t, "minimal.yaml")
	out := filepath.Join(filepath.Dir(planFile), "mirror")
	code, stdout, stderr := run(t, nil, "mirror", "build", "-f", planFile, "--out", out, "--cache", fakeBinCache(t))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	// etcd, 6 Kubernetes binaries, calicoctl, calico.yaml, 3 Calico image archives
	if !strings.Contains(stdout, "12 files") {
		t.Errorf("summary: %s", stdout)
	}
	if !strings.Contains(stdout, "not in the mirror: containerd") {
		t.Errorf("containerd not reported as not mirrored:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "SHA256SUMS")); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorBuildAcceptsChecksumsItIsAboutToWrite(t *testing.T) {
	planFile := planDir(t, "minimal.yaml")
	data, _ := os.ReadFile(planFile)
	data = []byte(strings.Replace(string(data), "provider:\n", "mirror:\n  url: http://10.0.2.100:8080\n  checksums: mirror/SHA256SUMS\nprovider:\n", 1))
	if err := os.WriteFile(planFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(filepath.Dir(planFile), "mirror")
	if code, stdout, stderr := run(t, nil, "mirror", "build", "-f", planFile, "--out", out, "--cache", fakeBinCache(t)); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	// Now the plan is valid as it stands.
	if code, stdout, _ := run(t, nil, "validate", "-f", planFile); code != 0 {
		t.Errorf("plan invalid after mirror build:\n%s", stdout)
	}
}

func TestMirrorServeRefusesADirectoryThatIsNoMirror(t *testing.T) {
	code, _, stderr := run(t, nil, "mirror", "serve", "--dir", t.TempDir(), "--listen", "127.0.0.1:0")
	if code != ExitFail || !strings.Contains(stderr, "not a mirror directory") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestImageBuildListsPackagesAndRejectsUnknownOS(t *testing.T) {
	code, stdout, _ := run(t, nil, "image", "build", "--packages")
	if code != 0 || !strings.Contains(stdout, "containerd\n") || !strings.Contains(stdout, "cloud-init\n") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	code, _, stderr := run(t, nil, "image", "build", "--os", "windows-11", "--cache", t.TempDir())
	if code != ExitFail || !strings.Contains(stderr, "unsupported operating system") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
