package mirror

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/roles"
)

// builder builds one project's binaries of a version into a cache directory.
type builder func(ctx context.Context, version, cacheDir string, log io.Writer) (string, error)

// cachedBuild runs build for project's version with a progress line before and after,
// saying whether the build is cold (and how long it took) or came from the cache.
func cachedBuild(ctx context.Context, opts Options, project, version string, build builder) (string, error) {
	if binbuild.Cached(project, version, opts.CacheDir) {
		fmt.Fprintf(opts.Log, "mirror: %s %s (cached)\n", project, version)
		return build(ctx, version, opts.CacheDir, opts.Log)
	}
	fmt.Fprintf(opts.Log, "mirror: building %s %s (cold, from the Go module proxy into %s)\n", project, version, opts.CacheDir)
	start := time.Now()
	dir, err := build(ctx, version, opts.CacheDir, opts.Log)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(opts.Log, "mirror: built %s %s in %s\n", project, version, time.Since(start).Round(time.Second))
	return dir, nil
}

// runtimeBuilders are the container runtime's projects, by artifact name.
var runtimeBuilders = map[string]struct {
	project string
	build   builder
}{
	roles.CompContainerd: {binbuild.ProjectContainerd, binbuild.Containerd},
	roles.CompRunc:       {binbuild.ProjectRunc, binbuild.Runc},
	roles.CompCNIPlugins: {binbuild.ProjectCNIPlugins, binbuild.CNIPluginSet},
}

// isRuntime says whether an artifact is part of the container runtime Build makes.
func isRuntime(name string) bool {
	_, ok := runtimeBuilders[name]
	return ok
}

// writeRuntime builds (or takes from the cache) containerd, runc or the CNI plugins and
// lays the release file out at dst as the project publishes it, with the project's own
// sums file beside it (where the artifact's SumsURL points):
//
//   - containerd: containerd-VERSION-linux-amd64.tar.gz holding bin/containerd,
//     bin/containerd-shim-runc-v2 and bin/ctr, and NAME.sha256sum ("SUM  NAME");
//   - runc: the executable runc.amd64 and runc.sha256sum ("SUM  runc.amd64");
//   - CNI plugins: cni-plugins-linux-amd64-VERSION.tgz with every plugin flat under
//     "./", and NAME.sha256 ("SUM  NAME").
func writeRuntime(ctx context.Context, a roles.Artifact, dst string, opts Options) error {
	rb := runtimeBuilders[a.Name]
	dir, err := cachedBuild(ctx, opts, rb.project, a.Version, rb.build)
	if err != nil {
		return err
	}
	var sum string
	switch a.Name {
	case roles.CompContainerd:
		var files []tarFile
		for _, p := range a.Provides {
			member, name, _ := strings.Cut(p, "=")
			files = append(files, tarFile{name: member, src: filepath.Join(dir, name)})
		}
		if sum, err = writeTarball(dst, []string{"bin/"}, files); err != nil {
			return err
		}
	case roles.CompRunc:
		if sum, err = place(filepath.Join(dir, "runc"), dst); err != nil {
			return err
		}
	case roles.CompCNIPlugins:
		files := []tarFile{}
		for _, p := range binbuild.CNIPlugins {
			files = append(files, tarFile{name: "./" + p, src: filepath.Join(dir, p)})
		}
		if sum, err = writeTarball(dst, []string{"./"}, files); err != nil {
			return err
		}
	}
	if a.SumsURL == "" {
		return fmt.Errorf("%s artifact %s: no sums file to write", a.Name, a.MirrorPath)
	}
	sums := fmt.Sprintf("%s  %s\n", sum, path.Base(a.MirrorPath))
	return writeIfChanged(filepath.Join(filepath.Dir(dst), path.Base(a.SumsURL)), []byte(sums), 0o644)
}

// tarFile is one executable of a release tarball: its member name and where it is built.
type tarFile struct{ name, src string }

// writeTarball packs dirs and files into a deterministic .tar.gz at dst and returns its
// sha256.
func writeTarball(dst string, dirs []string, files []tarFile) (string, error) {
	tgz, err := releaseTarball(dirs, files)
	if err != nil {
		return "", err
	}
	if err := writeIfChanged(dst, tgz, 0o644); err != nil {
		return "", err
	}
	return sha256Hex(tgz), nil
}

// releaseTarball packs directories (names ending in /) and executables as release
// tarballs do, deterministically: fixed times and owners, entries in the order given, no
// gzip name or time.
func releaseTarball(dirs []string, files []tarFile) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	hdr := func(name string, mode int64, typ byte, size int64) *tar.Header {
		return &tar.Header{Name: name, Mode: mode, Typeflag: typ, Size: size, ModTime: tarTime, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
	}
	for _, d := range dirs {
		if err := tw.WriteHeader(hdr(d, 0o755, tar.TypeDir, 0)); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f.src)
		if err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(hdr(f.name, 0o755, tar.TypeReg, int64(len(data)))); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
