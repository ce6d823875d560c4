#!/bin/sh
# Runs in the nested lane's outer guest (tests/nested/nested_lane.py): ktest
# under KVM on the inner scenarios. Its output is the outer Run step's; the
# last line is the inner results.json on one line, for `json: inner`.
# usage: lane.sh KTEST SCENARIO...
ktest=$1; shift
mkdir -p /root/lane && cd /root/lane || exit 1
export HOME=/root KTEST_AGENT=/nested/ktest-agent
echo "kvm_amd nested=$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null)"
# -cpu host is not usable nested (the inner kernel dies in FPU init), so a
# named model.
"$ktest" --color=never run --accel kvm --cpu-model qemu64 --kernel /nested/kernel \
  --object-path /nested/objects "$@" 2>&1
echo "ktest exit status $?"
# The host side of each inner run, for the lane's log (ktest-run(1), FILES).
for log in ktest-runs/latest/*/events.log; do
  [ -f "$log" ] && { echo "== $log"; tail -n 60 "$log"; }
done
# JSON strings hold no raw newlines, so this is the same document on one line.
tr -d '\n' < ktest-runs/latest/results.json
echo
