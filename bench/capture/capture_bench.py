#!/usr/bin/env python3
"""bench/capture: what a capture costs, against bpftool in the same guest.

For each size (8 hash maps of 250, of 2000 and of 20000 entries, filled by
the ktest_maps_bench_* fixtures; the smoke run skips 20000: minutes under
TCG, and the same code as 2000), one `ktest run` loads the maps, captures
RUNS times, then times RUNS in-guest `bpftool map dump -j` passes over the
same 8 maps (wall time from /proc/uptime, 10 ms resolution). Prints the
medians, the ratio ktest freeze window / bpftool dump time, the rendering
done after the guest resumed, the captured volume (entries, the report file
as stored vs bpftool's JSON bytes), the host capture rate (entries read per
second of freeze window) and the time `ktest snapshot query` takes to load
the last report and count its entries. A second table splits the freeze
window into its parts, from the reports: the pause rendezvous, the reading
of the frozen guest, the resume rendezvous.

usage: capture_bench.py KTEST KERNEL_DIR OBJECT_DIR [RUNS]
KTEST_BENCH_SMOKE=1 (CI) runs once: it proves the benchmark still works; its numbers mean nothing.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

KTEST, KERNEL_DIR, OBJECT_DIR = sys.argv[1:4]
SMOKE = bool(os.environ.get("KTEST_BENCH_SMOKE"))
RUNS = 1 if SMOKE else int(sys.argv[4]) if len(sys.argv) > 4 else 5
SIZES = [("small", 250), ("large", 2000)] + ([] if SMOKE else [("huge", 20000)])
MAPS = 8

GUEST_TIMING = """\
for m in 0 1 2 3 4 5 6 7; do bpftool map dump -j name bench_map_$m; done | wc -c | sed 's/^/json_bytes /'
for r in $(seq {runs}); do
  a=$(cut -d' ' -f1 /proc/uptime)
  for m in 0 1 2 3 4 5 6 7; do bpftool map dump -j name bench_map_$m >/dev/null || exit 1; done
  b=$(cut -d' ' -f1 /proc/uptime)
  echo "dump_seconds $a $b"
done
"""


def scenario(size_name):
    captures = "".join(f"  - CaptureSnapshot: c{i}\n" for i in range(RUNS))
    script = GUEST_TIMING.format(runs=RUNS).strip().replace("\n", "\n        ")
    return f"""name: capture-bench-{size_name}
vm:
  cpus: 2
  memory: 512M
  timeout: 900s
  tools: [bpftool]
steps:
  - LoadBpf:
      object: ktest_maps_bench_{size_name}.bpf.o
      run: [fill]
{captures}  - Run:
      command: |
        {script}
      timeout: 800s
"""


def measure(size_name, entries, workdir):
    path = os.path.join(workdir, f"{size_name}.yaml")
    with open(path, "w") as f:
        f.write(scenario(size_name))
    # 8 x 20000 entries take many seconds per capture under TCG (a 200 MB report).
    p = subprocess.run([KTEST, "--color=never", "run", "--quiet", "--kernel", KERNEL_DIR,
                        "--step-timeout", "600s", "--capture-timeout", "600s",
                        "--object-path", OBJECT_DIR, path], cwd=workdir, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"ktest run failed ({p.returncode}):\n{p.stdout[-4000:]}{p.stderr[-4000:]}")
    results = json.load(open(os.path.join(workdir, "ktest-runs", "latest", "results.json")))
    sc = results["scenarios"][0]
    windows, after_resume, phases = [], [], []
    for c in sc["captures"]:  # one at a time: a 20000-entry report is ~200 MB of JSON
        report = load_report(c["report"])
        windows.append(report["freeze_window_us"] / 1000)
        after_resume.append(report["after_resume_us"] / 1000)
        phase = report["freeze_phase_us"]
        phases.append((phase["pause"] / 1000, sum(report["section_us"].values()) / 1000, phase["resume"] / 1000))
    last = sc["captures"][-1]["report"]
    report_bytes = os.path.getsize(last)
    captured = sum(len(m.get("entries") or []) for m in report["maps"] if m["name"].startswith("bench_map"))
    if captured != MAPS * entries:
        sys.exit(f"the capture holds {captured} bench entries, expected {MAPS * entries}")
    # What a person's query costs on it: load the report, evaluate, print.
    count = " + ".join(f'map("bench_map_{m}").len()' for m in range(MAPS))
    start = time.monotonic()
    q = subprocess.run([KTEST, "--color=never", "snapshot", "query", last, count], capture_output=True, text=True)
    query_s = time.monotonic() - start
    if q.returncode != 0 or q.stdout.strip() != str(captured):
        sys.exit(f"ktest snapshot query on {last} failed ({q.returncode}): {q.stdout[-2000:]}{q.stderr[-2000:]}")
    run_step = [s for s in sc["steps"] if s["op"] == "Run"][0]
    lines = open(run_step["output_file"]).read().splitlines()
    dumps = [float(b) - float(a) for _, a, b in (l.split() for l in lines if l.startswith("dump_seconds"))]
    json_bytes = int([l.split()[1] for l in lines if l.startswith("json_bytes")][0])
    return (statistics.median(windows), statistics.median(after_resume), statistics.median(dumps) * 1000, captured,
            report_bytes, json_bytes, query_s, [statistics.median(p) for p in zip(*phases)])


def load_report(path):
    """A report as ktest stored it: JSON, or one zstd frame past 1 MiB."""
    if path.endswith(".zst"):
        return json.loads(subprocess.run(["zstd", "-dcq", path], capture_output=True, check=True).stdout)
    with open(path) as f:
        return json.load(f)


def main():
    for needed in (os.path.join(KERNEL_DIR, "vmlinux"),
                   *(os.path.join(OBJECT_DIR, f"ktest_maps_bench_{n}.bpf.o") for n, _ in SIZES)):
        if not os.path.exists(needed):
            print(f"SKIP: {needed} is missing (fetch the kernel and build with -Dkernel_dir)")
            sys.exit(77)
    print(f"capture bench: {RUNS} captures and {RUNS} in-guest bpftool passes per size, medians")
    print(f"{'size':>6} {'entries':>8} {'freeze ms':>10} {'bpftool ms':>11} {'ratio':>7} {'render ms':>10} "
          f"{'report KiB':>11} {'bpftool KiB':>12} {'size ratio':>11} {'entries/s':>10} {'query s':>8}")
    window_parts = []
    with tempfile.TemporaryDirectory(prefix="ktest-capture-bench-") as workdir:
        for size_name, per_map in SIZES:
            window, render, dump, captured, report_bytes, json_bytes, query_s, parts = \
                measure(size_name, per_map, workdir)
            window_parts.append((size_name, window, parts))
            rate = captured / (window / 1000) if window > 0 else float("inf")
            print(f"{size_name:>6} {captured:>8} {window:>10.1f} {dump:>11.0f} {window / dump:>7.3f} {render:>10.1f} "
                  f"{report_bytes / 1024:>11.0f} {json_bytes / 1024:>12.0f} {report_bytes / json_bytes:>11.3f} "
                  f"{rate:>10.0f} {query_s:>8.2f}")
    print("ratio = ktest freeze window (pause -> maps read and copied -> resume) / "
          "in-guest `bpftool map dump -j` of the same maps; lower is better")
    print("render ms = rendering after the guest resumed; size ratio = the report file as stored / bpftool's JSON")
    # The report's freeze_phase_us and section_us: what each part of the window cost.
    print("where the freeze window goes (medians, ms): the pause rendezvous with QEMU (vCPU registers "
          "included), the sections reading the frozen guest, the resume rendezvous")
    print(f"{'size':>6} {'freeze ms':>10} {'pause':>7} {'reading':>8} {'resume':>7}")
    for size_name, window, (pause, reading, resume) in window_parts:
        print(f"{size_name:>6} {window:>10.1f} {pause:>7.1f} {reading:>8.1f} {resume:>7.1f}")


if __name__ == "__main__":
    main()
