#!/usr/bin/env python3
"""Runs the built `ktest` binary (no guest) and checks exit codes and messages.

Usage: ktest_cli_test.py CASE KTEST SOURCE_ROOT, or ktest_cli_test.py --list
Each CASE is one meson test. Exit 0 pass, 1 fail.
Every run happens in a fresh temporary directory with HOME and
XDG_CONFIG_HOME pointing inside it, so no real configuration leaks in.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

CASE = sys.argv[1]
KTEST, ROOT = (os.path.abspath(sys.argv[i]) if len(sys.argv) > i else "" for i in (2, 3))
REAL_HOME = os.environ.get("HOME", "")
FIXTURE_REPORT = os.path.join(ROOT, "tests/cli/fixtures/report.json")
failures = []


def run(args, cwd, expect_rc, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "XDG_CONFIG_HOME")}
    env.update({"HOME": cwd, "XDG_CONFIG_HOME": os.path.join(cwd, "xdg"), "TERM": "dumb"})
    env.update(env_extra or {})
    p = subprocess.run([KTEST] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    shown = "ktest " + " ".join(args)
    if p.returncode != expect_rc:
        failures.append(f"{shown}: exit {p.returncode}, expected {expect_rc}\n"
                        f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def expect(cond, what, p=None):
    if not cond:
        extra = f"\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}" if p is not None else ""
        failures.append(what + extra)


def case_help(d):
    p = run(["--help"], d, 0)
    for word in ("validate", "snapshot", "version", "--color", "--config", "Exit status"):
        expect(word in p.stdout, f"--help lacks {word!r}", p)
    p = run(["snapshot", "--help"], d, 0)
    expect(all(w in p.stdout for w in ("dump", "diff", "query")), "snapshot --help lacks dump/diff/query", p)
    p = run(["snapshot", "diff", "--help"], d, 0)
    expect("[RUN:]NAME" in p.stdout or "RUN:NAME" in p.stdout, "snapshot diff --help names RUN:NAME", p)
    expect("Exit status" in p.stdout, "snapshot diff --help gives the exit status", p)
    p = run(["snapshot", "query", "--help"], d, 0)
    expect("EXPR" in p.stdout and "Exit status" in p.stdout, "snapshot query --help", p)
    run(["validate", "--help"], d, 0)
    run(["version", "--help"], d, 0)


def case_unknown_command(d):
    p = run(["valdate", "x.yaml"], d, 2)
    expect("ktest: error: unknown command 'valdate'" in p.stderr, "unknown command message", p)
    expect("did you mean 'validate'?" in p.stderr, "nearest command suggestion", p)
    p = run(["frobnicate"], d, 2)
    expect("unknown command 'frobnicate'" in p.stderr and "ktest --help" in p.stderr,
           "unknown command without a near one points at --help", p)
    p = run(["snapshot", "dumb"], d, 2)
    expect("dumb" in p.stderr, "unknown snapshot subcommand is named", p)


def case_usage_errors(d):
    p = run([], d, 2)
    expect("ktest: error:" in p.stderr and "subcommand" in p.stderr.lower(), "no command", p)
    p = run(["validate"], d, 2)
    expect("FILE is required" in p.stderr, "missing required argument", p)
    expect("ktest validate --help" in p.stderr, "hint names the subcommand's help", p)
    p = run(["--color=sometimes", "version"], d, 2)
    expect("sometimes" in p.stderr, "bad --color value is named", p)
    run(["version", "--bogus"], d, 2)
    run(["snapshot", "query", FIXTURE_REPORT], d, 2)
    # --color placement: before or after the subcommand.
    run(["version", "--color=never"], d, 0)
    # --object-path takes one directory: the scenarios after it stay scenarios.
    p = run(["run", "--object-path", d, "first-missing.yaml", "second-missing.yaml"], d, 2)
    expect("first-missing.yaml" in p.stderr, "--object-path DIR leaves the first scenario alone", p)
    # Nothing to run is a usage error, not a pass.
    empty = os.path.join(d, "empty")
    os.makedirs(empty)
    p = run(["run", empty], d, 2)
    expect("no scenarios to run" in p.stderr, "an empty directory is refused", p)
    for name in ("a.yaml", "b.yaml"):
        open(os.path.join(empty, name), "w").close()
    p = run(["run", "--shard", "3/3", empty], d, 2)
    expect("shard 3/3 holds no scenario: there are 2 in all" in p.stderr, "an empty shard is refused", p)


def case_config_errors(d):
    with open(os.path.join(d, "ktest.toml"), "w") as f:
        f.write("[vm]\ncpu = 2\n")
    sub = os.path.join(d, "a", "b")
    os.makedirs(sub)
    p = run(["version"], sub, 2)
    want = os.path.join(d, "ktest.toml") + ":2:1: unknown key 'cpu' in [vm]"
    expect(want in p.stderr, f"config error located ({want!r})", p)
    expect("hint: did you mean 'cpus'?" in p.stderr, "config error suggests cpus", p)
    p = run(["--config", os.path.join(d, "missing.toml"), "version"], d, 2)
    expect("does not exist" in p.stderr, "--config with a missing file", p)
    good = os.path.join(d, "good.toml")
    with open(good, "w") as f:
        f.write("[vm]\ncpus = 4\n")
    run(["--config", good, "version"], sub, 0)  # --config wins over the broken ktest.toml


def case_version(d):
    p = run(["version"], d, 0)
    expect(re.search(r"^ktest \d+\.\d+\.\d+ ", p.stdout, re.M), "version line", p)
    expect(re.search(r"^libbpf \d+\.\d+", p.stdout, re.M), "libbpf version line", p)


def case_validate(d):
    mistakes = os.path.join(ROOT, "tests/fixtures/scenarios/five_mistakes.yaml")  # in the repository
    p = run(["validate", mistakes], d, 2)
    located = re.findall(r"five_mistakes\.yaml:\d+:\d+: error: ", p.stderr)
    expect(len(located) == 5, f"five located errors, got {len(located)}", p)
    for example in sorted(glob.glob(os.path.join(ROOT, "scenarios/examples/*.yaml")))[:1]:
        p = run(["validate", example], d, 0)
        expect(": ok (scenario" in p.stdout, "a valid scenario says ok", p)
        run(["validate", example, mistakes], d, 2)  # one bad file fails the run
    run(["validate", os.path.join(d, "absent.yaml")], d, 2)


def query_reports():
    # Ours, plus the snapshot layer's single-scheduler fixtures when present
    # (two_schedulers.json is ambiguous for var() on purpose).
    shared = [os.path.join(ROOT, "tests/fixtures/reports", name)
              for name in ("scx_basic.json", "ktstr_single.failure-dump.json")]
    return [FIXTURE_REPORT] + [p for p in shared if os.path.exists(p)]


def case_snapshot_query(d):
    for report in query_reports():
        p = run(["snapshot", "query", report, 'var("nr_cpus_onln") > 0'], d, 0)
        expect(p.stdout.strip() == "true", f"query on {report} prints true", p)
    p = run(["snapshot", "query", FIXTURE_REPORT, 'var("nr_cpus_onln") > 64'], d, 1)
    expect(p.stdout.strip() == "false", "a false query prints false and exits 1", p)
    p = run(["snapshot", "query", FIXTURE_REPORT, 'var("nr_cpus_onln")'], d, 0)
    expect(p.stdout.strip() == "2", "a value query prints the value", p)
    p = run(["snapshot", "query", FIXTURE_REPORT,
             'map("scx_per_task").find(tid == 42).get("ctx.weight.value") == 100'], d, 0)
    p = run(["snapshot", "query", FIXTURE_REPORT, 'var("nr_cpus_onln") >'], d, 2)
    expect("expression:1:" in p.stderr, "a syntax error is located in the expression", p)
    p = run(["snapshot", "query", os.path.join(d, "none.json"), "true"], d, 2)
    expect("does not exist" in p.stderr, "a missing report is named", p)


def case_snapshot_query_missing(d):
    # A name the report lacks is an invalid query: exit 2, with the alternatives.
    p = run(["snapshot", "query", FIXTURE_REPORT, 'var("nr_cpus_onlnx") > 0'], d, 2)
    expect("nr_cpus_onln" in p.stderr.replace("nr_cpus_onlnx", ""), "alternatives are listed", p)
    p = run(["snapshot", "query", FIXTURE_REPORT,
             'map("scx_per_task").find(tid == 42).get("ctx.wieght.value") == 100'], d, 2)
    expect("weight" in p.stderr.replace("wieght", ""), "the missing member's alternatives", p)


def case_snapshot_dump(d):
    p = run(["snapshot", "dump", FIXTURE_REPORT], d, 0)
    expect("nr_cpus_onln" in p.stdout and "scx_per_task" in p.stdout, "dump shows vars and maps", p)
    p = run(["snapshot", "dump", FIXTURE_REPORT, "--json", "--map", "scx_per_task"], d, 0)
    expect('"ktest_sc.bss"' not in p.stdout and "scx_per_task" in p.stdout, "--map selects", p)
    run(["snapshot", "dump", FIXTURE_REPORT, "--map", "scx_per_tsk"], d, 2)
    # No REPORT: the latest run under the output dir (default ./ktest-runs).
    p = run(["snapshot", "dump"], d, 2)
    expect("no run found" in p.stderr, "no runs yet", p)
    run_dir = os.path.join(d, "ktest-runs", "20261126-070000", "snapshots")
    os.makedirs(run_dir)
    with open(FIXTURE_REPORT) as src, open(os.path.join(run_dir, "before.json"), "w") as dst:
        dst.write(src.read())
    os.symlink("20261126-070000", os.path.join(d, "ktest-runs", "latest"))
    p = run(["snapshot", "dump", "--snapshot", "before"], d, 0)
    expect("nr_cpus_onln" in p.stdout, "dump of the latest run", p)
    # The configured output dir is honoured.
    os.rename(os.path.join(d, "ktest-runs"), os.path.join(d, "runs"))
    with open(os.path.join(d, "ktest.toml"), "w") as f:
        f.write('[output]\ndir = "runs"\n')
    run(["snapshot", "dump"], d, 0)


def case_report(d):
    """`ktest report`: errors that say what to do, then a page from a run
    directory holding the fixture report (the browser test is e2e)."""
    p = run(["report"], d, 2)
    expect("no run found" in p.stderr and "ktest run" in p.stderr, "no runs yet", p)
    p = run(["report", os.path.join(d, "nowhere")], d, 2)
    expect("is not a directory" in p.stderr and "hint:" in p.stderr, "a missing run directory", p)
    p = run(["report", d], d, 2)
    expect("has no results.json" in p.stderr, "a directory that is no run", p)
    run_dir = os.path.join(d, "ktest-runs", "20261126-070000")
    os.makedirs(os.path.join(run_dir, "01-x", "snapshots"))
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        f.write("[1, 2]")
    p = run(["report", run_dir], d, 2)
    expect("not a ktest results file" in p.stderr, "results.json of another shape", p)
    with open(FIXTURE_REPORT) as src, open(os.path.join(run_dir, "01-x", "snapshots", "before.json"), "w") as dst:
        dst.write(src.read())
    # Recorded elsewhere (a run directory copied from CI): paths are rebased.
    recorded = "/ci/ktest-runs/20261126-070000"
    results = {"output_dir": recorded, "summary": {"passed": 1}, "scenarios": [{
        "name": "x</script>", "outcome": "passed", "output_dir": recorded + "/01-x", "steps": [],
        "assertions": [], "scheduler_exits": [], "console_log": None,
        "captures": [{"name": "before", "report": recorded + "/01-x/snapshots/before.json"}]}]}
    with open(os.path.join(run_dir, "results.json"), "w") as f:
        json.dump(results, f)
    os.symlink("20261126-070000", os.path.join(d, "ktest-runs", "latest"))
    p = run(["report"], d, 0)
    page = os.path.join(d, "ktest-runs", "latest", "report.html")
    expect(p.stdout.strip() == os.path.join("ktest-runs", "latest", "report.html"), "prints the page's path", p)
    with open(page) as f:
        html = f.read()
    expect("x&lt;/script&gt;" in html and html.count("</script") == 3, "names are escaped", p)
    expect("nr_cpus_onln" in html, "the capture was read from the moved run directory", p)
    expect('"problems":[]' in html, "nothing was left unread", p)
    p = run(["report", "-o", os.path.join(d, "nodir", "x.html"), run_dir], d, 2)
    expect("writing the HTML report" in p.stderr, "an output that cannot be written", p)


SHARED_REPORTS = os.path.join(ROOT, "tests/fixtures/reports")


def make_run(d, run, snapshots, latest=False):
    """ktest-runs/<run>/<scenario>/snapshots/<name>.json as `ktest run` writes them;
    `snapshots` maps a snapshot name to the shared fixture it is a copy of."""
    snap_dir = os.path.join(d, "ktest-runs", run, "quickstart", "snapshots")
    os.makedirs(snap_dir)
    for name, fixture in snapshots.items():
        with open(os.path.join(SHARED_REPORTS, fixture)) as f:
            report = json.load(f)
        report["snapshot_name"] = name
        with open(os.path.join(snap_dir, name + ".json"), "w") as f:
            json.dump(report, f)
    if latest:
        link = os.path.join(d, "ktest-runs", "latest")
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(run, link)
    return os.path.join(d, "ktest-runs", run)


def case_snapshot_diff(d):
    p = run(["snapshot", "diff", "a", "b"], d, 2)
    expect("no run found" in p.stderr, "no runs yet", p)
    make_run(d, "run1", {"after_spawn": "scx_basic.json", "before_exit": "scx_later.json"}, latest=True)
    # Same: exit 0. Different: exit 1, the change with its delta.
    p = run(["snapshot", "diff", "after_spawn", "after_spawn"], d, 0)
    expect(p.stdout.strip().endswith("no differences"), "the same snapshot has no differences", p)
    expect("1 constant section (scx_simpl.rodata; same)" in p.stdout, "constant sections are hidden and named", p)
    p = run(["snapshot", "diff", "after_spawn", "before_exit"], d, 1)
    expect("--- after_spawn (captured 2026-11-26T07:00:01Z)" in p.stdout, "the header names A", p)
    expect("    nr_enqueued: 1234 → 5678 (+4444)" in p.stdout, "a changed variable with its delta", p)
    expect(p.stdout.strip().endswith("1 map differs"), "the summary line", p)
    p = run(["snapshot", "diff", "before_exit", "after_spawn", "--json"], d, 1)
    doc = json.loads(p.stdout)
    field = doc["maps"][0]["value"][0]
    expect(doc["differs"] is True and field["path"] == "nr_enqueued" and field["delta"] == -4444,
           "--json gives the same change, delta negative backwards", p)
    # Filters: what is left out does not make them differ.
    p = run(["snapshot", "diff", "after_spawn", "before_exit", "--var", "nr_failed", "--var", "stats"], d, 0)
    p = run(["snapshot", "diff", "after_spawn", "before_exit", "--ignore", "nr_enqueued",
             "--ignore", "nr_dispatched"], d, 0)
    expect("ignored: 2 differing fields (--ignore)" in p.stdout, "ignored fields are counted", p)
    p = run(["snapshot", "diff", "after_spawn", "before_exit", "--map", "scx_per_task"], d, 0)
    p = run(["snapshot", "diff", "after_spawn", "before_exit", "--all"], d, 1)
    expect("= map scx_simpl.rodata (array, global variables)" in p.stdout and "  = key 101" in p.stdout,
           "--all lists constants and unchanged maps and entries", p)
    # Trouble: exit 2, with what exists.
    p = run(["snapshot", "diff", "after_spwan", "before_exit"], d, 2)
    expect("no snapshot 'after_spwan'; available: after_spawn, before_exit (did you mean 'after_spawn'?)"
           in p.stderr, "an unknown snapshot lists the available ones", p)
    p = run(["snapshot", "diff", "after_spawn", "before_exit", "--map", "scx_per_tsk"], d, 2)
    expect("did you mean 'scx_per_task'?" in p.stderr, "an unknown map is named with the nearest", p)
    p = run(["snapshot", "diff", "after_spawn", "before_exit", "--var", "nr_enqeued"], d, 2)
    expect("did you mean 'nr_enqueued'?" in p.stderr, "an unknown variable is named with the nearest", p)
    p = run(["snapshot", "diff", "run1:", "before_exit"], d, 2)
    expect("holds 2 snapshots" in p.stderr and "after_spawn, before_exit" in p.stderr,
           "RUN: with several snapshots asks which", p)


def case_snapshot_diff_runs(d):
    run1 = make_run(d, "run1", {"end": "scx_basic.json"})
    make_run(d, "run2", {"end": "scx_later.json", "other": "scx_basic.json"}, latest=True)
    # RUN:NAME with RUN a run's name in the output dir, `latest`, or a path.
    p = run(["snapshot", "diff", "run1:end", "latest:end"], d, 1)
    expect("--- run1:end" in p.stdout and "+++ latest:end" in p.stdout, "two runs are labelled as named", p)
    expect("    nr_enqueued: 1234 → 5678 (+4444)" in p.stdout, "the change across runs", p)
    run(["snapshot", "diff", run1 + ":end", "run2:other"], d, 0)
    run(["snapshot", "diff", "--run", "run1", "end", "run1:end"], d, 0)
    run(["snapshot", "diff", "run1:", "end"], d, 1)  # run1 holds one snapshot; plain `end` is latest's
    # Report files: a plain *.json argument is that file's snapshot.
    basic = os.path.join(SHARED_REPORTS, "scx_basic.json")
    later = os.path.join(SHARED_REPORTS, "scx_later.json")
    p = run(["snapshot", "diff", basic, later, "--map", "bss"], d, 1)
    expect("~ map scx_simpl.bss" in p.stdout, "two report files", p)
    p = run(["snapshot", "diff", "run3:end", "run1:end"], d, 2)
    expect("'run3' does not exist" in p.stderr, "an unknown run is named", p)
    p = run(["snapshot", "diff", "run1:nope", "run1:end"], d, 2)
    expect("no snapshot 'nope'; available: end" in p.stderr, "an unknown name in a run", p)


def case_snapshot_dump_changes(d):
    make_run(d, "run1", {"after_spawn": "scx_basic.json", "before_exit": "scx_later.json"}, latest=True)
    p = run(["snapshot", "dump"], d, 0)
    expect("map scx_simpl.rodata" not in p.stdout and
           "(hidden: 1 constant section (scx_simpl.rodata); --all shows them)" in p.stdout,
           "dump hides constant sections and says so", p)
    p = run(["snapshot", "dump", "--all", "--snapshot", "after_spawn"], d, 0)
    expect("map scx_simpl.rodata" in p.stdout and "(hidden:" not in p.stdout, "--all hides no section or entry", p)
    p = run(["snapshot", "dump", "--changed-since", "after_spawn"], d, 0)
    expect("+++ before_exit" in p.stdout and "nr_enqueued: 1234 → 5678 (+4444)" in p.stdout,
           "--changed-since prints the diff", p)
    expect("+++ after_spawn" not in p.stdout, "--changed-since skips its own snapshot", p)
    p = run(["snapshot", "dump", "--changed-since", "after_spawn", "--path", "nr_dispatched", "--json"], d, 0)
    doc = json.loads(p.stdout)
    expect(doc[0]["snapshot"] == "before_exit" and doc[0]["data"]["maps"][0]["value"][0]["delta"] == 4444,
           "--changed-since --json", p)
    p = run(["snapshot", "dump", "--changed-since", "after_spwan"], d, 2)
    expect("did you mean 'after_spawn'?" in p.stderr, "--changed-since with an unknown name", p)


def host_has_usable_kvm_module():
    return os.path.exists("/dev/kvm") and any(
        os.path.exists(f"/sys/module/{m}") for m in ("kvm_intel", "kvm_amd"))


def case_doctor(d):
    # HOME is the empty temp dir: no cached kernel, so the kernel check fails.
    p = run(["doctor"], d, 69)
    expect(re.search(r"^fail +kernel .*\n +fix: ktest kernel fetch", p.stdout, re.M), "kernel check", p)
    expect("cannot run here" in p.stdout, "verdict line", p)
    expect(re.search(r"^ok +qemu +QEMU [0-9.]+ ", p.stdout, re.M), "qemu check", p)
    if not os.path.exists("/dev/kvm"):
        expect(re.search(r"^warn +kvm +no /dev/kvm.*ktest will use TCG", p.stdout, re.M),
               "no KVM is explained, and TCG named", p)
    p = run(["doctor", "--json"], d, 69)
    doc = json.loads(p.stdout)
    expect(doc["runnable"] is False, "JSON verdict", p)
    if not host_has_usable_kvm_module():  # with one, permissions decide: not checked here
        expect(doc["accel"] == "tcg", "JSON accel is tcg without a hardware KVM module", p)
    expect({c["name"] for c in doc["checks"]} >= {"kvm", "qemu", "kernel", "memfd", "memory"}, "JSON checks", p)
    # With the cached kernel the developer fetched, the machine is runnable.
    cached = sorted(glob.glob(os.path.join(REAL_HOME, ".cache/ktest/kernels/*/vmlinux")))
    if not cached:
        print("note: no kernel under ~/.cache/ktest/kernels; the runnable half is not checked")
        return
    with open(os.path.join(d, "ktest.toml"), "w") as f:
        f.write(f'[vm]\nkernel = "{os.path.dirname(cached[-1])}"\nmemory = "512M"\n')
    p = run(["doctor"], d, 0)
    expect(re.search(r"^ok +kernel-config ", p.stdout, re.M), "kernel config check", p)
    expect("ktest can run here (accel: " in p.stdout, "runnable verdict", p)


CASES = {
    "doctor": case_doctor,
    "help": case_help,
    "unknown-command": case_unknown_command,
    "usage-errors": case_usage_errors,
    "config-errors": case_config_errors,
    "version": case_version,
    "validate": case_validate,
    "snapshot-query": case_snapshot_query,
    "snapshot-query-missing": case_snapshot_query_missing,
    "snapshot-dump": case_snapshot_dump,
    "report": case_report,
    "snapshot-diff": case_snapshot_diff,
    "snapshot-diff-runs": case_snapshot_diff_runs,
    "snapshot-dump-changes": case_snapshot_dump_changes,
}

if __name__ == "__main__":
    if CASE == "--list":  # cli/meson.build registers one test per case: this dict is the list
        print("\n".join(CASES))
        sys.exit(0)
    with tempfile.TemporaryDirectory(prefix="ktest_cli_") as tmp:
        CASES[CASE](os.path.realpath(tmp))
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    sys.exit(1 if failures else 0)
