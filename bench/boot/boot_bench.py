#!/usr/bin/env python3
"""bench/boot: how much ktest adds to a guest boot.

Measures, in the same run and on the same kernel, N times each:
  baseline  plain `qemu-system-x86_64 -M microvm -kernel vmlinux -initrd`
            with a busybox /init that prints a marker and powers off;
  ktest     `ktest run` of a scenario with one Sleep step (microvm);
  ktest q35 the same scenario with two vm.numa nodes, which boots on q35
            (SeaBIOS and an ACPI SRAT: microvm cannot describe NUMA).
For each: time to "ready" (baseline: the marker on the serial console;
ktest: the agent's hello, shown as the "agent ready" progress line) and to
power-off (process exit). Prints medians and the ratios ktest / baseline.

usage: boot_bench.py KTEST KERNEL_DIR [RUNS]
KTEST_BENCH_SMOKE=1 (CI) runs once: it proves the benchmark still works; its numbers mean nothing.
"""
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

KTEST, KERNEL_DIR = sys.argv[1], sys.argv[2]
RUNS = 1 if os.environ.get("KTEST_BENCH_SMOKE") else int(sys.argv[3]) if len(sys.argv) > 3 else 5
VMLINUX = os.path.join(KERNEL_DIR, "vmlinux")
ACCEL = "kvm" if os.environ.get("KTEST_BENCH_KVM") else "tcg,thread=single"
CMDLINE = "console=ttyS0 quiet panic=-1 reboot=t nokaslr tsc_early_khz=2000000"


def busybox_initrd(workdir):
    root = os.path.join(workdir, "root")
    for d in ("bin", "dev", "proc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    os.mknod(os.path.join(root, "dev", "console"), 0o600 | 0o020000, os.makedev(5, 1))
    with open(os.path.join(root, "init"), "w") as f:
        f.write("#!/bin/busybox sh\n/bin/busybox echo KTEST-BENCH-READY\n/bin/busybox poweroff -f\n")
    os.chmod(os.path.join(root, "init"), 0o755)
    initrd = os.path.join(workdir, "initrd.cpio")
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, text=True, check=True).stdout
    with open(initrd, "wb") as out:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=root, input=files.encode(),
                       stdout=out, check=True)
    return initrd


def timed(argv, marker, use_pty):
    """Runs argv; returns (seconds to the marker line, seconds to exit)."""
    start = time.monotonic()
    if use_pty:  # ktest prints progress lines only to a terminal
        master, slave = pty.openpty()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=slave)
        os.close(slave)
        stream = master
    else:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        stream = proc.stdout.fileno()
    ready, buf = None, b""
    while True:
        r, _, _ = select.select([stream], [], [], 0.05)
        if r:
            try:
                chunk = os.read(stream, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            if ready is None and marker in buf:
                ready = time.monotonic() - start
        elif proc.poll() is not None:
            break
        if time.monotonic() - start > 300:
            proc.kill()
            break
    proc.wait()
    if use_pty:
        os.close(master)
    done = time.monotonic() - start
    if ready is None:
        raise SystemExit(f"marker {marker!r} not seen from {argv[0]} (exit {proc.returncode})")
    return ready, done


def main():
    if not os.path.exists(VMLINUX):
        print(f"SKIP: no kernel at {VMLINUX}")
        sys.exit(77)
    with tempfile.TemporaryDirectory(prefix="ktest-bench-") as work:
        initrd = busybox_initrd(work)
        scenario = os.path.join(work, "boot.yaml")
        with open(scenario, "w") as f:
            f.write("name: boot\nvm: { cpus: 2, memory: 512M, timeout: 120s }\n"
                    "steps:\n  - Sleep: 1ms\n")
        numa = os.path.join(work, "numa.yaml")
        with open(numa, "w") as f:
            f.write("name: boot-numa\nvm: { cpus: 2, timeout: 120s, numa: [{cpus: \"0\", memory: 256M},"
                    " {cpus: \"1\", memory: 256M}] }\nsteps:\n  - Sleep: 1ms\n")
        baseline_argv = ["qemu-system-x86_64", "-M", "microvm,pcie=on", "-accel", ACCEL,
                         "-cpu", "qemu64", "-smp", "2", "-m", "512M", "-nodefaults",
                         "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
                         "-kernel", VMLINUX, "-initrd", initrd, "-append", CMDLINE]
        ktest_argv = [KTEST, "--color=never", "run", "--kernel", KERNEL_DIR,
                      "--output-dir", os.path.join(work, "runs"), scenario]
        q35_argv = ktest_argv[:-1] + [numa]
        base, kt, q35 = [], [], []
        for _ in range(RUNS):  # interleaved, so load drift hits all alike
            base.append(timed(baseline_argv, b"KTEST-BENCH-READY", use_pty=False))
            kt.append(timed(ktest_argv, b"agent ready", use_pty=True))
            q35.append(timed(q35_argv, b"agent ready", use_pty=True))
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    print(f"boot benchmark, {RUNS} runs each, accel {ACCEL.split(',')[0]}, medians:")
    print(f"  baseline qemu+busybox: ready {med(base, 0):.2f}s, power-off {med(base, 1):.2f}s")
    print(f"  ktest run:             ready {med(kt, 0):.2f}s, power-off {med(kt, 1):.2f}s")
    print(f"  ktest run, q35 (numa): ready {med(q35, 0):.2f}s, power-off {med(q35, 1):.2f}s")
    print(f"  ratio ktest/baseline:  ready {med(kt, 0) / med(base, 0):.2f}, "
          f"power-off {med(kt, 1) / med(base, 1):.2f}")


if __name__ == "__main__":
    main()
