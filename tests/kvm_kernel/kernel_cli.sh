#!/usr/bin/env bash
# `ktest kernel list|check` through the built binary: exit codes and messages.
# Usage: kernel_cli.sh KTEST [KERNEL_DIR]   (exit 77 = skipped)
set -uo pipefail
ktest=$1
kernel_dir=${2:-}
tmp=$(mktemp -d /tmp/ktest-kernel-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
expect() {  # expect NAME WANT_RC GOT_RC OUTPUT PATTERN
  if [ "$3" != "$2" ] || ! grep -qF -- "$5" <<<"$4"; then
    echo "FAIL $1: exit $3 (want $2), output:"; echo "$4"; failures=$((failures + 1))
  else
    echo "ok   $1"
  fi
}

export XDG_CACHE_HOME=$tmp/cache
mkdir -p "$tmp/cache/ktest/kernels/7.2.9+deb14-amd64" "$tmp/cache/ktest/kernels/7.10.1+deb14-amd64"
touch "$tmp/cache/ktest/kernels/7.10.1+deb14-amd64/config"
out=$("$ktest" kernel list 2>&1); rc=$?
expect "list newest first" 0 $rc "$(head -1 <<<"$out")" "7.10.1+deb14-amd64  $tmp/cache/ktest/kernels/7.10.1+deb14-amd64  vmlinux:no config:yes"

printf 'CONFIG_SCHED_CLASS_EXT=y\n# CONFIG_RD_ZSTD is not set\n' > "$tmp/config"
out=$("$ktest" kernel check "$tmp/config" 2>&1); rc=$?
expect "check names a missing option" 2 $rc "$out" "CONFIG_RD_ZSTD is not set, ktest needs =y: ktest's initramfs is zstd-compressed"
out=$("$ktest" kernel check "$tmp/absent" 2>&1); rc=$?
expect "check of a missing path" 2 $rc "$out" "no such file or directory: $tmp/absent"

if [ -n "$kernel_dir" ] && [ -f "$kernel_dir/config" ]; then
  out=$("$ktest" kernel check "$kernel_dir" 2>&1); rc=$?
  expect "check of the fetched kernel" 0 $rc "$out" "has everything ktest needs"
  out=$("$ktest" kernel check "$kernel_dir/vmlinux" 2>&1); rc=$?
  expect "check via the vmlinux" 0 $rc "$out" "$kernel_dir/config: has everything ktest needs"
else
  echo "SKIPPED (2 checks): no fetched kernel"
fi
exit $((failures > 0))
