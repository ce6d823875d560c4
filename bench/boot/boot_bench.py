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

Where ktest's extra time goes, as plain QEMU boots (the marker and
`poweroff -f`) that each add one of ktest's needs to the baseline:
  +shared RAM   guest RAM in a shared memfd (the host reads it in captures);
  +devices      and ktest's devices: virtio-serial, an ivshmem BAR, QMP and
                gdbstub sockets;
  +initramfs    and ktest's initramfs (agent, busybox, tools: the one the
                ktest run used) with the marker as /init.
What ktest takes beyond the last is the agent and ktest's own work.

usage: boot_bench.py KTEST KERNEL_DIR [RUNS]
KTEST_BENCH_SMOKE=1 (CI) runs once: it proves the benchmark still works; its numbers mean nothing.
"""
import glob
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


def busybox_initrd(workdir, name="initrd.cpio", init="init", with_busybox=True):
    """A cpio whose /<init> prints the marker and powers off (busybox's
    /bin/busybox: its own, or, without, another archive's)."""
    root = os.path.join(workdir, name + ".root")
    for d in ("bin", "dev", "proc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    if with_busybox:
        shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    os.mknod(os.path.join(root, "dev", "console"), 0o600 | 0o020000, os.makedev(5, 1))
    with open(os.path.join(root, init), "w") as f:
        f.write("#!/bin/busybox sh\n/bin/busybox echo KTEST-BENCH-READY\n/bin/busybox poweroff -f\n")
    os.chmod(os.path.join(root, init), 0o755)
    initrd = os.path.join(workdir, name)
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
        ktest_argv = [KTEST, "--color=never", "run", "--kernel", KERNEL_DIR,
                      "--output-dir", os.path.join(work, "runs"), scenario]
        # One ktest run first, untimed: the baseline boots the kernel with
        # ktest's own command line (under TCG it names the host's TSC rate).
        timed(ktest_argv, b"agent ready", use_pty=True)
        baseline_argv = ["qemu-system-x86_64", "-M", "microvm,pcie=on", "-accel", ACCEL,
                         "-cpu", "qemu64", "-smp", "2", "-m", "512M", "-nodefaults",
                         "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
                         "-kernel", VMLINUX, "-initrd", initrd, "-append", ktest_kernel_cmdline(work)]
        q35_argv = ktest_argv[:-1] + [numa]
        shared_argv = with_shared_ram(baseline_argv)
        devices_argv = shared_argv + ktest_devices(work)
        rows = {"baseline": [], "ktest": [], "q35": [], "shared": [], "devices": [], "initramfs": []}
        initramfs_argv = None
        for _ in range(RUNS):  # interleaved, so load drift hits all alike
            rows["baseline"].append(timed(baseline_argv, b"KTEST-BENCH-READY", use_pty=False))
            rows["ktest"].append(timed(ktest_argv, b"agent ready", use_pty=True))
            rows["q35"].append(timed(q35_argv, b"agent ready", use_pty=True))
            rows["shared"].append(timed(shared_argv, b"KTEST-BENCH-READY", use_pty=False))
            rows["devices"].append(timed(devices_argv, b"KTEST-BENCH-READY", use_pty=False))
            initramfs_argv = initramfs_argv or with_ktest_initramfs(devices_argv, work)
            rows["initramfs"].append(timed(initramfs_argv, b"KTEST-BENCH-READY", use_pty=False))
    med = lambda name, i: statistics.median(x[i] for x in rows[name])
    base_ready, base_off = med("baseline", 0), med("baseline", 1)
    print(f"boot benchmark, {RUNS} runs each, accel {ACCEL.split(',')[0]}, medians:")
    print(f"  baseline qemu+busybox: ready {base_ready:.2f}s, power-off {base_off:.2f}s")
    print(f"  ktest run:             ready {med('ktest', 0):.2f}s, power-off {med('ktest', 1):.2f}s")
    print(f"  ktest run, q35 (numa): ready {med('q35', 0):.2f}s, power-off {med('q35', 1):.2f}s")
    print("  where ktest's time goes: the baseline with, in turn (each row adds to the one above):")
    for name, what in (("shared", "+shared RAM"), ("devices", "+devices"), ("initramfs", "+initramfs")):
        print(f"    {what:<12} ready {med(name, 0):.2f}s ({med(name, 0) - base_ready:+.2f}), "
              f"power-off {med(name, 1):.2f}s ({med(name, 1) - base_off:+.2f})")
    print(f"  ratio ktest/baseline:  ready {med('ktest', 0) / base_ready:.2f}, "
          f"power-off {med('ktest', 1) / base_off:.2f}")


def with_shared_ram(argv):
    """argv with the guest's RAM (its -m) in a shared memfd, as ktest boots it."""
    out = list(argv)
    out[out.index("microvm,pcie=on")] = "microvm,pcie=on,memory-backend=ram"
    size = argv[argv.index("-m") + 1]
    return out + ["-object", f"memory-backend-memfd,id=ram,size={size},share=on"]


def ktest_devices(work):
    """The devices and host sockets ktest adds (kvm/qemu/qemu_command_line.cpp); an
    ivshmem-plain BAR stands for ktest's ivshmem-doorbell, which needs ktest's server."""
    return ["-chardev", f"socket,id=qmp,path={work}/qmp.sock,server=on,wait=off", "-mon", "chardev=qmp,mode=control",
            "-gdb", f"unix:{work}/gdb.sock,server=on,wait=off",
            "-object", "memory-backend-memfd,id=shm,size=1M,share=on", "-device", "ivshmem-plain,memdev=shm",
            "-device", "virtio-serial-pci,id=vser",
            "-chardev", f"socket,id=ctl,path={work}/ctl.sock,server=on,wait=off",
            "-device", "virtserialport,bus=vser.0,chardev=ctl,name=ktest.ctl"]


def ktest_qemu_line(work):
    """The QEMU command line of the last microvm ktest run, from its qemu.log."""
    logs = glob.glob(os.path.join(work, "runs", "*", "*-boot", "qemu.log"))
    return open(max(logs, key=os.path.getmtime)).readline()


def ktest_kernel_cmdline(work):
    """The kernel command line of the last ktest run: -append's words, up to QEMU's next option."""
    return ktest_qemu_line(work).split(" -append ", 1)[1].split(" -", 1)[0]


def with_ktest_initramfs(argv, work):
    """argv booting the initramfs of the last microvm ktest run (its qemu.log
    names it) with the marker's script as init (rdinit=/bench-init, from an
    archive put before ktest's: one appended after ktest's was not read)."""
    words = ktest_qemu_line(work).split()
    combined = os.path.join(work, "ktest-initrd-marker")
    marker = busybox_initrd(work, "marker.cpio", init="bench-init", with_busybox=False)
    with open(combined, "wb") as out:
        for part in (marker, words[words.index("-initrd") + 1]):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    out = list(argv)
    out[out.index("-initrd") + 1] = combined
    out[out.index("-append") + 1] += " rdinit=/bench-init"
    return out


if __name__ == "__main__":
    main()
