#!/usr/bin/env python3
"""End-to-end tests of scheduler deaths (the error-trigger pipeline): each
case boots the real guest through `ktest run` with one of ktest_sched's
failing variants and checks the verdict, the @early/@exit reports, the
kernel's exit info and how fast ktest noticed.

usage: scheduler_exit_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR
Exits 0 on success, 1 on failure, 77 (skipped) without a fetched kernel.
"""
import json
import os
import re

# run_test.py reads the same argv; its main() only runs as a script.
from run_test import CASE, KERNEL_DIR, SCENARIOS, check, ktest, latest_results, load_report, run, serve, skip


def results(cwd):
    return latest_results(cwd)["scenarios"][0]


def load(path):
    return load_report(path)  # a report or results.json: plain JSON unless it ends in .zst


def step(res, op, description=None):
    found = [s for s in res["steps"] if s["op"] == op and description in (None, s["description"])]
    check(found, f"a {op} step {description or ''} in the results", json.dumps(res, indent=1))
    return found[0]


def exit_report(res, out):
    exits = res["scheduler_exits"]
    check(len(exits) >= 1, "the scheduler's exit is reported", out)
    report = exits[0]["report"]
    check(report and os.path.exists(report), f"the failure dump {report} was written", out)
    return exits[0], load(report)


def case_error(cwd):
    rc, out, secs = run(os.path.join(SCENARIOS, "scheduler_error.yaml"), cwd=cwd)
    check(rc == 1, f"an unexpected scheduler death exits 1 (got {rc})", out)
    check("SCX_EXIT_ERROR_BPF" in out and "boom" in out, "the text report names the kind and message", out)
    res = results(cwd)
    check(res["outcome"] == "failed", "the scenario failed", out)
    exit, dump = exit_report(res, out)
    check(exit["kind"] == "SCX_EXIT_ERROR_BPF" and not exit["expected"], f"kind {exit['kind']}", out)
    check(exit["scheduler"] == "ktest_sched_error", f"the scheduler is named ({exit['scheduler']})", out)
    check(exit["reason"] == "scx_bpf_error" and "boom" in (exit["message"] or ""),
          f"reason and message: {exit['reason']}: {exit['message']}", out)
    # single (no stall came first): the late report itself.
    check(dump.get("schema") == "single" and dump.get("snapshot_name") == "@exit", "a single @exit report", out)
    names = {m["name"] for m in dump["maps"]}
    check("scx_per_task" in names and any(n.endswith(".bss") for n in names),
          f"the dying scheduler's maps are in @exit: {sorted(names)}", out)
    scx = dump["scx"]
    check(scx["exit"]["kind"] == "SCX_EXIT_ERROR_BPF", "scx.exit in the report", out)
    check(scx["exit"]["dump"] and scx["exit"]["backtrace"], "the debug dump and backtrace were read", out)
    check(exit["dump_file"] and os.path.getsize(exit["dump_file"]) > 0, "the debug dump file", out)
    # The sleep after the death did not run out: the step failed at once.
    sleep = step(res, "Sleep", "20000ms")
    check(sleep["outcome"] == "failed" and sleep["duration_ms"] < 10000,
          f"the Sleep during the death failed early ({sleep['duration_ms']} ms)", out)
    print(f"freeze window of @exit: {dump['freeze_window_us']} us; run took {secs:.1f}s")
    # `ktest snapshot dump` shows both the scx section and the exit info.
    rc, text, _ = ktest("snapshot", "dump", "--snapshot", "@exit", cwd=cwd)
    check(rc == 0 and "SCX_EXIT_ERROR_BPF" in text and "scx_per_task" in text,
          "snapshot dump shows @exit with its maps and exit info", text)


def case_error_expected(cwd):
    rc, out, _ = run(os.path.join(SCENARIOS, "scheduler_error_expected.yaml"), cwd=cwd)
    check(rc == 0, f"a declared death passes (got {rc})", out)
    res = results(cwd)
    check(all(a["outcome"] == "passed" for a in res["assertions"]) and len(res["assertions"]) == 7,
          "every assertion on @exit passes", out)
    exit = res["scheduler_exits"][0]
    check(exit["expected"] and exit["outcome"] == "passed", "the exit is marked expected", out)


def case_stall(cwd):
    rc, out, _ = run(os.path.join(SCENARIOS, "scheduler_stall.yaml"), cwd=cwd)
    check(rc == 1, f"a stall exits 1 (got {rc})", out)
    res = results(cwd)
    exit, dump = exit_report(res, out)
    check(exit["kind"] == "SCX_EXIT_ERROR_STALL", f"kind {exit['kind']}", out)
    check(re.search(r"stallme\[\d+\] failed to run", exit["message"] or ""), "the kernel's stall message", out)
    check(dump.get("schema") == "dual", f"an early and a late report (schema {dump.get('schema')})", out)
    early = dump["early"]
    check(early["snapshot_name"] == "@early", "the early report is @early", out)
    waiting = [t for t in early["scx"]["runnable"] if t["comm"] == "stallme"]
    check(waiting, "stallme is runnable in @early", out)
    threshold_ms = early["scx"]["watchdog_timeout_ms"] / 2
    check(waiting[0]["wait_ms"] >= threshold_ms * 0.9,
          f"stallme waited {waiting[0]['wait_ms']} ms, about half the watchdog timeout", out)
    check(dump["early_max_age_jiffies"] >= dump["early_threshold_jiffies"] > 0, "the early thresholds", out)
    check(dump["late"]["scx"]["exit"]["kind"] == "SCX_EXIT_ERROR_STALL", "the late report's exit", out)
    rc, text, _ = ktest("snapshot", "dump", "--snapshot", "@early", cwd=cwd)
    check(rc == 0 and "stallme" in text, "snapshot dump reads @early from the failure dump", text)


def case_dies_at_attach(cwd):
    rc, out, _ = run(os.path.join(SCENARIOS, "scheduler_dies_at_attach.yaml"), cwd=cwd)
    check(rc == 1, f"a scheduler dying at attach exits 1 (got {rc})", out)
    res = results(cwd)
    attach = step(res, "AttachScheduler")
    sleep = step(res, "Sleep")
    # The kernel's words, whichever step saw the death first.
    failed = attach if attach["outcome"] == "failed" else sleep
    check(failed["outcome"] == "failed" and "sched_ext" in (failed["error"] or ""),
          f"{failed['op']} fails with the kernel's sched_ext message", out)
    took = attach["duration_ms"] + (sleep["duration_ms"] if failed is sleep else 0)
    check(took < 5000, f"the failure came {took} ms after the attach began", out)


def case_watch_bpf_global(cwd):
    rc, out, _ = run(os.path.join(SCENARIOS, "watch_bpf_global.yaml"), cwd=cwd)
    check(rc == 0, f"a watch on a BPF global passes (got {rc})", out)
    res = results(cwd)
    watch = step(res, "WatchSnapshot")
    check("nr_init_task" in (watch["error"] or "") or watch["outcome"] == "passed", "the watch armed", out)
    bumped = [c for c in res["captures"] if c["name"] == "bumped"]
    check(bumped and bumped[0]["report"], "the watch fired and captured 'bumped'", out)
    check(load(bumped[0]["report"]).get("trigger") == "watchpoint", "captured by the watchpoint", out)


CASES = {
    "scheduler-error": case_error,
    "scheduler-error-expected": case_error_expected,
    "scheduler-stall": case_stall,
    "scheduler-dies-at-attach": case_dies_at_attach,
    "watch-bpf-global": case_watch_bpf_global,
}

if __name__ == "__main__":
    serve(CASES, KERNEL_DIR)
