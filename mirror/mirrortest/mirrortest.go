package mirrortest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/mirror"
	"github.com/kisgen/kisgen/roles"
)

// CalicoManifest is the stand-in calico.yaml FakeCalico writes.
const CalicoManifest = "# stand-in calico.yaml\nkind: List\n"

// FakeCalico writes a finished Calico build of version into cache (every binary a
// shell script naming itself, the manifests, node/filesystem) and the calico/node root
// file system tarball where mirror build looks for it (a merged-/usr skeleton with a
// hard link, a device node and a file the node filesystem replaces).
func FakeCalico(t testing.TB, cache, version string) {
	t.Helper()
	dir := filepath.Join(cache, "calico-"+version)
	if err := os.MkdirAll(filepath.Join(dir, binbuild.CalicoManifestsDir), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			t.Fatal(err)
		}
	}
	var sums strings.Builder
	for _, b := range binbuild.CalicoBinaries {
		data := []byte("#!/bin/sh\necho " + b.Name + "\n")
		write(b.Name, data, 0o755)
		s := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), b.Name)
	}
	write(filepath.Join(binbuild.CalicoManifestsDir, "calico.yaml"), []byte(CalicoManifest), 0o644)
	write(binbuild.CalicoNodeFilesystem, Tar(t, []Entry{
		{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/rc.local", Data: "calico-node -startup\n", Mode: 0o755},
		{Name: "etc/service/available/felix/run", Data: "exec calico-node -felix\n", Mode: 0o755},
		{Name: "sbin/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "sbin/start_runit", Data: "exec runsvdir -P /etc/service/enabled\n", Mode: 0o755},
	}), 0o644)
	write("SHA256SUMS", []byte(sums.String()), 0o644)
	fakeBird(t, cache)

	rootfs := image.RootFSPath(mirror.CalicoNodeRootFS(cache, ""))
	if err := os.WriteFile(rootfs, Tar(t, []Entry{
		{Name: "./", Type: tar.TypeDir, Mode: 0o755},
		{Name: "./bin", Type: tar.TypeSymlink, Link: "usr/bin"},
		{Name: "./dev/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "./dev/null", Type: tar.TypeChar, Mode: 0o666},
		{Name: "./etc/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "./etc/rc.local", Data: "debian's\n", Mode: 0o755},
		{Name: "./etc/service", Type: tar.TypeSymlink, Link: "runit/runsvdir/current"},
		{Name: "./usr/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/bin/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/bin/runsvdir", Data: "runit\n", Mode: 0o755},
		{Name: "./usr/sbin/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/sbin/xtables-nft-multi", Data: "iptables\n", Mode: 0o755},
		{Name: "./usr/sbin/iptables", Type: tar.TypeLink, Link: "./usr/sbin/xtables-nft-multi"},
		{Name: "./var/log/", Type: tar.TypeDir, Mode: 0o755, GID: 4},
	}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeBird writes a finished BIRD build into cache: binbuild.BirdBinaries as shell
// scripts naming themselves.
func fakeBird(t testing.TB, cache string) {
	t.Helper()
	dir := filepath.Join(cache, binbuild.BirdBuildDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var sums strings.Builder
	for _, b := range binbuild.BirdBinaries {
		data := []byte("#!/bin/sh\necho " + b + "\n")
		if err := os.WriteFile(filepath.Join(dir, b), data, 0o755); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(data)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), b)
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Entry is one tar entry for Tar.
type Entry struct {
	Name, Data, Link string
	Type             byte
	Mode             int64
	GID              int
}

// Tar packs entries (a regular file unless Type says otherwise) as an uncompressed tar.
func Tar(t testing.TB, entries []Entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.Name, Typeflag: typ, Mode: e.Mode, Linkname: e.Link, Gid: e.GID}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// busyBox stands in for BusyBox: as the real one, it runs the applet its name names
// (busybox itself lists its applets with --list-full: two here, hundreds there).
const busyBox = `#!/bin/sh
case ${0##*/} in
busybox) [ "$1" = --list-full ] && printf 'bin/sh\nusr/bin/wget\n' && exit 0 ;;
esac
echo "${0##*/}: applet not found" >&2
exit 127
`

// FakeE2ERootFS writes the root file system tarball of every e2e image where mirror
// build looks for it: a merged-/usr skeleton with passwd and group, and a stand-in
// busybox.
func FakeE2ERootFS(t testing.TB, cache string) {
	t.Helper()
	for _, comp := range []string{roles.ImageE2EAgnhost, roles.ImageE2EGlibcDNSTesting, roles.ImageE2ENginx, roles.ImageE2EBusyBox, roles.ImageE2ENonRoot} {
		rootfs := image.RootFSPath(mirror.E2EImageRootFS(comp, cache, ""))
		if err := os.WriteFile(rootfs, Tar(t, []Entry{
			{Name: "./", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./bin", Type: tar.TypeSymlink, Link: "usr/bin"},
			{Name: "./etc/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./etc/passwd", Data: "root:x:0:0:root:/root:/bin/bash\n", Mode: 0o644},
			{Name: "./etc/group", Data: "root:x:0:\n", Mode: 0o644},
			{Name: "./usr/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/bin/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./usr/bin/bash", Data: "bash\n", Mode: 0o755},
			{Name: "./usr/bin/busybox", Data: busyBox, Mode: 0o755},
		}), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
