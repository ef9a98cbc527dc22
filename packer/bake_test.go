package packer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/roles"
)

// mirrorContent makes a file for every artifact of the plan (a tarball for etcd) and the
// image archive, by mirror path.
func mirrorContent(t *testing.T, f fixture) map[string][]byte {
	t.Helper()
	content := map[string][]byte{}
	for _, a := range roles.PlanArtifacts(f.p) {
		switch a.Kind {
		case roles.KindTar, roles.KindDirTar:
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			tw := tar.NewWriter(gz)
			for _, p := range a.Provides {
				member := "./" + p // the CNI plugins' tgz holds them flat
				if i := strings.Index(p, "="); i >= 0 {
					member = p[:i]
				}
				body := []byte("#!/bin/sh\necho " + member + "\n")
				if err := tw.WriteHeader(&tar.Header{Name: member, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
					t.Fatal(err)
				}
				tw.Write(body)
			}
			tw.Close()
			gz.Close()
			content[a.MirrorPath] = buf.Bytes()
		default:
			content[a.MirrorPath] = []byte("#!/bin/sh\necho " + a.Name + " " + a.Version + "\n")
		}
	}
	for _, p := range f.p.Mirror.ImageArchives {
		content[p] = []byte("image archive " + p)
	}
	return content
}

// serve serves content by path and counts requests.
func serve(t *testing.T, content map[string][]byte) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, ok := content[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// bake runs the bake script's --root mode on a skeleton root with the template's
// binaries and archives, passed as the template passes them.
func bake(t *testing.T, tm Template, mirrorURL string) (root, out string, err error) {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "bake.sh")
	if err := os.WriteFile(script, tm.Files["bake.sh"], 0o755); err != nil {
		t.Fatal(err)
	}
	root = filepath.Join(dir, "root")
	for _, d := range []string{"usr/lib/cni", "etc/ssh"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var bins, archives []string
	for _, b := range tm.Binaries {
		s, err := b.spec()
		if err != nil {
			t.Fatal(err)
		}
		bins = append(bins, s)
	}
	for _, a := range tm.Archives {
		s, _ := a.spec()
		archives = append(archives, s)
	}
	files := filepath.Join(dir, ImageFilesTar)
	if err := os.WriteFile(files, tm.Files[ImageFilesTar], 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script, "--root", root)
	cmd.Env = append(os.Environ(), "KISGEN_OS="+tm.OS, "KISGEN_MIRROR_URL="+mirrorURL,
		"KISGEN_BINARIES="+strings.Join(bins, " "), "KISGEN_IMAGE_ARCHIVES="+strings.Join(archives, " "), "KISGEN_FILES="+files)
	b, err := cmd.CombinedOutput()
	return root, string(b), err
}

func bridge(d map[string]any) {
	d["add_ons"] = map[string]any{"cni": map[string]any{"provider": "bridge"}}
}

// TestBakeScriptInstallsPinnedBinaries runs the real bake script on a root with a
// template's binaries from an HTTP mirror: each executable lands in the bin directory
// and in the manifest at the plan's version with its sha256, in the form the node's
// bootstrap reads; the image archive is kept and listed.
func TestBakeScriptInstallsPinnedBinaries(t *testing.T) {
	content := mirrorContent(t, newFixture(t, bridge, nil))
	f := newFixture(t, bridge, content)
	tm := f.generate(t, BuilderQEMU).Templates[0]
	srv, _ := serve(t, content)
	root, out, err := bake(t, tm, srv.URL)
	if err != nil {
		t.Fatalf("bake.sh: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(root, image.ManifestPath))
	if err != nil {
		t.Fatal(err)
	}
	man, err := roles.ParseImageManifest(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	got := map[string]roles.ImageComponent{}
	for _, c := range man.Components {
		got[c.Name] = c
	}
	for _, b := range tm.Binaries {
		if b.Kind == roles.KindDirTar {
			// one entry for the directory, as the bootstrap reads the CNI plugins
			if c, want := got[b.Name], (roles.ImageComponent{Name: b.Name, Version: b.Version, Path: b.Dest}); c != want {
				t.Errorf("manifest %s = %+v, want %+v", b.Name, c, want)
			}
		}
		for _, exe := range b.Executables() {
			c, ok := got[exe]
			if b.Kind == roles.KindDirTar {
				c, ok = roles.ImageComponent{Name: exe, Version: b.Version, Path: b.Dest + "/" + exe}, true
			}
			path := filepath.Join(root, b.Dest, exe)
			body, err := os.ReadFile(path)
			if !ok || err != nil {
				t.Errorf("%s: in manifest %v, file %v", exe, ok, err)
				continue
			}
			sum := sha256.Sum256(body)
			want := roles.ImageComponent{Name: exe, Version: b.Version, Path: b.Dest + "/" + exe, SHA256: hex.EncodeToString(sum[:])}
			if b.Kind == roles.KindDirTar {
				want.SHA256 = ""
			}
			if c != want {
				t.Errorf("manifest %s = %+v, want %+v", exe, c, want)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o755 {
				t.Errorf("%s mode %v", path, st.Mode())
			}
		}
	}
	a := tm.Archives[0]
	if c := got["image-archive:"+a.Path]; c.SHA256 != a.SHA256 || c.Path != "/var/lib/kisgen/images/pause.tar" {
		t.Errorf("archive in manifest: %+v", c)
	}
	if b, err := os.ReadFile(filepath.Join(root, "var/lib/kisgen/images/pause.tar")); err != nil || !bytes.Equal(b, content[a.Path]) {
		t.Errorf("archive on the image: %v", err)
	}
	// kisgen's node files, where a baked plan's kisgen-fetch looks for them.
	files, err := roles.ImageFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		path := roles.ImageFilePath(f.SHA256)
		if b, err := os.ReadFile(filepath.Join(root, path)); err != nil || string(b) != f.Content {
			t.Errorf("%s (%s) is not in the image's store: %v", path, f.Path, err)
		}
		if c, want := got["kisgen-file:"+f.SHA256], (roles.ImageComponent{Name: "kisgen-file:" + f.SHA256, Path: path, SHA256: f.SHA256}); c != want {
			t.Errorf("manifest kisgen-file = %+v, want %+v", c, want)
		}
	}
}

// TestBakeScriptRefusesAMisnamedKisgenFile: a file of kisgen-files.tar whose content is
// not what its name (its sha256) says stops the bake.
func TestBakeScriptRefusesAMisnamedKisgenFile(t *testing.T) {
	content := mirrorContent(t, newFixture(t, bridge, nil))
	f := newFixture(t, bridge, content)
	tm := f.generate(t, BuilderQEMU).Templates[0]
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := []byte("not what the name says\n")
	name := strings.Repeat("ab", 32)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	tm.Files[ImageFilesTar] = buf.Bytes()
	srv, _ := serve(t, content)
	root, out, err := bake(t, tm, srv.URL)
	if err == nil || !strings.Contains(out, name+" has sha256") {
		t.Fatalf("bake.sh accepted a misnamed file: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, image.ManifestPath)); err == nil {
		t.Error("a manifest was written")
	}
}

// TestBakeScriptRefusesAWrongFile: a mirror serving other bytes than the pinned sum
// stops the bake before any manifest is written.
func TestBakeScriptRefusesAWrongFile(t *testing.T) {
	content := mirrorContent(t, newFixture(t, bridge, nil))
	f := newFixture(t, bridge, content)
	tm := f.generate(t, BuilderQEMU).Templates[0]
	k := "dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet"
	tampered := map[string][]byte{}
	for p, b := range content {
		tampered[p] = b
	}
	tampered[k] = []byte("something else")
	srv, _ := serve(t, tampered)
	root, out, err := bake(t, tm, srv.URL)
	if err == nil || !strings.Contains(out, "kubelet has sha256") || !strings.Contains(out, "expected "+f.sums[k]) {
		t.Fatalf("bake with a tampered kubelet: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, image.ManifestPath)); err == nil {
		t.Error("a manifest was written after a failed check")
	}
}

// TestBakeScriptReadsTheSitesSums: a binary not pinned in mirror.checksums is checked
// against the sums file the site publishes beside it (kubelet.sha256).
func TestBakeScriptReadsTheSitesSums(t *testing.T) {
	k := "dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet"
	content := mirrorContent(t, newFixture(t, bridge, nil))
	f := newFixture(t, bridge, content, k)
	tm := f.generate(t, BuilderQEMU).Templates[0]
	sum := sha256.Sum256(content[k])
	withSums := map[string][]byte{k + ".sha256": []byte(hex.EncodeToString(sum[:]) + "\n")}
	for p, b := range content {
		withSums[p] = b
	}
	srv, _ := serve(t, withSums)
	if _, out, err := bake(t, tm, srv.URL); err != nil {
		t.Fatalf("bake.sh with the site's sums: %v\n%s", err, out)
	}
	withSums[k+".sha256"] = []byte(strings.Repeat("0", 64) + "\n")
	if _, out, err := bake(t, tm, srv.URL); err == nil || !strings.Contains(out, "expected "+strings.Repeat("0", 64)) {
		t.Fatalf("bake.sh against a wrong published sum: %v\n%s", err, out)
	}
}
