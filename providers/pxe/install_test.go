package pxe

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
)

// The PXE install runs here with real tools against files standing in for disks: GRUB's
// own grub-mkimage makes the core image and grub-fstest reads the installed disk the way
// GRUB does at boot (partition table, ext4, the kernel's symlink); e2fsprogs, qemu-img and
// sfdisk check the file system and the partition table; the installer script runs under
// the system's sh. The e2e tier boots it (TestNetworkBootInstallsToABlankDisk).

func grubDir(t *testing.T) string {
	t.Helper()
	testtool.Require(t, "grub-mkimage", "grub-common")
	if _, err := os.Stat(filepath.Join(DefaultGrubDir, "boot.img")); err != nil {
		testtool.Missing(t, "GRUB's BIOS images are not installed (apt-get install grub-pc-bin): "+err.Error())
	}
	return DefaultGrubDir
}

// rootFS makes an ext4 file system image of mb MiB holding what the installed disk's GRUB
// needs (/vmlinuz and /initrd.img, symlinks into /boot, as on Debian) and a marker.
func rootFS(t *testing.T, mb int) string {
	t.Helper()
	mkfs := testtool.Require(t, "mkfs.ext4", "e2fsprogs")
	src := t.TempDir()
	for name, content := range map[string]string{
		"boot/vmlinuz-6.1.0-kisgen": "a kernel", "boot/initrd.img-6.1.0-kisgen": "an initrd", "etc/kisgen-marker": "installed by kisgen\n",
	} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"vmlinuz": "boot/vmlinuz-6.1.0-kisgen", "initrd.img": "boot/initrd.img-6.1.0-kisgen"} {
		if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "rootfs.raw")
	if out, err := exec.Command(mkfs, "-q", "-F", "-L", "root", "-E", "lazy_itable_init=1,lazy_journal_init=1", "-d", src, img, fmt.Sprintf("%dM", mb)).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	return img
}

// imageDir makes an image directory as `kisgen image build` does, its root file system
// in qcow2.
func imageDir(t *testing.T, osName string) string {
	t.Helper()
	qemuImg := testtool.Require(t, "qemu-img", "qemu-utils")
	dir := filepath.Join(t.TempDir(), osName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemuImg, "convert", "-O", "qcow2", rootFS(t, 64), filepath.Join(dir, image.RootFSFile)).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	for f, content := range map[string]string{image.KernelFile: "kernel of " + osName, image.InitrdFile: "initrd of " + osName, image.BuildIDFile: osName + "-0123456789abcdef\n"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cpioFiles reads a newc cpio archive: name -> content (directories too, empty).
func cpioFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for len(b) >= 110 {
		if string(b[:6]) != "070701" {
			t.Fatalf("not a newc header: %q", b[:6])
		}
		var size, nameSize int64
		fmt.Sscanf(string(b[54:62]), "%08X", &size)
		fmt.Sscanf(string(b[94:102]), "%08X", &nameSize)
		name := string(b[110 : 110+nameSize-1])
		at := 110 + nameSize
		at += pad4(at)
		if name == "TRAILER!!!" {
			return out
		}
		out[name] = b[at : at+size]
		at += size
		at += pad4(at)
		b = b[at:]
	}
	t.Fatal("no trailer")
	return nil
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// installPlan is the example plan with every node on debian-12 (an os with an image
// kisgen can install), etcd1's group given a 4 GiB disk.
func installPlan(t *testing.T) *plan.Plan {
	t.Helper()
	return examplePlanWith(t, "  machine: {disk_gb: 4}\n")
}

func installOptions(t *testing.T) Options {
	t.Helper()
	opts := assets(t)
	opts.NoInstall, opts.GrubDir = false, grubDir(t)
	opts.Images = map[string]string{"debian-12": imageDir(t, "debian-12")}
	return opts
}

// TestInstallBundleHoldsTheInstallerAndEachNodesDisk: a node of an os with a root file
// system gets an install script (the kernel, the installer, its boot header and the root
// file system as initrds, boot=kisgen and its disk), and its MAC's script boots its disk
// first; the bundle is the same twice.
func TestInstallBundleHoldsTheInstallerAndEachNodesDisk(t *testing.T) {
	p := installPlan(t)
	opts := installOptions(t)
	res, err := Build(p, machinesOf(p), opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := res.Dir
	wantInstall := `#!ipxe
# kisgen: install node worker1 (worker) of cluster rack1 to its disk /dev/sda:
# debian-12's root file system and GRUB, then a reboot; the next boots come from the disk.
echo kisgen: installing worker1 to /dev/sda
kernel http://10.20.0.2:8080/assets/debian-12/vmlinuz initrd=initrd.img initrd=install.cpio initrd=worker1.cpio initrd=rootfs.cpio boot=kisgen kisgen.disk=/dev/sda console=tty0 console=ttyS0,115200n8
initrd http://10.20.0.2:8080/assets/debian-12/initrd.img
initrd http://10.20.0.2:8080/assets/install.cpio
initrd http://10.20.0.2:8080/assets/boot/worker1.cpio
initrd http://10.20.0.2:8080/assets/debian-12/rootfs.cpio
boot
`
	if got := read(t, dir, "ipxe/install/worker1.ipxe"); got != wantInstall {
		t.Errorf("install script:\n%s\nwant:\n%s", got, wantInstall)
	}
	disk := read(t, dir, "ipxe/0c-c4-7a-10-20-31.ipxe")
	for _, s := range []string{"sanboot --no-describe --drive 0x80 || goto install", "chain http://10.20.0.2:8080/ipxe/install/worker1.ipxe"} {
		if !strings.Contains(disk, s) {
			t.Errorf("worker1's script lacks %q:\n%s", s, disk)
		}
	}
	if read(t, dir, "ipxe/host/worker1.ipxe") != disk {
		t.Error("the per-host script differs from the per-MAC one")
	}
	installer := cpioFiles(t, []byte(read(t, dir, "assets/install.cpio")))
	if !bytes.Equal(installer["scripts/kisgen"], installerScript) {
		t.Errorf("install.cpio holds %v", installer)
	}
	rootfs := cpioFiles(t, []byte(read(t, dir, "assets/debian-12/rootfs.cpio")))
	if len(rootfs[rootFSMember]) == 0 {
		t.Errorf("rootfs.cpio holds %d entries, no %s", len(rootfs), rootFSMember)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Nodes {
		if !n.Install || n.InstallScript != "ipxe/install/"+n.Host+".ipxe" || n.OS != "debian-12" {
			t.Errorf("manifest node %+v", n)
		}
		boot := cpioFiles(t, []byte(read(t, dir, "assets/boot/"+n.Host+".cpio")))
		h := gunzip(t, boot["kisgen/boot.img.gz"])
		if len(h) != headerSize || binary.LittleEndian.Uint32(h[mbrSignature:]) != diskSignature("rack1", n.Host) {
			t.Errorf("%s: boot header of %d bytes, signature %08x", n.Host, len(h), binary.LittleEndian.Uint32(h[mbrSignature:]))
		}
	}
	var again bytes.Buffer
	var first bytes.Buffer
	if err := WriteTarGz(&first, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(p, machinesOf(p), opts); err != nil {
		t.Fatal(err)
	}
	if err := WriteTarGz(&again, dir); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), again.Bytes()) {
		t.Error("two builds of the same plan give different bundles")
	}
}

// TestInstallerWritesABootableDisk runs the installer as the initramfs would (mountroot,
// under sh) with a file for the blank disk, then reads the disk back: sfdisk sees one
// bootable Linux partition from 1 MiB with the node's disk signature, e2fsck a clean file
// system there, GRUB (grub-fstest) the kernel and initrd through their symlinks, and the
// boot sector and core image are where GRUB's boot code looks for them.
func TestInstallerWritesABootableDisk(t *testing.T) {
	sh := testtool.Require(t, "sh", "dash")
	sfdisk := testtool.Require(t, "sfdisk", "fdisk")
	fstest := testtool.Require(t, "grub-fstest", "grub-common")
	e2fsck := testtool.Require(t, "e2fsck", "e2fsprogs")
	grub := grubDir(t)
	p := installPlan(t)
	n := p.Node("etcd1") // disk_gb: 4
	ms := machinesOf(p)
	cfg := grubConfig(diskSignature(p.Name, n.Host), nodeArgs("http://10.20.0.2:8080", InstanceID(p.Name, n.Host), ms[0], Options{KernelArgs: DefaultKernelArgs}))
	core, err := grubCore(context.Background(), grub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := bootHeader(grub, core, diskSignature(p.Name, n.Host), partitionSectors(n.Group.Machine.DiskGB))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := os.ReadFile(rootFS(t, 32))
	if err != nil {
		t.Fatal(err)
	}
	// The initramfs: what the install script's initrds unpack.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "kisgen"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"kisgen/boot.img.gz": gzipBytes(h), "kisgen/rootfs.img.gz": gzipBytes(fs), "scripts/kisgen": installerScript} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 4<<30); err != nil { // a blank 4 GiB disk (sparse)
		t.Fatal(err)
	}
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(cmdline, []byte("boot=kisgen kisgen.disk="+disk+" kisgen.reboot=no console=ttyS0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		// reboot is a shell function here: the installer must never reboot this machine.
		c := exec.Command(sh, "-c", `reboot() { echo "kisgen-test: reboot called"; }; . "$KISGEN_ROOT/scripts/kisgen"; mountroot`)
		c.Env = append(os.Environ(), "KISGEN_ROOT="+root, "KISGEN_CMDLINE="+cmdline)
		out, err := c.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "installed to "+disk) || strings.Contains(out, "reboot called") {
		t.Fatalf("installer: %v\n%s", err, out)
	}

	dump, err := exec.Command(sfdisk, "--dump", disk).CombinedOutput()
	if err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, dump)
	}
	for _, want := range []string{"label: dos", fmt.Sprintf("label-id: 0x%08x", diskSignature(p.Name, n.Host)),
		fmt.Sprintf("%s1 : start=        2048, size=     %d, type=83, bootable", disk, partitionSectors(4))} {
		if !strings.Contains(string(dump), want) {
			t.Errorf("sfdisk --dump lacks %q:\n%s", want, dump)
		}
	}
	img, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "partition1")
	if err := os.WriteFile(part, img[headerSize:headerSize+len(fs)], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(e2fsck, "-f", "-n", part).CombinedOutput(); err != nil {
		t.Errorf("e2fsck: %v\n%s", err, out)
	}
	for file, want := range map[string]string{"/vmlinuz": "a kernel", "/initrd.img": "an initrd", "/etc/kisgen-marker": "installed by kisgen\n"} {
		// grub-fstest calls its image loop0; at boot it is hd0, what the core image names.
		got, err := exec.Command(fstest, disk, "cat", "(loop0,msdos1)"+file).CombinedOutput()
		if err != nil || string(got) != want {
			t.Errorf("GRUB reads (loop0,msdos1)%s as %q (%v), want %q", file, got, err, want)
		}
	}
	// The boot sector finds core.img at sector 1; diskboot the rest of it from sector 2.
	if s := binary.LittleEndian.Uint64(img[grubKernelSector:]); s != 1 || img[grubBootDrive] != 0xff || img[510] != 0x55 || img[511] != 0xaa {
		t.Errorf("boot sector: kernel sector %d, drive %#x, signature %x", s, img[grubBootDrive], img[510:512])
	}
	nsec := (len(core) + 511) / 512
	bl := img[2*sectorSize-12 : 2*sectorSize]
	if binary.LittleEndian.Uint64(bl) != 2 || int(binary.LittleEndian.Uint16(bl[8:])) != nsec-1 || binary.LittleEndian.Uint16(bl[10:]) != 0x820 {
		t.Errorf("diskboot block list %x, want sector 2, %d sectors, segment 0x820", bl, nsec-1)
	}
	if !bytes.Equal(img[2*sectorSize:sectorSize+len(core)], core[sectorSize:]) {
		t.Error("the core image is not at sector 1")
	}

	// A broken root file system: the installer says so and does not claim success.
	if err := os.WriteFile(filepath.Join(root, "kisgen/rootfs.img.gz"), gzipBytes(fs)[:1000], 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = run()
	if !strings.Contains(out, "FAILED: could not write the root file system") || strings.Contains(out, "installed to") {
		t.Errorf("a truncated root file system:\n%s", out)
	}
}

// TestRootFSArchiveIsTheShrunkFileSystem: the root file system the machines install is
// the image's, shrunk to its contents (cloud-init grows it to the partition), intact.
func TestRootFSArchiveIsTheShrunkFileSystem(t *testing.T) {
	e2fsck := testtool.Require(t, "e2fsck", "e2fsprogs")
	debugfs := testtool.Require(t, "debugfs", "e2fsprogs")
	dir := imageDir(t, "debian-12") // a 64 MiB file system
	path, err := rootFSArchive(context.Background(), filepath.Join(dir, image.RootFSFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := gunzip(t, cpioFiles(t, b)[rootFSMember])
	if len(fs) == 0 || len(fs) >= 64<<20 {
		t.Fatalf("file system of %d bytes, want shrunk below 64 MiB", len(fs))
	}
	raw := filepath.Join(t.TempDir(), "fs")
	if err := os.WriteFile(raw, fs, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(e2fsck, "-f", "-n", raw).CombinedOutput(); err != nil {
		t.Errorf("e2fsck: %v\n%s", err, out)
	}
	if out, err := exec.Command(debugfs, "-R", "cat /etc/kisgen-marker", raw).Output(); err != nil || string(out) != "installed by kisgen\n" {
		t.Errorf("the marker reads %q (%v)", out, err)
	}
	// Made once: the second call reuses it.
	st, _ := os.Stat(path)
	again, err := rootFSArchive(context.Background(), filepath.Join(dir, image.RootFSFile))
	if st2, _ := os.Stat(again); err != nil || again != path || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("second call: %s %v", again, err)
	}
}

// TestServerTellsANewMachineFromAnInstalledOne: the first boot script a machine gets is
// its install, whatever its disk holds; once handed, the machine boots from its disk; a
// machine that fetched its user-data after that is recorded installed.
func TestServerTellsANewMachineFromAnInstalledOne(t *testing.T) {
	p := installPlan(t)
	res, err := Build(p, machinesOf(p), installOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	installs := t.TempDir()
	var log bytes.Buffer
	h, err := Handler(res.Dir, ServeOptions{Installs: installs, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, from string) string {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = from + ":40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Body.String())
		}
		return w.Body.String()
	}
	script := "/ipxe/0c-c4-7a-10-20-31.ipxe"
	if got := get(script, "10.20.0.31"); got != read(t, res.Dir, "ipxe/install/worker1.ipxe") {
		t.Errorf("a new machine's first script:\n%s", got)
	}
	recs, err := ReadInstalls(installs)
	if err != nil || recs["0c:c4:7a:10:20:31"].State != StateInstalling || recs["0c:c4:7a:10:20:31"].Host != "worker1" {
		t.Fatalf("records after the install was handed: %+v %v", recs, err)
	}
	if got := get(script, "10.20.0.31"); got != read(t, res.Dir, "ipxe/0c-c4-7a-10-20-31.ipxe") || !strings.Contains(got, "sanboot") {
		t.Errorf("the installing machine's next script:\n%s", got)
	}
	get("/nocloud/worker1/user-data", "10.20.0.31") // its first boot from the disk
	recs, _ = ReadInstalls(installs)
	if recs["0c:c4:7a:10:20:31"].State != StateInstalled {
		t.Errorf("after its first boot from disk: %+v", recs["0c:c4:7a:10:20:31"])
	}
	for _, s := range []string{"pxe: worker1 is new: it installs its image to its disk", "pxe: worker1 is known (installing since", "pxe: worker1 installed: its first boot from its disk fetched its user-data"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, log.String())
		}
	}
	// Another machine is still new.
	if got := get("/ipxe/0c-c4-7a-10-20-32.ipxe", "10.20.0.32"); !strings.Contains(got, "boot=kisgen") {
		t.Errorf("worker2's first script:\n%s", got)
	}
}

func TestInstallerPassesShellcheck(t *testing.T) {
	sc := testtool.Require(t, "shellcheck", "shellcheck")
	// klibc's sh, which runs it, is a dash.
	if out, err := exec.Command(sc, "-s", "dash", "install.sh").CombinedOutput(); err != nil {
		t.Errorf("shellcheck install.sh: %v\n%s", err, out)
	}
}
