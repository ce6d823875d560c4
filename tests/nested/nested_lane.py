#!/usr/bin/env python3
"""The nested-KVM lane: ktest under real KVM on a machine without /dev/kvm.

ktest itself boots an outer guest under TCG with `-cpu max,+svm` (QEMU
emulates AMD SVM), loading kvm-amd from the kernel's own modules
(vm.modules; `ktest kernel fetch --modules`). The outer guest carries
ktest (stripped), its agent, qemu-system-x86_64 with its firmware, the
inner kernel, the BPF objects and the inner scenarios (vm.tools, vm.files).
Inside, lane.sh runs `ktest run --accel kvm` on the inner scenarios and
prints the inner results as the last line, which the outer Run step
records as JSON (`json: inner`). This script then checks, from the outer
run's files:
  - every inner scenario booted under accel "kvm" and ended as expected;
  - kvm-doorbell: KVM's exit counters, read while frozen at each of ten
    captures, show the doorbell rings causing no exit to QEMU for MMIO, and
    the guest's clock stands still while frozen;
  - scheduler-stall: the stall is an exit, captured as @early and @exit;
  - kvm-watch-limit: the fourth watchpoint is refused (the debug registers);
  - no capture found the guest resumed while frozen (its "freeze" section error);
and prints the lane's wall time, boot-to-ready and capture times, the exit
counts and the watchpoint error. An inner scenario whose guest kernel
panicked is run once more in a fresh outer guest (see main()).

usage: nested_lane.py KTEST BUILD_DIR KERNEL_DIR [KEEP_DIR]
Exits 0 on success, 1 on failure, 77 (skipped) when something is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from verdict import check, skip  # noqa: E402

KTEST, BUILD_DIR, KERNEL_DIR = (os.path.abspath(a) for a in sys.argv[1:4])
KEEP = sys.argv[4] if len(sys.argv) > 4 else ""
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))

# The inner scenarios, and how each must end under KVM. No scenario needs a
# watchpoint to fire: none fires in the inner guest, not even one on
# jiffies_64 (written every tick), because the outer TCG's emulation of
# SVM loads DR7 at VMRUN without arming its own watchpoints from it (QEMU
# target/i386/tcg/sysemu/svm_helper.c helper_vmrun sets env->dr[7]; only
# cpu_x86_update_dr7 inserts them). On real hardware VMRUN loads DR7 itself.
# Arming and the debug-register limit are checked (kvm-watch-limit), and a
# scheduler's exit is still captured through the trigger's poll.
INNER = [
    (os.path.join(ROOT, "scenarios", "examples", "quickstart.yaml"), "passed"),
    (os.path.join(ROOT, "tests", "e2e", "scenarios", "task_storage.yaml"), "passed"),
    (os.path.join(ROOT, "tests", "e2e", "scenarios", "scheduler_error_expected.yaml"), "passed"),
    (os.path.join(ROOT, "tests", "e2e", "scenarios", "scheduler_stall.yaml"), "failed"),
    (os.path.join(HERE, "scenarios", "kvm_doorbell.yaml"), "passed"),
    (os.path.join(HERE, "scenarios", "kvm_watch_limit.yaml"), "failed"),
]
# KTEST_LANE_ONLY=quickstart.yaml,watch.yaml: a subset, for working on the lane.
if os.environ.get("KTEST_LANE_ONLY"):
    INNER = [(p, want) for p, want in INNER if os.path.basename(p) in os.environ["KTEST_LANE_ONLY"].split(",")]
OBJECTS = ["ktest_sched.bpf.o", "ktest_sched_error.bpf.o", "ktest_sched_stall.bpf.o"]
# The outer guest: one vCPU (ktest runs TCG single-threaded; two outer vCPUs
# taking turns starve the nested guest: its boot never finished in 3 min,
# while one outer vCPU boots a 2-vCPU inner guest), room for one 512 MiB
# inner guest at a time.
OUTER_TIMEOUT = "40m"


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ktest")


def ensure_modules():
    """kvm-amd comes from the kernel's own modules, fetched like the kernel."""
    if os.path.exists(os.path.join(KERNEL_DIR, "modules", "modules.dep")):
        return
    version = os.path.basename(os.path.normpath(KERNEL_DIR))
    p = subprocess.run([KTEST, "kernel", "fetch", "--quiet", "--modules", "--version", version],
                       capture_output=True, text=True, timeout=1200)
    if p.returncode != 0 or not os.path.exists(os.path.join(KERNEL_DIR, "modules", "modules.dep")):
        skip(f"the kernel's modules could not be fetched (ktest kernel fetch --modules): {p.stderr.strip()}")


def stage_ktest():
    """A stripped ktest outside /tmp (vm.tools refuses paths the guest mounts over)."""
    stage = os.path.join(cache_dir(), "nested-lane")
    os.makedirs(stage, exist_ok=True)
    binary = os.path.join(stage, "ktest")
    subprocess.run(["objcopy", "--strip-debug", KTEST, binary + ".new"], check=True)
    os.replace(binary + ".new", binary)
    return binary


def write_outer(work, ktest, inner):
    inner_dir = os.path.join(work, "inner")
    os.makedirs(inner_dir)
    for path, _ in inner:
        shutil.copy(path, inner_dir)
    objects = os.path.join(work, "objects")
    os.makedirs(objects)
    for name in OBJECTS:
        src = os.path.join(BUILD_DIR, "scenarios", name)
        check(os.path.exists(src), f"{src} was built (meson builds it before this test)")
        shutil.copy(src, objects)
    lane_sh = os.path.join(work, "lane.sh")
    shutil.copy(os.path.join(HERE, "lane.sh"), lane_sh)
    os.chmod(lane_sh, 0o755)
    agent = os.path.join(BUILD_DIR, "kvm", "agent", "ktest-agent")
    names = ", ".join(f"/nested/scenarios/{os.path.basename(p)}" for p, _ in inner)
    outer = f"""# Generated by tests/nested/nested_lane.py: ktest under KVM inside a TCG guest.
name: nested-kvm
vm:
  cpus: 1
  memory: 2G
  cpu_model: "max,+svm"
  timeout: {OUTER_TIMEOUT}
  modules: [kvm-amd]
  tools: [qemu-system-x86_64, {ktest}]
  files:
    - /usr/share/qemu
    - /usr/share/seabios
    - {{host: {KERNEL_DIR}/vmlinux, guest: /nested/kernel/vmlinux}}
    - {{host: {KERNEL_DIR}/config, guest: /nested/kernel/config}}
    - {{host: {agent}, guest: /nested/ktest-agent}}
    - {{host: {objects}, guest: /nested/objects}}
    - {{host: {inner_dir}, guest: /nested/scenarios}}
    - {{host: {lane_sh}, guest: /nested/lane.sh}}
steps:
  - Run: {{command: "test -c /dev/kvm && grep -qw svm /proc/cpuinfo"}}
  - Run: {{command: [/nested/lane.sh, {ktest}, {names}], json: inner}}
assertions:
  - stats("inner").get("summary.scenarios") == {len(inner)}
"""
    path = os.path.join(work, "nested.yaml")
    with open(path, "w") as f:
        f.write(outer)
    return path


def run_outer(work, ktest, inner):
    """Boots the outer guest on `inner` in `work`; returns the inner results
    by scenario file name, and the outer run's exit status."""
    os.makedirs(work, exist_ok=True)
    scenario = write_outer(work, ktest, inner)
    start = time.monotonic()
    # The lane's Run step takes minutes: lift the per-step bound to the whole run's.
    p = subprocess.run([KTEST, "--color=never", "run", "--accel", "tcg", "--kernel", KERNEL_DIR,
                        "--step-timeout", OUTER_TIMEOUT, scenario],
                       cwd=work, capture_output=True, text=True, timeout=45 * 60)
    wall = time.monotonic() - start
    out = p.stdout + p.stderr
    results_path = os.path.join(work, "ktest-runs", "latest", "results.json")
    check(os.path.exists(results_path), f"the outer run wrote no results (exit {p.returncode})", out)
    with open(results_path) as f:
        outer = json.load(f)["scenarios"][0]
    lane_log = next((s["output_file"] for s in outer["steps"] if s["op"] == "Run" and s["output_file"]
                     and "lane.sh" in s["description"]), None)
    log_text = open(lane_log, errors="replace").read() if lane_log else ""
    check(outer["vm"] and outer["vm"]["accel"] == "tcg", "the outer guest runs under TCG", out)
    check(outer["steps"][0]["outcome"] == "passed",
          "the outer guest has /dev/kvm (kvm-amd loaded) and SVM", out + log_text)
    inner_line = next((l for l in reversed(log_text.splitlines()) if l.startswith("{")), None)
    check(inner_line, "lane.sh printed the inner results", out + log_text)
    print(f"nested lane: outer run {wall:.0f} s wall (exit {p.returncode}); outer ready after "
          f"{outer['vm'].get('ready_ms')} ms under TCG")
    by_file = {os.path.basename(s["file"]): s for s in json.loads(inner_line)["scenarios"]}
    return by_file, p.returncode


def guest_panicked(s):
    """s: an inner scenario's results, or None when it did not run."""
    return bool(s) and s["outcome"] == "error" and "the guest ended early (panic" in (s["error"] or "")


def main():
    if not os.path.exists(os.path.join(KERNEL_DIR, "vmlinux")):
        skip("no fetched kernel (run `ktest kernel fetch`, then configure -Dkernel_dir=...)")
    if not shutil.which("qemu-system-x86_64"):
        skip("qemu-system-x86_64 is not installed")
    ensure_modules()
    ktest = stage_ktest()
    work = KEEP or tempfile.mkdtemp(prefix="ktest-nested-")
    inner, status = run_outer(work, ktest, INNER)
    # The inner guest runs on SVM as QEMU's TCG emulates it, and once in CI
    # its kernel died in an interrupt with nothing of ktest's running. A
    # scenario whose guest panicked is run once more in a fresh outer guest;
    # the first death is printed whole (its console tail), so a panic that
    # ktest causes still shows, and fails the lane when it comes back.
    again = [(p, want) for p, want in INNER if guest_panicked(inner.get(os.path.basename(p)))]
    for path, _ in again:
        name = os.path.basename(path)
        print(f"  {name}: the inner guest panicked; run once more. The first run's error:\n      "
              + first_error(inner[name]))
    if again:
        retried, retry_status = run_outer(os.path.join(work, "again"), ktest, again)
        inner.update(retried)
        status = status or retry_status
    # Every finding is printed before the verdict: the lane is how KVM bugs are found.
    problems = []
    for path, want in INNER:
        s = inner.get(os.path.basename(path))
        if not s:
            problems.append(f"{os.path.basename(path)} did not run inside")
            continue
        name = s["name"]
        vm = s["vm"] or {}
        captures = {c["name"]: c["duration_ms"] for c in s["captures"]}
        print(f"  {name:26} {s['outcome']:7} accel {vm.get('accel')}, cpu {vm.get('cpu_model')}, "
              f"ready {vm.get('ready_ms')} ms, {s['duration_ms']} ms in all, freeze windows (ms) {captures}")
        if vm.get("accel") != "kvm":
            problems.append(f"{name} ran under {vm.get('accel')}, not KVM")
        for c in s["captures"]:
            torn = (c.get("section_errors") or {}).get("freeze")
            if torn:
                problems.append(f"{name}: capture {c['name']} was not frozen: {torn}")
        if s["outcome"] != want:
            problems.append(f"{name} {s['outcome']}, expected {want}: {first_error(s)}")
        problems += SPECIFIC.get(name, lambda _: [])(s)
    if status != 0:
        problems.append(f"the outer scenario exited {status}")
    for problem in problems:
        print(f"  problem: {problem}")
    check(not problems, f"{len(problems)} problem(s) under nested KVM (outer run kept in {work})")
    print("ok: nested lane passed")


def first_error(s):
    """The scenario's error, else its first failed step, exit or assertion.
    A scenario's error is given whole: when the inner guest died it ends with
    the guest's console tail, the only trace of the death that leaves CI."""
    if s["error"]:
        return s["error"].replace("\n", "\n      ")
    for kind in ("steps", "scheduler_exits", "assertions"):
        for item in s[kind]:
            if item.get("outcome") == "failed" or (kind == "assertions" and item.get("outcome") == "error"):
                return f"{kind[:-1]} {item.get('description') or item.get('expression') or item.get('kind')}: " \
                       f"{(item.get('error') or item.get('message') or 'missing')}".splitlines()[0]
    return "?"


def doorbell(s):
    counters = [c["accel_counters"] for c in s["captures"]]
    if len(counters) < 2 or not all(counters):
        return [f"kvm-doorbell: no exit counters to compare ({len(counters)} captures)"]
    first, last = counters[0], counters[-1]
    rings = len(counters) - 1
    delta = {k: last[k] - first[k] for k in sorted(first) if k in last}
    print(f"  kvm exits between capture 1 and {len(counters)} ({rings} doorbell rings): {delta}")
    if delta.get("exits", 0) <= 0:
        return ["kvm-doorbell: KVM counted no exits at all"]
    # Served by the ioeventfd in the kernel, a ring is no exit to QEMU:
    # fewer MMIO exits than rings means the rings did not cause them.
    if delta.get("mmio_exits", rings) >= rings:
        return [f"kvm-doorbell: {rings} doorbell rings, {delta.get('mmio_exits')} MMIO exits to QEMU"]
    # The guest's clock stands still while frozen. The ten capture steps
    # run back to back; the guest times them (its clock), the host knows
    # when the first freeze began and the last ended (the host's). The
    # latencies around each freeze (the ring, the reply, saving the last
    # capture) are on both clocks; only the frozen time is missing from
    # the guest's when its clock stops. Comparing the series, not each
    # step with its freeze, keeps those latencies out of the verdict.
    # A freeze window runs from ktest's pause request to the resume's reply,
    # and the guest runs until QEMU has stopped its vCPUs: on this loaded
    # host that rendezvous now and then takes hundreds of ms (one CI run:
    # nine windows of 50-100 ms and one of 513 ms, the guest missing none
    # of the outlier). Each window counts at most the series' median, so
    # one slow rendezvous cannot pass for a running clock.
    caps = s["captures"]
    windows = sorted(c["duration_ms"] for c in caps)
    median = windows[len(windows) // 2]
    frozen_ms = sum(min(w, median) for w in windows)
    host_span = caps[-1]["at_ms"] + caps[-1]["duration_ms"] - caps[0]["at_ms"]
    names = {c["name"] for c in caps}
    guest_span = sum(st["duration_ms"] for st in s["steps"]
                     if st["op"] == "CaptureSnapshot" and st["description"] in names)
    missing = host_span - guest_span
    print(f"  guest clock across the freezes: the ten captures took {guest_span} ms in the guest and "
          f"{host_span} ms on the host, {frozen_ms} ms of it frozen (each window at most the median, "
          f"{median} ms); the guest misses {missing} ms")
    # Stopped: the guest misses about the frozen time, less the latencies
    # before the first freeze and after the last. Running: it misses none.
    if missing < frozen_ms / 2:
        return [f"kvm-doorbell: the guest's clock ran while frozen (it misses {missing} ms of the host's "
                f"{host_span} ms, of which {frozen_ms} ms frozen, each window at most {median} ms)"]
    return []


def watch_limit(s):
    watches = [st for st in s["steps"] if st["op"] == "WatchSnapshot"]
    outcomes = [st["outcome"] for st in watches]
    print(f"  watchpoints under KVM: {outcomes}; the refusal: {watches[-1]['error'] if watches else None}")
    if outcomes != ["passed", "passed", "passed", "failed"]:
        return [f"kvm-watch-limit: 3 watches should arm beside the exit watch and the 4th be refused: {outcomes}"]
    if "under KVM has 4 in all" not in (watches[-1]["error"] or ""):
        return ["kvm-watch-limit: the refusal does not name the limit"]
    return []


def stall(s):
    exits = s["scheduler_exits"]
    if not exits or exits[0]["kind"] != "SCX_EXIT_ERROR_STALL":
        return [f"scheduler-stall: the stall was not caught as a scheduler exit: {exits}"]
    names = [c["name"] for c in s["captures"]]
    if names != ["@early", "@exit"]:
        return [f"scheduler-stall: a stall is captured early and at its exit, got {names}"]
    return []


SPECIFIC = {"kvm-doorbell": doorbell, "kvm-watch-limit": watch_limit, "scheduler-stall": stall}


if __name__ == "__main__":
    main()
