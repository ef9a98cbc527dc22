// Package image bakes the local VM images the qemu provider boots: a Debian root file
// system made by mmdebstrap from Debian's packages, customised by the embedded bake script
// (bake.sh, the same script the Packer templates run on a live machine), written into an
// ext4 file system with `mkfs.ext4 -d` and converted to qcow2. No loop device, mount or
// bootloader is needed: VMs boot the kernel and initrd directly. Builds are cached by
// content (bake script, package list, operating system, size and apt mirror).
package image
