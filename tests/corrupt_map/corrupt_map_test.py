#!/usr/bin/env python3
"""A guest whose map memory is corrupted yields a report with an error on
that map and nothing worse.

Runs `ktest run corrupt_map.yaml`; while the guest waits on a handshake
map, this test opens the guest's RAM (ktest's memfd, through
/proc/<ktest>/fd), finds the one hash element whose key is the magic
"KTEST-VICTIM-KEY", overwrites its hash-chain `next` pointer with a
non-canonical address, and flips the handshake so the guest captures.
The capture must then list ktest_victim with an error, still read every
other map, and the run must pass; `ktest snapshot dump` must show it.

usage: corrupt_map_test.py KTEST KERNEL_DIR OBJECT_DIR SCENARIO
Exits 0 on success, 1 on failure, 77 (skipped) when something it needs
is missing, printing why.
"""
import json
import mmap
import os
import re
import subprocess
import sys
import tempfile
import time

KTEST, KERNEL_DIR, OBJECT_DIR, SCENARIO = (os.path.abspath(a) if a else a for a in sys.argv[1:5])
VICTIM_KEY = b"KTEST-VICTIM-KEY"
WAIT, DONE = b"KTEST-HOST-WAIT\0", b"KTEST-HOST-DONE\0"
GARBAGE = bytes.fromhex("4242424242424242")  # even (not a nulls marker), non-canonical


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def fail(why, output=""):
    print(f"FAIL: {why}")
    if output:
        print("---- ktest output ----\n" + output[-6000:])
    sys.exit(1)


def htab_elem_key_offset():
    """offsetof(struct htab_elem, key) from the guest kernel's BTF; the
    chain's `next` pointer is the element's first word (checked too)."""
    raw = subprocess.run(["bpftool", "btf", "dump", "file", os.path.join(KERNEL_DIR, "vmlinux"),
                          "format", "raw"], capture_output=True, text=True, check=True).stdout
    block = re.search(r"STRUCT 'htab_elem' size=\d+ vlen=\d+\n((?:\t.*\n)+)", raw)
    if not block:
        fail("the kernel's BTF has no struct htab_elem")
    members = re.findall(r"\t'([^']+)' type_id=\d+ bits_offset=(\d+)", block.group(1))
    if not members or int(members[0][1]) != 0:
        fail(f"htab_elem does not start with its hash node: {members}")
    offsets = {name: int(bits) // 8 for name, bits in members}
    return offsets["key"]


def descendants(pid):
    """pid and every process below it (ktest may run the guest in a child)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def guest_ram(ktest, deadline):
    """The memfd holding guest RAM (ktest's or its QEMU's), mapped read-write."""
    while time.monotonic() < deadline:
        if ktest.poll() is not None:
            fail(f"ktest exited ({ktest.returncode}) before the guest started", ktest.communicate()[0])
        for proc in descendants(ktest.pid):
            try:
                for fd in os.listdir(f"/proc/{proc}/fd"):
                    path = f"/proc/{proc}/fd/{fd}"
                    if os.readlink(path).startswith("/memfd:ktest-guest-ram"):
                        f = open(path, "r+b")
                        return f, mmap.mmap(f.fileno(), 0)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass
        time.sleep(0.1)
    fail("ktest's guest RAM memfd never appeared")


def all_offsets(ram, pattern):
    found, at = [], ram.find(pattern)
    while at != -1:
        found.append(at)
        at = ram.find(pattern, at + 1)
    return found


def corrupt(ram, key_offset, proc, deadline):
    """Waits until the guest filled its maps, then corrupts and releases it."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "ktest exited before the guest filled its maps"
        keys, waits = all_offsets(ram, VICTIM_KEY), all_offsets(ram, WAIT)
        if keys and waits:
            if len(keys) != 1:
                return f"the victim key is in guest RAM {len(keys)} times, expected once"
            elem = keys[0] - key_offset
            ram[elem:elem + 8] = GARBAGE
            for at in waits:
                ram[at:at + len(DONE)] = DONE
            print(f"corrupted the element at guest-physical {elem:#x}; released the guest")
            return None
        time.sleep(0.2)
    return "the guest never filled its maps"


def main():
    if not KERNEL_DIR or not os.path.exists(os.path.join(KERNEL_DIR, "vmlinux")):
        skip("no fetched kernel (configure with -Dkernel_dir=...)")
    if not os.path.exists(os.path.join(OBJECT_DIR, "corrupt_target.bpf.o")):
        skip("corrupt_target.bpf.o was not built")
    if os.geteuid() != 0:
        skip("writing into ktest's guest RAM through /proc/<pid>/fd needs root")
    key_offset = htab_elem_key_offset()
    with tempfile.TemporaryDirectory(prefix="ktest-corrupt-") as cwd:
        cmd = [KTEST, "--color=never", "run", "--quiet", "--kernel", KERNEL_DIR,
               "--object-path", OBJECT_DIR, SCENARIO]
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 400
        f, ram = guest_ram(proc, deadline)
        try:
            problem = corrupt(ram, key_offset, proc, deadline)
        finally:
            ram.close()
            f.close()
        output = proc.communicate(timeout=max(1, deadline - time.monotonic()))[0]
        if problem:
            fail(problem, output)
        if proc.returncode != 0:
            fail(f"ktest run exited {proc.returncode}; a corrupt map must not fail the run", output)

        run_dir = os.path.join(cwd, "ktest-runs", "latest")
        results = json.load(open(os.path.join(run_dir, "results.json")))
        capture = results["scenarios"][0]["captures"][0]
        if capture["degraded"] or capture["error"]:
            fail(f"the capture itself failed: {capture}")
        report = json.load(open(capture["report"]))
        maps = {m["name"]: m for m in report["maps"]}
        victim = maps.get("ktest_victim")
        if victim is None:
            fail(f"ktest_victim is missing from the report: {sorted(maps)}")
        if not victim.get("error"):
            fail(f"ktest_victim has no error although its chain points at garbage: {victim}")
        print(f"ktest_victim's error: {victim['error']}")
        handshake = maps.get("ktest_handshake", {})
        if "HOST-DONE" not in json.dumps(handshake.get("value")):
            fail(f"the map beside the corrupt one was not read intact: {handshake}")
        bss = [m for n, m in maps.items() if n.endswith(".bss")]
        if not bss or bss[0].get("error"):
            fail(f"the object's .bss was not read: {bss}")

        dump = subprocess.run([KTEST, "--color=never", "snapshot", "dump", run_dir],
                              capture_output=True, text=True, timeout=60)
        if dump.returncode != 0 or "ktest_victim" not in dump.stdout or victim["error"] not in dump.stdout:
            fail(f"`ktest snapshot dump` does not show the map's error (exit {dump.returncode})",
                 dump.stdout + dump.stderr)
    print("ok")


if __name__ == "__main__":
    main()
