#!/usr/bin/env python3
"""Task local storage end to end: `ktest run` on task_storage.yaml boots
the real guest with ktest_sched attached, whose ktest_task_ctx is a
BPF_MAP_TYPE_TASK_STORAGE map. The run must pass, the capture must key
every entry by its owner's pid (cross-checked against scx_per_task, the
hash map the same scheduler keys by pid), and the same scenario with a
wrong expected weight must fail showing the actual one.

usage: task_storage_test.py KTEST KERNEL_DIR OBJECT_DIR SCENARIO
Exits 0 on success, 1 on failure, 77 (skipped) when the kernel or the
scheduler object is missing, printing why.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

KTEST, KERNEL_DIR, OBJECT_DIR, SCENARIO = sys.argv[1:5]
MAP_TYPE_TASK_STORAGE = 29


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def check(cond, what, output=""):
    if not cond:
        print(f"FAIL: {what}")
        if output:
            print("---- output ----")
            print(output[-6000:])
        sys.exit(1)


def ktest(*args, cwd):
    p = subprocess.run([KTEST, "--color=never", *args], cwd=cwd, capture_output=True, text=True,
                       timeout=600)
    return p.returncode, p.stdout + p.stderr


def run(scenario, cwd):
    return ktest("run", "--kernel", KERNEL_DIR, "--object-path", OBJECT_DIR, scenario, cwd=cwd)


def map_named(report, name, out):
    found = [m for m in report["maps"] if m["name"] == name]
    check(len(found) == 1, f"the capture has one map {name}", out)
    return found[0]


def check_keys(cwd, out):
    results = os.path.join(cwd, "ktest-runs", "latest", "results.json")
    with open(results) as f:
        captures = json.load(f)["scenarios"][0]["captures"]
    check([c["name"] for c in captures] == ["busy"], "one capture named busy", out)
    with open(captures[0]["report"]) as f:
        report = json.load(f)
    storage = map_named(report, "ktest_task_ctx", out)
    check(storage["map_type"] == MAP_TYPE_TASK_STORAGE, "ktest_task_ctx is task storage", out)
    check(not storage.get("error"), f"ktest_task_ctx was read: {storage.get('error')}", out)
    entries = storage.get("entries", [])
    check(len(entries) > 1, "ktest_task_ctx has an entry per task", out)
    pids = []
    for e in entries:
        key = e["key"]
        check(key["kind"] == "int" and key["bits"] == 32, f"key {key} is a 32-bit int", out)
        check(e["key_hex"] == struct.pack("<i", key["value"]).hex(" "), f"key_hex of {key}", out)
        check(e["value"]["type_name"] == "task_local_ctx", "values rendered with the map's BTF", out)
        pids.append(key["value"])
    check(pids == sorted(set(pids)), "one entry per pid, sorted", out)
    # Both maps are filled in init_task; scx_per_task drops a task at
    # exit_task, its task storage goes only when the task is freed.
    per_task = {e["key"]["value"] for e in map_named(report, "scx_per_task", out)["entries"]}
    check(per_task <= set(pids), f"scx_per_task pids {sorted(per_task - set(pids))} have "
          "no task storage entry", out)


def main():
    if not KERNEL_DIR or not os.path.exists(os.path.join(KERNEL_DIR, "vmlinux")):
        skip("no fetched kernel (run `ktest kernel fetch`, then configure -Dkernel_dir=...)")
    if not os.path.exists(os.path.join(OBJECT_DIR, "ktest_sched.bpf.o")):
        skip(f"no ktest_sched.bpf.o in {OBJECT_DIR}")
    with tempfile.TemporaryDirectory(prefix="ktest-task-storage-") as cwd:
        rc, out = run(SCENARIO, cwd)
        check(rc == 0, f"task_storage.yaml passes (exit {rc})", out)
        check_keys(cwd, out)
        rc, dump = ktest("snapshot", "dump", "--snapshot", "busy", "--map", "ktest_task_ctx",
                         cwd=cwd)
        check(rc == 0 and "task_storage" in dump and "weight" in dump,
              "snapshot dump shows the task storage map", dump)

        with open(SCENARIO) as f:
            text = f.read()
        right = 'get("weight") == 100'
        check(right in text, f"the scenario asserts {right}")
        wrong = os.path.join(cwd, "task_storage_wrong.yaml")
        with open(wrong, "w") as f:
            f.write(text.replace(right, 'get("weight") == 12345'))
        rc, out = run(wrong, cwd)
        check(rc == 1, f"a wrong expected weight fails the run (exit {rc})", out)
        check(re.search(r"expected:\s*12345\b", out) and re.search(r"actual:\s*100\b", out),
              "the failure shows the expected and the actual weight", out)
    print("ok")


if __name__ == "__main__":
    main()
