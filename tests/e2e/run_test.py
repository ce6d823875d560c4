#!/usr/bin/env python3
"""End-to-end tests of `ktest run`: each case boots the real guest under
QEMU (TCG here, KVM where usable) through the built ktest binary.

usage: run_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR
Exits 0 on success, 1 on failure, 77 (skipped) when the kernel or the
guest agent is missing, printing why.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

CASE, KTEST, ROOT, KERNEL_DIR = sys.argv[1:5]
SCENARIOS = os.path.join(ROOT, "tests", "e2e", "scenarios")
QUICKSTART = os.path.join(ROOT, "scenarios", "examples", "quickstart.yaml")


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


def ktest(*args, cwd, timeout=600):
    start = time.monotonic()
    p = subprocess.run([KTEST, "--color=never", *args], cwd=cwd, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - start


def run(*args, cwd):
    kernel = ["--kernel", KERNEL_DIR] if KERNEL_DIR else []
    return ktest("run", *kernel, *args, cwd=cwd)


def latest_results(cwd):
    with open(os.path.join(cwd, "ktest-runs", "latest", "results.json")) as f:
        return json.load(f)


def main():
    if not KERNEL_DIR or not os.path.exists(os.path.join(KERNEL_DIR, "vmlinux")):
        skip("no fetched kernel (run `ktest kernel fetch`, then configure -Dkernel_dir=...)")
    with tempfile.TemporaryDirectory(prefix="ktest-e2e-") as cwd:
        CASES[CASE](cwd)
    print("ok")


def case_quickstart(cwd):
    rc, out, _ = run(QUICKSTART, cwd=cwd)
    check(rc == 0, f"quickstart exits 0 (got {rc})", out)
    res = latest_results(cwd)["scenarios"][0]
    check([c["name"] for c in res["captures"]] == ["early", "late"], "two captures", out)
    check(all(a["outcome"] == "passed" for a in res["assertions"]), "assertions pass", out)
    # The snapshots were written and `ktest snapshot dump` finds them by default.
    rc, dump, _ = ktest("snapshot", "dump", "--snapshot", "late", cwd=cwd)
    check(rc == 0 and "scx_per_task" in dump, "snapshot dump reads the latest run", dump)


def case_wrong_value(cwd):
    rc, out, _ = run(os.path.join(SCENARIOS, "wrong_weight.yaml"), cwd=cwd)
    check(rc == 1, f"a false assertion exits 1 (got {rc})", out)
    check("12345" in out and "100" in out, "expected and actual weight are shown", out)


def case_panic(cwd):
    rc, out, secs = run(os.path.join(SCENARIOS, "panic.yaml"), cwd=cwd)
    check(rc == 69, f"a kernel panic exits 69 (got {rc})", out)
    check("Kernel panic" in out, "the console tail is shown", out)
    check("console.log" in out, "the console log path is named", out)
    check(secs < 90, f"the run ends within seconds of the panic (took {secs:.1f}s)", out)
    res = latest_results(cwd)["scenarios"][0]
    check(res["outcome"] == "error", "the scenario is an error", out)
    check(os.path.getsize(res["console_log"]) > 0, "the console log is kept", out)


def case_watch(cwd):
    rc, out, _ = run(os.path.join(SCENARIOS, "watch.yaml"), "--json", cwd=cwd)
    check(rc == 0, f"watch scenario exits 0 (got {rc})", out)
    res = json.loads(out[: out.rindex("}") + 1])["scenarios"][0]
    tick = [c for c in res["captures"] if c["name"] == "tick"]
    check(len(tick) == 1, "the watchpoint produced the 'tick' capture", out)
    with open(tick[0]["report"]) as f:
        report = json.load(f)
    check(report.get("trigger") == "watchpoint", "the capture was triggered by the watchpoint", out)
    check(len(report.get("vcpu_regs", [])) == 1, "vCPU registers are in the report", out)


def case_outputs(cwd):
    junit = os.path.join(cwd, "junit.xml")
    rc, out, _ = run(os.path.join(SCENARIOS, "watch.yaml"), "--tap", "--junit", junit, cwd=cwd)
    check(rc == 0, f"exit 0 (got {rc})", out)
    check(out.startswith("TAP version 13"), "TAP output", out)
    with open(junit) as f:
        check("<testsuite" in f.read(), "JUnit file written")


def case_jobs_shard(cwd):
    pair = [os.path.join(SCENARIOS, "panic.yaml"), os.path.join(SCENARIOS, "watch.yaml")]
    rc, out, _ = run(*pair, "--shard", "2/2", cwd=cwd)
    check(rc == 0, f"shard 2/2 runs only watch.yaml and passes (got {rc})", out)
    check([s["name"] for s in latest_results(cwd)["scenarios"]] == ["watch"], "shard content", out)
    rc, out, _ = run(*pair, "--jobs", "2", cwd=cwd)
    check(rc == 69, f"two guests in parallel: the panic decides the exit status (got {rc})", out)
    names = sorted(s["name"] for s in latest_results(cwd)["scenarios"])
    check(names == ["panic", "watch"], "both scenarios ran", out)


def case_invalid(cwd):
    bad = os.path.join(cwd, "bad.yaml")
    with open(bad, "w") as f:
        f.write("name: bad\nsteps:\n  - Sleep: 5\n")
    rc, out, secs = run(bad, cwd=cwd)
    check(rc == 2, f"an invalid scenario exits 2 before booting (got {rc})", out)
    check("bad.yaml:3:" in out and "add a unit" in out, "located error with a hint", out)


CASES = {
    "quickstart": case_quickstart,
    "wrong-value": case_wrong_value,
    "panic": case_panic,
    "watch": case_watch,
    "outputs": case_outputs,
    "jobs-shard": case_jobs_shard,
    "invalid": case_invalid,
}

if __name__ == "__main__":
    main()
