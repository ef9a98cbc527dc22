package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/internal/flock"
)

// BakeScript is the customisation every kisgen image gets (see bake.sh). The Packer
// templates upload and run the same bytes.
//
//go:embed bake.sh
var BakeScript []byte

// Files in an image directory.
const (
	KernelFile   = "vmlinuz"
	InitrdFile   = "initrd.img"
	RootFSFile   = "rootfs.qcow2"
	ManifestFile = "image-manifest.json"
	BuildIDFile  = "build-id"
	// ManifestPath is where the bake script writes the manifest inside the image.
	ManifestPath = "/etc/kisgen/image-manifest.json"
)

// Defaults for Options.
const (
	// PlanCacheDir is, relative to a plan, where the images that belong to that plan
	// live: the qemu templates `kisgen packer` writes bake OS-baked there (it holds the
	// plan's binaries), and the qemu provider looks there before the per-user cache.
	PlanCacheDir     = ".cache/images"
	DefaultAptMirror = "http://deb.debian.org/debian"
	DefaultSizeGB    = 8
	// formatVersion changes whenever Build changes what it produces, so older cached
	// builds are not reused.
	formatVersion = "1"
)

// release is what the build needs to know about one operating system.
type release struct {
	suite string
	// security is the suite of Debian's security archive.
	security string
}

var releases = map[string]release{
	"debian-12": {suite: "bookworm", security: "bookworm-security"},
	"debian-13": {suite: "trixie", security: "trixie-security"},
}

// SupportedOS lists the operating systems Build makes images of, sorted.
func SupportedOS() []string {
	out := make([]string, 0, len(releases))
	for k := range releases {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Options configure Build.
type Options struct {
	// OS is the operating system slug, e.g. debian-12.
	OS string
	// Out is the directory that receives vmlinuz, initrd.img, rootfs.qcow2 and the
	// manifest. Empty: CacheDir/OS, where the qemu provider looks for image OS.
	Out string
	// CacheDir holds content-addressed builds (CacheDir/builds/OS-HASH). Empty: the
	// per-user cache's images/ (internal/cachedir), shared by every plan.
	CacheDir string
	// AptMirror is the Debian archive to install from (its security archive is derived by
	// replacing a trailing /debian with /debian-security).
	AptMirror string
	// SizeGB is the root file system size; the file is sparse and the qcow2 holds only
	// what is used. Machines with a larger disk grow it at boot (cloud-init resize_rootfs).
	SizeGB int
	// Rebuild ignores a cached build.
	Rebuild bool
	// Log receives progress lines; Verbose adds mmdebstrap's own output.
	Log     io.Writer
	Verbose bool
}

func (o *Options) defaults() {
	if o.Out == "" && o.CacheDir != "" {
		o.Out = filepath.Join(o.CacheDir, o.OS)
	}
	if o.AptMirror == "" {
		o.AptMirror = DefaultAptMirror
	}
	o.AptMirror = strings.TrimRight(o.AptMirror, "/")
	if o.SizeGB <= 0 {
		o.SizeGB = DefaultSizeGB
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Image is a built image directory.
type Image struct {
	// Dir is the image directory (Options.Out).
	Dir     string
	OS      string
	BuildID string
	Kernel  string
	Initrd  string
	// RootFS is the root file system. When the content-addressed build it came from is
	// still in the cache, RootFS points there: that file never changes, so it is safe as
	// the backing file of VM disks even after Dir is rebuilt.
	RootFS string
	// Manifest is the image manifest the bake script wrote (/etc/kisgen/image-manifest.json).
	Manifest []byte
	// Cached is true when Build reused an earlier build.
	Cached bool
}

// Packages returns the Debian packages the bake script installs, in its order.
func Packages() []string {
	s := string(BakeScript)
	i := strings.Index(s, "\nPACKAGES=\"")
	if i < 0 {
		return nil
	}
	s = s[i+len("\nPACKAGES=\""):]
	s = s[:strings.Index(s, "\"")]
	s = strings.ReplaceAll(s, "\\\n", "")
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// BuildID identifies the image Build makes for opts: the OS and a hash of everything that
// decides its content.
func BuildID(opts Options) string {
	opts.defaults()
	h := sha256.New()
	for _, part := range []string{formatVersion, opts.OS, opts.AptMirror, fmt.Sprint(opts.SizeGB), strings.Join(Packages(), ","), string(BakeScript), strings.Join(hooksFor(opts, "BUILD", "OUT"), "\n")} {
		fmt.Fprintf(h, "%d:%s\n", len(part), part)
	}
	return opts.OS + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Build bakes the image for opts.OS, or reuses the cached build with the same content,
// and publishes it in opts.Out.
func Build(ctx context.Context, opts Options) (*Image, error) {
	// mmdebstrap's hooks and qemu-img run with these paths in their arguments: make
	// them absolute before any child sees one.
	var err error
	if opts.CacheDir == "" {
		opts.CacheDir, err = cachedir.Images("")
	} else {
		opts.CacheDir, err = filepath.Abs(opts.CacheDir)
	}
	if err != nil {
		return nil, err
	}
	opts.defaults()
	if opts.Out, err = filepath.Abs(opts.Out); err != nil {
		return nil, err
	}
	if _, ok := releases[opts.OS]; !ok {
		return nil, fmt.Errorf("%w: %q (supported: %s)", ErrUnsupportedOS, opts.OS, strings.Join(SupportedOS(), ", "))
	}
	tools := map[string]string{}
	for _, t := range []string{"mmdebstrap", "mkfs.ext4", "qemu-img"} {
		p, err := lookTool(t)
		if err != nil {
			return nil, err
		}
		tools[t] = p
	}
	id := BuildID(opts)
	builds := filepath.Join(opts.CacheDir, "builds")
	if err := os.MkdirAll(builds, 0o755); err != nil {
		return nil, err
	}
	final := filepath.Join(builds, id)
	unlock, err := flock.Lock(filepath.Join(builds, "."+id+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	cached := false
	if _, err := os.Stat(filepath.Join(final, BuildIDFile)); err == nil && !opts.Rebuild {
		fmt.Fprintf(opts.Log, "image %s: cached in %s\n", id, final)
		cached = true
	} else {
		if err := bake(ctx, opts, id, final, tools); err != nil {
			return nil, err
		}
	}
	if err := publish(final, opts.Out); err != nil {
		return nil, err
	}
	img, err := Find(opts.Out)
	if err != nil {
		return nil, err
	}
	img.Cached = cached
	return img, nil
}

func bake(ctx context.Context, opts Options, id, final string, tools map[string]string) error {
	work, err := os.MkdirTemp(filepath.Dir(final), "."+id+".work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	work, err = filepath.Abs(work)
	if err != nil {
		return err
	}
	out := filepath.Join(work, "out")
	root := filepath.Join(work, "root")
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "bake.sh"), BakeScript, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(work, "build.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	var tail tailBuffer
	sink := io.MultiWriter(logf, &tail)
	if opts.Verbose {
		sink = io.MultiWriter(logf, &tail, opts.Log)
	}

	rel := releases[opts.OS]
	security := strings.TrimSuffix(opts.AptMirror, "/debian") + "/debian-security"
	if !strings.HasSuffix(opts.AptMirror, "/debian") {
		security = ""
	}
	args := []string{"--variant=apt", "--components=main", "--include=" + strings.Join(Packages(), ","),
		"--aptopt=Acquire::Retries \"3\"",
		"--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-include=/usr/share/doc/*/copyright"}
	for _, h := range hooksFor(opts, work, out) {
		args = append(args, "--customize-hook="+h)
	}
	args = append(args, rel.suite, root,
		fmt.Sprintf("deb %s %s main", opts.AptMirror, rel.suite),
		fmt.Sprintf("deb %s %s-updates main", opts.AptMirror, rel.suite))
	if security != "" {
		args = append(args, fmt.Sprintf("deb %s %s main", security, rel.security))
	}

	t0 := time.Now()
	fmt.Fprintf(opts.Log, "image %s: mmdebstrap %s with %d packages (log: %s)\n", id, rel.suite, len(Packages()), filepath.Join(work, "build.log"))
	if err := run(ctx, sink, &tail, tools["mmdebstrap"], args...); err != nil {
		return fmt.Errorf("image %s: mmdebstrap: %w", id, err)
	}
	t1 := time.Now()
	raw := filepath.Join(work, "rootfs.raw")
	if err := run(ctx, sink, &tail, tools["mkfs.ext4"], "-q", "-F", "-L", "root", "-E", "lazy_itable_init=1,lazy_journal_init=1",
		"-d", root, raw, fmt.Sprintf("%dG", opts.SizeGB)); err != nil {
		return fmt.Errorf("image %s: mkfs.ext4: %w", id, err)
	}
	if err := run(ctx, sink, &tail, tools["qemu-img"], "convert", "-O", "qcow2", raw, filepath.Join(out, RootFSFile)); err != nil {
		return fmt.Errorf("image %s: qemu-img convert: %w", id, err)
	}
	fmt.Fprintf(opts.Log, "image %s: mmdebstrap %s, file system %s\n", id, t1.Sub(t0).Round(time.Second), time.Since(t1).Round(time.Second))
	for _, f := range []string{KernelFile, InitrdFile, ManifestFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			return fmt.Errorf("image %s: the build did not produce %s", id, f)
		}
	}
	if err := os.WriteFile(filepath.Join(out, BuildIDFile), []byte(id+"\n"), 0o644); err != nil {
		return err
	}
	logf.Close()
	_ = os.Rename(filepath.Join(work, "build.log"), filepath.Join(out, "build.log"))
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	return os.Rename(out, final)
}

// hooksFor returns mmdebstrap's customize hooks. They run on the build host with the
// image root as $1. Only what is specific to local VM images is here; everything a node
// needs is in the bake script.
func hooksFor(opts Options, work, out string) []string {
	q := shellQuote
	return []string{
		// direct kernel boot: the root file system is the whole virtio disk, no partitions
		`echo "/dev/vda / ext4 defaults,noatime 0 1" > "$1/etc/fstab"`,
		`echo localhost > "$1/etc/hostname"`,
		// cloud-init renders the NoCloud network-config for systemd-networkd
		`chroot "$1" systemctl enable systemd-networkd.service`,
		fmt.Sprintf(`KISGEN_OS=%s KISGEN_DATASOURCES='NoCloud, None' sh %s --root "$1"`, q(opts.OS), q(filepath.Join(work, "bake.sh"))),
		fmt.Sprintf(`cp -L "$1"/boot/vmlinuz-* %s && cp -L "$1"/boot/initrd.img-* %s && cp "$1"%s %s`,
			q(filepath.Join(out, KernelFile)), q(filepath.Join(out, InitrdFile)), ManifestPath, q(filepath.Join(out, ManifestFile))),
		`rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/var/log/*.log`,
	}
}

// Find opens a built image directory.
func Find(dir string) (*Image, error) {
	// Absolute paths: qemu and packer run in directories of their own.
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	img := &Image{Dir: dir}
	for _, f := range []string{KernelFile, InitrdFile, RootFSFile, BuildIDFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("%w: %s has no %s (run `kisgen image build`)", ErrNotBuilt, dir, f)
		}
	}
	id, err := os.ReadFile(filepath.Join(dir, BuildIDFile))
	if err != nil {
		return nil, err
	}
	img.BuildID = strings.TrimSpace(string(id))
	if i := strings.LastIndex(img.BuildID, "-"); i > 0 {
		img.OS = img.BuildID[:i]
	}
	img.Kernel = filepath.Join(dir, KernelFile)
	img.Initrd = filepath.Join(dir, InitrdFile)
	img.RootFS = filepath.Join(dir, RootFSFile)
	// Prefer the immutable content-addressed copy when dir is a published view of it.
	for _, cand := range []string{filepath.Join(dir, "..", "builds", img.BuildID, RootFSFile), filepath.Join(dir, "builds", img.BuildID, RootFSFile)} {
		if sameFile(cand, img.RootFS) {
			img.RootFS = filepath.Clean(cand)
			break
		}
	}
	img.Manifest, _ = os.ReadFile(filepath.Join(dir, ManifestFile))
	return img, nil
}

// publish makes out a directory holding the build's files: hard links where possible.
func publish(build, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".stage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	entries, err := os.ReadDir(build)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		src, dst := filepath.Join(build, e.Name()), filepath.Join(stage, e.Name())
		if err := os.Link(src, dst); err != nil {
			if err := copyFile(src, dst); err != nil {
				return err
			}
		}
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return err
	}
	return atomicfile.ReplaceDir(stage, out)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(sa, sb)
}

// lookTool finds a program on PATH or in the sbin directories, which are not on a normal
// user's PATH on Debian.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	pkg := map[string]string{"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils"}[name]
	return "", fmt.Errorf("%w: %s is not installed (apt-get install %s)", ErrMissingTool, name, pkg)
}

func run(ctx context.Context, sink io.Writer, tail *tailBuffer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout = sink
	cmd.Stderr = sink
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w\n%s", err, tail.String())
	}
	return nil
}

// tailBuffer keeps the last 4 KiB written, for error messages.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.TrimSpace(t.b)) }

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
