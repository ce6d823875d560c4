#!/usr/bin/env python3
"""`meson install` yields a ktest that runs outside its build tree.

The build is installed with `meson install --destdir STAGE --no-rebuild`
into a temporary directory, and the staged ktest runs the staged
quickstart.yaml under TCG from a directory under /tmp, with KTEST_AGENT
unset: the guest agent and ktest_sched.bpf.o must come from the stage.

Why that proves the build tree was not used, without renaming it or
adding a switch to ktest: ktest consults its build tree only when the
running binary is inside it (default_agent_binary in cli/run/session.h),
and the staged binary is not. The test checks that this holds: with the
staged ktest_sched.bpf.o moved away the run fails naming the staged
objects directory, and with the staged agent moved away it fails for want
of the agent, although the build tree still holds both.

The completions must be in each shell's standard directory. bash must
parse its script, and the script must offer exactly the commands and
options that `ktest ... --help` lists (and *.yaml / *.yml scenario files);
zsh and fish parse theirs when installed (./dev installs both), and their
scripts must name every command and option; fish, which answers completion
queries itself, must complete the commands, an option and its values.

usage: install_test.py BUILD_ROOT KERNEL_DIR PREFIX BINDIR DATADIR AGENT_DIR OBJECTS_DIR EXAMPLES_DIR
(the directories as configured: relative to PREFIX, or absolute)
Exits 0 on success, 1 on failure (also when something the build makes is
not installed), 77 (skipped) without a fetched kernel or meson on PATH.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from verdict import check, skip  # noqa: E402

BUILD_ROOT, KERNEL_DIR, PREFIX, BINDIR, DATADIR, AGENT_DIR, OBJECTS_DIR, EXAMPLES_DIR = sys.argv[1:9]

# Where each shell looks for vendor completions, under the data directory.
COMPLETIONS = {
    "bash": "bash-completion/completions/ktest",
    "zsh": "zsh/vendor-completions/_ktest",
    "fish": "fish/vendor_completions.d/ktest.fish",
}

# Feeds COMP_WORDS (the arguments after the script) to _ktest, prints COMPREPLY.
BASH_COMPLETE = '''source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_ktest
printf '%s\\n' "${COMPREPLY[@]}"'''


def staged(stage, directory, *rest):
    """A configured install path (relative to the prefix, or absolute) inside the stage."""
    return os.path.join(stage + os.path.join(PREFIX, directory), *rest)


def sh(*argv, cwd=None, env=None):
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout + p.stderr


def main():
    if not KERNEL_DIR or not os.path.exists(os.path.join(KERNEL_DIR, "vmlinux")):
        skip("no fetched kernel (run `ktest kernel fetch`, then configure -Dkernel_dir=...)")
    meson = shutil.which("meson")
    if not meson:
        skip("meson is not on PATH")
    with tempfile.TemporaryDirectory(prefix="ktest-install-") as tmp:
        stage = os.path.join(tmp, "stage")
        rc, out = sh(meson, "install", "-C", BUILD_ROOT, "--destdir", stage, "--no-rebuild", "--quiet")
        check(rc == 0, f"meson install --destdir exits 0 (got {rc})", out)
        ktest = staged(stage, BINDIR, "ktest")
        agent = staged(stage, AGENT_DIR, "ktest-agent")
        objects = staged(stage, OBJECTS_DIR)
        quickstart = staged(stage, EXAMPLES_DIR, "quickstart.yaml")
        check(os.access(ktest, os.X_OK), f"ktest is installed at {ktest}")
        check(os.path.isfile(agent), f"the guest agent is installed at {agent}")
        check(os.path.isfile(os.path.join(objects, "ktest_sched.bpf.o")), f"ktest_sched.bpf.o is in {objects}")
        check(os.path.isfile(quickstart), f"the examples are installed: {quickstart}")
        for shell, path in COMPLETIONS.items():
            check(os.path.isfile(staged(stage, DATADIR, path)), f"the {shell} completion is installed at {path}")
        check_installed_run(tmp, ktest, agent, objects, quickstart)
        check_completions(tmp, ktest, {shell: staged(stage, DATADIR, path) for shell, path in COMPLETIONS.items()})
    print("ok")


def check_installed_run(tmp, ktest, agent, objects, quickstart):
    work = os.path.join(tmp, "work")
    os.makedirs(work)
    env = {k: v for k, v in os.environ.items() if k != "KTEST_AGENT"}

    def run():
        return sh(ktest, "--color=never", "run", "--accel", "tcg", "--kernel", KERNEL_DIR, quickstart,
                  cwd=work, env=env)

    rc, out = run()
    check(rc == 0, f"the staged ktest runs the staged quickstart (got {rc})", out)
    with open(os.path.join(work, "ktest-runs", "latest", "results.json")) as f:
        result = json.load(f)["scenarios"][0]
    check(result["outcome"] == "passed", f"the quickstart passed (got {result['outcome']})", out)
    check(all(a["outcome"] == "passed" for a in result["assertions"]), "its assertions passed", out)

    sched, aside = os.path.join(objects, "ktest_sched.bpf.o"), os.path.join(tmp, "ktest_sched.bpf.o")
    os.rename(sched, aside)
    rc, out = run()
    os.rename(aside, sched)
    check(rc != 0 and "ktest_sched.bpf.o' not found" in out,
          f"without the staged object the run fails, the build tree's is not used (got {rc})", out)
    check(objects in out and BUILD_ROOT not in out, "the lookup names the staged directory only", out)

    if os.path.exists(os.path.join(PREFIX, AGENT_DIR, "ktest-agent")):
        print(f"NOTE: ktest is installed in {PREFIX}; not checking the run without the staged agent")
        return
    os.rename(agent, os.path.join(tmp, "ktest-agent"))
    rc, out = run()
    check(rc != 0 and "guest agent binary was not found" in out,
          f"without the staged agent the run fails, the build tree's is not used (got {rc})", out)


def help_of(ktest, path):
    """The subcommands, options and value-taking options `ktest PATH --help` lists."""
    rc, out = sh(ktest, *path, "--help")
    check(rc == 0, f"ktest {' '.join(path)} --help exits 0", out)
    section, subs, options, valued = "", [], set(), set()
    for line in out.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line
        elif section == "Subcommands:" and re.match(r"^  \S", line):
            subs.append(line.split()[0])
        elif section == "Options:" and (m := re.match(r"^  (-\S+)( \S+)?", line)):
            names = m.group(1).split(",")
            options.update(names)
            if m.group(2):
                valued.update(names)
    return subs, options, valued


def check_completions(tmp, ktest, scripts):
    bash = scripts["bash"]
    rc, out = sh("bash", "-n", bash)
    check(rc == 0, "bash -n parses the bash completion", out)

    def complete(*words, cwd=tmp):
        rc, out = sh("bash", "-c", BASH_COMPLETE, "bash", bash, "ktest", *words, cwd=cwd)
        check(rc == 0, f"the bash completion runs for 'ktest {' '.join(words)}'", out)
        return set(out.split())

    top_subs, top_options, _ = help_of(ktest, [])
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    texts = {shell: open(path).read() for shell, path in scripts.items()}
    # Every command path the binary has, each against its --help.
    paths = [[]] + [[s] for s in top_subs]
    paths += [[s, sub] for s in top_subs for sub in help_of(ktest, [s])[0]]
    for path in paths:
        subs, options, valued = help_of(ktest, path)
        words = " ".join(["ktest", *path])
        if subs:
            check(complete(*path, "") == set(subs), f"bash completes the commands of '{words}': {subs}")
        # The global options work after a command too (CLI11 fallthrough).
        got = complete(*path, "-")
        want = options | top_options
        check(got == want, f"bash offers the options of '{words}': missing {sorted(want - got)}, "
              f"extra {sorted(got - want)}")
        # After an option that takes a value comes its value, after a flag more options.
        for option in options - {"-h", "--help"}:
            want = set() if option in valued else options | top_options
            check(complete(*path, option, "-", cwd=empty) == want,
                  f"bash knows whether '{words} {option}' takes a value")
        for name in subs:
            check(f"'{name}:" in texts["zsh"], f"the zsh completion describes the command '{words} {name}'")
            check(f"-a {name} " in texts["fish"], f"the fish completion offers the command '{words} {name}'")
        for name in (o for o in options if o.startswith("--")):
            check(re.search(rf"{name}[\[=}}]", texts["zsh"]), f"the zsh completion has '{name}' of '{words}'")
            check(re.search(rf"-l {name[2:]}\b", texts["fish"]), f"the fish completion has '{name}' of '{words}'")

    scenarios = os.path.join(tmp, "scenarios")
    os.makedirs(os.path.join(scenarios, "more"))
    for name in ("a.yaml", "b.yml", "notes.txt"):
        open(os.path.join(scenarios, name), "w").close()
    for command in ("run", "validate"):
        got = complete(command, "", cwd=scenarios)
        check(got == {"a.yaml", "b.yml", "more"}, f"bash completes scenario files for {command} (got {got})")
    check(complete("run", "--accel", "") == {"auto", "kvm", "tcg"}, "bash completes --accel's values")
    check(complete("--color", "=", "") == {"auto", "always", "never"}, "bash completes --color=")
    check(complete("--config", "x.toml", "run", "-f", "json", "--j") == {"--json", "--jobs", "--junit"},
          "bash skips option values when finding the command")

    for shell in ("zsh", "fish"):
        if not shutil.which(shell):
            print(f"SKIP (part): {shell} is not installed; {shell} -n not run on {scripts[shell]}")
            continue
        rc, out = sh(shell, "-n", scripts[shell])
        check(rc == 0, f"{shell} -n parses the {shell} completion", out)
    if shutil.which("fish"):
        # fish answers completion queries itself (complete -C): the commands,
        # an option, and an option's values, as a user would meet them.
        def fish(line):
            rc, out = sh("fish", "-c", f"source {scripts['fish']}; complete -C '{line}'")
            check(rc == 0, f"fish completes '{line}'", out)
            return {row.split("\t")[0] for row in out.splitlines() if row}
        check(set(top_subs) <= fish("ktest "), f"fish completes the commands {top_subs}")
        check("--accel" in fish("ktest run --acc"), "fish completes run's --accel")
        check(fish("ktest run --accel ") >= {"auto", "kvm", "tcg"}, "fish completes --accel's values")


if __name__ == "__main__":
    main()
