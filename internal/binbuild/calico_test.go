package binbuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, name := range []string{"top/", "top/manifests/", "top/manifests/calico.yaml", "top/node/x", "top/../../evil"} {
		data, ok := files[name]
		if !ok {
			continue
		}
		h := &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(data))}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTarballSumsAndUntar(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "src.tar.gz")
	if err := os.WriteFile(p, tgz(t, map[string]string{"top/": "", "top/manifests/": "", "top/manifests/calico.yaml": "kind: List\n", "top/node/x": "x"}), 0o644); err != nil {
		t.Fatal(err)
	}
	sums, err := TarballSums(p, "manifests/")
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256([]byte("kind: List\n"))
	if len(sums) != 1 || sums["manifests/calico.yaml"] != hex.EncodeToString(s[:]) {
		t.Errorf("TarballSums = %v, want only manifests/calico.yaml by its path below the top directory", sums)
	}
	out := filepath.Join(dir, "out")
	if err := untar(p, out); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, topDir(out), "manifests", "calico.yaml")); string(got) != "kind: List\n" || topDir(out) != "top" {
		t.Errorf("untar: top %q, calico.yaml %q", topDir(out), got)
	}

	evil := filepath.Join(dir, "evil.tar.gz")
	if err := os.WriteFile(evil, tgz(t, map[string]string{"top/": "", "top/../../evil": "x"}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := untar(evil, filepath.Join(dir, "out2")); err == nil {
		t.Error("an entry leaving the directory was unpacked")
	}
	if _, err := os.Stat(filepath.Join(dir, "..", "evil")); err == nil {
		t.Error("evil was written outside")
	}
}

func TestCalicoSourcesChecksSums(t *testing.T) {
	if _, _, err := CalicoSources(""); !errors.Is(err, ErrSources) || !strings.Contains(err.Error(), "--sources DIR") {
		t.Errorf("no directory: %v", err)
	}
	dir := t.TempDir()
	if _, _, err := CalicoSources(dir); !errors.Is(err, ErrSources) || !strings.Contains(err.Error(), CalicoSource.File) {
		t.Errorf("empty directory: %v", err)
	}
	for _, s := range []Source{CalicoSource, BirdSource} {
		if err := os.WriteFile(filepath.Join(dir, s.File), []byte("other"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := CalicoSources(dir); !errors.Is(err, ErrSources) || !strings.Contains(err.Error(), "want "+CalicoSource.SHA256) {
		t.Errorf("wrong tarball: %v", err)
	}
	if real := os.Getenv("KISGEN_SOURCES"); real != "" {
		if c, b, err := CalicoSources(real); err != nil || filepath.Base(c) != CalicoSource.File || filepath.Base(b) != BirdSource.File {
			t.Errorf("the pinned tarballs in %s: %v", real, err)
		}
	}
}

func TestNodeFilesystemTarIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"fs/etc/rc.local": "a", "fs/sbin/start_runit": "b", "confd/templates/bird.cfg.template": "c"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	trees := []treeAt{{filepath.Join(dir, "fs"), ""}, {filepath.Join(dir, "confd", "templates"), "etc/calico/confd/templates/"}}
	var outs [2][]byte
	for i := range outs {
		p := filepath.Join(dir, "out.tar")
		if err := tarTrees(p, trees); err != nil {
			t.Fatal(err)
		}
		outs[i], _ = os.ReadFile(p)
		if i == 0 {
			// a later mtime must not change the bytes
			_ = os.Chtimes(filepath.Join(dir, "fs", "etc", "rc.local"), time.Unix(1e9, 0), time.Unix(1e9, 0))
		}
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("node filesystem tar depends on file times")
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(outs[0]))
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		names = append(names, h.Name)
	}
	if got := strings.Join(names, " "); got != "etc/ etc/rc.local sbin/ sbin/start_runit etc/calico/confd/templates/bird.cfg.template" {
		t.Errorf("entries: %s", got)
	}
}
