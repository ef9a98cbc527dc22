package mirror

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/binbuild/binbuildtest"
	"github.com/kisgen/kisgen/internal/httpserve/httpservetest"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// fakeCache fills a binbuild cache directory with small stand-in binaries of the plan's
// versions, so Build finds them built and compiles nothing.
func fakeCache(t *testing.T, p *plan.Plan) string {
	t.Helper()
	cache := t.TempDir()
	binbuildtest.FakeBuilds(t, cache, p.Versions)
	return cache
}

// tarEntries lists a .tar.gz's entries as "NAME MODE UID/GID DATE CONTENT".
func tarEntries(t *testing.T, tgz []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, fmt.Sprintf("%s %o %d/%d %s %q", h.Name, h.Mode, h.Uid, h.Gid, h.ModTime.UTC().Format("2006-01-02"), body))
	}
	return got
}

func testPlan(t *testing.T, extra string) *plan.Plan {
	t.Helper()
	src := `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster: {name: m}
add_ons: {cni: {provider: bridge}}
` + extra + `
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

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(b)
}

// TestBuildLaysOutWhatNodesDownload proves that every artifact the plan's nodes download
// (roles.PlanArtifacts: etcd, Kubernetes, containerd, runc, the CNI plugins) is at its
// MirrorPath in its release's layout with the project's own checksum file where the
// artifact's SumsURL points, that the top-level SHA256SUMS pins each of them the way
// render looks sums up (by MirrorPath), and that the CoreDNS and metrics-server images
// are packed under their exact upstream references.
func TestBuildLaysOutWhatNodesDownload(t *testing.T) {
	p := testPlan(t, "mirror: {url: 'http://10.0.2.100:8080', checksums: SHA256SUMS, image_archives: [images/pause.tar]}")
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "images", "pause.tar"), []byte("archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Build(context.Background(), p, Options{Out: out, CacheDir: fakeCache(t, p)})
	if err != nil {
		t.Fatal(err)
	}
	sumsData, err := os.ReadFile(filepath.Join(out, ChecksumsFile))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := plan.ParseChecksums(sumsData)
	if err != nil {
		t.Fatalf("top-level SHA256SUMS does not parse as the plan reads it: %v", err)
	}
	var mirrored []string
	for _, a := range roles.PlanArtifacts(p) {
		path := filepath.Join(out, filepath.FromSlash(a.MirrorPath))
		mirrored = append(mirrored, a.MirrorPath)
		if got, want := sums[a.MirrorPath], fileSum(t, path); got != want {
			t.Errorf("SHA256SUMS pins %s as %q, file has %q", a.MirrorPath, got, want)
		}
		// the site's own sums file, where the artifact's SumsURL says
		sumsPath := filepath.Join(out, filepath.FromSlash(strings.TrimPrefix(a.SumsURL, p.Mirror.URL+"/")))
		published, err := os.ReadFile(sumsPath)
		if err != nil {
			t.Errorf("%s: no published sums at %s: %v", a.Name, a.SumsURL, err)
			continue
		}
		if isKubernetes(a.Name) {
			if string(published) != fileSum(t, path) {
				t.Errorf("%s.sha256 = %q, want the bare digest", a.MirrorPath, published)
			}
		} else if want := fileSum(t, path) + "  " + filepath.Base(path) + "\n"; string(published) != want {
			t.Errorf("%s sums file %s = %q, want %q", a.Name, sumsPath, published, want)
		}
	}
	wantPaths := []string{
		"github.com/etcd-io/etcd/releases/download/v3.7.3/etcd-v3.7.3-linux-amd64.tar.gz",
		"github.com/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz",
		"github.com/opencontainers/runc/releases/download/v1.5.3/runc.amd64",
		"github.com/containernetworking/plugins/releases/download/v1.10.0/cni-plugins-linux-amd64-v1.10.0.tgz",
	}
	for _, c := range binbuild.KubernetesComponents {
		wantPaths = append(wantPaths, "dl.k8s.io/release/v1.37.2/bin/linux/amd64/"+c)
	}
	for _, w := range wantPaths {
		if sums[w] == "" {
			t.Errorf("%s is not in the mirror's SHA256SUMS", w)
		}
	}
	if len(mirrored) != len(wantPaths) {
		t.Errorf("mirrored %v, want %v", mirrored, wantPaths)
	}
	if len(res.NotMirrored) != 0 {
		t.Errorf("NotMirrored = %v, want nothing for a bridge plan", res.NotMirrored)
	}
	// The release layouts the bootstrap extracts (artifact Provides) and upstream ships.
	ctrd, _ := os.ReadFile(filepath.Join(out, filepath.FromSlash(wantPaths[1])))
	if diff := cmp.Diff([]string{
		`bin/ 755 0/0 2000-01-01 ""`,
		`bin/containerd 755 0/0 2000-01-01 "#!/bin/sh\necho containerd\n"`,
		`bin/containerd-shim-runc-v2 755 0/0 2000-01-01 "#!/bin/sh\necho containerd-shim-runc-v2\n"`,
		`bin/ctr 755 0/0 2000-01-01 "#!/bin/sh\necho ctr\n"`,
	}, tarEntries(t, ctrd)); diff != "" {
		t.Errorf("containerd tarball (-want +got):\n%s", diff)
	}
	cni, _ := os.ReadFile(filepath.Join(out, filepath.FromSlash(wantPaths[3])))
	wantCNI := []string{`./ 755 0/0 2000-01-01 ""`}
	for _, pl := range binbuild.CNIPlugins {
		wantCNI = append(wantCNI, fmt.Sprintf("./%s 755 0/0 2000-01-01 %q", pl, "#!/bin/sh\necho "+pl+"\n"))
	}
	if diff := cmp.Diff(wantCNI, tarEntries(t, cni)); diff != "" {
		t.Errorf("CNI plugins tarball (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(filepath.Join(out, filepath.FromSlash(wantPaths[2]))); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("runc.amd64 is not an executable file: %v %v", fi, err)
	}

	// The images the cluster runs, tagged exactly as the manifests reference them.
	wantImages := map[string]string{
		"images/coredns-v1.15.0.tar":       "registry.k8s.io/coredns/coredns:v1.15.0",
		"images/metrics-server-v0.8.0.tar": "registry.k8s.io/metrics-server/metrics-server:v0.8.0",
	}
	if diff := cmp.Diff([]string{"images/coredns-v1.15.0.tar", "images/metrics-server-v0.8.0.tar"}, res.Images); diff != "" {
		t.Errorf("Result.Images (-want +got):\n%s", diff)
	}
	for path, ref := range wantImages {
		data, err := os.ReadFile(filepath.Join(out, path))
		if err != nil {
			t.Fatal(err)
		}
		if got := archiveRefs(t, data); len(got) != 1 || got[0] != ref {
			t.Errorf("%s is tagged %v, want %s", path, got, ref)
		}
		if sums[path] != sha256Hex(data) {
			t.Errorf("%s is not pinned in SHA256SUMS", path)
		}
	}
	if sums["images/pause.tar"] != sha256Hex([]byte("archive")) {
		t.Errorf("image archive not pinned: %v", sums)
	}
	// The files every node shares, by sha256, so that a render of this plan with this
	// SHA256SUMS has its nodes download them (roles.File.Fetch).
	shared, err := roles.SharedFiles(p, roles.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range shared {
		mp := roles.NodeFileMirrorPath(f.SHA256)
		if data, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(mp))); err != nil || string(data) != f.Content {
			t.Errorf("%s (%s) is not in the mirror as it is on the nodes: %v", mp, f.Path, err)
		}
		if sums[mp] != f.SHA256 {
			t.Errorf("%s (%s) is not pinned in SHA256SUMS", mp, f.Path)
		}
	}
	if len(shared) < 5 {
		t.Errorf("only %d shared node files: %v", len(shared), shared)
	}
	if want := len(wantPaths) + len(wantImages) + 1 + len(shared); len(res.Files) != want {
		t.Errorf("Result lists %d files, want %d", len(res.Files), want)
	}
}

// tarFiles reads an (uncompressed) tarball's regular files by name.
func tarFiles(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name], _ = io.ReadAll(tr)
		}
	}
}

// archiveRefs reads the references an image archive is tagged with (docker-archive
// RepoTags and the OCI index's io.containerd.image.name, which must agree).
func archiveRefs(t *testing.T, archive []byte) []string {
	t.Helper()
	files := tarFiles(t, archive)
	var docker []struct{ RepoTags []string }
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v", err)
	}
	if oci := index.Manifests[0].Annotations["io.containerd.image.name"]; len(docker[0].RepoTags) != 1 || oci != docker[0].RepoTags[0] {
		t.Errorf("OCI name %q and docker tags %v disagree", oci, docker[0].RepoTags)
	}
	return docker[0].RepoTags
}

func TestBuildIsIdempotent(t *testing.T) {
	p := testPlan(t, "")
	out, cache := t.TempDir(), fakeCache(t, p)
	if _, err := Build(context.Background(), p, Options{Out: out, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	snapshot := func() map[string]string {
		m := map[string]string{}
		_ = filepath.Walk(out, func(path string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				m[path] = fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
			}
			return nil
		})
		return m
	}
	before := snapshot()
	time.Sleep(10 * time.Millisecond)
	if _, err := Build(context.Background(), p, Options{Out: out, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, snapshot()); diff != "" {
		t.Errorf("a second build rewrote files (-before +after):\n%s", diff)
	}
}

func TestBuildNamesMissingImageArchive(t *testing.T) {
	p := testPlan(t, "mirror: {url: 'http://10.0.2.100:8080', checksums: SHA256SUMS, image_archives: [images/missing.tar]}")
	_, err := Build(context.Background(), p, Options{Out: t.TempDir(), CacheDir: fakeCache(t, p)})
	if !errors.Is(err, ErrMissingArchive) || !strings.Contains(err.Error(), "images/missing.tar") {
		t.Fatalf("err = %v, want ErrMissingArchive naming images/missing.tar", err)
	}
}

// TestEtcdTarballIsUpstreamLayoutAndDeterministic checks the tarball against what
// upstream ships and what a node's bootstrap extracts (DIR/etcd, DIR/etcdctl).
func TestEtcdTarballIsUpstreamLayoutAndDeterministic(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"etcd", "etcdctl"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n+" binary"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	a, err := EtcdTarball("etcd-v3.7.3-linux-amd64", filepath.Join(dir, "etcd"), filepath.Join(dir, "etcdctl"))
	if err != nil {
		t.Fatal(err)
	}
	// a later build of the same binaries gives the same bytes
	now := time.Now()
	_ = os.Chtimes(filepath.Join(dir, "etcd"), now, now)
	b, err := EtcdTarball("etcd-v3.7.3-linux-amd64", filepath.Join(dir, "etcd"), filepath.Join(dir, "etcdctl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same binaries differ")
	}
	got := tarEntries(t, a)
	want := []string{
		`etcd-v3.7.3-linux-amd64/ 755 0/0 2000-01-01 ""`,
		`etcd-v3.7.3-linux-amd64/etcd 755 0/0 2000-01-01 "etcd binary"`,
		`etcd-v3.7.3-linux-amd64/etcdctl 755 0/0 2000-01-01 "etcdctl binary"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tarball entries (-want +got):\n%s", diff)
	}
}

// TestWriteImageArchive parses the archive back as an OCI layout and a docker-archive
// and checks every digest.
func TestWriteImageArchive(t *testing.T) {
	spec := ImageSpec{Ref: "registry.k8s.io/pause:3.10.1", Files: []ArchiveFile{{Name: "pause", Mode: 0o755, Data: []byte("static binary")}}, Entrypoint: []string{"/pause"}}
	var a, b bytes.Buffer
	if err := WriteImageArchive(&a, spec); err != nil {
		t.Fatal(err)
	}
	if err := WriteImageArchive(&b, spec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("archive is not deterministic")
	}
	files := tarFiles(t, a.Bytes())
	for name, data := range files {
		if d, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
			s := sha256.Sum256(data)
			if hex.EncodeToString(s[:]) != d {
				t.Errorf("blob %s has digest %x", name, s)
			}
		}
	}
	var index struct {
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	m := index.Manifests[0]
	if m.Annotations["io.containerd.image.name"] != spec.Ref || m.Annotations["org.opencontainers.image.ref.name"] != "3.10.1" || m.Platform.Architecture != "amd64" {
		t.Errorf("index manifest = %+v", m)
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(files["blobs/sha256/"+strings.TrimPrefix(m.Digest, "sha256:")], &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	var docker []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 1 || docker[0].RepoTags[0] != spec.Ref ||
		docker[0].Config != "blobs/sha256/"+strings.TrimPrefix(manifest.Config.Digest, "sha256:") {
		t.Errorf("manifest.json = %s (%v)", files["manifest.json"], err)
	}
	var config struct {
		Config struct{ Entrypoint []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(files[docker[0].Config], &config); err != nil || config.Config.Entrypoint[0] != "/pause" || config.RootFS.DiffIDs[0] != manifest.Layers[0].Digest {
		t.Errorf("config = %+v (%v)", config, err)
	}
	lr := tar.NewReader(bytes.NewReader(files["blobs/sha256/"+strings.TrimPrefix(manifest.Layers[0].Digest, "sha256:")]))
	h, err := lr.Next()
	if err != nil || h.Name != "pause" || h.Mode != 0o755 {
		t.Errorf("layer entry = %+v, %v", h, err)
	}
	if err := WriteImageArchive(io.Discard, ImageSpec{Ref: "registry.k8s.io/pause"}); err == nil {
		t.Error("a reference without a tag was accepted")
	}
}

func TestServeLogsAccessAndIsReadOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ChecksumsFile), []byte("sums\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log bytes.Buffer
	s, err := Start(dir, "127.0.0.1:0", writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return log.Write(b) }))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + s.Addr + "/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "sums\n" {
		t.Errorf("GET = %d %q", resp.StatusCode, body)
	}
	resp, err = http.Post("http://"+s.Addr+"/SHA256SUMS", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", resp.StatusCode)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "GET /SHA256SUMS 200 5B") || !strings.Contains(log.String(), "POST /SHA256SUMS 405") {
		t.Errorf("access log:\n%s", log.String())
	}
	if _, err := Start(t.TempDir(), "127.0.0.1:0", io.Discard); !errors.Is(err, ErrNotMirror) {
		t.Errorf("serving a directory without SHA256SUMS: err = %v, want ErrNotMirror", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// TestBuildWritesThePauseImage builds kisgen's pause binary with the local toolchain, packs
// it where the plan lists it, sums it, and checks the binary is static and really pauses:
// it runs until SIGTERM and then exits 0.
func TestBuildWritesThePauseImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go binary")
	}
	p := testPlan(t, "mirror: {url: 'http://10.0.2.100:8080', checksums: SHA256SUMS, image_archives: [images/pause-3.10.1.tar]}")
	out := t.TempDir()
	cache := fakeCache(t, p)
	res, err := Build(context.Background(), p, Options{Out: out, CacheDir: cache, PauseImage: true})
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, f := range res.Files {
		listed = listed || f.Path == PauseArchivePath("3.10.1")
	}
	if !listed {
		t.Errorf("%s is not in SHA256SUMS: %+v", PauseArchivePath("3.10.1"), res.Files)
	}
	archive, err := os.ReadFile(filepath.Join(out, "images", "pause-3.10.1.tar"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := PauseArchive(context.Background(), "registry.k8s.io/pause:3.10.1", cache, io.Discard)
	if err != nil || !bytes.Equal(again, archive) {
		t.Fatalf("a second archive differs (err %v): the build is not deterministic", err)
	}
	// The layer holds the binary: run it.
	var bin []byte
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		data, _ := io.ReadAll(tr)
		if strings.HasPrefix(h.Name, "blobs/sha256/") {
			lr := tar.NewReader(bytes.NewReader(data))
			if lh, err := lr.Next(); err == nil && lh.Name == "pause" {
				bin, _ = io.ReadAll(lr)
			}
		}
	}
	if len(bin) == 0 {
		t.Fatal("no pause binary in the image's layer")
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if f, err := elf.Open(path); err != nil {
		t.Fatal(err)
	} else {
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				t.Error("the pause binary is dynamically linked; it must run in an empty image")
			}
		}
		f.Close()
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("pause exited by itself: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pause exited with %v on SIGTERM, want 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("pause did not exit on SIGTERM")
	}
}

// TestServeLimitsClients runs the mirror server on loopback: idle, header and stall
// timeouts and the connection cap.
func TestServeLimitsClients(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ChecksumsFile), []byte("sums\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	httpservetest.WriteBig(t, filepath.Join(dir, "big.tar"))
	s, err := start(dir, "127.0.0.1:0", io.Discard, httpservetest.Limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	httpservetest.CheckLimits(t, s.Addr, "/"+ChecksumsFile, "/big.tar")
}

// TestServeShowsNoDotfilesAndNoListings: the mirror serves the files nodes download and
// nothing else a directory may hold.
func TestServeShowsNoDotfilesAndNoListings(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		ChecksumsFile: "sums\n",
		"dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet": "kubelet\n",
		".git/config":        "[remote]\n",
		".kubelet.swp":       "swap\n",
		"dl.k8s.io/.partial": "half\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var log bytes.Buffer
	s, err := Start(dir, "127.0.0.1:0", writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return log.Write(b) }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet", 200},
		{"/" + ChecksumsFile, 200},
		{"/", 404},
		{"/dl.k8s.io/", 404},
		{"/dl.k8s.io", 404},
		{"/dl.k8s.io/release/v1.37.2/bin/linux/amd64/", 404},
		{"/.git/config", 404},
		{"/.git/", 404},
		{"/.kubelet.swp", 404},
		{"/dl.k8s.io/.partial", 404},
		{"/dl.k8s.io/%2e%2e/.git/config", 404},
		{"/%1b[2J", 404},
	} {
		resp, err := http.Get("http://" + s.Addr + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s: %d %q, want %d", tc.path, resp.StatusCode, body, tc.status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(log.String(), "\x1b") || !strings.Contains(log.String(), `GET /\x1b[2J 404`) {
		t.Errorf("the access log must show the path escaped:\n%s", log.String())
	}
}

// TestBuildRefusesACoreDNSWithoutTheCorefilesPlugins: mirror build asks the CoreDNS it
// packs for its plugins and stops, naming the missing one, before writing its image.
func TestBuildRefusesACoreDNSWithoutTheCorefilesPlugins(t *testing.T) {
	p := testPlan(t, "")
	cache := fakeCache(t, p)
	binbuildtest.FakeCoreDNS(t, cache, p.Versions.CoreDNS, "kubernetes")
	out := t.TempDir()
	_, err := Build(context.Background(), p, Options{Out: out, CacheDir: cache})
	if !errors.Is(err, ErrBuild) || !strings.Contains(err.Error(), "lacks the plugins kubernetes ") {
		t.Fatalf("err = %v, want ErrBuild naming kubernetes", err)
	}
	if _, err := os.Stat(filepath.Join(out, "images", "coredns-"+p.Versions.CoreDNS+".tar")); err == nil {
		t.Error("the CoreDNS image was written")
	}
}

// TestCoreDNSIsBuiltWithTheCorefilesPlugins: every directive of kisgen's Corefile comes
// from a plugin package CoreDNS is built with (the build checks the binary itself with
// `coredns -plugins`; this catches it before a build).
func TestCoreDNSIsBuiltWithTheCorefilesPlugins(t *testing.T) {
	corefile, err := roles.Corefile()
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{}
	for _, p := range binbuild.CoreDNSPlugins {
		built[p] = true
	}
	// A directive is its plugin package's name, but for prometheus (plugin/metrics).
	pkg := map[string]string{"prometheus": "metrics"}
	for _, d := range roles.CorefileDirectives(corefile) {
		p := d
		if q, ok := pkg[d]; ok {
			p = q
		}
		if !built[p] {
			t.Errorf("the Corefile's %s needs plugin/%s, which binbuild.CoreDNSPlugins leaves out", d, p)
		}
	}
}
