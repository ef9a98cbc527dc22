package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/binbuild/binbuildtest"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/mirror/mirrortest"
	"github.com/kisgen/kisgen/plan"
)

// fakeBinCache makes a kisgen cache whose bin/ holds stand-ins for the default versions,
// so mirror build compiles nothing.
func fakeBinCache(t *testing.T) string {
	t.Helper()
	cache := t.TempDir()
	fillBinCache(t, filepath.Join(cache, cachedir.BinDir))
	return cache
}

func fillBinCache(t *testing.T, cache string) {
	t.Helper()
	mirrortest.FakeCalico(t, cache, plan.DefaultCalicoVersion)
	binbuildtest.FakeBuilds(t, cache, plan.Versions{Etcd: plan.DefaultEtcdVersion, Kubernetes: plan.DefaultKubernetesVersion,
		Containerd: plan.DefaultContainerdVersion, Runc: plan.DefaultRuncVersion, CNIPlugins: plan.DefaultCNIPluginsVersion,
		CoreDNS: plan.DefaultCoreDNSVersion, MetricsServer: plan.DefaultMetricsServerVersion})
}

// TestMirrorBuildTakesRelativePathsAndTheCacheFromTheEnvironment runs mirror build from
// the plan's directory with a relative plan, --out and KISGEN_CACHE, as a user would,
// and without --cache: the per-user cache comes from KISGEN_CACHE.
func TestMirrorBuildTakesRelativePathsAndTheCacheFromTheEnvironment(t *testing.T) {
	planFile := planDir(t, "minimal.yaml")
	t.Chdir(filepath.Dir(planFile))
	fillBinCache(t, filepath.Join("cache", cachedir.BinDir))
	t.Setenv(cachedir.Env, "cache")
	code, stdout, stderr := run(t, nil, "mirror", "build", "-f", "minimal.yaml", "--out", "mirror")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join("mirror", "SHA256SUMS")); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorBuildWritesChecksumsAndSaysWhatIsNotMirrored(t *testing.T) {
	planFile := planDir(t, "minimal.yaml")
	out := filepath.Join(filepath.Dir(planFile), "mirror")
	code, stdout, stderr := run(t, nil, "mirror", "build", "-f", planFile, "--out", out, "--cache", fakeBinCache(t))
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	// The container runtime and the add-on images are built too: none is "not in the mirror".
	for _, c := range []string{"containerd", "runc", "cni-plugins"} {
		if strings.Contains(stdout, "not in the mirror: "+c+" ") {
			t.Errorf("%s reported as not mirrored:\n%s", c, stdout)
		}
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"containerd-2.4.2-linux-amd64.tar.gz", "runc.amd64", "cni-plugins-linux-amd64-v1.10.0.tgz",
		"images/coredns-v1.15.0.tar", "images/metrics-server-v0.8.0.tar"} {
		if !strings.Contains(string(sums), want) {
			t.Errorf("SHA256SUMS lacks %s:\n%s", want, sums)
		}
	}
	if !strings.Contains(stderr, "mirror: runc "+plan.DefaultRuncVersion+" (cached)") {
		t.Errorf("no progress line for the cached runc:\n%s", stderr)
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

// TestMirrorBuildPinsAnArchiveTheChecksumsDoNotListYet: validate refuses an image archive
// missing from mirror.checksums, mirror build (which writes it) accepts the plan, and
// afterwards validate does too.
func TestMirrorBuildPinsAnArchiveTheChecksumsDoNotListYet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the pause binary")
	}
	planFile := planDir(t, "minimal.yaml")
	data, _ := os.ReadFile(planFile)
	mirrorBlock := "mirror:\n  url: http://10.0.2.100:8080\n  checksums: mirror/SHA256SUMS\n"
	if err := os.WriteFile(planFile, []byte(strings.Replace(string(data), "provider:\n", mirrorBlock+"provider:\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, cache := filepath.Join(filepath.Dir(planFile), "mirror"), fakeBinCache(t)
	if code, stdout, stderr := run(t, nil, "mirror", "build", "-f", planFile, "--out", out, "--cache", cache); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	withArchive := strings.Replace(string(data), "provider:\n", mirrorBlock+"  image_archives: [images/pause-"+plan.DefaultPauseVersion+".tar]\nprovider:\n", 1)
	if err := os.WriteFile(planFile, []byte(withArchive), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, _ := run(t, nil, "validate", "-f", planFile); code == 0 || !strings.Contains(stdout, "without a pinned sha256") {
		t.Fatalf("validate accepted an archive the checksums do not list (exit %d):\n%s", code, stdout)
	}
	if code, stdout, stderr := run(t, nil, "mirror", "build", "-f", planFile, "--out", out, "--cache", cache, "--pause-image"); code != 0 {
		t.Fatalf("mirror build refused the plan it pins: exit %d\n%s%s", code, stdout, stderr)
	}
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
	// the distribution's containerd is not baked: nodes run the pinned release
	if code != 0 || strings.Contains(stdout, "containerd\n") || !strings.Contains(stdout, "cloud-init\n") {
		t.Fatalf("exit %d: %s", code, stdout)
	}
	code, _, stderr := run(t, nil, "image", "build", "--os", "windows-11", "--cache", t.TempDir())
	if code != ExitFail || !strings.Contains(stderr, "unsupported operating system") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
