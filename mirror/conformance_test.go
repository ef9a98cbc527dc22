package mirror_test

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/binbuild/binbuildtest"
	"github.com/kisgen/kisgen/mirror"
	"github.com/kisgen/kisgen/mirror/mirrortest"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// e2ePlan is a one-node-per-role plan on the bridge network with extra top-level keys.
func e2ePlan(t *testing.T, extra string) *plan.Plan {
	t.Helper()
	src := "apiVersion: kisgen.io/v1alpha1\nkind: ClusterPlan\nadd_ons: {cni: {provider: bridge}}\n" + extra + `
etcd: {expected_count: 1, nodes: [{host: etcd1, ip: 10.10.0.11}]}
master: {expected_count: 1, nodes: [{host: master1, ip: 10.10.0.21}]}
worker: {expected_count: 1, nodes: [{host: worker1, ip: 10.10.0.31}]}
`
	if !strings.Contains(extra, "cluster:") {
		src = "cluster: {name: m}\n" + src
	}
	p, rep := plan.Parse(filepath.Join(t.TempDir(), "kismatic-cluster.yaml"), []byte(src), plan.Options{})
	if rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	return p
}

// e2eCache is a cache with stand-ins of every build a plan's mirror and its e2e images
// need: nothing is compiled or bootstrapped (but kisgen's pause, a few seconds).
func e2eCache(t *testing.T, p *plan.Plan, agnhostVersion string) string {
	t.Helper()
	cache := fakeCache(t, p)
	mirrortest.FakeCalico(t, cache, p.Versions.Calico)
	binbuildtest.FakeE2E(t, cache, p.Versions.Kubernetes, agnhostVersion)
	mirrortest.FakeE2ERootFS(t, cache)
	return cache
}

// indexRefs reads every reference of an archive: docker's RepoTags and the OCI index's
// names, which must agree and all point at the one manifest.
func indexRefs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(strings.NewReader(string(raw)))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b := make([]byte, h.Size)
		if _, err := tr.Read(b); err != nil && h.Size > 0 && err.Error() != "EOF" {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
	var docker []struct{ RepoTags []string }
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	var oci []string
	for _, m := range index.Manifests {
		oci = append(oci, m.Annotations["io.containerd.image.name"])
		if m.Digest != index.Manifests[0].Digest {
			t.Errorf("%s: the references name different manifests", path)
		}
	}
	if diff := cmp.Diff(docker[0].RepoTags, oci); diff != "" {
		t.Errorf("%s: docker tags (-) and OCI names (+) differ:\n%s", path, diff)
	}
	return oci
}

// TestBuildWritesTheE2EImages proves that --conformance builds the suite (into the
// cache, not the mirror) and writes every e2e image under the suite's exact references,
// laid out as the upstream Dockerfiles lay them out on Debian: agnhost with its tools,
// its link, CoreDNS, the porter's TLS pair, /uploads and the user and group a spec
// expects; BusyBox's applets as links; nonroot's user; nginx's command.
func TestBuildWritesTheE2EImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kisgen's pause")
	}
	p := calicoPlan(t)
	cache := e2eCache(t, p, "2.66.1")
	out := t.TempDir()
	res, err := mirror.Build(context.Background(), p, mirror.Options{Out: out, CacheDir: cache, Sources: t.TempDir(), Conformance: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "kubernetes-e2e-test-"+p.Versions.Kubernetes, "e2e.test"); res.E2ETest != want {
		t.Errorf("E2ETest = %q, want %q", res.E2ETest, want)
	}
	var want []string
	for _, img := range roles.ConformanceImages(p) {
		want = append(want, img.Archive)
		if got := indexRefs(t, filepath.Join(out, img.Archive)); !slices.Equal(got, append([]string{img.Ref}, img.Aliases...)) {
			t.Errorf("%s is tagged %v, want %s and %v", img.Archive, got, img.Ref, img.Aliases)
		}
	}
	if diff := cmp.Diff(want, res.E2EImages); diff != "" {
		t.Errorf("E2EImages (-want +got):\n%s", diff)
	}
	for _, f := range res.Files {
		if strings.Contains(f.Path, "e2e.test") {
			t.Errorf("the suite's binary is in the mirror (%s): nodes never download it", f.Path)
		}
	}

	agnhost := readImage(t, filepath.Join(out, "images", "e2e-agnhost-2.66.1.tar"))
	if agnhost.data["agnhost"] != "#!/bin/sh\necho agnhost\n" || agnhost.entries["agnhost"].Mode != 0o755 {
		t.Errorf("no /agnhost executable in the image")
	}
	if h := agnhost.entries["agnhost-2"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "agnhost" {
		t.Errorf("/agnhost-2 is %+v, want a link to agnhost", h)
	}
	for name, want := range map[string]string{"localhost.crt": "stand-in certificate\n", "localhost.key": "stand-in key\n", "usr/bin/bash": "bash\n"} {
		if agnhost.data[name] != want {
			t.Errorf("/%s = %q, want %q", name, agnhost.data[name], want)
		}
	}
	if !strings.HasPrefix(agnhost.data["coredns"], "#!/bin/sh") {
		t.Error("no /coredns in the agnhost image")
	}
	if h := agnhost.entries["uploads/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Error("no /uploads in the agnhost image")
	}
	if !strings.Contains(agnhost.data["etc/passwd"], "root:x:0:0") || !strings.Contains(agnhost.data["etc/passwd"], "user-defined-in-image:x:1000:") ||
		!strings.Contains(agnhost.data["etc/group"], "group-defined-in-image:x:50000:user-defined-in-image") {
		t.Errorf("passwd/group lack the image's user and group:\n%s%s", agnhost.data["etc/passwd"], agnhost.data["etc/group"])
	}
	if diff := cmp.Diff([]string{"/agnhost"}, agnhost.config.Entrypoint); diff != "" || !slices.Equal(agnhost.config.Cmd, []string{"pause"}) {
		t.Errorf("agnhost runs %v %v, want /agnhost pause", agnhost.config.Entrypoint, agnhost.config.Cmd)
	}

	busybox := readImage(t, filepath.Join(out, "images", "e2e-busybox-1.37.0-2.tar"))
	for _, link := range []string{"bin/sh", "usr/bin/wget"} {
		if h := busybox.entries[link]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
			t.Errorf("busybox /%s is %+v, want a link to /bin/busybox", link, h)
		}
	}
	if busybox.entries["usr/bin/bash"] != nil || busybox.entries["bin/busybox"] == nil {
		t.Error("the busybox image must hold busybox and nothing else of Debian")
	}
	if nonroot := readImage(t, filepath.Join(out, "images", "e2e-nonroot-1.5.tar")); nonroot.config.User != "1234" {
		t.Errorf("nonroot runs as %q, want 1234", nonroot.config.User)
	}
	if nginx := readImage(t, filepath.Join(out, "images", "e2e-nginx-1.27.0-2.tar")); !slices.Equal(nginx.config.Cmd, []string{"nginx", "-g", "daemon off;"}) {
		t.Errorf("nginx runs %v", nginx.config.Cmd)
	}
	if glibc := readImage(t, filepath.Join(out, "images", "e2e-glibc-dns-testing-2.1.1.tar")); glibc.data["coredns"] == "" {
		t.Error("no /coredns in glibc-dns-testing")
	}
}

// TestBuildWritesTheE2EImagesThePlanLists: without --conformance only the e2e archives
// the plan lists are written (nodes import them, so they must exist) and the suite is
// not built; a source whose agnhost version is not the tag kisgen gives it is refused;
// --conformance for a release kisgen has no images of is refused.
func TestBuildWritesTheE2EImagesThePlanLists(t *testing.T) {
	p := e2ePlan(t, "mirror: {url: 'http://10.0.2.100:8080', checksums: SHA256SUMS, image_archives: [images/e2e-nginx-1.27.0-2.tar]}")
	out := t.TempDir()
	cache := fakeCache(t, p)
	binbuildtest.FakeE2E(t, cache, p.Versions.Kubernetes, "2.66.1")
	mirrortest.FakeE2ERootFS(t, cache)
	res, err := mirror.Build(context.Background(), p, mirror.Options{Out: out, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if res.E2ETest != "" || !slices.Equal(res.E2EImages, []string{"images/e2e-nginx-1.27.0-2.tar"}) {
		t.Errorf("E2ETest %q, E2EImages %v: want only the listed archive", res.E2ETest, res.E2EImages)
	}

	listed := e2ePlan(t, "mirror: {url: 'http://10.0.2.100:8080', checksums: SHA256SUMS, image_archives: [images/e2e-agnhost-2.66.1.tar]}")
	cache = fakeCache(t, listed)
	binbuildtest.FakeE2E(t, cache, listed.Versions.Kubernetes, "2.67")
	mirrortest.FakeE2ERootFS(t, cache)
	_, err = mirror.Build(context.Background(), listed, mirror.Options{Out: t.TempDir(), CacheDir: cache})
	if !errors.Is(err, mirror.ErrBuild) || !strings.Contains(err.Error(), "agnhost is version 2.67") {
		t.Errorf("err = %v, want ErrBuild naming the version", err)
	}

	old := e2ePlan(t, "cluster: {name: m, version: v1.36.4}")
	_, err = mirror.Build(context.Background(), old, mirror.Options{Out: t.TempDir(), CacheDir: fakeCache(t, old), Conformance: true})
	if !errors.Is(err, mirror.ErrConformanceVersion) {
		t.Errorf("err = %v, want ErrConformanceVersion", err)
	}
}
