#!/usr/bin/env bash
# install-deps.sh: the host packages kisgen's tests and local VMs use, in one list, and
# the one way they are installed. `make test`, `make local-cluster` and .ci/run call it.
#
#   scripts/install-deps.sh test          what `make test` runs for real (validators, sshd…)
#   scripts/install-deps.sh vm            what booting local VMs needs (make local-cluster)
#   scripts/install-deps.sh build         what `kisgen mirror build` compiles with (runc's
#                                         static libseccomp, BIRD's autotools, bison, flex)
#   scripts/install-deps.sh e2e           vm, and what `make e2e` adds (iPXE ROMs, socat, build)
#   scripts/install-deps.sh --list SET…   print the packages, one a line, and exit
#
# Only missing packages are installed (dpkg-query says which), with apt-get, as root or
# through sudo when it needs no password (sudo -n true). Exit status:
#   0  everything is installed (now or before)
#   1  packages are missing and this user cannot install them: the one command to run
#      is printed
#   3  this machine has no apt-get/dpkg: nothing can be checked or installed here; the
#      missing tools are the caller's to judge (tests skip what they cannot run)
# KISGEN_NO_INSTALL=1 reports what is missing (exit 1) without installing anything.
set -euo pipefail

# What the tests run for real:
#   make                        the test entry point
#   openssh-client              ssh-keygen and ssh, to check keys the way users will
#   openssh-server              sshd on loopback for the SSH verification tests
#   openssl                     certificate checks with an independent implementation
#   cloud-init                  `cloud-init schema` validates rendered user-data; the vSphere
#                               test runs cloud-init's own guestinfo reader
#   systemd                     `systemd-analyze verify` checks rendered units
#   ignition                    Ignition's own validator and its files stage apply rendered configs
#   bash zsh fish               each parses its `kisgen completion` script
#   curl iproute2 python3       the node bootstrap script and the EC2 stubs run for real
#   the shellcheck linter       checks the bootstrap, image and repository scripts
#   dnsmasq-base                `dnsmasq --test` checks the PXE bundle's configurations
#   packer                      `packer validate` checks the templates `kisgen packer` writes
#   ca-certificates sudo        HTTPS to the module proxy; the Ignition apply test's root step
#   groff-base                  formats the man pages `kisgen docs man` writes
#   grub-common grub-pc-bin     grub-mkimage and GRUB's BIOS images for the disks the PXE
#                               install writes; grub-fstest reads them back as GRUB does
#   e2fsprogs qemu-utils fdisk  the PXE install's root file system (qemu-img, resize2fs),
#                               checked with e2fsck and sfdisk
#   haproxy keepalived          haproxy -c and keepalived --config-test check the virtual
#                               IP's configurations
test_packages=(make openssh-client openssh-server openssl cloud-init systemd ignition bash zsh fish
	curl iproute2 python3 shellcheck dnsmasq-base packer ca-certificates sudo groff-base
	grub-common grub-pc-bin e2fsprogs qemu-utils fdisk haproxy keepalived)
# `kisgen mirror build`: runc is linked statically with seccomp (cgo: libseccomp's static
# library, found through pkg-config); Calico's BIRD is built with autotools, bison and flex.
build_packages=(pkg-config libseccomp-dev autoconf automake bison flex libreadline-dev)
# Local VMs: qemu, the node image (mmdebstrap, mkfs.ext4 -d, qemu-img) and its seed ISO.
vm_packages=(qemu-system-x86 qemu-utils genisoimage mmdebstrap e2fsprogs)
# `make e2e` also boots through iPXE (its ROMs) and talks to a VM's serial line (socat).
e2e_packages=("${vm_packages[@]}" ipxe-qemu socat "${build_packages[@]}")

list=""
if [ "${1:-}" = --list ]; then
	list=1
	shift
fi
if [ $# -eq 0 ]; then
	echo "usage: $0 [--list] test|vm|build|e2e..." >&2
	exit 2
fi
wanted=()
for set in "$@"; do
	case "$set" in
	test) wanted+=("${test_packages[@]}") ;;
	vm) wanted+=("${vm_packages[@]}") ;;
	build) wanted+=("${build_packages[@]}") ;;
	e2e) wanted+=("${e2e_packages[@]}") ;;
	*)
		echo "install-deps.sh: unknown set $set (test, vm, e2e)" >&2
		exit 2
		;;
	esac
done

# One of each, in the order given.
mapfile -t wanted < <(printf '%s\n' "${wanted[@]}" | awk '!seen[$0]++')
if [ -n "$list" ]; then
	printf '%s\n' "${wanted[@]}"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
	echo "install-deps.sh: no apt-get here: cannot check or install the packages for $* (Debian/Ubuntu names: ${wanted[*]})" >&2
	exit 3
fi

# One dpkg-query for all: "ii  NAME" for each installed package.
installed=" $(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${wanted[@]}" 2>/dev/null | awk '$1 == "ii" { printf "%s ", $2 }' || true)"
missing=()
for p in "${wanted[@]}"; do
	[[ $installed == *" $p "* ]] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

install=(apt-get install -y -q --no-install-recommends "${missing[@]}")
if [ -z "${KISGEN_NO_INSTALL:-}" ]; then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			sudo=(none)
		fi
	fi
	if [ "${sudo[*]:-}" != none ]; then
		echo "install-deps.sh: installing ${missing[*]}" >&2
		export DEBIAN_FRONTEND=noninteractive
		"${sudo[@]}" apt-get update -q >&2
		"${sudo[@]}" "${install[@]}" >&2
		exit 0
	fi
fi
echo "install-deps.sh: missing ${missing[*]} (for $*), and this user cannot install them. Run:" >&2
echo "  sudo ${install[*]}" >&2
exit 1
