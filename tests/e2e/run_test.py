#!/usr/bin/env python3
"""End-to-end tests of `ktest run`: each case boots the real guest under
QEMU (TCG here, KVM where usable) through the built ktest binary.

usage: run_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR [OBJECT_DIR]
OBJECT_DIR holds the test's own BPF objects (load_bpf_test.bpf.o).
Exits 0 on success, 1 on failure, 77 (skipped) when the kernel, the guest
agent or something a case needs is missing, printing why.
"""
import json
import os
import re
import struct
import subprocess
import time

from verdict import arg, check, serve, skip  # noqa: F401 (also imported from here by the other e2e scripts)

CASE, KTEST, ROOT, KERNEL_DIR, OBJECT_DIR = (arg(i) for i in range(1, 6))
SCENARIOS = os.path.join(ROOT, "tests", "e2e", "scenarios")
QUICKSTART = os.path.join(ROOT, "scenarios", "examples", "quickstart.yaml")


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


def load_report(path):
    """A capture's report as ktest stored it: JSON, or one zstd frame past 1 MiB."""
    if path.endswith(".zst"):
        return json.loads(subprocess.run(["zstd", "-dcq", path], capture_output=True, check=True).stdout)
    with open(path) as f:
        return json.load(f)


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
    report = load_report(tick[0]["report"])
    check(report.get("trigger") == "watchpoint", "the capture was triggered by the watchpoint", out)
    check(len(report.get("vcpu_regs", [])) == 1, "vCPU registers are in the report", out)
    regs = report["vcpu_regs"][0] or {}
    check(regs.get("instruction_pointer", 0) >= 0xffffffff80000000 and regs.get("page_table_root", 0) != 0,
          f"the registers are where a kernel stops ({regs})", out)
    check(report.get("freeze_verified") is True and not (report.get("section_errors") or {}),
          f"the pause held, verified at the resume ({report.get('section_errors')})", out)


def case_outputs(cwd):
    junit = os.path.join(cwd, "junit.xml")
    rc, out, _ = run(os.path.join(SCENARIOS, "watch.yaml"), "--tap", "--junit", junit, cwd=cwd)
    check(rc == 0, f"exit 0 (got {rc})", out)
    check(out.startswith("TAP version 13"), "TAP output", out)
    with open(junit) as f:
        check("<testsuite" in f.read(), "JUnit file written")
    _, version, _ = ktest("version", cwd=cwd)
    check(latest_results(cwd)["ktest_version"] == version.split()[1], "results.json names this ktest's version",
          version)
    # A report that cannot be written wins over the passing verdict.
    rc, out, _ = run(os.path.join(SCENARIOS, "watch.yaml"), "--junit", os.path.join(cwd, "no", "such", "j.xml"),
                     cwd=cwd)
    check(rc == 2, f"an unwritable --junit file exits 2 though the scenario passed (got {rc})", out)
    check(latest_results(cwd)["scenarios"][0]["outcome"] == "passed", "the scenario itself passed", out)


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


def scenario_json(out):
    """The scenario object of a --json run's stdout."""
    return json.loads(out[: out.rindex("}") + 1])["scenarios"][0]


def need_bpftool():
    if not any(os.access(os.path.join(d, "bpftool"), os.X_OK)
               for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/sbin"]):
        skip("bpftool is not installed on the host (vm.tools copies the host's)")


def need_object():
    if not OBJECT_DIR or not os.path.exists(os.path.join(OBJECT_DIR, "load_bpf_test.bpf.o")):
        skip("load_bpf_test.bpf.o was not built (configure with -Dkernel_dir=...)")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def case_tools_bpftool(cwd):
    need_bpftool()
    rc, out, _ = run(os.path.join(SCENARIOS, "tools_bpftool.yaml"), "--json", cwd=cwd)
    check(rc == 0, f"bpftool from vm.tools runs in the guest (got {rc})", out)
    step = scenario_json(out)["steps"][0]
    check(step["output_file"] and step["output_file"].endswith("/output/step-1.log"),
          "the Run step names its output file", out)
    text = read_bytes(step["output_file"]).decode(errors="replace")
    check("bpftool v" in text, "the output file holds bpftool's version", text)


def case_load_bpf(cwd):
    need_bpftool()
    need_object()
    rc, out, _ = run(os.path.join(SCENARIOS, "load_bpf.yaml"), "--json", "--object-path", OBJECT_DIR, cwd=cwd)
    check(rc == 0, f"LoadBpf + bpftool map dump passes (got {rc})", out)
    res = scenario_json(out)
    load = res["steps"][0]
    check(load["op"] == "LoadBpf" and load["description"] == "fixture", "the step is labelled", out)
    check(load["summary"] == "attached: count_exec; ran: fill = 0",
          f"programs attached and run are reported (got {load['summary']!r})", out)
    dump = json.loads(read_bytes(res["steps"][1]["output_file"]))
    values = {}
    for entry in dump:
        # With BTF bpftool prints typed values; without, little-endian hex bytes.
        key, value = entry.get("formatted", entry)["key"], entry.get("formatted", entry)["value"]
        if isinstance(key, list):
            key = int.from_bytes(bytes(int(b, 16) for b in key), "little")
            value = int.from_bytes(bytes(int(b, 16) for b in value), "little")
        values[key] = value
    want = {k: 0x4B54455354 + k for k in range(4)}
    check(values == want, f"bpftool sees what fill wrote: {values} != {want}", out)
    check(all(a["outcome"] == "passed" for a in res["assertions"]), "the capture agrees", out)

    rc, out, _ = run(os.path.join(SCENARIOS, "load_bpf_fails.yaml"), "--object-path", OBJECT_DIR, cwd=cwd)
    check(rc == 1, f"a misspelled run program fails the step (got {rc})", out)
    check("no program named 'fil'" in out and "did you mean 'fill'?" in out,
          "the error names the program and suggests the real one", out)
    check("fail_with_3" in out, "the error lists the object's programs", out)

    rc, out, _ = run(os.path.join(SCENARIOS, "load_bpf_returns.yaml"), "--json", "--object-path", OBJECT_DIR,
                     cwd=cwd)
    step = scenario_json(out)["steps"][0]
    check(rc == 1 and "program fail_with_3 returned 3" in step["error"], "a non-zero return fails the step", out)
    check(step["summary"] == "attached: count_exec; ran: fill = 0, fail_with_3 = 3",
          f"both runs are reported (got {step['summary']!r})", out)


def case_spawn_missing(cwd):
    rc, out, secs = run(os.path.join(SCENARIOS, "spawn_missing.yaml"), "--json", cwd=cwd)
    check(rc == 1, f"a Spawn of a missing program fails (got {rc})", out)
    step = scenario_json(out)["steps"][0]
    check(step["outcome"] == "failed", "the Spawn step itself failed", out)
    check("cannot run 'no-such-program': No such file or directory" in step["error"],
          "the error names the program and errno", out)
    check("add it to vm.tools" in step["error"], "the error hints at vm.tools", out)
    check(scenario_json(out)["steps"][1]["outcome"] == "skipped", "the run stopped there", out)


def case_run_output(cwd):
    rc, out, _ = run(os.path.join(SCENARIOS, "run_output.yaml"), cwd=cwd)
    res = latest_results(cwd)["scenarios"][0]
    big = res["steps"][0]
    check(big["outcome"] == "passed", "the long command passed", out)
    want = "".join(f"line-{i}\n" for i in range(20000)).encode() + b"end\0\xff"
    got = read_bytes(big["output_file"])
    check(got == want, f"the output is saved byte for byte ({len(got)} of {len(want)} bytes)", out)
    capped = read_bytes(res["steps"][1]["output_file"])
    drop_line = b"[ktest: 1048581 more bytes of output dropped: a step keeps at most 16777216 bytes]\n"
    check(capped.startswith(b"a" * 16777216 + b"\n") and capped.endswith(drop_line) and
          len(capped) == 16777216 + 1 + len(drop_line), f"16 MiB are kept, then the drop is counted "
          f"({len(capped)} bytes, ending {capped[-120:]!r})", out)
    missing = res["steps"][2]
    check(rc == 1 and missing["outcome"] == "failed", f"exit 127 fails the step (got {rc})", out)
    check("exited with 127" in missing["error"] and "add it to vm.tools" in missing["error"],
          "exit 127 hints at vm.tools", out)
    check(read_bytes(missing["output_file"]).find(b"no-such-tool") >= 0, "the shell's message is saved", out)
    check("output:" in out and "step-3.log" in out, "the text report names a failed Run's output", out)


def map_named(report, name, out):
    found = [m for m in report["maps"] if m["name"] == name]
    check(len(found) == 1, f"the capture has one map {name}", out)
    return found[0]


def case_task_storage(cwd):
    """ktest_sched's task storage map ktest_task_ctx: every entry keyed by its
    owner's pid (cross-checked against scx_per_task, which the same
    scheduler keys by pid); a wrong expected weight fails showing the actual."""
    scenario = os.path.join(SCENARIOS, "task_storage.yaml")
    rc, out, _ = run(scenario, cwd=cwd)
    check(rc == 0, f"task_storage.yaml passes (exit {rc})", out)
    captures = latest_results(cwd)["scenarios"][0]["captures"]
    check([c["name"] for c in captures] == ["busy"], "one capture named busy", out)
    report = load_report(captures[0]["report"])
    storage = map_named(report, "ktest_task_ctx", out)
    check(storage["map_type"] == 29, "ktest_task_ctx is task storage", out)
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
    rc, dump, _ = ktest("snapshot", "dump", "--snapshot", "busy", "--map", "ktest_task_ctx", cwd=cwd)
    check(rc == 0 and "TASK_STORAGE" in dump and "weight" in dump,
          "snapshot dump shows the task storage map", dump)

    with open(scenario) as f:
        text = f.read()
    right = 'get("weight") == 100'
    check(right in text, f"the scenario asserts {right}")
    wrong = os.path.join(cwd, "task_storage_wrong.yaml")
    with open(wrong, "w") as f:
        f.write(text.replace(right, 'get("weight") == 12345'))
    rc, out, _ = run(wrong, cwd=cwd)
    check(rc == 1, f"a wrong expected weight fails the run (exit {rc})", out)
    check(re.search(r"expected:\s*12345\b", out) and re.search(r"actual:\s*100\b", out),
          "the failure shows the expected and the actual weight", out)


def case_example_bpf_maps(cwd):
    """The bundled LoadBpf example passes and its Run's bpftool output is kept."""
    rc, out, _ = run(os.path.join(ROOT, "scenarios", "examples", "bpf_maps.yaml"), cwd=cwd)
    check(rc == 0, f"bpf_maps.yaml exits 0 (got {rc})", out)
    res = latest_results(cwd)["scenarios"][0]
    check(all(a["outcome"] == "passed" for a in res["assertions"]) and len(res["assertions"]) == 5,
          "all five assertions pass", out)
    dump = json.loads(read_bytes([s for s in res["steps"] if s["op"] == "Run"][0]["output_file"]))
    check(len(dump) == 10, f"bpftool saw the 10 entries of ktest_hash (got {len(dump)})", out)


def case_arena_ringbuf(cwd):
    """An arena (globals, a page reached through `__arena` pointers from the
    arena and from .bss) and a ring buffer with three committed records and
    a discarded one. bpftool cannot dump either, so the fixture's known
    values are the only oracle."""
    if not os.path.exists(os.path.join(OBJECT_DIR, "arena_ringbuf_test.bpf.o")):
        skip("arena_ringbuf_test.bpf.o was not built (configure with -Dkernel_dir=...)")
    scenario = os.path.join(SCENARIOS, "arena_ringbuf.yaml")
    rc, out, _ = run(scenario, "--json", "--object-path", OBJECT_DIR, cwd=cwd)
    check(rc == 0, f"arena_ringbuf.yaml passes (exit {rc})", out)
    res = scenario_json(out)
    check(len(res["assertions"]) == 7 and all(a["outcome"] == "passed" for a in res["assertions"]),
          "all seven assertions pass", out)
    report = load_report(res["captures"][0]["report"])
    arena = map_named(report, "arena", out)
    check(not arena.get("error"), f"the arena was read: {arena.get('error')}", out)
    geo = arena["arena"]
    check(geo["user_vm_end"] - geo["user_vm_start"] == 16 * 4096, f"16 pages of user range: {geo}", out)
    check(geo["pages_present"] >= 2, f"the globals page and the allocated one are present: {geo}", out)
    check(geo["globals_addr"] in (geo["user_vm_start"], geo["user_vm_end"] - 4096),
          f"the globals sit at the start or the end of the arena: {geo}", out)
    globals_ = arena["value"]["members"][0]["value"]
    check(globals_["type_name"] == ".addr_space.1", f"globals render as the arena DATASEC: {globals_}", out)
    events = map_named(report, "events", out)
    check(not events.get("error"), f"the ring buffer was read: {events.get('error')}", out)
    ring = events["ringbuf"]
    check(ring["record_type"] == "events_record", f"samples typed by convention: {ring}", out)
    flags = [(r["busy"], r["discarded"], r["len"]) for r in ring["records"]]
    check(flags == [(False, False, 16)] * 3 + [(False, True, 16)], f"three committed, one discarded: {flags}", out)
    check(ring["pending_bytes"] == 4 * 24, f"four 24-byte records pending: {ring}", out)
    values = [e["value"]["members"][2]["value"]["value"] for e in events["entries"]]
    check(values == [100, 200, 300], f"the committed samples in order: {values}", out)
    check([e["key"]["value"] for e in events["entries"]] == [0, 24, 48], "keyed by position", out)
    rc, dump, _ = ktest("snapshot", "dump", "--snapshot", "filled", "--map", "events", cwd=cwd)
    check(rc == 0 and "ringbuf: capacity 4096" in dump and "discarded" in dump,
          "snapshot dump shows the ring buffer", dump)

    with open(scenario) as f:
        text = f.read()
    wrong = os.path.join(cwd, "arena_wrong.yaml")
    with open(wrong, "w") as f:
        f.write(text.replace('get("globals.head.x") == 11', 'get("globals.head.x") == 12'))
    rc, out, _ = run(wrong, "--object-path", OBJECT_DIR, cwd=cwd)
    check(rc == 1 and re.search(r"actual:\s*11\b", out), f"a wrong arena value fails showing 11 (exit {rc})", out)


def case_series(cwd):
    """A CaptureSnapshot series runs beside the later steps and past the last
    one; assertions reach it through series(). One assertion fails on purpose."""
    rc, out, _ = run(os.path.join(SCENARIOS, "series.yaml"), cwd=cwd)
    check(rc == 1, f"the one false assertion makes the run exit 1 (got {rc})", out)
    res = latest_results(cwd)["scenarios"][0]
    outcomes = {a["name"]: a["outcome"] for a in res["assertions"]}
    check(outcomes.pop("counts only grow") == "failed", "never_increases() fails", out)
    check(all(o == "passed" for o in outcomes.values()), f"every other assertion passes: {outcomes}", out)
    check(re.search(r'expected: >= \d+ \(series\("tick"\)\.var\("nr_enqueued"\)\[\d\]\)\n'
                    r' *actual: +series\("tick"\)\.var\("nr_enqueued"\)\[\d\] = \d+', out) is not None,
          "the failure names the pair of captures out of order", out)
    captures = {c["name"]: c for c in res["captures"]}
    ticks = [f"tick.{k}" for k in range(1, 6)]
    check(sorted(captures) == sorted(ticks + ["middle"]), f"five ticks and middle: {sorted(captures)}", out)
    at = [captures[t]["at_ms"] for t in ticks]
    gaps = [b - a for a, b in zip(at, at[1:])]
    # The guest's 300 ms grid, seen from the host: never shorter (its clock
    # stops while frozen), and not the 5 s a stuck tick would take.
    check(all(250 <= g <= 5000 for g in gaps), f"ticks about 300 ms apart on the host: {gaps}", out)
    check(at[0] < captures["middle"]["at_ms"] < at[-1], "the plain capture lands between the ticks", out)
    rc, dump, _ = ktest("snapshot", "dump", "--snapshot", "tick.3", cwd=cwd)
    check(rc == 0 and "scx_per_task" in dump, "a member is a snapshot like any other", dump)


CASES = {
    "quickstart": case_quickstart,
    "wrong-value": case_wrong_value,
    "panic": case_panic,
    "watch": case_watch,
    "outputs": case_outputs,
    "jobs-shard": case_jobs_shard,
    "invalid": case_invalid,
    "tools-bpftool": case_tools_bpftool,
    "load-bpf": case_load_bpf,
    "spawn-missing": case_spawn_missing,
    "run-output": case_run_output,
    "task-storage": case_task_storage,
    "example-bpf-maps": case_example_bpf_maps,
    "arena-ringbuf": case_arena_ringbuf,
    "series": case_series,
}

if __name__ == "__main__":
    serve(CASES, KERNEL_DIR)
