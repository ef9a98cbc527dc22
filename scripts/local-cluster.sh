#!/usr/bin/env bash
# local-cluster.sh: kisgen's main job on one machine; the VMs get nothing from the internet.
#
#   scripts/local-cluster.sh up      host packages, plan, image, mirror, render, boot local VMs, verify
#   scripts/local-cluster.sh down    stop the VMs and the mirror, keep the files
#   scripts/local-cluster.sh deps    only install the host packages VMs need (what `up` does first)
#   scripts/local-cluster.sh render  only plan and render (what `up` falls back to when no VM can start)
#
# `make local-cluster` runs `up`. Everything that belongs to this cluster lives under
# $KISGEN_LOCAL_DIR (default .cache/local): the plan, its SSH key, the PKI state
# (generated/), the user-data (userdata/), the binaries mirror, the VM disks and the logs.
# The cluster is one etcd, one master and one worker with Calico in routed mode (BGP
# between the nodes) and CoreDNS, every image from the mirror: Calico and its BIRD are
# built from the source tarballs in $KISGEN_SOURCES (the Makefile points it at
# ../shared/src beside the checkout), CoreDNS from the Go module proxy, and the pause image
# is kisgen's own (kisgen mirror build --pause-image). Without those tarballs the cluster
# uses the bridge pod network, and says so. What does not belong to one cluster is in
# kisgen's per-user cache (~/.cache/kisgen, or $KISGEN_CACHE), shared by every checkout:
# the node image, and Kubernetes, etcd, the container runtime, CoreDNS and Calico built
# from source (about 45 minutes on 2 cores the first time, seconds after).
#
# Booting VMs needs qemu-system-x86, qemu-utils, genisoimage, mmdebstrap and e2fsprogs:
# `up` installs what is missing with scripts/install-deps.sh vm (apt-get, as root or with
# sudo that asks no password) or prints the one command to run and stops. KVM is used
# when /dev/kvm works, TCG emulation otherwise (a node then takes 5 to 12 minutes to
# install itself). Only on a machine without apt-get, where nothing can be installed, it
# renders the user-data without booting anything, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

dir=${KISGEN_LOCAL_DIR:-.cache/local}
# Absolute, so every kisgen command and the VMs' helpers see the same paths wherever
# they run.
case $dir in
/*) ;;
*) dir=$root/$dir ;;
esac
mirror_port=${KISGEN_LOCAL_MIRROR_PORT:-8089}
wait_for=${KISGEN_LOCAL_WAIT:-45m}
kisgen=$root/bin/kisgen
planfile=$dir/kismatic-cluster.yaml

say() { printf '\n==> %s\n' "$*"; }

build() {
	say "building kisgen"
	mkdir -p bin
	go build -o "$kisgen" .
}

# missing_tools prints the tools a local VM cluster needs that this machine lacks (the
# sbin directories count: mkfs.ext4 is there, off a normal user's PATH on Debian).
missing_tools() {
	local t missing=()
	for t in qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils genisoimage:genisoimage \
		mmdebstrap:mmdebstrap mkfs.ext4:e2fsprogs; do
		PATH=$PATH:/usr/sbin:/sbin command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
	done
	echo "${missing[*]:-}"
}

# vm_tools makes sure local VMs can start: it installs the missing host packages when
# this user can (scripts/install-deps.sh vm). It returns 0 when VMs can start and 3 when
# they cannot on this machine (no apt-get), and exits 1 when the user must run the
# command install-deps.sh printed.
vm_tools() {
	local missing rc=0
	missing=$(missing_tools)
	if [ -z "$missing" ]; then
		return 0
	fi
	echo "local VMs need: $missing"
	"$root/scripts/install-deps.sh" vm || rc=$?
	case $rc in
	0) ;;
	3)
		echo "No local VM can start here: $missing missing, and this machine has no apt-get to install them."
		return 3
		;;
	*)
		echo "Run that command, then \`make local-cluster\` again." >&2
		exit 1
		;;
	esac
	missing=$(missing_tools)
	if [ -n "$missing" ]; then
		echo "still missing after the install: $missing" >&2
		exit 1
	fi
}

# write_plan writes the local cluster's plan (and its SSH key) unless there is one.
# The VM cluster downloads from the loopback mirror with pinned sums; the render-only plan
# (in DIR/render) downloads from the official sites, as a real cluster would.
write_plan() {
	local file=$1 mode=$2
	mkdir -p "$(dirname "$file")"
	if [ -f "$file" ]; then
		echo "keeping the plan $file (remove it for a new one)"
		return
	fi
	local mirror=() network=(--cni calico --networking routed)
	if [ "$mode" = vms ]; then
		# Every image the cluster runs comes from the mirror (`mirror build` writes them
		# where `--image-archives cluster` lists them).
		mirror=(--mirror-url "http://10.0.2.100:$mirror_port" --image-archives cluster
			--mirror-checksums mirror/SHA256SUMS)
		if ! calico_sources; then
			network=(--cni bridge --cluster-dns=false)
		fi
	fi
	say "writing the plan $file"
	"$kisgen" plan --non-interactive -f "$file" --name local --provider qemu \
		--etcd 1 --masters 1 --workers 1 "${network[@]}" "${mirror[@]}"
}

# calico_sources says whether Calico's source tarballs are in $KISGEN_SOURCES (what
# `kisgen mirror build --sources` builds Calico from); when they are not, it says what the
# cluster does instead.
calico_sources() {
	local src=${KISGEN_SOURCES:-}
	if [ -n "$src" ] && ls "$src"/calico-v*.tar.gz >/dev/null 2>&1 && ls "$src"/calico-bird-*.tar.gz >/dev/null 2>&1; then
		return 0
	fi
	echo "NOTE: Calico's source tarballs are not in KISGEN_SOURCES (${src:-unset}): this cluster uses the bridge"
	echo "pod network without cluster DNS. Put calico-v3.32.1.tar.gz and calico-bird-*.tar.gz in a directory,"
	echo "set KISGEN_SOURCES to it and remove $planfile for a Calico cluster."
	return 1
}

render() {
	local file=$1
	"$kisgen" validate -f "$file"
	say "rendering user-data"
	"$kisgen" render -f "$file"
}

render_only() {
	local file=$dir/render/kismatic-cluster.yaml
	build
	write_plan "$file" render
	render "$file"
	echo
	echo "User-data for every node is in $dir/render/userdata/; the PKI is in $dir/render/generated/."
}

mirror_pid() { cat "$dir/mirror.pid" 2>/dev/null || true; }

start_mirror() {
	local pid
	pid=$(mirror_pid)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		return
	fi
	"$kisgen" mirror serve --dir "$dir/mirror" --listen "127.0.0.1:$mirror_port" >"$dir/mirror.log" 2>&1 &
	echo $! >"$dir/mirror.pid"
	echo "serving $dir/mirror on 127.0.0.1:$mirror_port (log: $dir/mirror.log; the VMs see it as 10.0.2.100:$mirror_port)"
}

up() {
	local rc=0
	vm_tools || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "RENDERING ONLY: no VM is booted and nothing is verified; the user-data and PKI below are what VMs would get."
		render_only
		return
	fi
	build
	write_plan "$planfile" vms
	say "building the Debian 12 node image (kept in kisgen's per-user cache after the first build)"
	"$kisgen" image build --os debian-12
	say "building the binaries mirror from the Go module proxy (built once into kisgen's per-user cache)"
	# What mirror build compiles with (runc links libseccomp statically): installed, or the
	# one command to run is printed and the script stops.
	"$root/scripts/install-deps.sh" build || [ $? = 3 ] || exit 1
	local sources=()
	if [ -n "${KISGEN_SOURCES:-}" ]; then
		sources=(--sources "$KISGEN_SOURCES")
	fi
	"$kisgen" mirror build -f "$planfile" --out "$dir/mirror" --pause-image "${sources[@]}"
	start_mirror
	render "$planfile"
	say "booting the VMs"
	"$kisgen" provision qemu -f "$planfile"
	say "waiting until every node has installed itself (up to $wait_for)"
	"$kisgen" verify -f "$planfile" --wait "$wait_for"
	echo
	echo "The cluster is up. Stop it with: scripts/local-cluster.sh down"
}

down() {
	if [ -f "$planfile" ]; then
		"$kisgen" provision qemu -f "$planfile" --destroy --yes
	fi
	local pid
	pid=$(mirror_pid)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
	fi
	rm -f "$dir/mirror.pid"
}

case "${1:-up}" in
up) up ;;
down) down ;;
deps)
	rc=0
	vm_tools || rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "local VMs can start here"
	fi
	exit "$rc"
	;;
render) render_only ;;
*)
	echo "usage: $0 up|down|deps|render" >&2
	exit 2
	;;
esac
