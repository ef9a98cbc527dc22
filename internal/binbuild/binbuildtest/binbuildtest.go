// Package binbuildtest writes stand-ins of binbuild's builds into a cache directory, so
// tests of what uses the builds (the mirror) compile nothing.
package binbuildtest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// FakeBuilds writes a finished build of every Go-proxy project at the versions v into
// cache: etcd, Kubernetes, containerd, runc, the CNI plugins and metrics-server as shell
// scripts that echo their names, and CoreDNS as FakeCoreDNS makes it.
func FakeBuilds(t testing.TB, cache string, v plan.Versions) {
	t.Helper()
	for dir, names := range map[string][]string{
		binbuild.ProjectEtcd + "-" + v.Etcd:                   {"etcd", "etcdctl"},
		binbuild.ProjectKubernetes + "-" + v.Kubernetes:       binbuild.KubernetesComponents,
		binbuild.ProjectContainerd + "-" + v.Containerd:       binbuild.ContainerdBinaries,
		binbuild.ProjectRunc + "-" + v.Runc:                   {"runc"},
		binbuild.ProjectCNIPlugins + "-" + v.CNIPlugins:       binbuild.CNIPlugins,
		binbuild.ProjectMetricsServer + "-" + v.MetricsServer: {"metrics-server"},
	} {
		var sums strings.Builder
		for _, n := range names {
			writeExecutable(t, filepath.Join(cache, dir), n, []byte("#!/bin/sh\necho "+n+"\n"), &sums)
		}
		if err := os.WriteFile(filepath.Join(cache, dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	FakeCoreDNS(t, cache, v.CoreDNS)
}

// writeExecutable writes dir/name and its line of a SHA256SUMS.
func writeExecutable(t testing.TB, dir, name string, data []byte, sums *strings.Builder) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	sums.WriteString(hex.EncodeToString(s[:]) + "  " + name + "\n")
}

// FakeCoreDNS writes a finished CoreDNS build of version into cache: a shell script that
// names itself, and lists plugins with -plugins as CoreDNS does, one a line: those of
// kisgen's Corefile but the ones in without.
func FakeCoreDNS(t testing.TB, cache, version string, without ...string) {
	t.Helper()
	corefile, err := roles.Corefile()
	if err != nil {
		t.Fatal(err)
	}
	var plugins []string
	for _, d := range roles.CorefileDirectives(corefile) {
		if !slices.Contains(without, d) {
			plugins = append(plugins, d)
		}
	}
	dir := filepath.Join(cache, binbuild.ProjectCoreDNS+"-"+version)
	var sums strings.Builder
	writeExecutable(t, dir, "coredns", []byte("#!/bin/sh\nif [ \"$1\" = -plugins ]; then printf '%s\\n' "+strings.Join(plugins, " ")+"; exit 0; fi\necho coredns\n"), &sums)
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FakeE2E writes finished builds of the e2e suite of Kubernetes version into cache:
// e2e.test as a shell script, and the agnhost build (a script, agnhostVersion as its
// source's version, and the porter's TLS pair).
func FakeE2E(t testing.TB, cache, version, agnhostVersion string) {
	t.Helper()
	var sums strings.Builder
	dir := filepath.Join(cache, binbuild.ProjectE2ETest+"-"+version)
	writeExecutable(t, dir, binbuild.E2ETestBinary, []byte("#!/bin/sh\necho e2e.test\n"), &sums)
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	sums.Reset()
	dir = filepath.Join(cache, binbuild.ProjectE2EImages+"-"+version)
	writeExecutable(t, dir, binbuild.AgnhostBinary, []byte("#!/bin/sh\necho agnhost\n"), &sums)
	writeExecutable(t, dir, binbuild.AgnhostVersion, []byte(agnhostVersion+"\n"), &sums)
	writeExecutable(t, dir, binbuild.AgnhostCert, []byte("stand-in certificate\n"), &sums)
	writeExecutable(t, dir, binbuild.AgnhostKey, []byte("stand-in key\n"), &sums)
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
