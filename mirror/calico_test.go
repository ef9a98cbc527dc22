package mirror_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/binbuild/binbuildtest"
	"github.com/kisgen/kisgen/mirror"
	"github.com/kisgen/kisgen/mirror/mirrortest"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

func calicoPlan(t *testing.T) *plan.Plan {
	t.Helper()
	return calicoPlanWith(t, "{mode: routed}")
}

// calicoPlanWith is calicoPlan with the given add_ons.cni.options.calico.
func calicoPlanWith(t *testing.T, options string) *plan.Plan {
	t.Helper()
	src := `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster: {name: m}
versions: {calico: ` + binbuild.CalicoVersion + `}
mirror: {url: 'http://10.0.2.100:8080'}
add_ons: {cni: {provider: calico, options: {calico: ` + options + `}}}
etcd: {expected_count: 1, nodes: [{host: etcd1, ip: 10.10.0.11}]}
master: {expected_count: 1, nodes: [{host: master1, ip: 10.10.0.21}]}
worker: {expected_count: 1, nodes: [{host: worker1, ip: 10.10.0.31}]}
`
	p, rep := plan.Parse(filepath.Join(t.TempDir(), "kismatic-cluster.yaml"), []byte(src), plan.Options{})
	if rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	return p
}

// fakeCache is a cache with stand-ins of every build of the plan's versions: nothing is
// compiled.
func fakeCache(t *testing.T, p *plan.Plan) string {
	t.Helper()
	cache := t.TempDir()
	binbuildtest.FakeBuilds(t, cache, p.Versions)
	mirrortest.FakeCalico(t, cache, p.Versions.Calico)
	return cache
}

// image is an image archive read back: its reference, configuration and layer entries.
type image struct {
	ref    string
	config struct {
		Entrypoint, Cmd, Env []string
		User, WorkingDir     string
	}
	entries map[string]*tar.Header
	data    map[string]string
}

func readImage(t *testing.T, path string) image {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	var docker []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 1 || len(docker[0].Layers) != 1 {
		t.Fatalf("%s: manifest.json %s: %v", path, files["manifest.json"], err)
	}
	img := image{ref: docker[0].RepoTags[0], entries: map[string]*tar.Header{}, data: map[string]string{}}
	var cfg struct {
		Config json.RawMessage `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[docker[0].Config], &cfg); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cfg.Config, &img.config); err != nil {
		t.Fatal(err)
	}
	layer := files[docker[0].Layers[0]]
	if bytes.HasPrefix(layer, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(layer))
		if err != nil {
			t.Fatal(err)
		}
		if layer, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	if sum := sha256.Sum256(layer); len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("%s: diff_ids %v are not the uncompressed layer's digest", path, cfg.RootFS.DiffIDs)
	}
	lr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(lr)
		img.entries[h.Name], img.data[h.Name] = h, string(b)
	}
	return img
}

// TestBuildMirrorsCalico proves that mirror build puts calicoctl (with the release's
// SHA256SUMS), calico.yaml and the three Calico image archives, tagged as calico.yaml
// names them, in the mirror, pinned in SHA256SUMS, and that a second build gives the
// same bytes.
func TestBuildMirrorsCalico(t *testing.T) {
	p := calicoPlan(t)
	cache := fakeCache(t, p)
	out := t.TempDir()
	res, err := mirror.Build(context.Background(), p, mirror.Options{Out: out, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, f := range res.Files {
		sums[f.Path] = f.SHA256
	}
	v := p.Versions.Calico
	ctl := "github.com/projectcalico/calico/releases/download/" + v + "/calicoctl-linux-amd64"
	manifest := "raw.githubusercontent.com/projectcalico/calico/" + v + "/manifests/calico.yaml"
	for _, path := range []string{ctl, manifest, "images/calico-node-" + v + ".tar", "images/calico-cni-" + v + ".tar", "images/calico-kube-controllers-" + v + ".tar"} {
		if sums[path] == "" {
			t.Errorf("%s is not in the mirror's SHA256SUMS", path)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(out, filepath.FromSlash(manifest))); string(got) != mirrortest.CalicoManifest {
		t.Errorf("calico.yaml = %q, want the release's", got)
	}
	published, _ := os.ReadFile(filepath.Join(out, filepath.Dir(filepath.FromSlash(ctl)), "SHA256SUMS"))
	if want := sums[ctl] + "  calicoctl-linux-amd64\n"; string(published) != want {
		t.Errorf("the release's SHA256SUMS = %q, want %q", published, want)
	}
	for _, m := range res.NotMirrored {
		if strings.HasPrefix(m, "calico") {
			t.Errorf("NotMirrored lists %q", m)
		}
	}

	refs := map[string]string{}
	for _, img := range roles.ClusterImages(p) {
		refs[img.Component] = img.Ref
	}
	node := readImage(t, filepath.Join(out, "images", "calico-node-"+v+".tar"))
	if node.ref != refs[roles.CompCalicoNode] || node.ref != "quay.io/calico/node:"+v {
		t.Errorf("calico/node tagged %q", node.ref)
	}
	if diff := cmp.Diff([]string{"start_runit"}, node.config.Cmd); diff != "" {
		t.Errorf("calico/node Cmd (-want +got):\n%s", diff)
	}
	if !strings.Contains(strings.Join(node.config.Env, " "), "SVDIR=/etc/service/enabled") {
		t.Errorf("calico/node Env = %v, want SVDIR for runit", node.config.Env)
	}
	for name, want := range map[string]string{
		"usr/bin/calico-node": "echo calico-node", "usr/bin/bird": "echo bird", "usr/bin/birdcl": "echo birdcl", "usr/bin/bird6": "echo bird6", "usr/bin/birdcl6": "echo birdcl6",
		"usr/sbin/start_runit": "runsvdir", "etc/rc.local": "calico-node -startup", "usr/sbin/iptables": "iptables", "usr/bin/runsvdir": "runit",
	} {
		if h := node.entries[name]; h == nil || h.Typeflag != tar.TypeReg || !strings.Contains(node.data[name], want) {
			t.Errorf("calico/node %s: %+v %q, want a file with %q", name, h, node.data[name], want)
		}
	}
	if h := node.entries["bin"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/bin" {
		t.Errorf("calico/node bin: %+v, want the root file system's link to usr/bin", h)
	}
	if h := node.entries["var/log/"]; h == nil || h.Gid != 4 {
		t.Errorf("calico/node var/log/: %+v, want its owner kept", h)
	}
	if h := node.entries["etc/service"]; h != nil {
		t.Errorf("calico/node keeps Debian's etc/service link (%+v): node/filesystem's etc/service/available must be a directory", h)
	}
	if node.entries["etc/service/available/felix/run"] == nil {
		t.Error("calico/node lacks the felix runit service")
	}
	if node.entries["dev/null"] != nil {
		t.Error("calico/node has a device node: the runtime provides /dev")
	}

	cni := readImage(t, filepath.Join(out, "images", "calico-cni-"+v+".tar"))
	if cni.ref != "quay.io/calico/cni:"+v || cni.config.WorkingDir != "/opt/cni/bin" || strings.Join(cni.config.Cmd, " ") != "/opt/cni/bin/install" {
		t.Errorf("calico/cni: %s %+v", cni.ref, cni.config)
	}
	if h := cni.entries["opt/cni/bin/calico-ipam"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "calico" {
		t.Errorf("calico/cni calico-ipam: %+v, want a link to calico (the upgrade-ipam init container runs it)", h)
	}
	if cni.entries["opt/cni/bin/install"] == nil || cni.entries["opt/cni/bin/calico"] == nil {
		t.Error("calico/cni lacks install or calico")
	}

	kc := readImage(t, filepath.Join(out, "images", "calico-kube-controllers-"+v+".tar"))
	if kc.ref != "quay.io/calico/kube-controllers:"+v || kc.config.User != "999" || strings.Join(kc.config.Entrypoint, " ") != "/usr/bin/wrapper /usr/bin/kube-controllers" {
		t.Errorf("calico/kube-controllers: %s %+v", kc.ref, kc.config)
	}
	if h := kc.entries["status/status.json"]; h == nil || h.Uid != 999 {
		t.Errorf("status.json: %+v, want it writable by the image's user 999 (check-status reads it)", h)
	}
	if kc.entries["usr/bin/check-status"] == nil {
		t.Error("calico/kube-controllers lacks check-status (its probes)")
	}

	again := t.TempDir()
	res2, err := mirror.Build(context.Background(), p, mirror.Options{Out: again, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(res.Files, res2.Files); diff != "" {
		t.Errorf("a second build differs (-first +second):\n%s", diff)
	}
}

// TestBuildPacksTheDeclaredPortsController: with network policy on, the mirror carries
// kisgen's declared-ports controller, compiled from roles.DeclaredPortsSource, tagged as
// the Deployment names it, run as an unprivileged user, and pinned in SHA256SUMS.
func TestBuildPacksTheDeclaredPortsController(t *testing.T) {
	p := calicoPlanWith(t, "{mode: routed, network_policy: true}")
	var img roles.ClusterImage
	for _, i := range roles.ClusterImages(p) {
		if i.Component == roles.ImageDeclaredPorts {
			img = i
		}
	}
	if img.Archive == "" {
		t.Fatal("roles.ClusterImages lists no declared-ports image with network policy on")
	}
	out := t.TempDir()
	res, err := mirror.Build(context.Background(), p, mirror.Options{Out: out, CacheDir: fakeCache(t, p)})
	if err != nil {
		t.Fatal(err)
	}
	pinned := false
	for _, f := range res.Files {
		pinned = pinned || f.Path == img.Archive
	}
	if !pinned {
		t.Errorf("%s is not in the mirror's SHA256SUMS", img.Archive)
	}
	got := readImage(t, filepath.Join(out, filepath.FromSlash(img.Archive)))
	if got.ref != roles.DeclaredPortsImage() || got.config.User != "65532" || strings.Join(got.config.Entrypoint, " ") != "/declared-ports" {
		t.Errorf("declared-ports image: %s %+v", got.ref, got.config)
	}
	if bin := got.data["declared-ports"]; !strings.HasPrefix(bin, "\x7fELF") || got.entries["declared-ports"].Mode&0o111 == 0 {
		t.Errorf("/declared-ports is not an executable ELF binary (%d bytes)", len(bin))
	}
}

// TestBuildSaysWhatCalicoSourcesAreMissing: without the source tarballs, or with a
// tarball that is not the pinned one, mirror build stops and names what it needs.
func TestBuildSaysWhatCalicoSourcesAreMissing(t *testing.T) {
	p := calicoPlan(t)
	cache := fakeCache(t, p)
	if err := os.RemoveAll(filepath.Join(cache, "calico-"+p.Versions.Calico)); err != nil {
		t.Fatal(err)
	}
	wrong := t.TempDir()
	for _, s := range []binbuild.Source{binbuild.CalicoSource, binbuild.BirdSource} {
		if err := os.WriteFile(filepath.Join(wrong, s.File), []byte("not the release"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(mirror.SourcesEnv, "")
	tests := []struct {
		name, sources string
		want          []string
	}{
		{"no sources directory", "", []string{"--sources DIR", binbuild.CalicoSource.File, binbuild.BirdSource.File}},
		{"an empty sources directory", t.TempDir(), []string{binbuild.CalicoSource.File, binbuild.CalicoSource.SHA256, "no such file"}},
		{"a tarball that is not the pinned one", wrong, []string{binbuild.CalicoSource.File, "want " + binbuild.CalicoSource.SHA256, "replace it"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mirror.Build(context.Background(), p, mirror.Options{Out: t.TempDir(), CacheDir: cache, Sources: tc.sources})
			if !errors.Is(err, binbuild.ErrSources) {
				t.Fatalf("err = %v, want ErrSources", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
