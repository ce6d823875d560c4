#!/usr/bin/env python3
"""Fault injection end to end (issue 14): a broken or malicious guest, or a
host that fails under the run, never crashes or hangs ktest, never
exhausts the host's memory, and never loses results already written.
Each case ends with its documented exit code within a bounded time, keeps
what was written before the fault, and says why. The guest's side of the
faults is fault_guest.sh (busybox only).

usage: fault_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR
Exits 0 on success, 1 on failure, 77 (skipped) without a fetched kernel,
or (disk-full) when tmpfs cannot be mounted (not root).
"""
import json
import mmap
import os
import signal
import struct
import subprocess
import time

from run_test import KERNEL_DIR, KTEST, ROOT, check, serve, skip

GUEST_SCRIPT = os.path.join(ROOT, "tests", "e2e", "fault_guest.sh")
# The quickstart's scheduler and workload, a capture, then the steps in
# which the fault comes (TAIL).
SCENARIO = """name: {name}
vm: {{cpus: 2, memory: 512M, timeout: {timeout}s, files: [{{host: {script}, guest: /fault_guest.sh}}]}}
steps:
  - AttachScheduler: {{object: ktest_sched.bpf.o}}
  - Spawn: {{name: worker, command: "while :; do :; done"}}
  - CaptureSnapshot: before
{tail}"""
# How long ktest may take from the fault to its exit (a loaded 2-core
# host under TCG; the run's own bounds are the scenario timeout and the
# capture timeout, 30 s).
FAULT_BOUND_S = 45
# The most resident memory ktest may use whatever the guest sends: a
# normal run peaks near 150 MiB (the guest kernel's BTF), the guest-fed
# buffers are capped far below the rest (ktest-run(1), LIMITS).
RSS_BOUND_KIB = 400 << 10


class Run:
    """One `ktest run` in the background, its peak memory sampled."""

    def __init__(self, cwd, name, tail, timeout=300, env=None, scenario=None):
        self.cwd = cwd
        path = os.path.join(cwd, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(scenario or SCENARIO.format(name=name, timeout=timeout, script=GUEST_SCRIPT, tail=tail))
        kernel = ["--kernel", KERNEL_DIR] if KERNEL_DIR else []
        self.started = time.monotonic()
        self.proc = subprocess.Popen([KTEST, "--color=never", "run", *kernel, path], cwd=cwd,
                                     env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.peak_kib = 0

    def sample(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
        except OSError:
            pass

    def wait_for(self, what, found, limit=240):
        """Polls found() (and the memory) until it returns something truthy."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self.proc.poll() is None:
            self.sample()
            hit = found()
            if hit:
                return hit
            time.sleep(0.002)
        out = self.proc.communicate(timeout=60)[0] if self.proc.poll() is None else self.proc.stdout.read()
        check(False, what, out)

    def finish(self, bound=FAULT_BOUND_S, since=None):
        """Waits for ktest's exit, at most `bound` s after `since` (default now)."""
        since = since or time.monotonic()
        while self.proc.poll() is None and time.monotonic() < since + bound:
            self.sample()
            time.sleep(0.1)
        if self.proc.poll() is None:
            self.proc.kill()
            check(False, f"ktest ended within {bound} s", self.proc.communicate()[0])
        self.out = self.proc.stdout.read()
        return self.proc.returncode, self.out, time.monotonic() - since

    def scenario_dir(self):
        runs = os.path.join(self.cwd, "ktest-runs")
        for root, dirs, _ in os.walk(runs):
            if "events.log" in os.listdir(root):
                return root
        return None

    def file(self, name):
        d = self.scenario_dir()
        return os.path.join(d, name) if d else ""

    def read(self, name):
        try:
            with open(self.file(name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def results(self):
        with open(os.path.join(self.cwd, "ktest-runs", "latest", "results.json")) as f:
            return json.load(f)["scenarios"][0]

    def snapshot(self, name):
        path = self.file(os.path.join("snapshots", f"{name}.json"))
        return path if os.path.exists(path) else None


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


def brief(captures):
    """The captures of results.json, one line each, for a failure's output."""
    return "\n".join(f"{c['name']}: degraded={c.get('degraded')} error={c.get('error')} "
                     f"sections={c.get('section_errors')} report={c.get('report')}" for c in captures)


def whole(path, name):
    """Whether `path` is a whole snapshot report named `name`."""
    try:
        with open(path) as f:
            return json.load(f).get("snapshot_name") == name
    except (OSError, TypeError, ValueError):
        return False


def check_kept(run, snapshot, name="before"):
    check(snapshot and os.path.exists(snapshot), f"the snapshot '{name}' taken before the fault is kept", run.out)
    with open(snapshot) as f:
        check(json.load(f).get("snapshot_name") == name, "and it is whole (valid JSON)", run.out)
    check(not qemu_pids(run.cwd), "no QEMU is left behind", run.out)


def check_error(run, rc, took, code, says):
    check(rc == code, f"exit status {code} (got {rc} after {took:.1f} s)", run.out)
    res = run.results()
    check(res["outcome"] == "error" and says in res.get("error", ""), f"results.json says '{says}'",
          json.dumps(res)[:3000])
    check(says in run.out, "and so does the terminal", run.out)
    return res


def started(run):
    """The run is under way once the first snapshot is on disk (saved when taken)."""
    return run.wait_for("the run took its first snapshot", lambda: run.snapshot("before"))


def case_sigint(cwd):
    """Ctrl-C: the guest is torn down, partial results are written, exit 130."""
    run = Run(cwd, "sigint", "  - Sleep: 120s\n  - CaptureSnapshot: never\n")
    snapshot = started(run)
    run.proc.send_signal(signal.SIGINT)
    rc, out, took = run.finish()
    res = check_error(run, rc, took, 130, "interrupted (SIGINT)")
    check([c["name"] for c in res["captures"]] == ["before"], "the capture before the interrupt is listed",
          json.dumps(res["captures"]))
    check_kept(run, snapshot)


def capture_in_flight(run, names):
    """Stops ktest (SIGSTOP) while one of the captures `names` is in flight
    and returns its name. In flight: between the request and its answer,
    i.e. events.log has "capture NAME" (written before the freeze begins)
    and no "answered" line after it (written once the report is saved),
    read while ktest is stopped, so it cannot move on between the check and
    the fault. Where in the capture it stopped (before the pause, frozen,
    saving) is chance. A capture under TCG takes 20-100 ms; the 2 ms poll
    misses one now and then, so several are tried."""
    for name in names:
        run.wait_for(f"capture '{name}' began", lambda: f"capture {name}\n" in run.read("events.log"))
        stop(run)
        events = run.read("events.log")
        if "answered" not in events.split(f"capture {name}\n", 1)[1]:
            return name
        os.kill(run.proc.pid, signal.SIGCONT)
    check(False, f"ktest was stopped with one of the captures {names} in flight", run.read("events.log"))


def case_qemu_killed(cwd):
    """QEMU dies (SIGKILL) while a capture is in flight: the run ends as an
    unavailable guest (69) with the reason, and keeps what was captured."""
    names = [f"c{i}" for i in range(1, 21)]
    run = Run(cwd, "qemu-killed", "".join(f"  - CaptureSnapshot: {n}\n" for n in names))
    snapshot = started(run)
    pids = qemu_pids(cwd)
    check(len(pids) == 1, f"one QEMU runs the guest (found {pids})")
    name = capture_in_flight(run, names)
    os.kill(pids[0], signal.SIGKILL)
    fault = time.monotonic()
    os.kill(run.proc.pid, signal.SIGCONT)
    rc, out, took = run.finish(since=fault)
    res = check_error(run, rc, took, 69, "the guest ended early")
    check("signal 9" in res["error"] or "SIGKILL" in res["error"] or "killed" in res["error"],
          "and that QEMU was killed", res["error"])
    # Killed before the freeze ended, the capture is degraded with the
    # reason; after it, the report is whole (guest RAM is a host file).
    check(any(c["name"] == name and (c.get("error") or whole(c.get("report"), name)) for c in res["captures"]),
          f"the capture '{name}' in flight is listed: whole, or with what went wrong",
          brief(res["captures"]) + "\n" + run.read("events.log")[-1500:])
    check(os.path.exists(res.get("console_log", "")), "the console log is kept", out)
    check_kept(run, snapshot)


def stop(run):
    """SIGSTOP to ktest; returns once it is stopped."""
    os.kill(run.proc.pid, signal.SIGSTOP)
    while True:
        with open(f"/proc/{run.proc.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.001)


def exited(pid):
    """Whether process `pid` ended (a zombie counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def say_go(run):
    """Writes 0x474F474F ("GOGO") at 512 KiB into ktest's doorbell memory
    (the guest's ivshmem BAR2, past the DoorbellPage), where fault_guest.sh
    waits for it. Through /proc: ktest is stopped and cannot pass it on."""
    fds = f"/proc/{run.proc.pid}/fd"
    for fd in os.listdir(fds):
        if os.readlink(f"{fds}/{fd}").startswith("/memfd:ktest-doorbell"):
            with open(f"{fds}/{fd}", "r+b") as f, mmap.mmap(f.fileno(), 0) as shared:
                shared[0x80000:0x80004] = struct.pack("<I", 0x474F474F)
            return
    check(False, "ktest holds its doorbell memory (memfd:ktest-doorbell)", "\n".join(os.listdir(fds)))


def threads(pid):
    """`pid`'s threads, each with its state and where it waits (when it hangs)."""
    lines = []
    for tid in sorted(os.listdir(f"/proc/{pid}/task")):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                lines.append(f"{tid} {state} {f.read()}")
        except OSError:
            pass
    return "\n".join(lines)


def case_panic_in_capture(cwd):
    """The guest asks for a capture and its kernel panics before the host
    served it: the capture is served against a dead guest, the run ends as
    an unavailable guest (69) with the panic line. A frozen guest cannot
    panic, so the panic must come between the request and the freeze: the
    Run step says "armed" on the console, ktest is stopped (SIGSTOP, a host
    that is slow to react), the test tells the guest to go on (say_go), the
    guest rings a Capture request and panics, its QEMU exits, and ktest
    goes on (SIGCONT) with the request waiting."""
    run = Run(cwd, "panic-in-capture", "  - Run: {command: 'sh /fault_guest.sh panic-in-capture'}\n")
    snapshot = started(run)
    pids = qemu_pids(cwd)
    check(len(pids) == 1, f"one QEMU runs the guest (found {pids})")
    run.wait_for("the guest armed the fault", lambda: "fault_guest.sh: armed" in run.read("console.log"))
    stop(run)
    say_go(run)
    # The panicked guest's QEMU exits (panic=-1, -no-reboot) while ktest,
    # stopped, has not even read the request: a zombie ktest has not reaped.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not exited(pids[0]):
        time.sleep(0.1)
    hung = "" if exited(pids[0]) else f"QEMU's threads:\n{threads(pids[0])}"
    os.kill(run.proc.pid, signal.SIGCONT)
    check(not hung, "the guest panicked and its QEMU exited while ktest had the capture request waiting", hung)
    fault = time.monotonic()
    rc, out, took = run.finish(since=fault)
    res = check_error(run, rc, took, 69, "Kernel panic - not syncing: sysrq triggered crash")
    events = run.read("events.log")
    check("capture pending\n" in events, "ktest served the capture request after the panic", events)
    pending = [c for c in res["captures"] if c["name"] == "pending"]
    check(pending and (pending[0].get("error") or whole(pending[0].get("report"), "pending")),
          "the capture is listed: whole, or with what went wrong", brief(res["captures"]))
    check_kept(run, snapshot)


def case_agent_killed(cwd):
    """The agent (the guest's init) dies: the kernel panics ("Attempted to
    kill init"), the run is an unavailable guest (69) that says so."""
    run = Run(cwd, "agent-killed", "  - Run: {command: 'sh /fault_guest.sh kill-agent'}\n"
                                   "  - CaptureSnapshot: never\n")
    snapshot = started(run)
    rc, out, took = run.finish()
    res = check_error(run, rc, took, 69, "Attempted to kill init")
    check("the guest agent died" in res["error"], "the error names the agent's death", res["error"])
    check([c["name"] for c in res["captures"]] == ["before"], "the capture before is listed", json.dumps(res))
    check_kept(run, snapshot)


def hostile(cwd, mode, timeout):
    """A run whose guest is fault_guest.sh as /init (see there)."""
    scenario = (f"name: hostile-{mode}\nvm: {{cpus: 2, memory: 512M, timeout: {timeout}s}}\n"
                f"steps:\n  - Run: {{command: 'echo hostile:{mode}'}}\n")
    return Run(cwd, mode, "", env={"KTEST_AGENT": GUEST_SCRIPT}, scenario=scenario)


def case_guest_silent(cwd):
    """A guest that never answers (no hello, no doorbell, no control
    message): the scenario's timeout ends it, 69, and says so."""
    run = hostile(cwd, "silent", 20)
    rc, out, took = run.finish(bound=20 + 120, since=run.started)  # boot + timeout
    # The machine's watchdog or the session's deadline, whichever is first.
    check_error(run, rc, took, 69, "timeout")
    check("Run" in out and "skip" in out, "the step never reached is skipped", out)
    check(not qemu_pids(cwd), "no QEMU is left behind", out)


def case_garbage(cwd):
    """Junk on the control channel and in the doorbell page: each bad line
    and request is refused with a note, ktest neither crashes nor waits
    past its bounds, and the guest's power-off ends the run (69)."""
    run = hostile(cwd, "garbage", 120)
    rc, out, took = run.finish(bound=120, since=run.started)
    check_error(run, rc, took, 69, "powered off before the agent finished")
    notes = "\n".join(run.results().get("notes", []))
    for says in ["control line longer than", "not a JSON object", "unknown message type",
                 "field \"index\" out of range"]:
        check(says in notes, f"a note says '{says}'", notes)
    check("\x1b" not in out and "\x1b" not in run.read("events.log"),
          "no byte the guest chose reaches the terminal or events.log unescaped", run.read("events.log"))
    check(run.peak_kib < RSS_BOUND_KIB, f"peak RSS {run.peak_kib} KiB < {RSS_BOUND_KIB} KiB", out)


def case_flood(cwd):
    """The real agent's Run output past its cap while the console floods:
    memory stays bounded, the output file ends saying what was dropped."""
    tail = ("  - Spawn: {name: console, command: \"yes 'console flood' > /dev/console\"}\n"
            "  - Spawn: {name: longline, command: \"head -c 4194304 /dev/zero | tr '\\\\0' z > /dev/console\"}\n"
            "  - Run: {command: 'yes | head -c 17500000'}\n"
            "  - CaptureSnapshot: after\n")
    run = Run(cwd, "flood", tail, timeout=240)
    rc, out, took = run.finish(bound=240 + 60, since=run.started)
    check(rc == 0, f"the flooded run passes (got {rc} after {took:.1f} s)", out)
    log = run.results()["steps"][5]["output_file"]
    with open(log, "rb") as f:
        f.seek(-400, os.SEEK_END)
        end = f.read().decode(errors="replace")
    check(os.path.getsize(log) <= (16 << 20) + 4096 and "[ktest:" in end and "dropped" in end,
          "the output file stops at the 16 MiB cap and says how much was dropped", end)
    console = os.path.getsize(run.file("console.log"))
    check(console > (1 << 20), f"the console was flooded ({console} bytes)", out)
    check(run.peak_kib < RSS_BOUND_KIB, f"peak RSS {run.peak_kib} KiB < {RSS_BOUND_KIB} KiB", out)
    print(f"flood: peak RSS {run.peak_kib} KiB, console.log {console} bytes, {took:.1f} s")


def case_flood_control(cwd):
    """A hostile guest floods the control channel (log messages, over-long
    lines) and the console until the timeout: memory stays bounded and the
    drops are counted (agent.log, notes)."""
    run = hostile(cwd, "flood", 30)
    rc, out, took = run.finish(bound=30 + 120, since=run.started)
    check_error(run, rc, took, 69, "timeout")
    agent_log = run.read("agent.log")
    check("more log messages dropped" in agent_log, "agent.log counts the dropped log messages", agent_log[-2000:])
    notes = "\n".join(run.results().get("notes", []))
    check("control line longer than" in notes, "over-long lines are dropped with a note", notes)
    # The junk's notes fill the 100 a run keeps; the rest are counted.
    check("were dropped after the first 1000" in notes or "more notes dropped)" in notes,
          "the notes count what they could not keep", notes)
    check(run.peak_kib < RSS_BOUND_KIB, f"peak RSS {run.peak_kib} KiB < {RSS_BOUND_KIB} KiB", out)
    print(f"flood-control: peak RSS {run.peak_kib} KiB, {took:.1f} s")


def case_disk_full(cwd):
    """The run directory's filesystem fills up mid-run (a 16 MiB tmpfs,
    filled once the first snapshot is on disk): what was written stays,
    every write that failed is named, results.json's failure exits 70."""
    mnt = os.path.join(cwd, "small")
    os.mkdir(mnt)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt], capture_output=True, text=True)
    if mounted.returncode != 0:
        skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        run = Run(mnt, "disk-full", "  - Sleep: 3s\n  - Run: {command: 'seq 1 20000'}\n  - CaptureSnapshot: after\n")
        snapshot = started(run)
        with open(os.path.join(mnt, "filler"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        rc, out, took = run.finish(bound=60)
        check(rc == 70, f"results.json that cannot be written exits 70 (got {rc} after {took:.1f} s)", out)
        check("results.json: No space left on device" in out, "the error names results.json and why", out)
        check("saving snapshot after" in out and "step-5.log" in out, "each failed write is a note", out)
        check("after.json" not in out.split("captures:", 1)[1].split("note:", 1)[0],
              "a snapshot that was never written is not listed with a path", out)
        check_kept(run, snapshot)
    finally:
        subprocess.run(["umount", "-l", mnt])


CASES = {"sigint": case_sigint, "qemu-killed": case_qemu_killed, "panic-in-capture": case_panic_in_capture,
         "agent-killed": case_agent_killed, "guest-silent": case_guest_silent, "garbage": case_garbage,
         "flood": case_flood, "flood-control": case_flood_control, "disk-full": case_disk_full}

if __name__ == "__main__":
    serve(CASES, KERNEL_DIR)
