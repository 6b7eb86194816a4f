#!/usr/bin/env bash
# Build (or reuse) the tdmgw test VM: a Debian 12 root file system made with
# debootstrap, with linux-image-amd64 and dahdi-dkms built by DKMS in the
# chroot against that kernel's headers, natively on the host.
#
# Output, cached under image/cache/<key>/ (git-ignored), where <key> is a hash
# of the package list and of every script that shapes the image:
#   vmlinuz        the guest kernel (booted directly with qemu -kernel)
#   initrd.img     a small busybox initramfs: virtio + ext4 modules, mounts /dev/vda
#   rootfs.img     ext4 image of the chroot (qemu opens it with snapshot=on)
#   info.txt       kernel release, DAHDI version, module paths, build times
# image/cache/current points at the newest good build.  Nothing here is ever
# half-written: a build happens in image/cache/work-<key>/ and is renamed when
# complete.  Debian packages downloaded once stay in image/cache/debs/.
#
# Environment: TDMGW_VM_MIRROR (Debian mirror URL) and TDMGW_VM_SECURITY_MIRROR
# override the mirrors read from the host's apt sources; TDMGW_VM_REBUILD=1
# forces a rebuild.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image_dir=$(dirname "$here")
cache=$image_dir/cache
suite=bookworm
t_start=$(date +%s)

log() { printf 'vm-build: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mounts)"
for tool in debootstrap mkfs.ext4 cpio zstd sha256sum; do
	command -v "$tool" >/dev/null || die "$tool missing: run 'make vm-apt'"
done

# One build at a time per tree: a second `make vm` waits for the first, then finds
# its image cached.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9

packages=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.txt" | tr -s ' \t\n' ' ')
key=$(cat "$here/packages.txt" "$here/build.sh" "$here/initramfs-init" \
	"$here/guest-init" | sha256sum | cut -c1-16)
out=$cache/$key

if [ -z "${TDMGW_VM_REBUILD:-}" ] && [ -f "$out/info.txt" ] && [ -f "$out/rootfs.img" ]; then
	ln -sfn "$key" "$cache/current"
	log "cached image $key is up to date ($(grep '^kernel=' "$out/info.txt"))"
	exit 0
fi

# Mirrors: the host's own apt sources (deb822 or one-line form), unless overridden.
host_mirror() {
	local want=$1 f files=()
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && files+=("$f")
	done
	[ ${#files[@]} -gt 0 ] || return 0
	awk -v want="$want" '
		function flush() { if (uri != "" && hit) { print uri; found=1; exit } uri=""; hit=0 }
		FNR == 1 { flush() }
		/^[[:space:]]*$/ { flush(); next }
		/^URIs:/ { uri=$2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == want) hit=1 }
		/^deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {
			if ($(i+1) == want) { print $i; found=1; exit } break } }
		END { if (!found && uri != "" && hit) print uri }
	' "${files[@]}" | head -n1
}
mirror=${TDMGW_VM_MIRROR:-$(host_mirror "$suite")}
security=${TDMGW_VM_SECURITY_MIRROR:-$(host_mirror "$suite-security")}
[ -n "$mirror" ] || die "no Debian $suite mirror in the host's apt sources; set TDMGW_VM_MIRROR"

work=$cache/work-$key
root=$work/root
mkdir -p "$cache/debs" "$cache/apt-archives/partial"

mounted=()
cleanup() {
	local i
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -l "${mounted[i]}" 2>/dev/null || true
	done
}
trap cleanup EXIT
bind() { # bind <src> <dst>
	mkdir -p "$2"
	mount --bind "$1" "$2"
	mounted+=("$2")
}

log "building image $key from $mirror (packages: $packages)"
# A build killed hard may have left its bind mounts: never recurse into them.
unmount_under() {
	local m
	awk -v w="$1/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m"
	done
}
for stale in "$cache"/work-*; do
	[ -d "$stale" ] || continue
	unmount_under "$stale"
	rm -rf --one-file-system "$stale"
done
mkdir -p "$work"

# 1. Base system.  minbase keeps it small; the rest comes from apt below so
#    that its downloads land in the persistent archive cache.
t0=$(date +%s)
debootstrap --variant=minbase --cache-dir="$cache/debs" "$suite" "$root" "$mirror" \
	>"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
t_debootstrap=$(( $(date +%s) - t0 ))
log "debootstrap: ${t_debootstrap} s"

# 2. Chroot set-up: sources, no docs, no services, no initramfs-tools run
#    (the guest boots with our own initramfs, made below).
{
	echo "deb $mirror $suite main"
	echo "deb $mirror $suite-updates main"
	[ -n "$security" ] && echo "deb $security $suite-security main"
} >"$root/etc/apt/sources.list"
cat >"$root/etc/dpkg/dpkg.cfg.d/01-tdmgw-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
EOF
cat >"$root/etc/apt/apt.conf.d/01-tdmgw" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Retries "3";
EOF
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
chroot "$root" dpkg-divert --local --rename --add /usr/sbin/update-initramfs >/dev/null
printf '#!/bin/sh\necho "update-initramfs: skipped in the tdmgw VM build"\n' \
	>"$root/usr/sbin/update-initramfs"
chmod 755 "$root/usr/sbin/update-initramfs"
echo tdmgw-vm >"$root/etc/hostname"

bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
bind "$cache/apt-archives" "$root/var/cache/apt/archives"

# 3. Packages.  DKMS builds dahdi in dahdi-dkms's postinst (and in the kernel's
#    postinst hook) for each kernel whose headers are installed.
t0=$(date +%s)
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q update >"$work/apt.log" 2>&1 \
	|| { tail -n 30 "$work/apt.log" >&2; die "apt-get update failed"; }
# shellcheck disable=SC2086 # word splitting of the package list is intended
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install $packages \
	>>"$work/apt.log" 2>&1 || { tail -n 40 "$work/apt.log" >&2; die "apt-get install failed"; }
t_apt=$(( $(date +%s) - t0 ))
log "apt-get install (DKMS build included): ${t_apt} s"

# 4. The kernel release and the DAHDI modules built for it.
kver=$(basename "$(ls -d "$root"/lib/modules/*/ | sort -V | tail -n1)")
[ -f "$root/boot/vmlinuz-$kver" ] || die "no kernel image for $kver"
t0=$(date +%s)
dahdi_ver=$(chroot "$root" dpkg-query -W -f='${Version}' dahdi-dkms | sed -e 's/^[0-9]*://' -e 's/-[^-]*$//')
if ! chroot "$root" dkms status -k "$kver" dahdi 2>/dev/null | grep -q installed; then
	log "DKMS did not build dahdi for $kver in postinst: building now"
	chroot "$root" dkms autoinstall -k "$kver" >"$work/dkms.log" 2>&1 \
		|| { tail -n 40 "$work/dkms.log" >&2; die "dkms build failed"; }
fi
t_dkms=$(( $(date +%s) - t0 ))
chroot "$root" depmod -a "$kver"
modules=()
for m in dahdi dahdi_dynamic dahdi_dynamic_loc; do
	p=$(chroot "$root" modinfo -k "$kver" -F filename "$m" 2>/dev/null) \
		|| die "module $m not built for $kver (see $work/apt.log)"
	modules+=("$m=$p")
done
log "kernel $kver; DAHDI ${dahdi_ver}: ${modules[*]}"

# 5. Guest init (runs as PID 1 after switch_root), and a clean tree.
install -m 755 "$here/guest-init" "$root/sbin/tdmgw-vm-init"
mkdir -p "$root/tdmgw" "$root/results" "$root/etc/dahdi"
chroot "$root" apt-get clean
rm -rf "$root/var/lib/apt/lists/"* "$root/tmp/"* "$root/usr/sbin/policy-rc.d"
cleanup
mounted=()

# 6. Initramfs: busybox plus the modules that reach the root disk.
t0=$(date +%s)
ird=$work/initramfs
mkdir -p "$ird/bin" "$ird/dev" "$ird/proc" "$ird/sys" "$ird/newroot" "$ird/lib/modules"
cp "$root/bin/busybox" "$ird/bin/busybox"
: >"$ird/modules.order"
for m in virtio_pci virtio_blk ext4; do
	# --show-depends prints "insmod <path>" for each dependency, then the module;
	# "builtin <name>" lines are modules compiled into the kernel.
	chroot "$root" modprobe -S "$kver" --show-depends "$m" | while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		name=$(basename "$path")
		grep -qx "$name" "$ird/modules.order" && continue
		cp "$root$path" "$ird/lib/modules/$name"
		echo "$name" >>"$ird/modules.order"
	done
done
install -m 755 "$here/initramfs-init" "$ird/init"
(cd "$ird" && find . -print0 | cpio --null -o -H newc --quiet) | zstd -q -19 -T0 >"$work/initrd.img"
cp "$root/boot/vmlinuz-$kver" "$work/vmlinuz"
t_initrd=$(( $(date +%s) - t0 ))

# 7. Root file system image: ext4 of the chroot, with room for the tests' writes.
t0=$(date +%s)
used_mb=$(du -sm "$root" | cut -f1)
size_mb=$(( used_mb + used_mb / 4 + 256 ))
mkfs.ext4 -q -F -L tdmgw-root -m 0 -O ^has_journal -d "$root" "$work/rootfs.img" "${size_mb}M"
t_rootfs=$(( $(date +%s) - t0 ))

t_total=$(( $(date +%s) - t_start ))
cat >"$work/info.txt" <<EOF
key=$key
kernel=$kver
dahdi=$dahdi_ver
modules=${modules[*]}
initramfs_modules=$(tr '\n' ' ' <"$ird/modules.order")
rootfs_mb=$size_mb
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
seconds_debootstrap=$t_debootstrap
seconds_apt_and_dkms=$t_apt
seconds_dkms_extra=$t_dkms
seconds_initramfs=$t_initrd
seconds_rootfs=$t_rootfs
seconds_total=$t_total
EOF
# --one-file-system: should an unmount above have failed, never descend into /dev or /proc.
rm -rf --one-file-system "$root" "$ird"
rm -rf "$out"
mv "$work" "$out"
ln -sfn "$key" "$cache/current"
# Older builds are of no further use.
for old in "$cache"/*/; do
	old=$(basename "$old")
	case $old in
		"$key" | current | debs | apt-archives | run*) ;;
		work-*) unmount_under "$cache/$old"; rm -rf --one-file-system "${cache:?}/$old" ;;
		*) rm -rf --one-file-system "${cache:?}/$old" ;;
	esac
done
log "image $key built in ${t_total} s (rootfs ${size_mb} MB): $out"
