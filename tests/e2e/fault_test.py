#!/usr/bin/env python3
"""Fault injection end to end: a run that is interrupted, or whose QEMU is
killed, mid-run. Each must end within a bounded time with its documented
exit code, keep what was written before the fault, and say why.

usage: fault_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR
Exits 0 on success, 1 on failure, 77 (skipped) without a fetched kernel.
"""
import json
import os
import signal
import subprocess
import time

from run_test import KERNEL_DIR, KTEST, QUICKSTART, check, serve

# The quickstart's scheduler and workload, a capture, then a long wait in
# which the fault comes.
LONG = """name: long
vm: {cpus: 2, memory: 512M, timeout: 300s}
steps:
  - AttachScheduler: {object: %s}
  - Spawn: {name: worker, command: "while :; do :; done"}
  - CaptureSnapshot: before
  - Sleep: 120s
  - CaptureSnapshot: never
"""
# How long ktest may take from the fault to its exit.
FAULT_BOUND_S = 30


def start_long_run(cwd):
    obj = os.path.realpath(os.path.join(os.path.dirname(QUICKSTART), "..", "schedulers", "ktest_sched.bpf.o"))
    scenario = os.path.join(cwd, "long.yaml")
    with open(scenario, "w") as f:
        f.write(LONG % obj)
    kernel = ["--kernel", KERNEL_DIR] if KERNEL_DIR else []
    proc = subprocess.Popen([KTEST, "--color=never", "run", *kernel, scenario], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # The run is under way once the first snapshot is on disk (saved when taken).
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        found = [os.path.join(root, "before.json") for root, _, files in os.walk(os.path.join(cwd, "ktest-runs"))
                 if "before.json" in files]
        if found:
            return proc, found[0]
        time.sleep(0.5)
    out = proc.communicate(timeout=30)[0] if proc.poll() is None else proc.stdout.read()
    check(False, "the run took its first snapshot", out)


def finish(proc):
    start = time.monotonic()
    try:
        out = proc.communicate(timeout=FAULT_BOUND_S)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        check(False, f"ktest ended within {FAULT_BOUND_S} s of the fault", proc.communicate()[0])
    return proc.returncode, out, time.monotonic() - start


def qemu_pids(cwd):
    """QEMUs started from `cwd` (they inherit ktest's working directory)."""
    pids = []
    for pid in subprocess.run(["pgrep", "qemu-system"], capture_output=True, text=True).stdout.split():
        try:
            if os.path.realpath(os.readlink(f"/proc/{pid}/cwd")) == os.path.realpath(cwd):
                pids.append(int(pid))
        except OSError:
            pass
    return pids


def results_of(cwd):
    with open(os.path.join(cwd, "ktest-runs", "latest", "results.json")) as f:
        return json.load(f)["scenarios"][0]


def check_kept(cwd, snapshot, out):
    check(os.path.exists(snapshot), "the snapshot taken before the fault is kept", out)
    with open(snapshot) as f:
        check(json.load(f).get("snapshot_name") == "before", "and it is whole (valid JSON)", out)
    check(not qemu_pids(cwd), "no QEMU is left behind", out)


def case_sigint(cwd):
    """Ctrl-C: the guest is torn down, partial results are written, exit 130."""
    proc, snapshot = start_long_run(cwd)
    proc.send_signal(signal.SIGINT)
    rc, out, took = finish(proc)
    check(rc == 130, f"an interrupted run exits 130 (got {rc} after {took:.1f} s)", out)
    res = results_of(cwd)
    check(res["outcome"] == "error" and "interrupted (SIGINT)" in res.get("error", ""),
          "results.json says the scenario was interrupted", json.dumps(res)[:3000])
    check([c["name"] for c in res["captures"]] == ["before"], "the capture before the interrupt is listed",
          json.dumps(res["captures"]))
    check_kept(cwd, snapshot, out)


def case_qemu_killed(cwd):
    """QEMU dies (SIGKILL) mid-run: the run ends as an unavailable guest (69)
    with the reason, and keeps what was captured."""
    proc, snapshot = start_long_run(cwd)
    pids = qemu_pids(cwd)
    check(len(pids) == 1, f"one QEMU runs the guest (found {pids})")
    os.kill(pids[0], signal.SIGKILL)
    rc, out, took = finish(proc)
    check(rc == 69, f"a run whose QEMU was killed exits 69 (got {rc} after {took:.1f} s)", out)
    res = results_of(cwd)
    check(res["outcome"] == "error" and "the guest ended early" in res.get("error", ""),
          "results.json says the guest ended early", json.dumps(res)[:3000])
    check("signal 9" in res.get("error", "") or "SIGKILL" in res.get("error", "") or "killed" in res.get("error", ""),
          "and that QEMU was killed", res.get("error", ""))
    check(os.path.exists(res.get("console_log", "")), "the console log is kept", out)
    check_kept(cwd, snapshot, out)


CASES = {"sigint": case_sigint, "qemu-killed": case_qemu_killed}

if __name__ == "__main__":
    serve(CASES, KERNEL_DIR)
