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
// - Short by default: constant sections (.rodata, .kconfig: see
//   is_constant_section) are left out of the whole-report text unless
//   show_constants, and a closing line `(hidden: ...)` names them and says
//   how many entries max_entries left out; a map named with --map is
//   always shown. The JSON form always has every section.
// - Changes (dump_changes): for each selected snapshot other than `base`,
//   what changed since `base`, as `ktest snapshot diff` prints it
//   (snapshot/diff.h): map selects the map, path a global variable
//   without map or a field path within map; show_constants and
//   max_entries as for the dump.
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

// The entries listed per map when the user does not say (text forms).
inline constexpr std::size_t kDefaultListedEntries = 20;

struct DumpOptions {
  std::string snapshot;  // "" = all
  std::string map;       // "" = all maps (or a global variable via path)
  std::string path;      // dotted path within the selection
  bool json = false;
  bool show_zero = false;
  bool show_hex = false;  // also print key_hex/value_hex of entries
  std::size_t max_entries = 0;  // per map; 0 = all
  bool show_constants = false;  // also constant sections in the whole-report text
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

// `ktest snapshot dump --changed-since`: the diff from `base` to each
// selected report (`base` itself, when it is one of `reports`, is skipped).
// Text: the diffs one after another; JSON: as dump_reports nests its
// sub-trees, each a diff_json() object.
Result<std::string> dump_changes(const std::vector<NamedReport>& reports, const NamedReport& base,
                                 const DumpOptions& options);

}  // namespace ktest
