#!/usr/bin/env bash
# Boot the tdmgw test VM (built by image/vm/build.sh) under qemu and run the
# in-guest tests (tests/vm/) against the real DAHDI modules.
#
# The working tree is shared read-only into the guest at /tdmgw (9p), and a
# results folder writable at /results.  The guest's /sbin/tdmgw-vm-init runs
# the tree's image/vm/guest-run.sh, which loads dahdi, dahdi_dynamic and
# dahdi_dynamic_loc and runs pytest on tests/vm; pytest's fixtures configure
# the back-to-back dynamic spans (T1, then E1) with dahdi_cfg.
#
# Acceleration: TCG, unless a short probe boot proves KVM works on this host
# (the probe's verdict is cached per host kernel and qemu version).
# Exit status: pytest's (0 = all passed), or 1 if the guest did not finish.
#
# Environment: TDMGW_VM_PYTEST_ARGS (extra pytest arguments in the guest),
# TDMGW_VM_SCRIPT (a Python file of the tree to run in the guest instead of
# the tests, for debugging),
# TDMGW_VM_TIMEOUT (seconds for the whole guest run, default 1500),
# TDMGW_VM_ACCEL=tcg|kvm|kvm:<cpu> (skip the probe), TDMGW_VM_RESULTS (results folder).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$here/../.." && pwd)
cache=$tree/image/cache
img=$cache/current
log() { printf 'vm-test: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ -f "$img/info.txt" ] || die "no VM image: run 'make vm' first"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: run 'make vm-apt'"
kver=$(sed -n 's/^kernel=//p' "$img/info.txt")

if [ -n "${TDMGW_VM_RESULTS:-}" ]; then
	results=$TDMGW_VM_RESULTS  # the caller's folder: must be new or empty, never cleared here
	mkdir -p "$results"
	[ -z "$(ls -A "$results")" ] || die "TDMGW_VM_RESULTS=$results is not empty"
else
	results=$cache/run
	rm -rf "$results"
	mkdir -p "$results"
fi
timeout_s=${TDMGW_VM_TIMEOUT:-1500}

qemu_base=(qemu-system-x86_64 -machine pc -m 1024 -smp 2
	-nodefaults -display none -monitor none -no-reboot -nic none
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img")
# qboot (in qemu-system-data) only loads the kernel, where SeaBIOS does a whole PC
# BIOS: about 4 s less from qemu start to the kernel under TCG here.
qboot=/usr/share/qemu/qboot.rom
[ -f "$qboot" ] && qemu_base+=(-bios "$qboot")

# KVM only when a probe boot reaches our initramfs within a short time.  On
# hosts with the kvm_pvm module, qemu 7.2 aborts at once with -cpu host or
# -cpu max ("failed to set MSR 0x10a") and hangs silently right after the
# loader with its default CPU model; both count as "no KVM".  The verdict
# (tcg, or kvm:<cpu model>) is cached per host kernel and qemu version.
probe_kvm() {
	local verdict_file=$cache/accel-$(uname -r)-$(qemu-system-x86_64 --version | head -n1 | tr -cd '0-9.')
	if [ -f "$verdict_file" ]; then cat "$verdict_file"; return; fi
	local verdict=tcg plog cpu pid i
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		plog=$(mktemp)
		for cpu in host default; do
			: >"$plog"
			local cpu_args=(-cpu "$cpu")
			[ "$cpu" = default ] && cpu_args=()
			timeout 15 "${qemu_base[@]}" -accel kvm "${cpu_args[@]}" \
				-append "console=ttyS0 panic=-1" -serial "file:$plog" >/dev/null 2>&1 &
			pid=$!
			for i in $(seq 1 30); do
				if grep -q 'tdmgw-vm: initramfs at' "$plog" 2>/dev/null; then verdict=kvm:$cpu; break; fi
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.5
			done
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			[ "$verdict" = tcg ] || break
		done
		rm -f "$plog"
	fi
	echo "$verdict" >"$verdict_file"
	echo "$verdict"
}

accel=${TDMGW_VM_ACCEL:-}
if [ -z "$accel" ]; then
	t0=$(date +%s.%N)
	accel=$(probe_kvm)
	log "acceleration: $accel (KVM probe or its cached verdict: $(secs "$t0" "$(date +%s.%N)") s)"
fi
case $accel in
	kvm:default) accel_args=(-accel kvm) ;;
	kvm:*) accel_args=(-accel kvm -cpu "${accel#kvm:}") ;;
	kvm) accel_args=(-accel kvm -cpu host) ;;
	tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
	*) die "TDMGW_VM_ACCEL must be tcg, kvm or kvm:<cpu model>" ;;
esac

# What the guest runs: guest-run.sh reads this file from /results.
{
	printf 'TDMGW_VM_PYTEST_ARGS=%q\n' "${TDMGW_VM_PYTEST_ARGS:-}"
	printf 'TDMGW_VM_ACCEL=%q\n' "$accel"
	printf 'TDMGW_VM_SCRIPT=%q\n' "${TDMGW_VM_SCRIPT:-}"
} >"$results/config.env"

console=$results/console.log
: >"$console"
log "booting $kver ($accel), tree $tree, results $results"
t_boot=$(date +%s.%N)
timeout --foreground "$timeout_s" "${qemu_base[@]}" "${accel_args[@]}" \
	-append "console=ttyS0 panic=-1 loglevel=4 rw" \
	-drive "file=$img/rootfs.img,if=virtio,format=raw,snapshot=on" \
	-virtfs "local,path=$tree,mount_tag=tree,security_model=none,readonly=on" \
	-virtfs "local,path=$results,mount_tag=results,security_model=none" \
	-serial "file:$console" &
qemu_pid=$!
tail -n +1 -F --pid=$qemu_pid "$console" 2>/dev/null &
tail_pid=$!
# Host-side boot time: until the guest's init reports in.
t_init=""
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ -z "$t_init" ] && grep -q '^tdmgw-vm: init at' "$console"; then
		t_init=$(date +%s.%N)
	fi
	sleep 0.2
done
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
sleep 0.3
kill "$tail_pid" 2>/dev/null || true
wait "$tail_pid" 2>/dev/null || true
t_end=$(date +%s.%N)

guest_init=$(sed -n 's/^tdmgw-vm: init at \([0-9.]*\) s.*/\1/p' "$console" | head -n1)
guest_tests=$(sed -n 's/^tdmgw-vm: tests took \([0-9.]*\) s.*/\1/p' "$console" | tail -n1)
echo
echo "vm-test: kernel $kver, acceleration $accel"
if [ -n "$t_init" ]; then
	echo "vm-test: boot time: $(secs "$t_boot" "$t_init") s from qemu start to the guest's init (guest uptime ${guest_init:-?} s)"
fi
echo "vm-test: in-guest test time: ${guest_tests:-?} s; whole VM run: $(secs "$t_boot" "$t_end") s"
if [ "$qemu_rc" -eq 124 ]; then
	die "the guest did not finish within ${timeout_s} s (console: $console)"
fi
[ -f "$results/exit-code" ] || die "the guest wrote no exit code (qemu exit $qemu_rc; console: $console)"
rc=$(cat "$results/exit-code")
log "guest tests exit code $rc (results in $results)"
exit "$rc"
