#!/bin/sh
# Decide whether `make e2e` can run here with KVM. Exit 0 and say why when it can; exit 1
# and say why when it cannot. /dev/kvm alone is not enough: on a VM whose /dev/kvm comes
# from kvm_pvm stock kernels die with "KVM internal error", so a hardware KVM module
# (kvm_intel or kvm_amd) must be loaded, /dev/kvm must open read-write, and, when a kernel
# is at hand (the e2e image's, or the host's), a short test boot under KVM must reach the
# kernel's panic for a missing root file system. The qemu provider makes the same checks
# (and falls back to TCG), see providers/qemu/accel.go.
set -u
say() { echo "kvm-usable: $*"; }
mod=
for m in kvm_intel kvm_amd; do [ -d "/sys/module/$m" ] && mod=$m; done
if [ -z "$mod" ]; then
	why="no hardware KVM module (kvm_intel or kvm_amd) is loaded"
	[ -d /sys/module/kvm_pvm ] && why="$why; /dev/kvm comes from kvm_pvm, which cannot run stock kernels"
	say "no: $why"
	exit 1
fi
if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	say "no: $mod is loaded but /dev/kvm is not readable and writable by $(id -un)"
	exit 1
fi
kernel=
# kisgen's per-user cache, found as internal/cachedir finds it (kisgen image build puts
# the e2e image there).
cache=${KISGEN_CACHE:-}
if [ -z "$cache" ]; then
	case "${XDG_CACHE_HOME:-}" in
	/*) cache=$XDG_CACHE_HOME/kisgen ;;
	*) cache=${HOME:-}/.cache/kisgen ;;
	esac
fi
for k in "$cache/images/debian-12/vmlinuz" /boot/vmlinuz-"$(uname -r)" /boot/vmlinuz; do
	[ -r "$k" ] && { kernel=$k; break; }
done
if [ -n "$kernel" ] && command -v qemu-system-x86_64 >/dev/null; then
	out=$(timeout 60 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -no-user-config -display none \
		-serial stdio -no-reboot -kernel "$kernel" -append "console=ttyS0 panic=-1 root=/dev/kisgen-none" 2>&1)
	case "$out" in
	*"Kernel panic"* | *"Unable to mount root"*) say "yes: $mod loaded and a test boot of $kernel under KVM worked" ;;
	*)
		say "no: $mod is loaded but a test boot of $kernel under KVM failed: $(echo "$out" | tail -n 3)"
		exit 1
		;;
	esac
else
	say "yes: $mod loaded and /dev/kvm usable (no kernel or qemu yet for a test boot)"
fi
exit 0
