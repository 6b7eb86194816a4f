#!/bin/bash
# Runs inside the tdmgw test VM as root (started by /sbin/tdmgw-vm-init, with
# the working tree read-only at /tdmgw and a writable /results): loads the
# DAHDI modules and runs the in-guest tests, tests/vm/, with the guest's
# Debian Python.  pytest's fixtures write /etc/dahdi/system.conf and run
# dahdi_cfg for each span type.  Exit status: pytest's.
set -uo pipefail
# shellcheck disable=SC1091 # written by image/vm/test.sh on the host
[ -f /results/config.env ] && . /results/config.env
up() { cut -d' ' -f1 /proc/uptime; }
export TDMGW_IN_VM=1 PYTHONDONTWRITEBYTECODE=1 HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis
export HOME=/root LANG=C.UTF-8
cd /tdmgw || exit 1

t0=$(up)
# Debian's dahdi leaves spans unassigned until dahdi_span_assignments (run by
# udev from assigned-spans.conf on the appliance) assigns them; dahdi_cfg
# destroys and re-creates dynamic spans, so here they are assigned as they
# register, in order: span 1 is loc 1:0, span 2 is loc 1:1.
for m in "dahdi auto_assign_spans=1" dahdi_dynamic dahdi_dynamic_loc; do
	# shellcheck disable=SC2086 # module name and parameters
	if ! modprobe $m; then
		echo "tdmgw-vm: modprobe $m failed"
		dmesg | tail -n 30
		exit 1
	fi
done
i=0
while [ ! -c /dev/dahdi/ctl ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
echo "tdmgw-vm: modules loaded in $(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.2f", b - a }') s:" \
	"$(lsmod | awk '/^dahdi/ { printf "%s ", $1 }')"

t0=$(up)
if [ -n "${TDMGW_VM_SCRIPT:-}" ]; then
	# A debugging hook: run one Python file of the tree instead of the tests.
	python3 "/tdmgw/$TDMGW_VM_SCRIPT" 2>&1 | tee /results/script.log
	rc=${PIPESTATUS[0]}
	echo "tdmgw-vm: script took $(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }') s (exit $rc)"
	dmesg >/results/dmesg.log
	exit "$rc"
fi
# shellcheck disable=SC2086 # extra pytest arguments are words
python3 -m pytest -p no:cacheprovider -o addopts="" -ra -v --strict-markers \
	--junitxml=/results/junit.xml tests/vm ${TDMGW_VM_PYTEST_ARGS:-} 2>&1 | tee /results/pytest.log
rc=${PIPESTATUS[0]}
echo "tdmgw-vm: tests took $(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }') s (pytest exit $rc)"
dmesg >/results/dmesg.log
exit "$rc"
