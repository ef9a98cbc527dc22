package pxe

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/providers"
)

// installerScript is /scripts/kisgen in the installer's initrd (see install.sh).
//
//go:embed install.sh
var installerScript []byte

// osAssets are what the nodes of one operating system boot from the bundle.
type osAssets struct {
	os             string
	kernel, initrd string
	// rootfs is the image's root file system (qcow2) to install, "" when there is none;
	// archive its cpio for the installer's initramfs, once made.
	rootfs, archive string
}

// resolveAssets finds each operating system's kernel, initrd and root file system: the
// image directory Options.Images names for it, or Kernel and Initrd for a plan of one
// operating system. What is missing is an error naming the os and the command to run.
func resolveAssets(machines []providers.Machine, opts Options) (map[string]*osAssets, []error) {
	out := map[string]*osAssets{}
	for _, m := range machines {
		if name := m.Node.Group.OS; out[name] == nil {
			out[name] = &osAssets{os: name}
		}
	}
	var errs []error
	if (opts.Kernel != "" || opts.Initrd != "") && len(out) > 1 {
		oses := make([]string, 0, len(out))
		for o := range out {
			oses = append(oses, o)
		}
		sort.Strings(oses)
		return out, []error{fmt.Errorf("%w: the plan's nodes run %s: one kernel and initrd (`kisgen bundle pxe --kernel` and `kisgen bundle pxe --initrd`) cannot boot them all; leave them out to use each os's image, or give each with `kisgen bundle pxe --image OS=DIR`",
			providers.ErrSetting, strings.Join(oses, " and "))}
	}
	for _, a := range sortedAssets(out) {
		dir := opts.Images[a.os]
		a.kernel, a.initrd = opts.Kernel, opts.Initrd
		if a.kernel == "" && dir != "" {
			a.kernel = filepath.Join(dir, image.KernelFile)
		}
		if a.initrd == "" && dir != "" {
			a.initrd = filepath.Join(dir, image.InitrdFile)
		}
		if dir != "" && !opts.NoInstall {
			if img, err := image.Find(dir); err == nil {
				a.rootfs = img.RootFS
			}
		}
		// The hint names the command with the flag: `kisgen provision pxe` has none.
		for _, f := range []struct{ what, path, flag string }{
			{"kernel", a.kernel, "`kisgen bundle pxe --kernel`"}, {"initrd", a.initrd, "`kisgen bundle pxe --initrd`"},
		} {
			if f.path == "" {
				errs = append(errs, fmt.Errorf("%w: no %s for %s: build its image with `kisgen image build --os %s`, or give one with `kisgen bundle pxe --image %s=DIR`", ErrMissingAsset, f.what, a.os, a.os, a.os))
				continue
			}
			if fi, err := os.Stat(f.path); err != nil || !fi.Mode().IsRegular() {
				errs = append(errs, fmt.Errorf("%w: the %s of %s %q: build its image with `kisgen image build --os %s`, or point `kisgen bundle pxe --image %s=DIR` (or %s) at one", ErrMissingAsset, f.what, a.os, f.path, a.os, a.os, f.flag))
			}
		}
	}
	return out, errs
}

func sortedAssets(m map[string]*osAssets) []*osAssets {
	out := make([]*osAssets, 0, len(m))
	for _, a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *osAssets) int { return strings.Compare(a.os, b.os) })
	return out
}

// ImagesFor is each of the machines' operating systems' image directory in the per-user
// cache (cache, or the default): where `kisgen image build --os OS` publishes.
func ImagesFor(machines []providers.Machine, cache string) (map[string]string, error) {
	images, err := cachedir.Images(cache)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range machines {
		out[m.Node.Group.OS] = filepath.Join(images, m.Node.Group.OS)
	}
	return out, nil
}

// gzipBytes compresses b deterministically (no name, no time in the header).
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}
