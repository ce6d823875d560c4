#!/usr/bin/env python3
"""End to end: `ktest run --html` on a real guest run, the page loaded in
Debian's headless Chromium over the DevTools protocol (tests/e2e/cdp.py).

The page must render with no console error, no uncaught exception and no
network request; its verdicts, step timeline, assertions, charts and
capture tree must be there and work (search, reveal, chart a path). A
full-page screenshot goes to ARTIFACT_DIR/html-report-CASE.png.
`ktest report` on the same run directory must write the same bytes.

usage: html_report_test.py CASE KTEST SOURCE_ROOT KERNEL_DIR ARTIFACT_DIR
Exits 0 on success, 1 on failure, 77 (skipped) without a fetched kernel or
without chromium (./dev installs it), saying why.
"""
import json
import os
import subprocess
import time

from cdp import Browser, CdpError, find_chromium
from verdict import arg, check, serve, skip

CASE, KTEST, ROOT, KERNEL_DIR, ARTIFACTS = (arg(i) for i in range(1, 6))
QUICKSTART = os.path.join(ROOT, "scenarios", "examples", "quickstart.yaml")
SCHEDULER_ERROR = os.path.join(ROOT, "tests", "e2e", "scenarios", "scheduler_error.yaml")
WATCH = os.path.join(ROOT, "tests", "e2e", "scenarios", "watch_bpf_global.yaml")

# Runs in the page once it says it rendered; returns what the test checks.
PAGE_FACTS = r"""(() => {
  const charts = [...document.querySelectorAll("canvas")].map((c) => Chart.getChart(c)).filter(Boolean);
  const series = charts.filter((c) => c.canvas.classList.contains("series-chart"));
  const timeline = charts.filter((c) => c.canvas.classList.contains("timeline-chart"));
  const points = (c) => c.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0);
  return {
    scenarios: document.querySelectorAll("section.scenario").length,
    badges: [...document.querySelectorAll("section.scenario > h2 .badge")].map((b) => b.textContent),
    timelines: timeline.length,
    timeline_bars: timeline.length ? timeline[0].data.datasets[0].data.filter((v) => v !== null).length : 0,
    timeline_captures: timeline.length ? timeline[0].data.datasets[1].data.length : 0,
    timeline_watches: timeline.length ? timeline[0].data.datasets[2].data.length : 0,
    step_marks: [...document.querySelectorAll("table.steps tbody tr")].map((tr) =>
      [tr.children[1].textContent, tr.children[6].textContent]),
    globals_points: series.length ? points(series[0]) : 0,
    globals_labels: series.length ? series[0].data.datasets.map((d) => d.label) : [],
    drawn: charts.every((c) => c.canvas.width > 0 && c.canvas.height > 0),
    tree_maps: document.querySelectorAll(".capture-tree > details").length,
    assertion_cells: [...document.querySelectorAll("section.scenario table td")].map((td) => td.textContent),
    exit_panels: document.querySelectorAll(".exit").length,
    dump_marked: document.querySelectorAll(".exit .dump .hl").length,
  };
})()"""

# Uses the capture browser as a person would: search a name, reveal the
# first hit, chart it; returns what changed.
INTERACT = r"""(async () => {
  const sec = document.querySelector("section.scenario");
  const input = sec.querySelector(".browser input[type=search]");
  input.value = QUERY;
  input.dispatchEvent(new Event("input"));
  const hits = [...sec.querySelectorAll(".browser .results div")];
  let found = null, plot = null;
  for (const hit of hits) {  // the first match that is a number
    hit.click();
    found = sec.querySelector(".capture-tree .found");
    plot = found && found.querySelector("button.plot");
    if (plot) break;
  }
  if (plot) plot.click();
  await new Promise((r) => requestAnimationFrame(r));
  const chosen = Chart.getChart(sec.querySelectorAll("canvas.series-chart")[1]);
  return {hits: hits.length, found: found ? found.textContent : null,
          chosen: chosen.data.datasets.map((d) => ({label: d.label, data: d.data}))};
})()"""


def ktest(*args, cwd):
    kernel = ["--kernel", KERNEL_DIR] if args[0] == "run" and KERNEL_DIR else []
    p = subprocess.run([KTEST, "--color=never", args[0], *kernel, *args[1:]], cwd=cwd, capture_output=True,
                       text=True, timeout=600)
    return p.returncode, p.stdout + p.stderr


def check_page(browser, page, shot, query, results):
    browser.navigate("file://" + page)
    deadline = time.monotonic() + 30
    state = [None, None]
    while time.monotonic() < deadline and not (state[0] or state[1]):
        state = browser.evaluate("[document.body.dataset.ktestRendered || null, document.body.dataset.ktestError || null]")
        time.sleep(0.1)
    problems = browser.problems()
    check(state[0] == "1", f"the page's script finished drawing (got {state})", "\n".join(problems))
    facts = browser.evaluate(PAGE_FACTS)
    shown = json.dumps(facts, indent=1)
    sc = results["scenarios"][0]
    check(facts["scenarios"] == len(results["scenarios"]), "one section per scenario", shown)
    check(facts["badges"][0] == sc["outcome"], f"the verdict {sc['outcome']} is shown", shown)
    reached = [s for s in sc["steps"] if s["outcome"] != "skipped"]
    asked = [s for s in sc["steps"] if s["op"] == "CaptureSnapshot" and s["outcome"] == "passed"]
    check(facts["timelines"] == 1 and facts["timeline_bars"] == len(reached),
          f"the step timeline has a bar for each of the {len(reached)} steps that ran", shown)
    check(facts["timeline_captures"] == len(asked), f"the timeline marks the {len(asked)} captures steps took", shown)
    for s, (label, marks) in zip(sc["steps"], facts["step_marks"]):
        if s["op"] == "CaptureSnapshot" and s["outcome"] == "passed":
            check(s["description"] in marks.split(", "), f"step '{label}' lists its capture", shown)
        if s["op"] == "Sleep":
            check(not any(a["description"] in marks.split(", ") for a in asked), f"'{label}' took no capture", shown)
    check(facts["drawn"], "every chart has a canvas with a size", shown)
    check(facts["tree_maps"] > 0, "the capture tree lists the maps", shown)
    for a in sc["assertions"]:
        if a["actual"] is not None:
            check(a["actual"] in facts["assertion_cells"], f"the assertion's actual value {a['actual']} is shown", shown)
    used = browser.evaluate(INTERACT.replace("QUERY", json.dumps(query)))
    shown += "\n" + json.dumps(used, indent=1)
    check(used["hits"] > 0 and used["found"], f"searching {query!r} finds and reveals a node", shown)
    check(len(used["chosen"]) == 1 and any(v is not None for v in used["chosen"][0]["data"]),
          "charting the found value draws its line across the captures", shown)
    # Drawn after the interaction, so the chosen-path chart is in the picture.
    os.makedirs(ARTIFACTS, exist_ok=True)
    browser.screenshot(os.path.join(ARTIFACTS, shot))
    problems = browser.problems()
    check(not problems, "no console error, exception or network request", "\n".join(problems))
    return facts


def case_quickstart(cwd):
    facts = run_and_check(QUICKSTART, 0, "html-report-quickstart.png", "nr_dispatched", cwd)
    check(facts["globals_points"] > 0, "the numeric globals chart has points",
          json.dumps(facts, indent=1))
    check(any("nr_enqueued" in label for label in facts["globals_labels"]), "nr_enqueued is a charted global",
          json.dumps(facts, indent=1))


def case_scheduler_error(cwd):
    # A failed run gets its page too, with the exit and its dump marked.
    facts = run_and_check(SCHEDULER_ERROR, 1, "html-report-scheduler-error.png", "nr_enqueued", cwd)
    check(facts["exit_panels"] >= 1 and facts["dump_marked"] > 0, "the scheduler's exit and dump are highlighted",
          json.dumps(facts, indent=1))


def run_and_check(scenario, expect_rc, shot, query, cwd):
    chromium = find_chromium()
    if not chromium:
        skip("chromium is not installed (Debian package 'chromium'; ./dev installs it)")
    rc, out = ktest("run", "--html", scenario, cwd=cwd)
    check(rc == expect_rc, f"ktest run --html exits {expect_rc} (got {rc})", out)
    run_dir = os.path.realpath(os.path.join(cwd, "ktest-runs", "latest"))
    page = os.path.join(run_dir, "report.html")
    check(os.path.isfile(page) and f"HTML report: {page}" in out, "run --html wrote RUN_DIR/report.html", out)
    # `ktest report` shares the code path: same run directory, same bytes.
    again = os.path.join(cwd, "again.html")
    rc, out = ktest("report", run_dir, "-o", again, cwd=cwd)
    check(rc == 0, f"ktest report exits 0 (got {rc})", out)
    with open(page, "rb") as a, open(again, "rb") as b:
        check(a.read() == b.read(), "ktest report writes the bytes run --html wrote")
    print(f"page: {os.path.getsize(page)} bytes")
    with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
    try:
        with Browser(chromium) as browser:
            return check_page(browser, page, shot, query, results)
    except CdpError as e:
        check(False, f"driving chromium: {e}")


def case_watch(cwd):
    # A watchpoint's capture is the host's: a watch-hit mark, not a step's capture.
    facts = run_and_check(WATCH, 0, "html-report-watch.png", "nr_init_task", cwd)
    check(facts["timeline_watches"] >= 1, "the timeline marks the watchpoint hit", json.dumps(facts, indent=1))


CASES = {"quickstart": case_quickstart, "scheduler-error": case_scheduler_error, "watch": case_watch}

if __name__ == "__main__":
    serve(CASES, KERNEL_DIR)
