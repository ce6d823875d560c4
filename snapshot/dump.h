// Human and JSON rendering of snapshot reports (`ktest snapshot dump`).
//
// Contract:
// - Text form: one scalar per line as `path = value`; struct members are
//   nested by indentation under a `name:` line (type name in braces when
//   known); arrays of scalars print inline (`[1, 2, 3]`); char arrays print
//   as a quoted string; pointers as 0x... followed by their rendered target.
// - Zero noise (default, DumpOptions::show_zero == false): struct members
//   and array elements whose whole subtree is zero (all-zero ints, false,
//   null pointers, empty strings) are left out, and a line
//   `(N zero members hidden)` says so; zero-only arrays print `[all N zero]`.
//   Anonymous padding members (name "" or starting with "__pad"/"_pad",
//   "__reserved") are hidden when zero. The selected value itself is always
//   printed even when zero.
// - Selection: snapshot name ("" = every snapshot), map ("" = every map),
//   dotted path inside the map's value (or, without map, a global variable
//   path resolved as Snapshot::var does). Bad selections fail with the
//   snapshot layer's errors (available names, did-you-mean).
// - Map + path on a map with several entries (hash, per-CPU) prints the path
//   in every entry (every CPU slot of per-CPU entries).
// - The whole-report text puts the sched_ext state (Report::scx, as
//   scx_to_text() writes it: a "sched_ext: ..." block) between the header
//   and the maps; the whole-report JSON has it as the "scx" key.
// - Without a map, a path whose first component is "scx" ("scx",
//   "scx.exit.dump") selects inside the sched_ext state (Snapshot::scx())
//   unless the snapshot has a global variable named scx.
// - JSON form: the selected sub-tree in the report JSON shapes (a Report, a
//   MapDump, a RenderedValue, or for map + path over several entries an
//   array of {index, key, value|per_cpu}), pretty-printed with 2-space
//   indent. With options.snapshot set the output is that sub-tree; without,
//   an array of {"snapshot": name, "data": sub-tree} in report order.
#pragma once

#include <string>
#include <vector>

#include "snapshot/rendered_value.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest {

struct DumpOptions {
  std::string snapshot;  // "" = all
  std::string map;       // "" = all maps (or a global variable via path)
  std::string path;      // dotted path within the selection
  bool json = false;
  bool show_zero = false;
  bool show_hex = false;  // also print key_hex/value_hex of entries
  std::size_t max_entries = 0;  // per map; 0 = all
};

// Compact single-line text of a value (used in keys and error messages):
// `task_ctx{tid=42, weight=100}`, `"comm"`, `[1, 2]`, `0x1000 -> {...}`.
std::string render_value_inline(const RenderedValue& v);

// Multi-line text of a value rooted at `root_path` (no trailing newline
// stripped; every line ends with '\n').
std::string render_value_text(const RenderedValue& v, const std::string& root_path,
                              const DumpOptions& options = {});
std::string render_map_text(const MapDump& map, const DumpOptions& options = {});
std::string render_report_text(const NamedReport& report, const DumpOptions& options = {});

// The whole `ktest snapshot dump` output for the given reports and options
// (text or JSON per options.json).
Result<std::string> dump_reports(const std::vector<NamedReport>& reports,
                                 const DumpOptions& options);

}  // namespace ktest
