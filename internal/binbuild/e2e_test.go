package binbuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/internal/testtool"
)

// TestE2EBuildsUseKubernetesWrapper: the e2e suite and its images are built in the
// module the Kubernetes binaries are built in (the pinned go.mod when there is one, the
// generated one otherwise) with the same linker flags, which is what lets them share
// the Go build cache: every package both import compiles to the same action.
func TestE2EBuildsUseKubernetesWrapper(t *testing.T) {
	gomod, ldflags, err := kubernetesWrapper("v1.99.3")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"require k8s.io/kubernetes v1.99.3", "k8s.io/client-go => k8s.io/client-go v0.99.3", "\tk8s.io/kubernetes/cmd/kube-apiserver\n"} {
		if !strings.Contains(gomod, want) {
			t.Errorf("wrapper go.mod lacks %q:\n%s", want, gomod)
		}
	}
	if !strings.Contains(ldflags, "version.gitVersion=v1.99.3") || !strings.Contains(ldflags, "gitMinor=99") {
		t.Errorf("ldflags %q do not stamp the version", ldflags)
	}
	if _, _, err := kubernetesWrapper("1.37"); err == nil {
		t.Error("a version that is not vX.Y.Z was accepted")
	}
	if _, err := wrappers.ReadFile("wrappers/" + ProjectKubernetes + "-v1.37.2.go.mod.txt"); err != nil {
		t.Errorf("the e2e builds of v1.37.2 would not find Kubernetes' pinned go.mod: %v", err)
	}
}

// TestBuildModuleKeepsWhatExtraAdds builds in a wrapper module whose go.mod gets a tool
// directive appended (as agnhost's build does, a main package cannot be imported to
// keep its module through `go mod tidy`) and whose own source file is written beside it.
// The tool is a local stand-in module, so nothing is fetched.
func TestBuildModuleKeepsWhatExtraAdds(t *testing.T) {
	src := standInModule(t)
	w := wrapperModule{project: "e2e-test-stand-in", pinned: "no-such-pin",
		gomod: "module kisgen.local/k8s-build\n\ngo 1.26\n\nrequire kisgen.local/server v0.0.0\n\nreplace kisgen.local/server => " + src + "\n",
		extra: "\ntool kisgen.local/server\n", files: map[string]string{"own.go": "package k8sbuild\n"}}
	ctx := context.Background()
	var log strings.Builder
	var seen string
	dir, err := buildModule(ctx, w, "v0.0.1", t.TempDir(), &log, func(work, out string) error {
		mod, _ := os.ReadFile(filepath.Join(work, "go.mod"))
		own, _ := os.ReadFile(filepath.Join(work, "own.go"))
		seen = string(mod) + string(own)
		return run(ctx, work, &log, []string{"CGO_ENABLED=0"}, "go", "build", "-o", filepath.Join(out, "server"), "kisgen.local/server")
	})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	if !strings.Contains(seen, "tool kisgen.local/server") || !strings.Contains(seen, "package k8sbuild") {
		t.Errorf("the wrapper module lacks the extra directive or its own file:\n%s", seen)
	}
	if filepath.Base(dir) != "e2e-test-stand-in-v0.0.1" {
		t.Errorf("cached in %s, want CACHE/PROJECT-VERSION", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "server")); err != nil {
		t.Error(err)
	}
}

// TestCachedE2EBuildsAreTheSuite checks the builds `kisgen mirror build --conformance`
// left in the per-user cache: e2e.test says its version and lists conformance specs,
// agnhost says the version its source declares.
func TestCachedE2EBuildsAreTheSuite(t *testing.T) {
	cache, err := cachedir.Bin("")
	if err != nil {
		t.Fatal(err)
	}
	const version = "v1.37.2"
	how := "kisgen mirror build --conformance"
	e2e := testtool.Built(t, filepath.Join(cache, ProjectE2ETest+"-"+version, E2ETestBinary), "e2e.test "+version, how)
	out, err := exec.Command(e2e, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != version {
		t.Errorf("e2e.test --version = %q, %v; want %s", out, err, version)
	}
	out, err = exec.Command(e2e, "--list-conformance-tests").Output()
	if n := strings.Count(string(out), "testname:"); err != nil || n < 400 {
		t.Errorf("e2e.test --list-conformance-tests: %d specs, %v", n, err)
	}
	agnhost := testtool.Built(t, filepath.Join(cache, ProjectE2EImages+"-"+version, AgnhostBinary), "agnhost of Kubernetes "+version, how)
	tag, err := os.ReadFile(filepath.Join(filepath.Dir(agnhost), AgnhostVersion))
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(agnhost, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), strings.TrimSpace(string(tag))) {
		t.Errorf("agnhost --version = %q, %v; want its source's version %s", out, err, tag)
	}
}
