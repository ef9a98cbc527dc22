package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/kisgen/kisgen/internal/flock"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// RootFSOptions configure RootFS.
type RootFSOptions struct {
	// OS is the operating system slug the root file system is of, e.g. debian-12.
	OS string
	// Packages are installed on top of Debian's Essential set.
	Packages []string
	// CacheDir receives the tarball, named after a hash of everything that decides it.
	CacheDir string
	// AptMirror as for Options; default DefaultAptMirror.
	AptMirror string
	Log       io.Writer
}

func (o *RootFSOptions) defaults() {
	if o.AptMirror == "" {
		o.AptMirror = DefaultAptMirror
	}
	o.AptMirror = strings.TrimRight(o.AptMirror, "/")
}

// RootFSPath is where RootFS keeps the tarball for opts: CacheDir/rootfs-OS-HASH.tar, the
// hash over the OS, the mirror and the sorted package list.
func RootFSPath(opts RootFSOptions) string {
	opts.defaults()
	pkgs := append([]string(nil), opts.Packages...)
	sort.Strings(pkgs)
	h := sha256.New()
	fmt.Fprintf(h, "rootfs 1\n%s\n%s\n%s\n", opts.OS, opts.AptMirror, strings.Join(pkgs, ","))
	return filepath.Join(opts.CacheDir, "rootfs-"+opts.OS+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".tar")
}

// rootFSEpoch is SOURCE_DATE_EPOCH for mmdebstrap: file times and generated files do not
// depend on when the tarball was made.
const rootFSEpoch = "946684800" // 2000-01-01, the mirror's tarTime

// RootFS returns the path of a tarball of a minimal Debian root file system for a
// container image: mmdebstrap's essential variant (no apt, no init) plus opts.Packages,
// without documentation. It is built once per OS, mirror and package list and cached in
// opts.CacheDir, as `kisgen image build` caches VM images.
func RootFS(ctx context.Context, opts RootFSOptions) (string, error) {
	opts.defaults()
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	rel, ok := releases[opts.OS]
	if !ok {
		return "", fmt.Errorf("%w: %q (supported: %s)", ErrUnsupportedOS, opts.OS, strings.Join(SupportedOS(), ", "))
	}
	final := RootFSPath(opts)
	name := filepath.Base(final)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	pkgs := append([]string(nil), opts.Packages...)
	sort.Strings(pkgs)
	mmdebstrap, err := lookTool("mmdebstrap")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := flock.Lock(filepath.Join(opts.CacheDir, "."+name+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	tmp := final + ".work.tar"
	defer os.Remove(tmp)
	args := []string{"--variant=essential", "--components=main", "--include=" + strings.Join(pkgs, ","),
		"--aptopt=Acquire::Retries \"3\"",
		"--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-exclude=/usr/share/locale/*", "--dpkgopt=path-exclude=/usr/share/info/*",
		"--dpkgopt=path-include=/usr/share/doc/*/copyright",
		`--customize-hook=rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/cache/ldconfig/aux-cache`,
		rel.suite, tmp,
		fmt.Sprintf("deb %s %s main", opts.AptMirror, rel.suite),
		fmt.Sprintf("deb %s %s-updates main", opts.AptMirror, rel.suite)}
	if strings.HasSuffix(opts.AptMirror, "/debian") {
		args = append(args, fmt.Sprintf("deb %s-security %s main", opts.AptMirror, rel.security))
	}
	t0 := time.Now()
	fmt.Fprintf(opts.Log, "rootfs %s: mmdebstrap %s with %s\n", name, rel.suite, strings.Join(pkgs, " "))
	var tail tailBuffer
	cmd := exec.CommandContext(ctx, mmdebstrap, args...)
	cmd.Stdout, cmd.Stderr = &tail, &tail
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "SOURCE_DATE_EPOCH="+rootFSEpoch)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("rootfs %s: mmdebstrap: %w\n%s", opts.OS, err, tail.String())
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	fmt.Fprintf(opts.Log, "rootfs %s: done in %s\n", name, time.Since(t0).Round(time.Second))
	return final, nil
}
