// ktest's HTML report: draws the run's embedded data (cli/html/html_report.h
// says what it holds; cli/html/page_data.h the capture tree's node shape).
// When everything is drawn, <body data-ktest-rendered="1">; an exception
// sets data-ktest-error instead (the browser test reads both).
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("ktest-data").textContent);
  const LIMITS = DATA.limits;
  const OUTCOME_COLOR = { passed: "#1a7f37", failed: "#cf222e", error: "#bc4c00", skipped: "#8c959f" };
  const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83", "#bf3989", "#6e7781",
                   "#4d2d00", "#0a3069"];
  const GLOBALS_SHOWN = 8;  // more numeric globals start hidden (the legend shows them)

  // el("td", {class: "x", text: "y"}, child...): one element.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }
  const badge = (outcome) => el("span", { class: "badge " + outcome, text: outcome });
  const seconds = (t) => (t === null || t === undefined ? "" : t.toFixed(3) + " s");
  const ms = (n) => (n === null || n === undefined ? "" : n + " ms");

  function table(cls, headers, rows) {
    return el("table", { class: cls }, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))),
      el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) =>
        c instanceof Node ? el("td", {}, c) : el("td", { text: c === null || c === undefined ? "" : String(c) }))))));
  }

  // ---- timeline: steps as bars on the session's clock, captures and watch hits as marks
  function timeline(sc, extra) {
    const events = extra.events || [];
    const started = new Map();
    for (const ev of events) if (ev.kind === "step" && !started.has(ev.step)) started.set(ev.step, ev.t);
    let clock = 0;
    const steps = sc.steps.map((s, i) => {
      let start = started.has(i) ? started.get(i) : null;
      if (start === null && events.length === 0 && s.outcome !== "skipped") start = clock;  // runs before events.log
      const end = start === null ? null : start + (s.duration_ms || 0) / 1000;
      if (end !== null) clock = end;
      return { step: s, index: i, start, end };
    });
    let captures = events.filter((e) => e.kind === "capture").map((e) => ({ t: e.t, name: e.name }));
    if (events.length === 0)
      captures = steps.filter((s) => s.step.op === "CaptureSnapshot" && s.start !== null)
        .map((s) => ({ t: s.start, name: s.step.description }));
    const watches = events.filter((e) => e.kind === "watchpoint").map((e) => ({ t: e.t, name: e.text }));
    return { steps, captures, watches };
  }

  function firstStart(tl) {
    const starts = tl.steps.map((s) => s.start).filter((t) => t !== null);
    return starts.length ? Math.floor(Math.min(...starts) * 10) / 10 : 0;
  }

  function timelineChart(tl) {
    const labels = tl.steps.map((s) => `${s.index + 1} ${s.step.op} ${s.step.description}`.slice(0, 60));
    const marks = "captures / watch hits";
    const box = el("div", { class: "timeline-box" });
    box.style.height = 70 + 26 * (labels.length + 1) + "px";
    const canvas = el("canvas", { class: "timeline-chart", "aria-label": "step timeline" });
    box.append(canvas);
    const point = (list) => list.map((m) => ({ x: m.t, y: marks, name: m.name }));
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: [...labels, marks],
        datasets: [
          { label: "steps", data: [...tl.steps.map((s) => (s.start === null ? null : [s.start, s.end])), null],
            backgroundColor: tl.steps.map((s) => OUTCOME_COLOR[s.step.outcome] || "#8c959f"), minBarLength: 3 },
          { type: "scatter", label: "captures", data: point(tl.captures), pointStyle: "rectRot", radius: 7,
            backgroundColor: "#0969da" },
          { type: "scatter", label: "watch hits", data: point(tl.watches), pointStyle: "triangle", radius: 8,
            backgroundColor: "#bf3989" },
        ],
      },
      options: {
        indexAxis: "y", animation: false, maintainAspectRatio: false,
        // From the first step: the boot before it would squeeze the steps.
        scales: { x: { type: "linear", min: firstStart(tl), title: { display: true, text: "seconds since the session began" } },
                  y: { type: "category" } },
        plugins: { tooltip: { callbacks: { label: (c) => (c.raw && c.raw.name !== undefined
          ? `${c.dataset.label}: ${c.raw.name} at ${seconds(c.raw.x)}`
          : `${c.label}: ${seconds(c.raw[0])} – ${seconds(c.raw[1])}`) } } },
      },
    });
    return box;
  }

  function stepTable(tl) {
    // A capture a step asked for is that step's (host and agent clocks differ by
    // the control channel's delay); other marks go by time.
    const asked = new Map(tl.steps.filter((s) => s.step.op === "CaptureSnapshot").map((s) => [s.step.description, s]));
    const during = (list, s) => list.filter((m) => (asked.has(m.name) ? asked.get(m.name) === s
      : s.start !== null && m.t >= s.start && (m.t < s.end || s.end === s.start)))
      .map((m) => m.name);
    return table("steps", ["#", "step", "line", "verdict", "start", "took", "captures / watch hits", "details"],
      tl.steps.map((s) => [s.index + 1, `${s.step.op} ${s.step.description}`, s.step.line, badge(s.step.outcome),
        seconds(s.start), ms(s.step.duration_ms), [...during(tl.captures, s), ...during(tl.watches, s)].join(", "),
        [s.step.error, s.step.summary, s.step.output_file && "output: " + s.step.output_file]
          .filter(Boolean).join("\n")]));
  }

  // ---- capture trees
  // The node a label path names in one capture (first match per level).
  function lookup(capture, path) {
    let nodes = capture.maps || [];
    let node = null;
    for (const label of path) {
      node = nodes.find((n) => n.k === label);
      if (!node) return null;
      nodes = node.c || [];
    }
    return node;
  }

  function seriesChart(title, captures, paths, hiddenFrom) {
    const box = el("div", {});
    const logScale = el("input", { type: "checkbox" });
    box.append(el("div", { class: "toolbar" }, el("strong", { text: title }),
      el("label", {}, logScale, " log scale")));
    const holder = el("div", { class: "chart-box" });
    const canvas = el("canvas", { class: "series-chart", "aria-label": title });
    holder.append(canvas);
    box.append(holder);
    const datasets = paths.map((path, i) => ({
      label: path.join(" › "), hidden: i >= hiddenFrom, borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length], spanGaps: true, tension: 0,
      data: captures.map((c) => { const n = lookup(c, path); return n && typeof n.x === "number" ? n.x : null; }),
    }));
    const chart = new Chart(canvas, {
      type: "line", data: { labels: captures.map((c) => c.name), datasets },
      options: { animation: false, maintainAspectRatio: false,
                 scales: { x: { title: { display: true, text: "capture" } }, y: { type: "linear" } },
                 plugins: { legend: { position: "bottom" } } },
    });
    logScale.addEventListener("change", () => {
      chart.options.scales.y.type = logScale.checked ? "logarithmic" : "linear";
      chart.update();
    });
    return { box, chart };
  }

  // Numeric globals: each numeric member of a global-section map (.bss, .data, ...).
  function globalPaths(captures) {
    const seen = new Map();
    for (const c of captures)
      for (const m of c.maps || [])
        if (m.g) for (const v of m.c || []) if (typeof v.x === "number") seen.set(m.k + "\u0000" + v.k, [m.k, v.k]);
    return [...seen.values()];
  }

  function treeNode(node, path, onPlot) {
    const label = [el("span", { class: "k", text: node.k }), node.t ? el("span", { class: "t", text: node.t }) : null,
      node.v !== undefined ? el("span", { class: "v", text: node.v }) : null,
      node.e ? el("span", { class: "e", text: node.e }) : null];
    const plot = typeof node.x === "number"
      ? el("button", { class: "plot", type: "button", title: "chart this path across the captures", text: "chart" })
      : null;
    if (plot) plot.addEventListener("click", (ev) => { ev.preventDefault(); onPlot(path); });
    if (!node.c && !node.more) {
      const leaf = el("div", { class: "leaf" }, ...label, plot);
      leaf.ktestNode = node;
      return leaf;
    }
    const count = (node.c ? node.c.length : 0) + (node.more || 0);
    const details = el("details", {}, el("summary", {}, ...label, el("span", { class: "t", text: `(${count})` }), plot));
    details.ktestNode = node;
    details.ktestPath = path;
    details.ktestOnPlot = onPlot;
    details.addEventListener("toggle", () => { if (details.open) fillChildren(details); });
    return details;
  }

  // Children are drawn when their parent first opens: big maps stay cheap.
  function fillChildren(details) {
    if (details.ktestFilled) return;
    details.ktestFilled = true;
    const node = details.ktestNode;
    for (const child of node.c || []) details.append(treeNode(child, [...details.ktestPath, child.k], details.ktestOnPlot));
    if (node.more)
      details.append(el("div", { class: "more", text: `${node.more} more not shown in this page ` +
        `(limits: ${LIMITS.entries_per_map} entries per map, ${LIMITS.elements_per_array} elements per array, ` +
        `${LIMITS.nodes_per_capture} nodes per capture); ktest snapshot dump shows all` }));
  }

  // Opens the tree down to the node at index path `at` and marks it.
  function reveal(tree, at) {
    let holder = tree;
    let target = null;
    for (const i of at) {
      if (holder.tagName === "DETAILS") { fillChildren(holder); holder.open = true; }
      const kids = [...holder.children].filter((k) => k.ktestNode);
      target = kids[i];
      if (!target) return;
      holder = target;
    }
    if (target.tagName === "DETAILS") target.open = true;
    for (const old of tree.querySelectorAll(".found")) old.classList.remove("found");
    const mark = target.tagName === "DETAILS" ? target.firstElementChild : target;
    mark.classList.add("found");
    mark.scrollIntoView({ block: "center" });
  }

  function search(capture, query, max) {
    const found = [];
    const q = query.toLowerCase();
    const walk = (nodes, at, labels) => nodes.forEach((n, i) => {
      if (found.length >= max) return;
      if (n.k.toLowerCase().includes(q)) found.push({ at: [...at, i], labels: [...labels, n.k], node: n });
      if (n.c) walk(n.c, [...at, i], [...labels, n.k]);
    });
    walk(capture.maps || [], [], []);
    return found;
  }

  function browser(captures, onPlot) {
    const box = el("div", { class: "browser" });
    const select = el("select", { "aria-label": "capture" },
      ...captures.map((c, i) => el("option", { value: String(i), text: c.name + (c.trigger ? ` (${c.trigger})` : "") })));
    const query = el("input", { type: "search", placeholder: "search names in this capture (maps, entries, fields)" });
    const status = el("span", { class: "muted" });
    const results = el("div", { class: "results" });
    const tree = el("div", { class: "tree capture-tree" });
    box.append(el("div", { class: "toolbar" }, el("label", {}, "capture ", select), query, status), results, tree);
    const show = () => {
      const c = captures[Number(select.value)];
      tree.replaceChildren();
      results.replaceChildren();
      if (c.error) tree.append(el("div", { class: "problem", text: c.error }));
      (c.maps || []).forEach((m) => tree.append(treeNode(m, [m.k], onPlot)));
      const info = [c.captured_at && "captured " + c.captured_at, c.degraded_reason && "degraded: " + c.degraded_reason,
        c.omitted && `${c.omitted} nodes left out of this page`].filter(Boolean).join(" · ");
      status.textContent = info;
      if (query.value) runSearch();
    };
    const runSearch = () => {
      const c = captures[Number(select.value)];
      results.replaceChildren();
      if (!query.value) return;
      const hits = search(c, query.value, 200);
      if (hits.length === 0) results.append(el("div", { class: "muted", text: "no name matches" }));
      for (const hit of hits) {
        const row = el("div", { class: "mono", text: hit.labels.join(" › ") + (hit.node.v !== undefined ? " = " + hit.node.v : "") });
        row.addEventListener("click", () => reveal(tree, hit.at));
        results.append(row);
      }
    };
    select.addEventListener("change", show);
    query.addEventListener("input", runSearch);
    show();
    return box;
  }

  // ---- scheduler exits: the exit, then the kernel's dump with its key lines marked
  function exitPanel(exit, extra) {
    const cls = exit.outcome === "failed" ? "exit" : "exit expected";
    const what = exit.missing ? `expected ${exit.kind} never came`
      : `${exit.kind || "exit"} (${exit.reason || "no reason"}): ${exit.message || ""}`;
    const panel = el("div", { class: cls }, el("h4", {}, badge(exit.outcome), ` scheduler ${exit.scheduler}: ${what}`));
    panel.append(el("div", { class: "muted", text: (exit.expected ? "expected by the scenario" : "not expected") +
      (exit.report ? " · failure dump: " + exit.report : "") }));
    if (extra && extra.dump_text) {
      const pre = el("pre", { class: "dump" });
      const lines = extra.dump_text.split("\n");
      lines.forEach((line, i) => {
        const heading = i + 1 < lines.length && /^-{3,}$/.test(lines[i + 1]);
        const key = /triggered exit|scx_bpf_error|error|stall|\*R /i.test(line) || (exit.message && line.includes(exit.message));
        pre.append(heading || key ? el("span", { class: heading ? "hd" : "hl", text: line }) : line, "\n");
      });
      panel.append(pre);
      if (extra.dump_cut) panel.append(el("div", { class: "muted", text: `dump cut at ${LIMITS.dump_bytes} bytes` }));
    }
    return panel;
  }

  function scenarioSection(sc, extra, index) {
    const sec = el("section", { class: "scenario " + sc.outcome, id: "scenario-" + index });
    const vm = sc.vm ? `${sc.vm.accel}, ${sc.vm.cpus} vCPUs, ${sc.vm.memory_mib} MiB, ${sc.vm.machine}` : "";
    sec.append(el("h2", {}, badge(sc.outcome), " " + sc.name),
      el("div", { class: "meta", text: [sc.file, ms(sc.duration_ms), vm].filter(Boolean).join(" · ") }));
    if (sc.error) sec.append(el("pre", { class: "problem", text: sc.error }));
    if (sc.notes && sc.notes.length) sec.append(el("h3", { text: "notes" }), el("ul", {}, ...sc.notes.map((n) => el("li", { text: n }))));
    if (extra.problems.length)
      sec.append(el("h3", { text: "not readable in the run directory" }),
        el("ul", { class: "problem" }, ...extra.problems.map((p) => el("li", { text: p }))));
    if (sc.scheduler_exits.length) {
      sec.append(el("h3", { text: "scheduler exits" }));
      sc.scheduler_exits.forEach((exit, i) => sec.append(exitPanel(exit, extra.scheduler_exits[i])));
    }
    const tl = timeline(sc, extra);
    sec.append(el("h3", { text: "steps" }), timelineChart(tl), stepTable(tl));
    sec.append(el("h3", { text: "assertions" }));
    sec.append(sc.assertions.length === 0 ? el("p", { class: "muted", text: "none" })
      : table("assertions", ["assertion", "verdict", "actual", "expected", "why"], sc.assertions.map((a) => [
        a.name === a.expression ? a.expression : `${a.name}\n${a.expression}`, badge(a.outcome), a.actual, a.expected,
        [a.outcome !== "passed" ? a.message : null, a.error].filter(Boolean).join("\n")])));
    const captures = extra.captures.filter((c) => c.maps || c.error);
    sec.append(el("h3", { text: "captures" }));
    if (captures.length === 0) {
      sec.append(el("p", { class: "muted", text: "no snapshot was captured" }));
    } else {
      const charts = el("div", { class: "charts" });
      const globals = seriesChart("numeric globals", captures, globalPaths(captures), GLOBALS_SHOWN);
      const chosen = seriesChart("chosen paths (press \"chart\" on a value below)", captures, [], 0);
      charts.append(globals.box, chosen.box);
      const onPlot = (path) => {
        const label = path.join(" › ");
        if (chosen.chart.data.datasets.some((d) => d.label === label)) return;
        const i = chosen.chart.data.datasets.length;
        chosen.chart.data.datasets.push({ label, borderColor: PALETTE[i % PALETTE.length],
          backgroundColor: PALETTE[i % PALETTE.length], spanGaps: true,
          data: captures.map((c) => { const n = lookup(c, path); return n && typeof n.x === "number" ? n.x : null; }) });
        chosen.chart.update();
      };
      sec.append(charts, browser(captures, onPlot));
    }
    if (extra.console_tail) {
      const consoleBox = el("details", { class: "console" }, el("summary", { text: `console tail (${extra.console_tail.length} lines` +
        (extra.console_cut ? `, cut to the last ${LIMITS.console_lines})` : ")") }), el("pre", { text: extra.console_tail.join("\n") }));
      if (sc.outcome !== "passed") consoleBox.open = true;
      sec.append(el("h3", { text: "console" }), consoleBox);
    }
    if (extra.events) {
      sec.append(el("details", {}, el("summary", { text: `events.log (${extra.events.length} lines` +
        (extra.events_dropped ? `, ${extra.events_dropped} more not shown)` : ")") }),
        el("pre", { text: extra.events.map((e) => `${e.t.toFixed(3).padStart(9)} ${e.text}`).join("\n") })));
    }
    return sec;
  }

  try {
    const main = document.getElementById("scenarios");
    DATA.results.scenarios.forEach((sc, i) => main.append(scenarioSection(sc, DATA.scenarios[i], i)));
    document.body.dataset.ktestRendered = "1";
  } catch (e) {
    document.body.dataset.ktestError = String(e && e.stack ? e.stack : e);
    throw e;
  }
})();
