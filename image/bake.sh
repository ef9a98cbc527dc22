#!/bin/sh
# kisgen bake script: turns a Debian (or, on a running machine, Ubuntu) system into a kisgen
# node image.
#
# One script for every way kisgen makes images:
#   bake.sh --root DIR    customise an installed root in DIR (mmdebstrap customize step of
#                         `kisgen image build`); its packages are already installed.
#   bake.sh               customise the running machine (Packer provisioner): installs the
#                         packages with apt-get first.
#   bake.sh --packages    print the package list (comma-separated) and exit.
#
# Environment:
#   KISGEN_OS           operating system slug recorded in the manifest (default debian-12);
#                       ubuntu-* keeps the machine's kernel (Ubuntu is baked on a running machine)
#   KISGEN_DATASOURCES  cloud-init datasource_list, e.g. "NoCloud, None" (default: leave as is)
#
# Pinned binaries and image archives (set by the Packer templates `kisgen packer` writes;
# without them the image holds only the distribution's packages):
#   KISGEN_MIRROR_URL     base URL that the relative paths below are fetched from
#   KISGEN_BINARIES       space-separated NAME|VERSION|KIND|PATH|SHA256|SUMS|PROVIDES|DEST:
#                         KIND file (PATH is the executable, PROVIDES its name), tar (a
#                         .tar.gz, PROVIDES comma-separated MEMBER=NAME pairs) or dirtar (a
#                         .tgz of executables extracted into DEST, PROVIDES the ones that
#                         must be there: the CNI plugins); SHA256 is the pinned sum, or - to
#                         read it from SUMS (the site's sums file, a bare digest or "SUM  FILE"
#                         lines); the executables are installed into DEST and recorded in the
#                         manifest at VERSION with their sha256 (a dirtar as one NAME entry
#                         whose path is DEST).
#   KISGEN_IMAGE_ARCHIVES space-separated PATH|SHA256: container image archives, checked,
#                         kept under /var/lib/kisgen/images, imported into containerd's
#                         k8s.io namespace when containerd runs here (not with --root), and
#                         recorded in the manifest as image-archive:PATH.
#   KISGEN_FILES          a tar of kisgen's node files that read no plan (its scripts and add-on
#                         bases: roles.ImageFiles; `kisgen packer` uploads kisgen-files.tar),
#                         each named by its sha256: checked, kept in /opt/kisgen/share/files
#                         (roles.ImageFilesDir) and recorded in the manifest as
#                         kisgen-file:SHA256. A plan with disable_package_installation names
#                         them in its user-data by sum instead of carrying them.
# A download that does not match its sum stops the bake.
#
# What it does: the packages a kisgen node needs from its distribution (kernel, systemd,
# cloud-init, sshd, conntrack, iptables …, HAProxy and keepalived for a virtual IP), but not the distribution's container runtime:
# Debian 12's containerd 1.6 and runc 1.1 are past their support, so nodes run the
# containerd, runc and CNI plugins releases the plan pins (KISGEN_BINARIES bakes them, else
# the node's bootstrap downloads them from the mirror); br_netfilter and overlay loaded at
# boot with the sysctls Kubernetes needs; apt's timers masked so nothing upgrades under a
# running node; host keys and machine-id removed so every machine gets its own; and an image
# manifest at /etc/kisgen/image-manifest.json saying what the image holds (versions, sha256)
# that a node's bootstrap reads to skip downloads.
set -eu

OS=${KISGEN_OS:-debian-12}
PACKAGES="linux-image-cloud-amd64,systemd,systemd-sysv,udev,dbus,cloud-init,openssh-server,sudo,\
conntrack,iptables,socat,ethtool,iproute2,curl,\
ca-certificates,kmod,iputils-ping,procps,netbase,e2fsprogs,less,gzip,tar,openssl,\
haproxy,keepalived"

# Ubuntu is baked only on a running machine (Packer's cloud builders), whose kernel stays:
# the cloud's own (linux-aws, linux-generic…) rather than a second one.
case $OS in
ubuntu-*) PACKAGES="${PACKAGES#linux-image-cloud-amd64,}" ;;
esac

ROOT=/
case "${1:-}" in
--packages)
	echo "$PACKAGES"
	exit 0
	;;
--root)
	[ -n "${2:-}" ] || { echo "bake.sh: --root needs a directory" >&2; exit 2; }
	ROOT=$2
	;;
"") ;;
*)
	echo "bake.sh: unknown argument $1 (use --root DIR, --packages or nothing)" >&2
	exit 2
	;;
esac
R=${ROOT%/}

log() { echo "bake: $*" >&2; }

# in_root runs a command inside the image (chroot) or on this machine.
in_root() {
	if [ -z "$R" ]; then "$@"; else chroot "$R" "$@"; fi
}

if [ -z "$R" ]; then
	missing=
	for p in $(echo "$PACKAGES" | tr ',' ' '); do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
	done
	if [ -z "$missing" ]; then
		log "every package is installed already (a kisgen image): no apt-get"
	else
		log "installing packages on this machine:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		# shellcheck disable=SC2046
		apt-get install -y -q --no-install-recommends $(echo "$PACKAGES" | tr ',' ' ')
		apt-get clean
	fi
fi

log "kernel modules and sysctls for Kubernetes"
mkdir -p "$R/etc/modules-load.d" "$R/etc/sysctl.d"
printf 'overlay\nbr_netfilter\n' >"$R/etc/modules-load.d/kisgen.conf"
cat >"$R/etc/sysctl.d/90-kisgen.conf" <<'EOF'
# Written by kisgen's bake script: what kubelet, kube-proxy and the CNI plugins expect.
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
fs.inotify.max_user_instances = 512
fs.inotify.max_user_watches = 524288
EOF

log "masking apt and maintenance timers"
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer; do
	in_root systemctl mask "$u" >/dev/null 2>&1 || true
done

# HAProxy and keepalived serve a plan's virtual IP on masters, under kisgen's own units
# (kisgen-haproxy, kisgen-keepalived) and configuration; the distribution's units stay off
# on every node.
log "disabling the distribution's haproxy and keepalived units"
for u in haproxy.service keepalived.service; do
	in_root systemctl disable "$u" >/dev/null 2>&1 || true
done

log "cloud-init settings"
mkdir -p "$R/etc/cloud/cloud.cfg.d"
{
	echo "# Written by kisgen's bake script."
	if [ -n "${KISGEN_DATASOURCES:-}" ]; then echo "datasource_list: [ ${KISGEN_DATASOURCES} ]"; fi
	echo "locale: C.UTF-8"
	echo "ssh_genkeytypes: [ ed25519, ecdsa, rsa ]"
} >"$R/etc/cloud/cloud.cfg.d/90-kisgen.cfg"

log "removing host keys and machine-id"
rm -f "$R"/etc/ssh/ssh_host_*
rm -f "$R/etc/machine-id" "$R/var/lib/dbus/machine-id"
: >"$R/etc/machine-id"

# Pinned binaries and image archives: fetched, checked against their sha256, installed,
# and listed (one manifest line each) in $baked for the manifest below.
baked=$(mktemp)
trap 'rm -f "$baked"' EXIT
if [ -n "${KISGEN_BINARIES:-}${KISGEN_IMAGE_ARCHIVES:-}" ]; then
	work=$(mktemp -d)
	trap 'rm -f "$baked"; rm -rf "$work"' EXIT
	url_of() { # PATH: a URL as it is, a path under KISGEN_MIRROR_URL
		case $1 in
		*://*) echo "$1" ;;
		*)
			[ -n "${KISGEN_MIRROR_URL:-}" ] || { echo "bake.sh: $1 is relative and KISGEN_MIRROR_URL is not set" >&2; exit 2; }
			echo "${KISGEN_MIRROR_URL%/}/$1"
			;;
		esac
	}
	fetch_checked() { # PATH SHA256 SUMS OUT
		u=$(url_of "$1")
		want=$2
		if [ "$want" = - ]; then
			[ "$3" != - ] || { echo "bake.sh: $1 has neither a pinned sha256 nor a sums file" >&2; exit 1; }
			curl -fsSL --retry 5 --retry-connrefused -o "$work/sums" "$(url_of "$3")"
			want=$(awk -v f="${1##*/}" 'NF == 1 && length($1) == 64 { print $1; exit } NF >= 2 && ($2 == f || $2 == "*" f) { print $1; exit }' "$work/sums")
			[ -n "$want" ] || { echo "bake.sh: no sha256 for ${1##*/} in $3" >&2; exit 1; }
		fi
		curl -fsSL --retry 5 --retry-connrefused -o "$4" "$u"
		have=$(sha256sum "$4" | cut -d' ' -f1)
		if [ "$have" != "$want" ]; then
			echo "bake.sh: $u has sha256 $have, expected $want" >&2
			exit 1
		fi
	}
	for spec in ${KISGEN_BINARIES:-}; do
		IFS='|' read -r name version kind path sum sums provides dest <<EOF
$spec
EOF
		[ -n "$dest" ] || { echo "bake.sh: KISGEN_BINARIES entry $spec: want NAME|VERSION|KIND|PATH|SHA256|SUMS|PROVIDES|DEST" >&2; exit 2; }
		log "$name $version from $(url_of "$path")"
		fetch_checked "$path" "$sum" "$sums" "$work/download"
		mkdir -p "$R$dest"
		if [ "$kind" = dirtar ]; then
			tar -xzf "$work/download" -C "$R$dest" --no-same-owner
			for exe in $(echo "$provides" | tr ',' ' '); do
				[ -x "$R$dest/$exe" ] || { echo "bake.sh: $name: $exe is not in $path" >&2; exit 1; }
			done
			printf '{"name":"%s","version":"%s","path":"%s","sha256":""}\n' "$name" "$version" "$dest" >>"$baked"
			rm -f "$work/download"
			continue
		fi
		for pair in $(echo "$provides" | tr ',' ' '); do
			member=${pair%%=*}
			exe=${pair#*=}
			case $kind in
			file) src=$work/download ;;
			tar)
				rm -rf "$work/x" && mkdir "$work/x"
				tar -xzf "$work/download" -C "$work/x" "$member"
				src=$work/x/$member
				;;
			*) echo "bake.sh: $name: kind $kind is not file, tar or dirtar" >&2; exit 2 ;;
			esac
			install -m 0755 "$src" "$R$dest/.$exe.new"
			mv -f "$R$dest/.$exe.new" "$R$dest/$exe"
			printf '{"name":"%s","version":"%s","path":"%s","sha256":"%s"}\n' "$exe" "$version" "$dest/$exe" "$(sha256sum "$R$dest/$exe" | cut -d' ' -f1)" >>"$baked"
		done
		rm -f "$work/download"
	done
	for spec in ${KISGEN_IMAGE_ARCHIVES:-}; do
		path=${spec%%|*}
		sum=${spec#*|}
		file=/var/lib/kisgen/images/${path##*/}
		log "image archive $path"
		mkdir -p "$R/var/lib/kisgen/images"
		fetch_checked "$path" "$sum" - "$R$file.part"
		mv -f "$R$file.part" "$R$file"
		if [ -z "$R" ] && systemctl start containerd.service 2>/dev/null; then
			ctr -n k8s.io images import "$file" >&2
		fi
		printf '{"name":"image-archive:%s","version":"","path":"%s","sha256":"%s"}\n' "$path" "$file" "$sum" >>"$baked"
	done
fi

if [ -n "${KISGEN_FILES:-}" ]; then
	store=/opt/kisgen/share/files
	log "kisgen's node files into $store"
	mkdir -p "$R$store"
	files=$(mktemp -d)
	tar -xf "$KISGEN_FILES" -C "$files" --no-same-owner
	for f in "$files"/*; do
		[ -f "$f" ] || continue
		name=${f##*/}
		sum=$(sha256sum "$f" | cut -d' ' -f1)
		if [ "$sum" != "$name" ]; then
			echo "bake.sh: $KISGEN_FILES: $name has sha256 $sum: the files are named by their sha256" >&2
			rm -rf "$files"
			exit 1
		fi
		install -m 0644 "$f" "$R$store/$name"
		printf '{"name":"kisgen-file:%s","version":"","path":"%s","sha256":"%s"}\n' "$name" "$store/$name" "$sum" >>"$baked"
	done
	rm -rf "$files"
fi

log "writing /etc/kisgen/image-manifest.json"
# The manifest's format is kisgen's roles.ImageManifest: the node's bootstrap reads it line
# by line, so every component is one line {"name":…,"version":…,"path":…,"sha256":…} with
# the keys in that order, sorted by name; "cni-plugins" names the plugin directory. Only
# what KISGEN_BINARIES, KISGEN_IMAGE_ARCHIVES and KISGEN_FILES baked is listed, at the
# versions the plan pins.
mkdir -p "$R/etc/kisgen"
{
	printf '{\n"schema": "kisgen.io/image-manifest/v1",\n"os": "%s",\n"components": [\n' "$OS"
	LC_ALL=C sort "$baked" | sed '$!s/$/,/'
	printf ']\n}\n'
} >"$R/etc/kisgen/image-manifest.json.tmp"
mv "$R/etc/kisgen/image-manifest.json.tmp" "$R/etc/kisgen/image-manifest.json"

if [ -z "$R" ]; then
	log "loading modules and sysctls now"
	modprobe overlay || true
	modprobe br_netfilter || true
	sysctl --system >/dev/null || true
fi
log "done"
