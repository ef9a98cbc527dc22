package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kisgen/kisgen/internal/filehash"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// tarTime is the modification time of every tarball entry, so a rebuild of the same
// binaries gives the same bytes.
var tarTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Options configure Build.
type Options struct {
	// Out is the mirror directory.
	Out string
	// CacheDir holds binaries built from the Go module proxy, one directory per version.
	// Empty: the per-user cache's bin/ (internal/cachedir).
	CacheDir string
	// Log receives progress lines and the Go toolchain's output of a cold build.
	Log io.Writer
	// Sources is the directory of source tarballs Calico is built from (SourcesEnv when
	// empty); needed when the plan runs Calico.
	Sources string
	// AptMirror is the Debian archive the calico/node root file system comes from
	// (default image.DefaultAptMirror).
	AptMirror string
	// Conformance also builds Kubernetes' e2e suite (e2e.test, into the cache: nodes
	// never download it) and the archive of every e2e image kisgen makes
	// (roles.ConformanceImages), for `kisgen conformance run`. Without it, only the e2e
	// images the plan lists in mirror.image_archives are written.
	Conformance bool
	// PauseImage writes kisgen's own pause image, tagged as the plan's sandbox image
	// (registry.k8s.io/pause:VERSION), to PauseArchivePath(VERSION): for air-gapped
	// clusters that cannot copy the real one. List that path in mirror.image_archives.
	PauseImage bool
}

// File is one file a node may download, with its sum.
type File struct {
	// Path is relative to the mirror directory, with slashes.
	Path   string
	SHA256 string
	Size   int64
}

// Result says what Build wrote.
type Result struct {
	// Files are every file listed in the top-level SHA256SUMS, sorted by path.
	Files []File
	// Checksums is the path of the top-level SHA256SUMS.
	Checksums string
	// NotMirrored lists the artifacts the plan's nodes may download that Build cannot
	// make, each with the reason.
	NotMirrored []string
	// Images are the image archives of roles.ClusterImages that Build packed (CoreDNS,
	// metrics-server), by mirror path; list them in mirror.image_archives for nodes to
	// import them.
	Images []string
	// E2EImages are the archives of the e2e suite's images Build wrote
	// (roles.ConformanceImages), by mirror path.
	E2EImages []string
	// E2ETest is the e2e suite's binary, in the cache, when Options.Conformance is set.
	E2ETest string
}

// Build fills opts.Out with what p's nodes download (roles.PlanArtifacts, at each
// artifact's MirrorPath: the official URL without its scheme) and writes the checksum
// files. etcd, the Kubernetes binaries, containerd, runc and the CNI plugins come from the
// cache or are built once per version from the Go module proxy, and are laid out as their
// releases publish them, with each project's own sums file; Calico (calicoctl, its
// manifest and its three image archives) is built from the source tarballs in
// opts.Sources (mirror/calico.go); the CoreDNS and metrics-server images the cluster runs
// (roles.ClusterImages) are packed as image archives tagged with their upstream
// references. Other image archives the plan lists must already be in the mirror
// directory (Build sums them, it cannot make them). Build is idempotent: unchanged files
// are not rewritten.
func Build(ctx context.Context, p *plan.Plan, opts Options) (*Result, error) {
	if opts.CacheDir == "" {
		dir, err := cachedir.Bin("")
		if err != nil {
			return nil, err
		}
		opts.CacheDir = dir
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	if opts.Sources == "" {
		opts.Sources = os.Getenv(SourcesEnv)
	}
	var notMirrored []string
	var k8sDir string
	calico := &calicoBuild{ctx: ctx, p: p, opts: opts}
	for _, a := range roles.PlanArtifacts(p) {
		dst := filepath.Join(opts.Out, filepath.FromSlash(a.MirrorPath))
		switch {
		case a.Name == roles.CompEtcd:
			dir, err := cachedBuild(ctx, opts, binbuild.ProjectEtcd, a.Version, binbuild.Etcd)
			if err != nil {
				return nil, err
			}
			if err := writeEtcd(a, dir, dst); err != nil {
				return nil, err
			}
			fmt.Fprintf(opts.Log, "mirror: %s\n", a.MirrorPath)
		case isKubernetes(a.Name):
			if k8sDir == "" {
				dir, err := cachedBuild(ctx, opts, binbuild.ProjectKubernetes, a.Version, func(ctx context.Context, v, cache string, log io.Writer) (string, error) {
					return binbuild.Kubernetes(ctx, v, nil, cache, log)
				})
				if err != nil {
					return nil, err
				}
				k8sDir = dir
			}
			sum, err := place(filepath.Join(k8sDir, a.Name), dst)
			if err != nil {
				return nil, err
			}
			// dl.k8s.io publishes the bare digest, without a file name or newline.
			if err := writeIfChanged(dst+".sha256", []byte(sum), 0o644); err != nil {
				return nil, err
			}
			fmt.Fprintf(opts.Log, "mirror: %s\n", a.MirrorPath)
		case isRuntime(a.Name):
			if err := writeRuntime(ctx, a, dst, opts); err != nil {
				return nil, err
			}
			fmt.Fprintf(opts.Log, "mirror: %s\n", a.MirrorPath)
		case a.Name == roles.CompCalicoctl || a.Name == roles.CompCalicoManifest:
			if err := calico.artifact(a, dst); err != nil {
				return nil, err
			}
			fmt.Fprintf(opts.Log, "mirror: %s\n", a.MirrorPath)
		default:
			opt := ""
			if a.Optional {
				opt = ", optional"
			}
			notMirrored = append(notMirrored, fmt.Sprintf("%s %s: cannot be built from the Go module proxy%s; put it at %s yourself", a.Name, a.Version, opt, a.MirrorPath))
		}
	}
	if err := calico.images(); err != nil {
		return nil, err
	}
	if opts.PauseImage {
		data, err := PauseArchive(ctx, "registry.k8s.io/pause:"+p.Versions.Pause, opts.CacheDir, opts.Log)
		if err != nil {
			return nil, err
		}
		dst := filepath.Join(opts.Out, filepath.FromSlash(PauseArchivePath(p.Versions.Pause)))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := writeIfChanged(dst, data, 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(opts.Log, "mirror: %s (kisgen's pause image, registry.k8s.io/pause:%s)\n", PauseArchivePath(p.Versions.Pause), p.Versions.Pause)
	}
	images, err := writeClusterImages(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	conf := &conformanceBuild{ctx: ctx, p: p, opts: opts}
	var e2eTest string
	if opts.Conformance {
		if len(roles.ConformanceImages(p)) == 0 {
			return nil, fmt.Errorf("%w: kisgen knows the e2e images of Kubernetes %s only, not of %s",
				ErrConformanceVersion, strings.Join(roles.ConformanceVersions(), ", "), p.Versions.Kubernetes)
		}
		if e2eTest, err = conf.e2eTest(); err != nil {
			return nil, err
		}
	}
	e2eImages, err := conf.images()
	if err != nil {
		return nil, err
	}
	for _, a := range p.Mirror.ImageArchives {
		if _, err := os.Stat(filepath.Join(opts.Out, filepath.FromSlash(a))); err != nil {
			return nil, fmt.Errorf("%w: the plan's mirror.image_archives lists %s but %s does not exist: save the image there (e.g. `ctr -n k8s.io images export`) and run mirror build again",
				ErrMissingArchive, a, filepath.Join(opts.Out, filepath.FromSlash(a)))
		}
	}
	if err := writeNodeFiles(p, opts); err != nil {
		return nil, err
	}
	res, err := WriteChecksums(opts.Out)
	if err != nil {
		return nil, err
	}
	res.NotMirrored = notMirrored
	res.Images = images
	res.E2EImages, res.E2ETest = e2eImages, e2eTest
	return res, nil
}

// writeNodeFiles writes the files every node of the plan shares (roles.SharedFiles: the
// kisgen scripts, add-on manifests) under roles.NodeFilesMirrorDir, each named by its
// sha256. Once SHA256SUMS lists them, a render of the same plan has its nodes download
// them instead of carrying them in every user-data. Files of earlier plans or kisgen
// versions are kept: user-data rendered before may still name them.
func writeNodeFiles(p *plan.Plan, opts Options) error {
	files, err := roles.SharedFiles(p, roles.Inputs{})
	if err != nil {
		return err
	}
	for _, f := range files {
		mp := roles.NodeFileMirrorPath(f.SHA256)
		if err := writeIfChanged(filepath.Join(opts.Out, filepath.FromSlash(mp)), []byte(f.Content), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.Log, "mirror: %s (%d files the nodes share: kisgen scripts, add-on manifests)\n", roles.NodeFilesMirrorDir, len(files))
	return nil
}

func isKubernetes(name string) bool {
	for _, c := range binbuild.KubernetesComponents {
		if c == name {
			return true
		}
	}
	return false
}

// writeEtcd writes the etcd release tarball at dst, packed as the artifact says the
// release holds it (Provides: DIR/etcd=etcd, DIR/etcdctl=etcdctl), and the release's
// SHA256SUMS beside it.
func writeEtcd(a roles.Artifact, binDir, dst string) error {
	top := ""
	for _, pr := range a.Provides {
		member, _, _ := strings.Cut(pr, "=")
		if d, _, ok := strings.Cut(member, "/"); ok {
			top = d
		}
	}
	if top == "" {
		return fmt.Errorf("etcd artifact %s: no directory in %v", a.MirrorPath, a.Provides)
	}
	tgz, err := EtcdTarball(top, filepath.Join(binDir, "etcd"), filepath.Join(binDir, "etcdctl"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := writeIfChanged(dst, tgz, 0o644); err != nil {
		return err
	}
	sums := fmt.Sprintf("%s  %s\n", sha256Hex(tgz), filepath.Base(dst))
	return writeIfChanged(filepath.Join(filepath.Dir(dst), "SHA256SUMS"), []byte(sums), 0o644)
}

// WriteChecksums (re)writes DIR/SHA256SUMS listing every file a node may download: every
// regular file in dir except checksum files (SHA256SUMS, *.sha256, *.sha256sum) and hidden
// files.
func WriteChecksums(dir string) (*Result, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() || name == ChecksumsFile || strings.HasSuffix(name, ".sha256") || strings.HasSuffix(name, ".sha256sum") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		sum, size, err := filehash.SHA256(p)
		if err != nil {
			return err
		}
		files = append(files, File{Path: filepath.ToSlash(rel), SHA256: sum, Size: size})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, f.Path)
	}
	out := filepath.Join(dir, ChecksumsFile)
	if err := writeIfChanged(out, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return &Result{Files: files, Checksums: out}, nil
}

// EtcdTarball packs etcd and etcdctl as the upstream release does (top is the release's
// directory, etcd-VERSION-linux-amd64), deterministically: fixed times and owners, sorted
// entries, no gzip name or time.
func EtcdTarball(top, etcd, etcdctl string) ([]byte, error) {
	return releaseTarball([]string{top + "/"}, []tarFile{{path.Join(top, "etcd"), etcd}, {path.Join(top, "etcdctl"), etcdctl}})
}

// place puts src at dst (a hard link when possible, else a copy) unless dst already has
// the same content, and returns the sum.
func place(src, dst string) (string, error) {
	sum, _, err := filehash.SHA256(src)
	if err != nil {
		return "", err
	}
	if sameFile(src, dst) {
		return sum, nil
	}
	if have, _, err := filehash.SHA256(dst); err == nil && have == sum {
		return sum, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		data, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		if err := atomicfile.WriteFile(dst, data, 0o755); err != nil {
			return "", err
		}
		return sum, nil
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	return sum, os.Rename(tmp, dst)
}

func writeIfChanged(p string, data []byte, perm os.FileMode) error {
	if have, err := os.ReadFile(p); err == nil && bytes.Equal(have, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, data, perm)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}
