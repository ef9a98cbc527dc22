package mirror

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// SourcesEnv names the directory of source tarballs (Calico, BIRD) when --sources is not
// given.
const SourcesEnv = "KISGEN_SOURCES"

// CalicoNodeOS is the Debian release the calico/node image's root file system is built
// from.
const CalicoNodeOS = "debian-12"

// CalicoNodePackages are the Debian packages calico/node runs with, on top of Debian's
// Essential set (bash, coreutils, findutils, which…): what node/Dockerfile installs for
// the iptables/nftables dataplane (iptables with its legacy and nft backends, ipset,
// iproute2, conntrack, kmod, procps, net-tools for arp) and runit, which supervises
// felix, BIRD and confd (start_runit, /etc/service).
var CalicoNodePackages = []string{"conntrack", "iproute2", "ipset", "iptables", "kmod", "net-tools", "nftables", "procps", "runit"}

// CalicoNodeRootFS says how the calico/node root file system is built and where it is
// cached (image.RootFSPath).
func CalicoNodeRootFS(cacheDir, aptMirror string) image.RootFSOptions {
	return image.RootFSOptions{OS: CalicoNodeOS, Packages: CalicoNodePackages, CacheDir: cacheDir, AptMirror: aptMirror}
}

// calicoBuild is what Build needs of a Calico build, made once per run.
type calicoBuild struct {
	ctx  context.Context
	p    *plan.Plan
	opts Options
	dir  string
}

// binaries returns the build directory, building Calico from opts.Sources the first time.
func (c *calicoBuild) binaries() (string, error) {
	if c.dir != "" {
		return c.dir, nil
	}
	t0 := time.Now()
	dir, err := binbuild.Calico(c.ctx, c.p.Versions.Calico, c.opts.Sources, c.opts.CacheDir, c.opts.Log)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(c.opts.Log, "mirror: calico %s binaries ready in %s (%s)\n", c.p.Versions.Calico, time.Since(t0).Round(time.Second), dir)
	c.dir = dir
	return dir, nil
}

// artifact writes calicoctl or the Calico manifest at the artifact's MirrorPath, with
// the release's SHA256SUMS beside calicoctl as GitHub publishes it.
func (c *calicoBuild) artifact(a roles.Artifact, dst string) error {
	dir, err := c.binaries()
	if err != nil {
		return err
	}
	switch a.Name {
	case roles.CompCalicoctl:
		sum, err := place(filepath.Join(dir, "calicoctl"), dst)
		if err != nil {
			return err
		}
		return writeIfChanged(filepath.Join(filepath.Dir(dst), "SHA256SUMS"), []byte(sum+"  "+path.Base(a.MirrorPath)+"\n"), 0o644)
	case roles.CompCalicoManifest:
		data, err := os.ReadFile(filepath.Join(dir, binbuild.CalicoManifestsDir, path.Base(a.MirrorPath)))
		if err != nil {
			return fmt.Errorf("calico %s: the release has no %s: %w", a.Version, path.Base(a.MirrorPath), err)
		}
		return writeIfChanged(dst, data, 0o644)
	}
	return fmt.Errorf("calico: no artifact %s", a.Name)
}

// images writes the image archive of every Calico image of the plan.
func (c *calicoBuild) images() error {
	for _, img := range roles.ClusterImages(c.p) {
		var spec func(dir string) (ImageSpec, error)
		switch img.Component {
		case roles.CompCalicoNode:
			spec = c.nodeImage
		case roles.CompCalicoCNI:
			spec = cniImage
		case roles.CompCalicoKubeControllers:
			spec = kubeControllersImage
		default:
			continue
		}
		dir, err := c.binaries()
		if err != nil {
			return err
		}
		t0 := time.Now()
		s, err := spec(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", img.Ref, err)
		}
		s.Ref = img.Ref
		var buf bytes.Buffer
		if err := WriteImageArchive(&buf, s); err != nil {
			return fmt.Errorf("%s: %w", img.Ref, err)
		}
		if err := writeIfChanged(filepath.Join(c.opts.Out, filepath.FromSlash(img.Archive)), buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(c.opts.Log, "mirror: %s (%s, %d MiB, %s)\n", img.Archive, img.Ref, buf.Len()>>20, time.Since(t0).Round(time.Second))
	}
	return nil
}

// nodeImage is calico/node as node/Dockerfile lays it out, on a Debian root file system:
// node/filesystem's /etc and /sbin (as /usr/sbin), BIRD (bird and bird6, as
// binbuild.Bird builds them) and calico-node in /usr/bin
// (/bin is a link to it), run by start_runit.
func (c *calicoBuild) nodeImage(dir string) (ImageSpec, error) {
	ro := CalicoNodeRootFS(c.opts.CacheDir, c.opts.AptMirror)
	ro.Log = c.opts.Log
	rootfs, err := image.RootFS(c.ctx, ro)
	if err != nil {
		return ImageSpec{}, err
	}
	files, err := ReadRootFS(rootfs)
	if err != nil {
		return ImageSpec{}, err
	}
	nodeFS, err := ReadRootFS(filepath.Join(dir, binbuild.CalicoNodeFilesystem))
	if err != nil {
		return ImageSpec{}, err
	}
	for i, f := range nodeFS {
		// The Dockerfile copies filesystem/sbin/ to /usr/sbin/.
		if rest, ok := strings.CutPrefix(f.Name, "sbin"); ok && (rest == "" || rest[0] == '/') {
			nodeFS[i].Name = "usr/sbin" + rest
		}
	}
	bins, err := binaryFiles(dir, "usr/bin", "calico-node", "mountns")
	if err != nil {
		return ImageSpec{}, err
	}
	birdDir, err := binbuild.Bird(c.ctx, c.opts.Sources, c.opts.CacheDir, c.opts.Log)
	if err != nil {
		return ImageSpec{}, err
	}
	birds, err := binaryFiles(birdDir, "usr/bin", binbuild.BirdBinaries...)
	if err != nil {
		return ImageSpec{}, err
	}
	bins = append(bins, birds...)
	return ImageSpec{Files: overlay(files, append(nodeFS, bins...)), Cmd: []string{"start_runit"}, GzipLayer: true,
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SVDIR=/etc/service/enabled"}}, nil
}

// cniImage is calico/cni: the install binary and the plugins, which install copies to
// the node's /opt/cni/bin. calico-ipam is the calico binary under another name, a link
// as cni-plugin/Makefile makes it (install copies what the link points to).
func cniImage(dir string) (ImageSpec, error) {
	files, err := binaryFiles(dir, "opt/cni/bin", "install", "calico")
	if err != nil {
		return ImageSpec{}, err
	}
	files = append(files, ArchiveFile{Name: "opt/cni/bin/calico-ipam", Type: tar.TypeSymlink, Linkname: "calico", Mode: 0o777},
		ArchiveFile{Name: "tmp", Type: tar.TypeDir, Mode: 0o1777})
	return ImageSpec{Files: files, Cmd: []string{"/opt/cni/bin/install"}, WorkingDir: "/opt/cni/bin", GzipLayer: true,
		Env: []string{"PATH=/opt/cni/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}, nil
}

// kubeControllersUID is the user calico/kube-controllers runs as (its Dockerfile's USER).
const kubeControllersUID = 999

// kubeControllersImage is calico/kube-controllers: the controllers under their wrapper,
// with the status file check-status reads (the probes) owned by the image's user.
func kubeControllersImage(dir string) (ImageSpec, error) {
	files, err := binaryFiles(dir, "usr/bin", "kube-controllers", "check-status", "wrapper")
	if err != nil {
		return ImageSpec{}, err
	}
	for _, f := range []string{"status/status.json", "profiles/mem.pprof", "profiles/cpu.pprof"} {
		files = append(files, ArchiveFile{Name: f, Mode: 0o644, UID: kubeControllersUID})
	}
	files = append(files, ArchiveFile{Name: "status", Type: tar.TypeDir, Mode: 0o755}, ArchiveFile{Name: "profiles", Type: tar.TypeDir, Mode: 0o755},
		ArchiveFile{Name: "tmp", Type: tar.TypeDir, Mode: 0o1777})
	return ImageSpec{Files: files, Entrypoint: []string{"/usr/bin/wrapper", "/usr/bin/kube-controllers"}, User: fmt.Sprint(kubeControllersUID), GzipLayer: true}, nil
}

// overlay lays top over base: an entry of top replaces base's of the same name, and a
// symbolic link of base where top has a directory goes, so top's files land where they
// are named (Debian's runit makes /etc/service a link, calico/node's is a directory).
func overlay(base, top []ArchiveFile) []ArchiveFile {
	dirs := map[string]bool{}
	for _, f := range top {
		for d := path.Dir(f.Name); d != "." && d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
		if f.Type == tar.TypeDir {
			dirs[f.Name] = true
		}
	}
	out := make([]ArchiveFile, 0, len(base)+len(top))
	for _, f := range base {
		if f.Type == tar.TypeSymlink && dirs[f.Name] {
			continue
		}
		out = append(out, f)
	}
	return append(out, top...)
}

// binaryFiles reads names from dir as executables under prefix.
func binaryFiles(dir, prefix string, names ...string) ([]ArchiveFile, error) {
	var out []ArchiveFile
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, err
		}
		out = append(out, ArchiveFile{Name: prefix + "/" + n, Mode: 0o755, Data: data})
	}
	return out, nil
}

// ReadRootFS reads a root file system tarball (mmdebstrap's, or any tar) as image layer
// entries: files, directories and symbolic links with their modes and owners; hard links
// become copies (the layer is sorted by name, so a link could precede its target);
// device nodes and FIFOs are left out (the container runtime provides /dev).
func ReadRootFS(tarPath string) ([]ArchiveFile, error) {
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ArchiveFile
	data := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tarPath, err)
		}
		name := strings.Trim(strings.TrimPrefix(path.Clean("/"+h.Name), "/"), "/")
		if name == "" {
			continue
		}
		af := ArchiveFile{Name: name, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid}
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", tarPath, name, err)
			}
			af.Data, data[name] = b, b
		case tar.TypeLink:
			target := strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")
			b, ok := data[target]
			if !ok {
				return nil, fmt.Errorf("%s: hard link %s to %s, which comes later or is missing", tarPath, name, h.Linkname)
			}
			af.Data = b
		case tar.TypeDir:
			af.Type = tar.TypeDir
		case tar.TypeSymlink:
			af.Type, af.Linkname = tar.TypeSymlink, h.Linkname
		default:
			continue
		}
		out = append(out, af)
	}
}
