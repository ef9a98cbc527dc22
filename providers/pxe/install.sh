# kisgen: install this node's operating system to its disk, then reboot into it.
#
# Debian's initramfs-tools sources /scripts/$BOOT (kernel argument boot=kisgen) and calls
# mountroot: this file is that script, in an initrd of the node's iPXE install script.
# It writes to the disk that kernel argument kisgen.disk= names:
#   - kisgen/boot.img.gz, the disk's first MiB: the MBR partition table and GRUB's boot
#     sector, and GRUB's core image, which boots the kernel and initrd of partition 1
#     with the node's command line;
#   - kisgen/rootfs.img.gz, the root file system, into partition 1 (from 1 MiB on).
# Both came as initrds too. Only klibc's tools are there: sh, gunzip, dd, sync, sleep,
# reboot (no rm, no pipefail). KISGEN_ROOT and KISGEN_CMDLINE move the files and the command line for tests;
# kisgen.reboot=no leaves the machine running.

kisgen_say() {
	echo "kisgen-install: $*"
}

kisgen_reboot() {
	if [ "$kisgen_noreboot" = yes ]; then
		kisgen_say "no reboot (kisgen.reboot=no)"
		return 0
	fi
	sync
	reboot -f || reboot
}

kisgen_fail() {
	kisgen_say "FAILED: $*"
	kisgen_say "the node boots from the network again in 60 seconds and retries"
	if [ "$kisgen_noreboot" != yes ]; then
		sleep 60
	fi
	kisgen_reboot
	return 1
}

mountroot() {
	kisgen_root=${KISGEN_ROOT:-}
	kisgen_disk=
	kisgen_noreboot=
	# shellcheck disable=SC2013 # the command line's words, not its lines
	for x in $(cat "${KISGEN_CMDLINE:-/proc/cmdline}"); do
		case "$x" in
		kisgen.disk=*) kisgen_disk=${x#kisgen.disk=} ;;
		kisgen.reboot=no) kisgen_noreboot=yes ;;
		esac
	done
	if [ -z "$kisgen_disk" ]; then
		kisgen_fail "no kisgen.disk= on the kernel command line"
		return 1
	fi
	for f in boot.img.gz rootfs.img.gz; do
		if [ ! -f "$kisgen_root/kisgen/$f" ]; then
			kisgen_fail "kisgen/$f is missing: the install script hands it over as an initrd"
			return 1
		fi
	done
	# udev, started in init-top, makes the disk's node once its driver is loaded.
	n=0
	while [ ! -b "$kisgen_disk" ] && [ ! -f "$kisgen_disk" ]; do
		n=$((n + 1))
		if [ "$n" -gt 120 ]; then
			kisgen_fail "no disk $kisgen_disk after 120 seconds"
			return 1
		fi
		sleep 1
	done

	kisgen_say "writing the partition table and GRUB to $kisgen_disk"
	if ! gunzip -c "$kisgen_root/kisgen/boot.img.gz" >"$kisgen_disk"; then
		kisgen_fail "could not write $kisgen_disk"
		return 1
	fi
	# The shell has no pipefail: a failing gunzip leaves a mark instead. dd without
	# conv=notrunc cuts a file (tests) at the seek, which keeps the first MiB.
	kisgen_say "writing the root file system to partition 1 of $kisgen_disk"
	mark="$kisgen_root/kisgen/gunzip-failed.$$"
	{ gunzip -c "$kisgen_root/kisgen/rootfs.img.gz" || echo failed >"$mark"; } |
		dd of="$kisgen_disk" bs=1048576 seek=1
	status=$?
	if [ "$status" -ne 0 ] || [ -f "$mark" ]; then
		kisgen_fail "could not write the root file system to $kisgen_disk"
		return 1
	fi
	sync
	kisgen_say "installed to $kisgen_disk: rebooting; the next boot comes from the disk"
	kisgen_reboot
}
