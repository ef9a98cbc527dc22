package pxe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The layout kisgen installs on a machine's disk: an MBR partition table with GRUB's boot
// sector, GRUB's core image in the sectors after it, and the image's root file system in
// partition 1 from 1 MiB on. The machine then boots from its disk, without the network:
// GRUB loads the kernel and initrd from the root file system. BIOS firmware only: the
// disk has no EFI system partition.
const (
	sectorSize = 512
	// partStart is partition 1's first sector: 1 MiB in, what every partitioning tool
	// leaves for the boot loader.
	partStart = 2048
	// headerSize is what the installer writes before the root file system.
	headerSize = partStart * sectorSize
	// DefaultDiskGB is the size of partition 1 for a group without machine.disk_gb.
	DefaultDiskGB = 20
	// DefaultGrubDir holds GRUB's BIOS images and modules (Debian's grub-pc-bin).
	DefaultGrubDir = "/usr/lib/grub/i386-pc"
)

// Offsets in GRUB's BIOS boot sector (grub-core/boot/i386/pc/boot.S; what grub-bios-setup
// patches, util/setup.c).
const (
	grubKernelSector = 0x5c  // 8 bytes: the sector of core.img's first (diskboot) sector
	grubBootDrive    = 0x64  // 1 byte: 0xff, the drive the BIOS booted from
	grubDriveCheck   = 0x66  // 2 bytes: a jump that nop-nop disables for hard disks
	mbrSignature     = 0x1b8 // 4 bytes: the disk signature (PARTUUID is SIGNATURE-01)
	mbrPartitions    = 0x1be
)

// grubModules are what GRUB needs in its core image to boot Linux from an ext4 partition
// of an MBR disk through the BIOS; grub-mkimage adds what they depend on.
var grubModules = []string{"biosdisk", "part_msdos", "ext2", "linux", "boot"}

// diskSignature is the node's MBR disk signature, from the cluster and host: stable, so
// that the same plan gives the same bundle, and what the kernel's root=PARTUUID= names.
func diskSignature(cluster, host string) uint32 {
	sum := sha256.Sum256([]byte("kisgen disk " + cluster + "/" + host))
	if s := binary.LittleEndian.Uint32(sum[:4]); s != 0 {
		return s
	}
	return 1 // 0 means "no signature"
}

// grubConfig is the configuration embedded in a node's GRUB core image: it boots the
// kernel and initrd of the root file system with the node's command line. It runs in
// GRUB's rescue parser (no normal mode, no modules loaded from the disk), hence commands
// only; the argument holding ";" is quoted.
func grubConfig(sig uint32, args []string) string {
	var b strings.Builder
	b.WriteString("set root=(hd0,msdos1)\nlinux /vmlinuz")
	fmt.Fprintf(&b, " root=PARTUUID=%08x-01 rw", sig)
	for _, a := range args {
		if strings.ContainsAny(a, ";\"' \\$") {
			a = "'" + a + "'"
		}
		b.WriteString(" " + a)
	}
	b.WriteString("\ninitrd /initrd.img\nboot\n")
	return b.String()
}

// grubCore makes GRUB's core image with cfg embedded, by grub-mkimage.
func grubCore(ctx context.Context, grubDir, cfg string) ([]byte, error) {
	tool, err := exec.LookPath("grub-mkimage")
	if err != nil {
		return nil, fmt.Errorf("%w: grub-mkimage (apt-get install grub-common grub-pc-bin), which makes the disks kisgen installs bootable: %v", ErrMissingAsset, err)
	}
	dir, err := os.MkdirTemp("", "kisgen-grub-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "embed.cfg"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	core := filepath.Join(dir, "core.img")
	args := append([]string{"-O", "i386-pc", "-d", grubDir, "-o", core, "-c", filepath.Join(dir, "embed.cfg"), "-p", "(hd0,msdos1)/boot/grub"}, grubModules...)
	if out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("grub-mkimage: %v: %s", err, bytes.TrimSpace(out))
	}
	return os.ReadFile(core)
}

// bootHeader is the first MiB of a node's disk: GRUB's boot sector with an MBR partition
// table (partition 1 from partStart, partSectors long, bootable, Linux) and the disk
// signature, then the core image from sector 1, then zeros. It is what grub-bios-setup
// writes when it embeds core.img after the MBR: the boot sector learns where core.img is
// (sector 1) and to use the BIOS's boot drive, and core.img's first sector (diskboot)
// learns where the rest of it is (sectors 2 on, loaded at segment 0x820).
func bootHeader(grubDir string, core []byte, sig uint32, partSectors uint64) ([]byte, error) {
	boot, err := os.ReadFile(filepath.Join(grubDir, "boot.img"))
	if err != nil {
		return nil, fmt.Errorf("%w: GRUB's boot sector: %v (apt-get install grub-pc-bin)", ErrMissingAsset, err)
	}
	if len(boot) != sectorSize || boot[510] != 0x55 || boot[511] != 0xaa {
		return nil, fmt.Errorf("%s is not a boot sector", filepath.Join(grubDir, "boot.img"))
	}
	nsec := (len(core) + sectorSize - 1) / sectorSize
	if nsec < 2 || 1+nsec > partStart {
		return nil, fmt.Errorf("GRUB's core image is %d bytes: it must fit the %d sectors before partition 1", len(core), partStart-1)
	}
	if partSectors > 0xFFFFFFFF {
		return nil, fmt.Errorf("partition of %d sectors: an MBR partition holds at most 2 TiB", partSectors)
	}
	h := make([]byte, headerSize)
	copy(h, boot)
	binary.LittleEndian.PutUint64(h[grubKernelSector:], 1)
	h[grubBootDrive] = 0xff
	h[grubDriveCheck], h[grubDriveCheck+1] = 0x90, 0x90
	binary.LittleEndian.PutUint32(h[mbrSignature:], sig)
	h[mbrSignature+4], h[mbrSignature+5] = 0, 0
	for i := mbrPartitions; i < 0x1fe; i++ {
		h[i] = 0
	}
	p := h[mbrPartitions:]
	p[0] = 0x80                            // bootable
	copy(p[1:4], []byte{0xfe, 0xff, 0xff}) // CHS: beyond reach, use the LBA fields
	p[4] = 0x83                            // Linux
	copy(p[5:8], []byte{0xfe, 0xff, 0xff})
	binary.LittleEndian.PutUint32(p[8:], partStart)
	binary.LittleEndian.PutUint32(p[12:], uint32(partSectors))
	h[0x1fe], h[0x1ff] = 0x55, 0xaa

	c := h[sectorSize : sectorSize+nsec*sectorSize]
	copy(c, core)
	// diskboot's block list, from the end of its sector backwards: the rest of core.img
	// is nsec-1 sectors from sector 2; the entry before it, zero, ends the list.
	bl := c[sectorSize-12:]
	binary.LittleEndian.PutUint64(bl[0:], 2)
	binary.LittleEndian.PutUint16(bl[8:], uint16(nsec-1))
	binary.LittleEndian.PutUint16(bl[10:], 0x820)
	for i := sectorSize - 24; i < sectorSize-12; i++ {
		c[i] = 0
	}
	return h, nil
}

// partitionSectors is partition 1's size for a disk of gb GiB.
func partitionSectors(gb int) uint64 {
	if gb <= 0 {
		gb = DefaultDiskGB
	}
	return uint64(gb)<<30/sectorSize - partStart
}

// errNoRootFS is returned by rootFSArchive for an image without a root file system.
var errNoRootFS = errors.New("no root file system")
