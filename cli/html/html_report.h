// The HTML report of a run: one self-contained page per run directory.
//
// Contract:
// - write_html_report() reads a run directory as `ktest run` left it
//   (results.json, then each scenario's events.log, console.log, snapshot
//   reports and scheduler-exit dump) and writes one HTML file, atomically:
//   by default <run_dir>/kHtmlReportFile. `ktest report` and `ktest run
//   --html` both call it, so the page only ever shows what the run directory
//   holds.
// - The page needs nothing at view time: its style, its script and the
//   chart library (vendored from the system at build time, cli/html/meson.build)
//   are inline, and its Content-Security-Policy forbids any fetch. The run's
//   data is one embedded JSON document (results.json as written, plus what
//   the page adds per scenario), escaped so no "</script" can end it early.
// - Page size is bounded by HtmlLimits (one place): per map, per array and
//   per capture the page keeps at most that many nodes and says how many it
//   left out; console tail, events and dump text are cut likewise.
// - Paths in results.json are rebased onto the given run directory, so a
//   copied or moved run directory still reports.
// - Errors: a run directory without a readable results.json fails (what,
//   where, how to fix); a per-scenario file that is missing or unreadable is
//   not an error but a line in the page's "could not read" list.
#pragma once

#include <cstddef>
#include <string>

#include "util/result.h"

namespace ktest::cli {

inline constexpr const char* kHtmlReportFile = "report.html";

struct HtmlLimits {
  std::size_t entries_per_map = 200;    // map entries (and per-CPU keys) shown per map
  std::size_t elements_per_array = 64;  // array elements shown per array
  std::size_t nodes_per_capture = 40000;  // tree nodes per capture, all maps together
  std::size_t max_depth = 24;           // nesting levels of a value
  std::size_t console_lines = 300;      // console.log tail
  std::size_t event_lines = 3000;       // events.log head
  std::size_t dump_bytes = 64 * 1024;   // scheduler-exit dump text
};

struct HtmlReportOptions {
  std::string run_dir;
  std::string output;  // "" = <run_dir>/kHtmlReportFile
  HtmlLimits limits;
};

// The path written.
Result<std::string> write_html_report(const HtmlReportOptions& options);

}  // namespace ktest::cli
