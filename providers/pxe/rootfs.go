package pxe

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/internal/flock"
)

// rootFSArchiveName is, beside an image's rootfs.qcow2, the cpio archive of its root file
// system shrunk for installs (the name carries the format's version: a change of format
// makes a new file). Images are content-addressed: made once per image build.
const rootFSArchiveName = "rootfs.pxe-v1.cpio"

// rootFSMember is where the archive puts the compressed file system in the installer's
// initramfs.
const rootFSMember = "kisgen/rootfs.img.gz"

// rootFSArchive returns a cpio archive holding the image's root file system, shrunk to its
// contents and gzip-compressed, as the installer writes it to partition 1 (cloud-init's
// resize_rootfs grows it to the partition at the first boot). It is made once, beside the
// image's qcow2, and reused: qemu-img makes the qcow2 a raw file, e2fsck and resize2fs -M
// shrink the file system in it, and the used part goes into the archive.
func rootFSArchive(ctx context.Context, qcow2 string) (string, error) {
	if _, err := os.Stat(qcow2); err != nil {
		return "", fmt.Errorf("%w: %v", errNoRootFS, err)
	}
	out := filepath.Join(filepath.Dir(qcow2), rootFSArchiveName)
	unlock, err := flock.Lock(out + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	tools := map[string]string{}
	for name, pkg := range map[string]string{"qemu-img": "qemu-utils", "e2fsck": "e2fsprogs", "resize2fs": "e2fsprogs", "dumpe2fs": "e2fsprogs"} {
		p, err := exec.LookPath(name)
		if err != nil {
			for _, d := range []string{"/usr/sbin", "/sbin"} {
				if _, serr := os.Stat(filepath.Join(d, name)); serr == nil {
					p, err = filepath.Join(d, name), nil
				}
			}
		}
		if err != nil {
			return "", fmt.Errorf("%w: %s (apt-get install %s), to shrink the root file system the machines install", ErrMissingAsset, name, pkg)
		}
		tools[name] = p
	}
	tmp, err := os.MkdirTemp(filepath.Dir(qcow2), ".pxe-rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	raw := filepath.Join(tmp, "rootfs.raw")
	run := func(ok []int, name string, args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, tools[name], args...).CombinedOutput()
		if ee, isExit := err.(*exec.ExitError); isExit {
			for _, c := range ok {
				if ee.ExitCode() == c {
					return string(out), nil
				}
			}
		}
		if err != nil {
			return "", fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		return string(out), nil
	}
	if _, err := run(nil, "qemu-img", "convert", "-O", "raw", qcow2, raw); err != nil {
		return "", err
	}
	if _, err := run([]int{1}, "e2fsck", "-f", "-y", raw); err != nil { // 1: errors corrected
		return "", err
	}
	if _, err := run(nil, "resize2fs", "-M", raw); err != nil {
		return "", err
	}
	info, err := run(nil, "dumpe2fs", "-h", raw)
	if err != nil {
		return "", err
	}
	size, err := fsBytes(info)
	if err != nil {
		return "", err
	}

	f, err := os.CreateTemp(filepath.Dir(out), "."+rootFSArchiveName+".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	s, err := startCPIOStream(f, []string{"kisgen"}, rootFSMember)
	if err != nil {
		return "", err
	}
	src, err := os.Open(raw)
	if err != nil {
		return "", err
	}
	defer src.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, err := gzip.NewWriterLevel(bw, gzip.BestSpeed) // most of it is binaries: a higher level gains little
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(zw, io.LimitReader(src, size)); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	if err := s.finish(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Chmod(0o644); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// fsBytes reads the file system's size from dumpe2fs -h.
func fsBytes(info string) (int64, error) {
	var count, block int64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Block count":
			count = n
		case "Block size":
			block = n
		}
	}
	if count == 0 || block == 0 {
		return 0, fmt.Errorf("dumpe2fs gave no block count and size")
	}
	return count * block, nil
}
