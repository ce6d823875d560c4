#!/usr/bin/env python3
"""End-to-end tests of loader schedulers (`AttachScheduler: {command: ...}`)
with ktest_loader, and of what upstream BPF code needs in the guest
(__kconfig from /boot/config-<release>).

usage: loader_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR OBJECT_DIR LOADER
LOADER is the built ktest_loader; its directory also holds ktest_sched.bpf.o.
Exits 0 on success, 1 on failure, 77 (skipped) when something is missing.
"""
import json
import os
import re

# run_test.py reads the same argv; its main() only runs as a script.
from run_test import CASE, KERNEL_DIR, ROOT, OBJECT_DIR, arg, check, run, serve, skip, latest_results, load_report

LOADER = arg(6)
BUILD_SCENARIOS = os.path.dirname(LOADER)
EXAMPLE = os.path.join(ROOT, "scenarios", "examples", "loader.yaml")


def results(cwd):
    return latest_results(cwd)["scenarios"][0]


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def need_loader():
    if not LOADER or not os.path.exists(LOADER):
        skip("ktest_loader was not built (configure with -Dkernel_dir=...)")


def case_loader(cwd):
    """The example: loader form, then object form, then loader form again."""
    need_loader()
    # The example names the program bare, as a user with scx_* installed
    # would: found on the host's PATH. The guest's PATH does not have the
    # build directory, so the added Run step (a scx_stats client asking the
    # loader's socket) names it by its absolute path.
    os.environ["PATH"] = BUILD_SCENARIOS + ":" + os.environ.get("PATH", "")
    text = read(EXAMPLE)
    anchor = "  - Sleep: 500ms\n  - CaptureSnapshot: loaded\n"
    check(anchor in text, "the example has the steps this test extends", text)
    text = text.replace(anchor, f"  - Sleep: 500ms\n  - Run: {{command: [{LOADER}, --stats], json: loader_stats}}\n"
                                "  - CaptureSnapshot: loaded\n")
    # The arena's per-task state (through the .bss __arena pointer), the
    # pending ring buffer records and the stats reply, as assertions.
    text += "\n".join([
        '  - snapshot("loaded").var("tasks").find(pid == pid("worker")).nr_runs > 0',
        '  - snapshot("loaded").map("loader_events").find(pid == pid("worker")).kind == 1',
        '  - snapshot("loaded").map("loader_events").len() == snapshot("loaded").var("nr_events")',
        '  - stats("loader_stats").get("args.resp.nr_enqueued") > 0',
        '  - stats("loader_stats").errno == 0',
    ]) + "\n"
    scenario = os.path.join(cwd, "loader.yaml")
    with open(scenario, "w") as f:
        f.write(text)
    rc, out, _ = run(scenario, "--object-path", BUILD_SCENARIOS, cwd=cwd)
    check(rc == 0, f"loader.yaml passes (exit {rc})", out)
    res = results(cwd)
    check(len(res["assertions"]) == 12 and all(a["outcome"] == "passed" for a in res["assertions"]),
          "all 12 assertions pass (live_var: the loader's object is the active one; the arena's "
          "per-task state, the ring buffer's records, the stats reply)", out)
    steps = res["steps"]
    check([s["op"] for s in steps if "Scheduler" in s["op"]] ==
          ["AttachScheduler", "ReplaceScheduler", "ReplaceScheduler", "DetachScheduler"],
          "no implicit DetachScheduler after the explicit one", json.dumps(steps, indent=1))
    check(steps[0]["description"] == "ktest_loader", "the loader is labelled by its file name", out)

    # The first loader's output comes with the Replace that stopped it.
    first = [s for s in steps if s["op"] == "ReplaceScheduler"][0]
    check((first.get("output_file") or "").endswith("/output/scheduler-ktest_loader.log"),
          f"the first Replace saved the loader's output ({first.get('output_file')})", json.dumps(first))
    text = read(first["output_file"])
    check("ktest_loader: attached (slice 5000 us)" in text, "the loader said it attached", text)
    stats = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
    check(stats and stats[-1]["nr_enqueued"] > 0, "the loader printed stats lines with enqueues", text)
    check("ktest_loader: detached" in text, "SIGINT made it detach and exit cleanly", text)

    detach = [s for s in steps if s["op"] == "DetachScheduler"][0]
    check((detach.get("output_file") or "").endswith("/output/scheduler-second.log"),
          "the second loader's output is named after its label", json.dumps(detach))

    # The stats socket speaks the scx_stats protocol.
    ask = [s for s in steps if s["op"] == "Run"][0]
    reply = json.loads(read(ask["output_file"]).strip())
    check(reply["errno"] == 0 and reply["args"]["resp"]["nr_enqueued"] > 0,
          "the stats socket answered with the stats", json.dumps(reply))

    # Every map of the loader's capture is read: none "is not read".
    report = load_report(res["captures"][0]["report"])
    names = {m.get("name") for m in report.get("maps", [])}
    for wanted in ("loader_task_slo", "loader_events", "loader_arena", "ktest_loader_op"):  # 15 characters kept
        check(wanted in names, f"the capture lists map {wanted} (got {sorted(n for n in names if n)})", out)
    unread = [(m.get("name"), m.get("error")) for m in report.get("maps", [])
              if "not read" in (m.get("error") or "") or "not supported" in (m.get("error") or "")]
    check(not unread, f"no map of the capture is left unread: {unread}", out)


def case_loader_fails_early(cwd):
    need_loader()
    scenario = os.path.join(cwd, "fails_early.yaml")
    with open(scenario, "w") as f:
        f.write("name: fails-early\nvm: {cpus: 1, memory: 256M, timeout: 120s}\n"
                f"steps:\n  - AttachScheduler: {{command: [{LOADER}, --fail-early]}}\n")
    rc, out, _ = run(scenario, cwd=cwd)
    check(rc != 0, "a loader that exits before enabling fails the scenario", out)
    step = results(cwd)["steps"][0]
    check(step["outcome"] == "failed", "the AttachScheduler step failed", json.dumps(step))
    err = step["error"]
    check("exited with 3 before its scheduler was enabled" in err, "the error gives the exit status", err)
    check("failing early on purpose" in err, "the error quotes the loader's output", err)
    check(read(step["output_file"]).startswith("ktest_loader: failing early on purpose"),
          "its output is saved", json.dumps(step))


def config_value(name):
    with open(os.path.join(KERNEL_DIR, "config")) as f:
        for line in f:
            if line.startswith(name + "="):
                return int(line.split("=", 1)[1])
    skip(f"{name} is not in the kernel's config")


def case_kconfig(cwd):
    if not OBJECT_DIR or not os.path.exists(os.path.join(OBJECT_DIR, "kconfig_test.bpf.o")):
        skip("kconfig_test.bpf.o was not built (configure with -Dkernel_dir=...)")
    if not os.path.exists(os.path.join(KERNEL_DIR, "config")):
        skip("the fetched kernel has no config")
    nr_cpus, hz = config_value("CONFIG_NR_CPUS"), config_value("CONFIG_HZ")
    scenario = os.path.join(cwd, "kconfig.yaml")
    with open(scenario, "w") as f:
        f.write("name: kconfig\nvm: {cpus: 1, memory: 256M, timeout: 120s}\nsteps:\n"
                "  - LoadBpf: {object: kconfig_test.bpf.o, run: [read_config]}\n"
                "  - Run: {command: \"ls /boot; ls -ld /var/run /run\"}\n"
                "  - CaptureSnapshot: loaded\n"
                f"assertions:\n  - var(\"config_nr_cpus\") == {nr_cpus}\n  - var(\"config_hz\") == {hz}\n")
    rc, out, _ = run(scenario, "--object-path", OBJECT_DIR, cwd=cwd)
    check(rc == 0, f"libbpf resolved the __kconfig externs in the guest (exit {rc})", out)
    res = results(cwd)
    check(all(a["outcome"] == "passed" for a in res["assertions"]) and len(res["assertions"]) == 2,
          f"CONFIG_NR_CPUS == {nr_cpus} and CONFIG_HZ == {hz} as the kernel's config says", out)
    listing = read(res["steps"][1]["output_file"])
    check(re.search(r"config-\S+", listing) and "/var/run -> /run" in listing,
          "the guest has /boot/config-<release> and /var/run -> /run", listing)


CASES = {"loader": case_loader, "loader-fails-early": case_loader_fails_early, "kconfig": case_kconfig}


if __name__ == "__main__":
    serve(CASES, KERNEL_DIR)
