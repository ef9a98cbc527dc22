package binbuild

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kisgen/kisgen/internal/flock"
)

//go:embed wrappers/*.txt
var wrappers embed.FS

// KubernetesComponents are the Kubernetes binaries a node may need.
var KubernetesComponents = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "kubectl"}

// stagingModules are the k8s.io modules that k8s.io/kubernetes requires at v0.0.0 and that
// a wrapper module must replace with their v0.MINOR.PATCH release. sample-cli-plugin and
// sample-controller are not served by the proxy and not needed.
var stagingModules = []string{"api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
	"cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers", "controller-manager",
	"cri-api", "cri-client", "cri-streaming", "csi-translation-lib", "dynamic-resource-allocation", "endpointslice",
	"externaljwt", "kms", "kube-aggregator", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl",
	"kubelet", "metrics", "mount-utils", "pod-security-admission", "sample-apiserver", "streaming"}

var versionRE = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)$`)

// Etcd builds etcd and etcdctl of version (e.g. v3.7.3) from the Go module proxy into
// cacheDir/etcd-VERSION and returns that directory. A finished build is reused.
func Etcd(ctx context.Context, version, cacheDir string, log io.Writer) (string, error) {
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("etcd version %q: want vX.Y.Z", version)
	}
	major := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 2)[0]
	mod := fmt.Sprintf("module kisgen.local/etcd-build\n\ngo 1.26\n\ntool (\n\tgo.etcd.io/etcd/etcdctl/v%[1]s\n\tgo.etcd.io/etcd/server/v%[1]s\n)\n\nrequire (\n\tgo.etcd.io/etcd/etcdctl/v%[1]s %[2]s\n\tgo.etcd.io/etcd/server/v%[1]s %[2]s\n)\n", major, version)
	return build(ctx, "etcd", version, cacheDir, mod, log, func(work, out string) error {
		return installEtcd(ctx, work, out, log)
	})
}

// installEtcd installs the wrapper module's tools (etcd's server and etcdctl) into out.
func installEtcd(ctx context.Context, work, out string, log io.Writer) error {
	if err := run(ctx, work, log, []string{"GOBIN=" + out}, "go", "install", "-trimpath", "-ldflags", "-s -w", "tool"); err != nil {
		return err
	}
	// The server module's main package is named "server"; releases call it etcd.
	return os.Rename(filepath.Join(out, "server"), filepath.Join(out, "etcd"))
}

// Kubernetes builds the given components (default: all of KubernetesComponents) of
// version (e.g. v1.37.2) into cacheDir/kubernetes-VERSION and returns that directory.
func Kubernetes(ctx context.Context, version string, components []string, cacheDir string, log io.Writer) (string, error) {
	gomod, ldflags, err := kubernetesWrapper(version)
	if err != nil {
		return "", err
	}
	if len(components) == 0 {
		components = KubernetesComponents
	}
	dir, err := build(ctx, "kubernetes", version, cacheDir, gomod, log, func(work, out string) error {
		for _, c := range KubernetesComponents {
			if err := run(ctx, work, log, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags", ldflags,
				"-o", filepath.Join(out, c), "k8s.io/kubernetes/cmd/"+c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for _, c := range components {
		if _, err := os.Stat(filepath.Join(dir, c)); err != nil {
			return "", fmt.Errorf("kubernetes %s: %s missing from %s", version, c, dir)
		}
	}
	return dir, nil
}

// kubernetesWrapper is the wrapper module Kubernetes' binaries of version are built in
// (unless a pinned one is embedded: wrappers/kubernetes-VERSION.go.mod.txt), requiring
// that release with each command as a tool, and the linker flags that stamp the version
// in, as the release's build does. The e2e builds (e2e.go) use the same module and
// flags, so they share the Go build cache with it.
func kubernetesWrapper(version string) (gomod, ldflags string, err error) {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return "", "", fmt.Errorf("kubernetes version %q: want vX.Y.Z", version)
	}
	staging := fmt.Sprintf("v0.%s.%s", m[2], m[3])
	var b strings.Builder
	fmt.Fprintf(&b, "module kisgen.local/k8s-build\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", version)
	for _, s := range stagingModules {
		fmt.Fprintf(&b, "\tk8s.io/%s => k8s.io/%s %s\n", s, s, staging)
	}
	// Nothing in the module imports the commands: without tool directives `go mod tidy`
	// drops the require and the build resolves the newest Kubernetes instead (as the
	// pinned go.mod files do, so does the generated one).
	b.WriteString(")\n\ntool (\n")
	for _, c := range KubernetesComponents {
		fmt.Fprintf(&b, "\tk8s.io/kubernetes/cmd/%s\n", c)
	}
	b.WriteString(")\n")
	ldflags = fmt.Sprintf("-s -w -X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=%s -X k8s.io/component-base/version.gitMinor=%s -X k8s.io/component-base/version.gitTreeState=clean",
		version, m[1], m[2])
	return b.String(), ldflags, nil
}

// build runs compile in a wrapper module and moves its output into place atomically, so
// an interrupted build never leaves a half-filled cache directory behind.
func build(ctx context.Context, project, version, cacheDir, gomod string, log io.Writer, compile func(work, out string) error) (string, error) {
	return buildWith(ctx, project, version, cacheDir, gomod, nil, log, compile)
}

// buildWith is build with source files of the wrapper module's own (a main package that
// picks what a project compiles in), written beside go.mod before its modules resolve.
func buildWith(ctx context.Context, project, version, cacheDir, gomod string, files map[string]string, log io.Writer, compile func(work, out string) error) (string, error) {
	return buildModule(ctx, wrapperModule{project: project, gomod: gomod, files: files}, version, cacheDir, log, compile)
}

// wrapperModule is the module a build runs in.
type wrapperModule struct {
	// project names the cache directory, CACHE/PROJECT-VERSION.
	project string
	// pinned names the embedded go.mod and go.sum to use when there are some for the
	// version (wrappers/PINNED-VERSION.go.mod.txt); "" means project. The e2e builds use
	// Kubernetes' so that their module versions are the Kubernetes build's.
	pinned string
	// gomod is the go.mod when none is pinned.
	gomod string
	// extra is appended to the go.mod, pinned or not (more tool directives).
	extra string
	// files are source files of the wrapper module's own, written beside go.mod.
	files map[string]string
}

// buildModule runs compile in the wrapper module w and moves its output into place
// atomically.
func buildModule(ctx context.Context, w wrapperModule, version, cacheDir string, log io.Writer, compile func(work, out string) error) (string, error) {
	project := w.project
	// The go commands run in the work directory, and `go install` refuses a relative
	// GOBIN: every path they see is absolute.
	cacheDir, err := filepath.Abs(cacheDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(cacheDir, project+"-"+version)
	unlock, err := flock.Lock(filepath.Join(cacheDir, "."+project+"-"+version+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(final, "SHA256SUMS")); err == nil {
		return final, nil
	}
	work, err := os.MkdirTemp(cacheDir, "."+project+"-work-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	out := filepath.Join(work, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return "", err
	}
	pinnedName := w.pinned
	if pinnedName == "" {
		pinnedName = project
	}
	gomod := w.gomod
	name := pinnedName + "-" + version
	if pinned, err := wrappers.ReadFile("wrappers/" + name + ".go.mod.txt"); err == nil {
		gomod = string(pinned)
		sum, _ := wrappers.ReadFile("wrappers/" + name + ".go.sum.txt")
		if err := os.WriteFile(filepath.Join(work, "go.sum"), sum, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(gomod+w.extra), 0o644); err != nil {
		return "", err
	}
	for name, text := range w.files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(text), 0o644); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(log, "building %s %s from the Go module proxy (cached in %s)\n", project, version, final)
	if err := run(ctx, work, log, nil, "go", "mod", "tidy"); err != nil {
		return "", fmt.Errorf("%s %s: resolve modules: %w", project, version, err)
	}
	if err := compile(work, out); err != nil {
		return "", fmt.Errorf("%s %s: build: %w", project, version, err)
	}
	if err := seal(out, final); err != nil {
		return "", err
	}
	return final, nil
}

// seal writes out's SHA256SUMS, which marks a finished build, and moves out to final.
func seal(out, final string) error {
	sums, err := checksums(out)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "SHA256SUMS"), sums, 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	return os.Rename(out, final)
}

// checksums writes "sum  name" lines for every file in dir, sorted by name.
func checksums(dir string) ([]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), e.Name())
	}
	return []byte(b.String()), nil
}

func run(ctx context.Context, dir string, log io.Writer, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	cmd.Env = append(cmd.Env, env...)
	var tail tailBuffer
	cmd.Stdout = io.MultiWriter(log, &tail)
	cmd.Stderr = io.MultiWriter(log, &tail)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail.String())
	}
	return nil
}

// tailBuffer keeps the last 4 KiB of a command's output for the error message.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}
func (t *tailBuffer) String() string { return string(t.b) }
