#!/usr/bin/env python3
"""End-to-end tests of the interactive shell (`ktest shell`, `ktest run
--shell-on-fail`), driven through tmux as a person at a terminal would:
keys go in, the screen is read back.

usage: shell_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR
Exits 0 on success, 1 on failure, 77 (skipped) without a fetched kernel.
"""
import json
import os
import shutil
import subprocess
import time

from fault_test import qemu_pids
from run_test import KERNEL_DIR, KTEST, QUICKSTART, check, ktest, serve

PROMPT = "ktest-guest:/# "


class Terminal:
    """A tmux session of its own (private socket) running one command."""

    def __init__(self, cwd, command, rows=30, cols=100):
        self.cwd = cwd
        self.base = ["tmux", "-S", os.path.join(cwd, "tmux.sock")]
        self.exit_file = os.path.join(cwd, "exit-status")
        script = f"{command}; echo $? > {self.exit_file}; sleep 600"
        subprocess.run(self.base + ["new-session", "-d", "-s", "t", "-x", str(cols), "-y", str(rows),
                                    "-c", cwd, "sh", "-c", script], check=True)

    def keys(self, *keys):
        subprocess.run(self.base + ["send-keys", "-t", "t", *keys], check=True)

    def line(self, text):
        self.keys("-l", text)
        self.keys("Enter")

    def screen(self):
        p = subprocess.run(self.base + ["capture-pane", "-p", "-J", "-S", "-400", "-t", "t"],
                           capture_output=True, text=True)
        return p.stdout

    def wait_for(self, text, what, timeout=240, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.screen().count(text) >= count:
                return
            if self.exited() is not None:
                break
            time.sleep(0.3)
        check(False, f"{what}: {text!r} on the screen", self.screen())

    def exited(self):
        if not os.path.exists(self.exit_file):
            return None
        with open(self.exit_file) as f:
            return int(f.read().strip() or -1)

    def wait_exit(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.exited() is None:
            time.sleep(0.3)
        return self.exited()

    def resize(self, rows, cols):
        subprocess.run(self.base + ["resize-window", "-t", "t", "-x", str(cols), "-y", str(rows)], check=True)

    def close(self):
        subprocess.run(self.base + ["kill-server"], capture_output=True)


def shell_command(*args):
    kernel = ["--kernel", KERNEL_DIR] if KERNEL_DIR else []
    return " ".join([KTEST, "--color=never", *args[:1], *kernel, *args[1:]])


def ask(term, command, expect, what, count=1):
    """Runs a command at the guest's prompt and waits for its answer."""
    term.line(command)
    term.wait_for(expect, what, count=count)


def qemu_running(cwd):
    return bool(qemu_pids(cwd))


def scenario_dir(cwd):
    run_dir = os.path.realpath(os.path.join(cwd, "ktest-runs", "latest"))
    dirs = [d for d in os.listdir(run_dir) if os.path.isdir(os.path.join(run_dir, d))]
    check(len(dirs) == 1, "one scenario directory in the run", str(dirs))
    return run_dir, os.path.join(run_dir, dirs[0])


def need_tmux():
    check(shutil.which("tmux") is not None, "tmux is installed (./dev installs it)")


def case_shell(cwd):
    """ktest shell on the quickstart: a real tty, Ctrl-C to the guest's job,
    a capture from the guest that the host queries while the guest runs,
    detach and attach again, then exit powers off and keeps the run."""
    need_tmux()
    term = Terminal(cwd, shell_command("shell", QUICKSTART))
    try:
        term.wait_for(PROMPT, "the shell opens after the quickstart's steps")
        check(qemu_running(cwd), "the guest runs while the shell is open")
        ask(term, "stty size", "30 100", "the guest's tty has the terminal's size")
        term.resize(40, 120)
        time.sleep(1)  # the size is polled every 250 ms
        ask(term, "stty size", "40 120", "a resize reaches the guest's tty")
        # Ctrl-C goes to the guest's foreground job, not to ktest.
        term.line("sleep 100")
        time.sleep(1.5)
        term.keys("C-c")
        ask(term, "echo rc=$?", "rc=130", "Ctrl-C interrupted the guest's sleep (status 130)")
        check(term.exited() is None, "ktest is still running after Ctrl-C", term.screen())
        ask(term, "ktest-capture probe", "captured probe", "ktest-capture answers with its summary")
        screen = term.screen()
        check("maps" in screen and "frozen" in screen, "the summary gives maps and the freeze window", screen)
        # From the host, while the guest runs: `latest` is the running session.
        rc, out, _ = ktest("snapshot", "query", "latest", 'snapshot("probe").var("nr_cpus_onln") > 0', cwd=cwd)
        check(rc == 0 and "true" in out, f"the host's query sees the live capture (rc {rc})", out)
        ask(term, "ktest-capture early", "already", "a scenario's snapshot name is refused")
        # A watch armed from the shell: its first hit (the tick) captures `tick`.
        ask(term, "ktest-watch tick jiffies_64", "jiffies_64 at 0x", "ktest-watch arms a watchpoint")
        ask(term, "ktest-detach", "detached (sched_ext disabled)", "ktest-detach detaches the scenario's scheduler")
        ask(term, "cat /sys/kernel/sched_ext/state", "\ndisabled", "sched_ext is disabled after the detach")
        ask(term, "ktest-attach", "attached ktest_sched (sched_ext enabled)",
            "a bare ktest-attach attaches the scheduler again")
        ask(term, "cat /sys/kernel/sched_ext/state", "\nenabled", "sched_ext is enabled again")
        term.line("exit")
        rc = term.wait_exit()
        check(rc == 0, f"ktest shell exits 0 after the shell's exit (got {rc})", term.screen())
        check(not qemu_running(cwd), "the guest powered off", term.screen())
        run_dir, scen = scenario_dir(cwd)
        with open(os.path.join(run_dir, "results.json")) as f:
            res = json.load(f)["scenarios"][0]
        check(res["outcome"] == "passed", "the shell's run passed (its assertions are skipped)", json.dumps(res)[:3000])
        check(sorted(c["name"] for c in res["captures"]) == ["early", "late", "probe", "tick"],
              "the captures: the scenario's, the shell's and the watch's", json.dumps(res["captures"]))
        for name in ("early", "late", "probe", "tick"):
            check(os.path.exists(os.path.join(scen, "snapshots", name + ".json")), f"snapshot {name} kept")
        check(os.path.exists(os.path.join(scen, "console.log")), "the console log is kept")
        with open(os.path.join(scen, "events.log")) as f:
            events = f.read()
        check("shell: CaptureSnapshot: captured probe" in events, "events.log has the shell's capture", events)
    finally:
        term.close()


FAILING = """name: failing
vm: {cpus: 2, memory: 512M, timeout: 180s}
steps:
  - AttachScheduler: {object: %s}
  - Spawn: {name: worker, command: "while :; do :; done"}
  - Sleep: 300ms
  - CaptureSnapshot: late
assertions:
  - snapshot("late").var("nr_cpus_onln") == 12345
"""


def case_shell_on_fail(cwd):
    """A failed assertion under --shell-on-fail: ktest says what failed, and
    opens a shell in the guest with the scheduler still attached."""
    need_tmux()
    obj = os.path.join(os.path.dirname(QUICKSTART), "..", "schedulers", "ktest_sched.bpf.o")
    scenario = os.path.join(cwd, "failing.yaml")
    with open(scenario, "w") as f:
        f.write(FAILING % os.path.realpath(obj))
    term = Terminal(cwd, shell_command("run", "--shell-on-fail", scenario))
    try:
        term.wait_for(PROMPT, "the shell opens after the assertion failed")
        screen = term.screen()
        check("assertion" in screen and "12345" in screen, "ktest said which assertion failed", screen)
        ask(term, "cat /sys/kernel/sched_ext/state", "\nenabled", "the scheduler is still attached")
        ask(term, "cat /sys/kernel/sched_ext/root/ops", "ktest", "its ops are there to look at")
        ask(term, "ktest-capture after", "captured after", "a capture from the failed run's shell")
        term.line("exit")
        rc = term.wait_exit()
        check(rc == 1, f"the run still fails: exit 1 (got {rc})", term.screen())
        run_dir, scen = scenario_dir(cwd)
        with open(os.path.join(run_dir, "results.json")) as f:
            res = json.load(f)["scenarios"][0]
        check([a["outcome"] for a in res["assertions"]] == ["failed"], "the assertion failed",
              json.dumps(res["assertions"]))
        check(os.path.exists(os.path.join(scen, "snapshots", "after.json")), "the shell's capture was kept")
        check(not qemu_running(cwd), "the guest powered off")
    finally:
        term.close()


def case_shell_refusals(cwd):
    """--shell-on-fail needs a terminal and one guest at a time."""
    p = subprocess.run([KTEST, "run", "--shell-on-fail", QUICKSTART], stdin=subprocess.DEVNULL, cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and "needs a terminal" in p.stderr, f"refused without a terminal (rc {p.returncode})",
          p.stderr)
    p = subprocess.run([KTEST, "run", "--shell-on-fail", "--jobs", "2", QUICKSTART], stdin=subprocess.DEVNULL,
                       cwd=cwd, capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and "one guest at a time" in p.stderr, f"refused with --jobs 2 (rc {p.returncode})",
          p.stderr)


CASES = {"shell": case_shell, "shell-on-fail": case_shell_on_fail, "shell-refusals": case_shell_refusals}

if __name__ == "__main__":
    serve(CASES, KERNEL_DIR)
