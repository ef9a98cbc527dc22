package binbuild

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Project names: the cache directory of a build is CACHE/NAME-VERSION.
const (
	ProjectEtcd          = "etcd"
	ProjectKubernetes    = "kubernetes"
	ProjectContainerd    = "containerd"
	ProjectRunc          = "runc"
	ProjectCNIPlugins    = "cni-plugins"
	ProjectCoreDNS       = "coredns"
	ProjectMetricsServer = "metrics-server"
)

// ContainerdBinaries are the binaries of containerd's release tarball (bin/NAME) that a
// node runs.
var ContainerdBinaries = []string{"containerd", "containerd-shim-runc-v2", "ctr"}

// CNIPlugins are the plugins of the CNI plugins release tarball, the standard set
// (plugins/main, plugins/ipam and plugins/meta of containernetworking/plugins, Linux only).
var CNIPlugins = []string{"bandwidth", "bridge", "dhcp", "dummy", "firewall", "host-device", "host-local", "ipvlan",
	"loopback", "macvlan", "portmap", "ptp", "sbr", "static", "tap", "tuning", "vlan", "vrf"}

// cniPluginDir is where each plugin's main package lives in the plugins module.
var cniPluginDir = map[string]string{
	"bridge": "main", "dummy": "main", "host-device": "main", "ipvlan": "main", "loopback": "main", "macvlan": "main",
	"ptp": "main", "tap": "main", "vlan": "main",
	"dhcp": "ipam", "host-local": "ipam", "static": "ipam",
	"bandwidth": "meta", "firewall": "meta", "portmap": "meta", "sbr": "meta", "tuning": "meta", "vrf": "meta",
}

// goBinary is one main package of a project and the file name its release gives it.
type goBinary struct{ pkg, name string }

// goProject says how a project's release binaries are built, following the project's own
// Makefile (version strings, tags, cgo).
type goProject struct {
	name    string
	module  string
	bins    []goBinary
	env     []string
	tags    string
	ldflags string
}

// Cached reports whether project's version is built in cacheDir (a finished build has a
// SHA256SUMS), so callers can say "cached" or "cold" before calling the builder.
func Cached(project, version, cacheDir string) bool {
	_, err := os.Stat(filepath.Join(cacheDir, project+"-"+version, "SHA256SUMS"))
	return err == nil
}

// Containerd builds containerd, containerd-shim-runc-v2 and ctr of version (e.g. v2.4.2)
// into cacheDir/containerd-VERSION. Like the release's static build, without cgo: the
// btrfs snapshotter (cgo only) is left out, overlayfs and native remain.
func Containerd(ctx context.Context, version, cacheDir string, log io.Writer) (string, error) {
	m := versionRE.FindStringSubmatch(version)
	if m == nil {
		return "", fmt.Errorf("containerd version %q: want vX.Y.Z", version)
	}
	mod := "github.com/containerd/containerd"
	if m[1] != "0" && m[1] != "1" {
		mod += "/v" + m[1]
	}
	var bins []goBinary
	for _, b := range ContainerdBinaries {
		bins = append(bins, goBinary{mod + "/cmd/" + b, b})
	}
	return buildProject(ctx, goProject{
		name: ProjectContainerd, module: mod, bins: bins,
		env:  []string{"CGO_ENABLED=0"},
		tags: "no_btrfs urfave_cli_no_docs",
		ldflags: fmt.Sprintf("-s -w -X %[1]s/version.Version=%[2]s -X %[1]s/version.Package=%[1]s -X %[1]s/version.Revision=kisgen-%[2]s",
			mod, version),
	}, version, cacheDir, log)
}

// Runc builds runc of version (e.g. v1.5.3) into cacheDir/runc-VERSION/runc. runc needs
// cgo (its nsenter runs before the Go runtime starts); it is linked statically with
// libseccomp, as the release binary is (Debian's libseccomp-dev has libseccomp.a).
// runc's version string comes from its embedded VERSION file.
func Runc(ctx context.Context, version, cacheDir string, log io.Writer) (string, error) {
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("runc version %q: want vX.Y.Z", version)
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libseccomp.a"); err != nil {
		if _, err2 := os.Stat("/usr/lib64/libseccomp.a"); err2 != nil {
			return "", fmt.Errorf("runc %s: %w: the static libseccomp is missing; install it (Debian: apt-get install libseccomp-dev gcc)", version, ErrMissingTool)
		}
	}
	return buildProject(ctx, goProject{
		name: ProjectRunc, module: "github.com/opencontainers/runc",
		bins:    []goBinary{{"github.com/opencontainers/runc", "runc"}},
		env:     []string{"CGO_ENABLED=1"},
		tags:    "seccomp urfave_cli_no_docs netgo osusergo",
		ldflags: "-s -w -X main.gitCommit=kisgen-" + version + " -extldflags -static",
	}, version, cacheDir, log)
}

// CNIPluginSet builds every plugin of CNIPlugins of version (e.g. v1.10.0) into
// cacheDir/cni-plugins-VERSION, with the version the release stamps in.
func CNIPluginSet(ctx context.Context, version, cacheDir string, log io.Writer) (string, error) {
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("CNI plugins version %q: want vX.Y.Z", version)
	}
	const mod = "github.com/containernetworking/plugins"
	var bins []goBinary
	for _, p := range CNIPlugins {
		bins = append(bins, goBinary{mod + "/plugins/" + cniPluginDir[p] + "/" + p, p})
	}
	return buildProject(ctx, goProject{
		name: ProjectCNIPlugins, module: mod, bins: bins,
		env:     []string{"CGO_ENABLED=0"},
		ldflags: "-s -w -X " + mod + "/pkg/utils/buildversion.BuildVersion=" + version,
	}, version, cacheDir, log)
}

// CoreDNSPlugins are the plugins kisgen's CoreDNS is built with, by package under
// github.com/coredns/coredns/plugin: those of the Corefile kisgen deploys (the one
// kubeadm deploys: errors, health, ready, kubernetes, prometheus, forward, cache, loop,
// reload, loadbalance) and the small ones users add to a cluster's Corefile (log, hosts,
// rewrite, template, autopath, k8s_external…). The release's cloud and exotic backends
// (route53, azure, clouddns, etcd, nomad, grpc, dnstap, geoip, QUIC/HTTP3…) are left out:
// they are most of its build time and none is used inside a cluster. The directive order
// is CoreDNS's own (core/dnsserver), so the plugins built in behave as in the release.
var CoreDNSPlugins = []string{"acl", "any", "autopath", "bind", "bufsize", "cache", "cancel", "chaos", "debug", "errors",
	"file", "forward", "header", "health", "hosts", "k8s_external", "kubernetes", "loadbalance", "local", "log", "loop",
	"metadata", "metrics", "minimal", "nsid", "ready", "reload", "rewrite", "root", "template", "whoami"}

// coreDNSMain is the wrapper module's main package: CoreDNS's own main (coredns.go) with
// CoreDNSPlugins instead of core/plugin's import of every plugin.
func coreDNSMain() string {
	var b strings.Builder
	b.WriteString("// Code generated by kisgen (internal/binbuild.CoreDNS); DO NOT EDIT.\n\npackage main\n\nimport (\n")
	b.WriteString("\t\"github.com/coredns/coredns/coremain\"\n\n")
	for _, p := range CoreDNSPlugins {
		fmt.Fprintf(&b, "\t_ \"github.com/coredns/coredns/plugin/%s\"\n", p)
	}
	b.WriteString(")\n\nfunc main() { coremain.Run() }\n")
	return b.String()
}

// CoreDNS builds coredns of version (e.g. v1.15.0) into cacheDir/coredns-VERSION/coredns
// with CoreDNSPlugins, the version string its Makefile sets (CoreDNS's version is a
// constant of the module; GitCommit is stamped).
func CoreDNS(ctx context.Context, version, cacheDir string, log io.Writer) (string, error) {
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("%s version %q: want vX.Y.Z", ProjectCoreDNS, version)
	}
	const mod = "github.com/coredns/coredns"
	gomod := fmt.Sprintf("module kisgen.local/%s-build\n\ngo 1.26\n\nrequire %s %s\n", ProjectCoreDNS, mod, version)
	ldflags := "-s -w -X " + mod + "/coremain.GitCommit=kisgen-" + version
	dir, err := buildWith(ctx, ProjectCoreDNS, version, cacheDir, gomod, map[string]string{"main.go": coreDNSMain()}, log,
		func(work, out string) error {
			return run(ctx, work, log, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags", ldflags,
				"-o", filepath.Join(out, ProjectCoreDNS), ".")
		})
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, ProjectCoreDNS)); err != nil {
		return "", fmt.Errorf("%s %s: coredns missing from %s: remove that directory and build again", ProjectCoreDNS, version, dir)
	}
	return dir, nil
}

// MetricsServer builds metrics-server of version (e.g. v0.8.0) into
// cacheDir/metrics-server-VERSION/metrics-server. It reports client-go's version
// variables, which its Makefile sets.
func MetricsServer(ctx context.Context, version, cacheDir string, log io.Writer) (string, error) {
	const mod = "sigs.k8s.io/metrics-server"
	return singleBinary(ctx, ProjectMetricsServer, mod, mod+"/cmd/metrics-server", version,
		"-X k8s.io/client-go/pkg/version.gitVersion="+version+" -X k8s.io/client-go/pkg/version.gitCommit=kisgen-"+version, cacheDir, log)
}

// singleBinary builds a project whose release is one static binary named after it.
func singleBinary(ctx context.Context, project, mod, pkg, version, ldflags, cacheDir string, log io.Writer) (string, error) {
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("%s version %q: want vX.Y.Z", project, version)
	}
	return buildProject(ctx, goProject{name: project, module: mod, bins: []goBinary{{pkg, project}},
		env: []string{"CGO_ENABLED=0"}, ldflags: "-s -w " + ldflags}, version, cacheDir, log)
}

// buildProject builds pr's binaries in a wrapper module that requires pr.module at
// version: the project's own requirements decide every dependency, as `go install
// module@version` would, and the wrapper leaves room for replace directives where a
// project needs them (etcd, Kubernetes).
func buildProject(ctx context.Context, pr goProject, version, cacheDir string, log io.Writer) (string, error) {
	// The tool directive keeps `go mod tidy` from dropping the requirement of a module
	// that no source file imports.
	var b strings.Builder
	fmt.Fprintf(&b, "module kisgen.local/%s-build\n\ngo 1.26\n\nrequire %s %s\n\ntool (\n", pr.name, pr.module, version)
	for _, bin := range pr.bins {
		fmt.Fprintf(&b, "\t%s\n", bin.pkg)
	}
	b.WriteString(")\n")
	mod := b.String()
	dir, err := build(ctx, pr.name, version, cacheDir, mod, log, func(work, out string) error {
		args := []string{"build", "-trimpath", "-ldflags", pr.ldflags}
		if pr.tags != "" {
			args = append(args, "-tags", pr.tags)
		}
		for _, b := range pr.bins {
			if err := run(ctx, work, log, pr.env, "go", append(args, "-o", filepath.Join(out, b.name), b.pkg)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	var missing []string
	for _, b := range pr.bins {
		if _, err := os.Stat(filepath.Join(dir, b.name)); err != nil {
			missing = append(missing, b.name)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s %s: %s missing from %s: remove that directory and build again", pr.name, version, strings.Join(missing, ", "), dir)
	}
	return dir, nil
}
