package binbuild

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kisgen/kisgen/internal/filehash"
	"github.com/kisgen/kisgen/internal/flock"
)

// Source is a source tarball kisgen builds from, pinned by its sha256.
type Source struct {
	File   string
	SHA256 string
	// Commit is the git commit the tarball was archived from (git archive records it).
	Commit string
	// Date is the commit's time, used as the build date so rebuilds give the same bytes.
	Date string
}

// CalicoVersion is the Calico release whose sources kisgen knows by sum.
const CalicoVersion = "v3.32.1"

// CalicoSource and BirdSource are the tarballs a Calico build needs in the sources
// directory: Calico's monorepo at tag v3.32.1 (the Go module proxy refuses
// github.com/projectcalico/calico) and Calico's fork of BIRD, which has the extensions
// IP-in-IP routes need (Debian's bird 1.6 lacks them).
var (
	CalicoSource = Source{File: "calico-v3.32.1.tar.gz", SHA256: "dcd3b574adf2330cb9739c8ef69575f77c00a5969543d8f4dc817aacde9fc994",
		Commit: "0ca9d1b93644778cafdf1812f3dda02ac0c361e8", Date: "2026-06-24T18:32:00+0000"}
	BirdSource = Source{File: "calico-bird-1e2ff99d.tar.gz", SHA256: "35011c3a9ad8d12941da192c7f219d498c74fd75aa37ba20f955185464f4f682"}
)

// ErrSources is returned when a source tarball is missing or does not match its sum.
var ErrSources = errors.New("calico sources")

// CalicoBinary is one binary of a Calico build: its file name and its Go package in
// Calico's monorepo.
type CalicoBinary struct{ Name, Package string }

// CalicoBinaries are what the calico/node, calico/cni and calico/kube-controllers images
// and the masters need. calico-ipam is not built: the CNI plugin is one binary that acts
// as the IPAM plugin when called by that name (cni-plugin/Makefile links it), so the
// image carries a copy of calico under that name.
var CalicoBinaries = []CalicoBinary{
	{"calico-node", "./node/cmd/calico-node"},
	{"mountns", "./node/cmd/mountns"},
	{"calico", "./cni-plugin/cmd/calico"},
	{"install", "./cni-plugin/cmd/install"},
	{"kube-controllers", "./kube-controllers/cmd/kube-controllers"},
	{"check-status", "./kube-controllers/cmd/check-status"},
	{"wrapper", "./kube-controllers/cmd/wrapper"},
	{"calicoctl", "./calicoctl/calicoctl"},
}

// BirdBinaries are the BIRD daemons and clients of a Bird build, as Calico's
// create_binaries.sh makes them: calico-node's rc.local enables both the bird and the
// bird6 runit services whatever the cluster's IP families, and its startup waits for
// both to answer before it marks the node's network available.
var BirdBinaries = []string{"bird", "birdcl", "bird6", "birdcl6"}

// Files of a Calico build directory besides the binaries.
const (
	// CalicoManifestsDir holds the release's manifests/ (calico.yaml, crds.yaml…).
	CalicoManifestsDir = "manifests"
	// CalicoNodeFilesystem is node/filesystem of the release as a tar: the runit
	// services, rc.local and start_runit the calico/node image runs.
	CalicoNodeFilesystem = "node-filesystem.tar"
)

// Calico builds Calico version from the tarballs in sourcesDir into cacheDir/calico-VERSION
// and returns that directory: the binaries of CalicoBinaries (with CGO_ENABLED=0, so the
// eBPF dataplane is out and the iptables/nftables one is used), the release's manifests
// and node/filesystem. BIRD is its own build (Bird). A finished build is reused; each
// step is logged with its time.
func Calico(ctx context.Context, version, sourcesDir, cacheDir string, log io.Writer) (string, error) {
	final := filepath.Join(cacheDir, "calico-"+version)
	if _, err := os.Stat(filepath.Join(final, "SHA256SUMS")); err == nil {
		return final, nil
	}
	if version != CalicoVersion {
		return "", fmt.Errorf("%w: calico %s: kisgen builds Calico %s only (set versions.calico: %s in the plan)", ErrSources, version, CalicoVersion, CalicoVersion)
	}
	calicoTar, _, err := CalicoSources(sourcesDir)
	if err != nil {
		return "", err
	}
	work, cached, done, err := lockedBuild(cacheDir, filepath.Base(final))
	if err != nil {
		return "", err
	}
	if cached {
		return final, nil
	}
	defer done()
	out := filepath.Join(work, "out")
	if err := os.MkdirAll(filepath.Join(out, CalicoManifestsDir), 0o755); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "building calico %s from %s (cached in %s)\n", version, sourcesDir, final)
	step := func(what string, f func() error) error {
		t0 := time.Now()
		fmt.Fprintf(log, "calico %s: %s\n", version, what)
		if err := f(); err != nil {
			return fmt.Errorf("calico %s: %s: %w", version, what, err)
		}
		fmt.Fprintf(log, "calico %s: %s done in %s\n", version, what, time.Since(t0).Round(time.Second))
		return nil
	}
	src := filepath.Join(work, "calico")
	if err := step("unpack the sources", func() error { return untar(calicoTar, src) }); err != nil {
		return "", err
	}
	// A git archive unpacks to one directory: the monorepo's root, with go.mod.
	src = filepath.Join(src, topDir(src))
	if err := step("download Go modules", func() error { return run(ctx, src, io.Discard, nil, "go", "mod", "download") }); err != nil {
		return "", err
	}
	// Calico's lib.Makefile sets these three through -X; the tag stands for
	// `git describe` and the commit's time for the build date, so the bytes repeat.
	ldflags := fmt.Sprintf("-s -w -X github.com/projectcalico/calico/pkg/buildinfo.Version=%s -X github.com/projectcalico/calico/pkg/buildinfo.BuildDate=%s -X github.com/projectcalico/calico/pkg/buildinfo.GitRevision=%s",
		version, CalicoSource.Date, CalicoSource.Commit)
	for i, b := range CalicoBinaries {
		if err := step(fmt.Sprintf("build %s (%d/%d)", b.Name, i+1, len(CalicoBinaries)), func() error {
			return run(ctx, src, log, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}, "go", "build", "-trimpath", "-buildvcs=false",
				"-ldflags", ldflags, "-o", filepath.Join(out, b.Name), b.Package)
		}); err != nil {
			return "", err
		}
	}
	if err := step("copy the manifests and node/filesystem", func() error {
		top := src
		if err := copyTree(filepath.Join(top, "manifests"), filepath.Join(out, CalicoManifestsDir), func(name string) bool { return strings.HasSuffix(name, ".yaml") }); err != nil {
			return err
		}
		// node/Makefile copies confd's configuration and templates into the filesystem.
		return tarTrees(filepath.Join(out, CalicoNodeFilesystem), []treeAt{
			{filepath.Join(top, "node", "filesystem"), ""},
			{filepath.Join(top, "confd", "etc", "calico", "confd", "conf.d"), "etc/calico/confd/conf.d/"},
			{filepath.Join(top, "confd", "etc", "calico", "confd", "templates"), "etc/calico/confd/templates/"},
		})
	}); err != nil {
		return "", err
	}
	return final, seal(out, final)
}

// CalicoSources finds the Calico and BIRD tarballs in dir and checks their sums.
func CalicoSources(dir string) (calico, bird string, err error) {
	if dir == "" {
		return "", "", fmt.Errorf("%w: Calico is built from source: give the directory holding %s and %s (`kisgen mirror build --sources DIR`, or KISGEN_SOURCES)", ErrSources, CalicoSource.File, BirdSource.File)
	}
	var paths []string
	for _, s := range []Source{CalicoSource, BirdSource} {
		p := filepath.Join(dir, s.File)
		sum, _, err := filehash.SHA256(p)
		if err != nil {
			return "", "", fmt.Errorf("%w: %s is needed to build Calico %s (sha256 %s): %v", ErrSources, p, CalicoVersion, s.SHA256, err)
		}
		if sum != s.SHA256 {
			return "", "", fmt.Errorf("%w: %s has sha256 %s, want %s: replace it with the pinned tarball", ErrSources, p, sum, s.SHA256)
		}
		paths = append(paths, p)
	}
	return paths[0], paths[1], nil
}

// BirdBuildDir is the cache directory of the BIRD build (the fork's commit).
const BirdBuildDir = "calico-bird-1e2ff99d"

// Bird builds Calico's fork of BIRD from its tarball in sourcesDir into
// cacheDir/BirdBuildDir and returns that directory: BirdBinaries, statically linked so
// the calico/node image needs none of the build's libraries. A finished build is reused.
func Bird(ctx context.Context, sourcesDir, cacheDir string, log io.Writer) (string, error) {
	final := filepath.Join(cacheDir, BirdBuildDir)
	if _, err := os.Stat(filepath.Join(final, "SHA256SUMS")); err == nil {
		return final, nil
	}
	_, birdTar, err := CalicoSources(sourcesDir)
	if err != nil {
		return "", err
	}
	for _, t := range []string{"autoreconf", "bison", "flex", "make", "gcc", "strip"} {
		if _, err := exec.LookPath(t); err != nil {
			return "", fmt.Errorf("%w: %s is not installed (BIRD needs: apt-get install autoconf bison flex gcc make)", ErrSources, t)
		}
	}
	work, cached, done, err := lockedBuild(cacheDir, BirdBuildDir)
	if err != nil {
		return "", err
	}
	if cached {
		return final, nil
	}
	defer done()
	src := filepath.Join(work, "src")
	if err := untar(birdTar, src); err != nil {
		return "", err
	}
	src = filepath.Join(src, topDir(src))
	out := filepath.Join(work, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	t0 := time.Now()
	fmt.Fprintf(log, "calico: building BIRD %s (bird, bird6; cached in %s)\n", BirdSource.File, final)
	if err := buildBird(ctx, src, out); err != nil {
		return "", fmt.Errorf("BIRD: %w", err)
	}
	fmt.Fprintf(log, "calico: BIRD built in %s\n", time.Since(t0).Round(time.Second))
	return final, seal(out, final)
}

// buildBird follows the fork's create_binaries.sh: the same protocols, pthreads (BFD
// needs them), no readline client, the control sockets under /var/run/calico; first
// with IPv6 (bird6, birdcl6), then without (bird, birdcl). Static linking, prefix maps
// and no build id keep the binaries identical from one build directory to the next.
func buildBird(ctx context.Context, dir, out string) error {
	env := []string{"CFLAGS=-O2 -ffile-prefix-map=" + dir + "=.", "LDFLAGS=-static -Wl,--build-id=none"}
	common := []string{"--with-protocols=bfd bgp pipe static", "--enable-client=no", "--enable-pthreads=yes", "--runstatedir=/var/run/calico"}
	if err := run(ctx, dir, io.Discard, env, "autoreconf", "-i"); err != nil {
		return err
	}
	for _, family := range []struct{ suffix, sysconfig, ipv6 string }{
		{"6", "linux-v6", "yes"},
		{"", "linux", "no"},
	} {
		configure := append([]string{"./configure", "--enable-ipv6=" + family.ipv6, "--with-sysconfig=" + family.sysconfig}, common...)
		for _, c := range [][]string{configure, {"make"}, {"strip", "bird", "birdcl"}} {
			if err := run(ctx, dir, io.Discard, env, c[0], c[1:]...); err != nil {
				return err
			}
		}
		for _, b := range []string{"bird", "birdcl"} {
			data, err := os.ReadFile(filepath.Join(dir, b))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, b+family.suffix), data, 0o755); err != nil {
				return err
			}
		}
		if err := run(ctx, dir, io.Discard, env, "make", "clean"); err != nil {
			return err
		}
	}
	return nil
}

// lockedBuild takes the lock of the cache entry cacheDir/name. When another process
// finished the entry while this one waited, cached is true and nothing is held;
// otherwise work is a new absolute work directory under cacheDir (so a finished build
// is renamed into place on the same file system) and done removes it and releases the
// lock.
func lockedBuild(cacheDir, name string) (work string, cached bool, done func(), err error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", false, nil, err
	}
	unlock, err := flock.Lock(filepath.Join(cacheDir, "."+name+".lock"))
	if err != nil {
		return "", false, nil, err
	}
	if _, err := os.Stat(filepath.Join(cacheDir, name, "SHA256SUMS")); err == nil {
		unlock()
		return "", true, nil, nil
	}
	if work, err = os.MkdirTemp(cacheDir, "."+name+"-work-*"); err == nil {
		work, err = filepath.Abs(work)
	}
	if err != nil {
		if work != "" {
			os.RemoveAll(work)
		}
		unlock()
		return "", false, nil, err
	}
	return work, false, func() { os.RemoveAll(work); unlock() }, nil
}

// topDir is the single directory a git archive unpacks to.
func topDir(dir string) string {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) == 1 && entries[0].IsDir() {
		return entries[0].Name()
	}
	return "."
}

// untar unpacks a gzipped tarball into dir, refusing entries that leave it.
func untar(tgz, dir string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", tgz, err)
	}
	root, err := openRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tgz, err)
		}
		name := filepath.Clean(h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			w, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode&0o777|0o600))
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				return err
			}
			if err := root.Symlink(h.Linkname, name); err != nil {
				return err
			}
		}
	}
}

func openRoot(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return os.OpenRoot(dir)
}

// copyTree copies the regular files of src for which keep is true into dst (flat).
func copyTree(src, dst string, keep func(string) bool) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !keep(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// treeAt is a directory to pack under a path prefix ("" or "dir/").
type treeAt struct{ dir, prefix string }

// tarTrees packs the trees' regular files and directories (modes kept, times and owners
// fixed, entries in walk order, which is sorted) as an uncompressed tar at out.
func tarTrees(out string, trees []treeAt) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, tr := range trees {
		if err = tarTree(tw, tr.dir, tr.prefix); err != nil {
			break
		}
	}
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func tarTree(tw *tar.Writer, dir, prefix string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h := &tar.Header{Name: prefix + filepath.ToSlash(rel), Mode: int64(info.Mode().Perm()), ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatPAX}
		switch {
		case d.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			return tw.WriteHeader(h)
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
}

// TarballSums returns the sha256 of every regular file of a gzipped source tarball whose
// path, without the archive's top directory, starts with prefix (e.g. "manifests/").
func TarballSums(tgz, prefix string) (map[string]string, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tgz, err)
	}
	out := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tgz, err)
		}
		_, rel, _ := strings.Cut(h.Name, "/")
		if h.Typeflag != tar.TypeReg || !strings.HasPrefix(rel, prefix) {
			continue
		}
		s := sha256.New()
		if _, err := io.Copy(s, tr); err != nil {
			return nil, err
		}
		out[rel] = hex.EncodeToString(s.Sum(nil))
	}
}
