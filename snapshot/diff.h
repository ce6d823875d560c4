// What changed between two snapshots (`ktest snapshot diff`, and
// `ktest snapshot dump --changed-since`).
//
// Contract:
// - diff_snapshots(before, after) compares two loaded reports and returns
//   one SnapshotDiff; diff_text() and diff_json() both render that result,
//   so the text and the JSON never disagree.
// - Maps are matched by name (the n-th map of a name with the n-th);
//   entries by key: key_hex when the report has it (exact bytes, whatever
//   the key's type), else the rendered key text; per-CPU array keys by
//   index. Matching hashes the keys, so maps of 16000+ entries cost
//   O(entries). A key seen twice in one map (queue positions never are)
//   is told apart by its occurrence.
// - Values are compared as trees: struct members by name (anonymous
//   members are transparent, as in dotted paths), array elements by index
//   (char arrays as their text), pointers by address and then through
//   their rendered targets, truncated values through what did decode.
//   Each difference is one FieldDiff at a dotted path as walk_dotted_path
//   takes it ("ctx.weight.value", "slots[3]"); integers and floats carry
//   after - before as a delta, other kinds (enums, bools, chars, strings,
//   pointers) none. Per-CPU values are compared slot by slot (FieldDiff::cpu).
//   An entry or value without BTF compares its hex bytes.
// - Global-section maps (.bss, .data, .rodata, ...) are `variables`: their
//   value's members are the variables, so a member present on one side
//   only is a variable added or removed.
// - Filters: `maps` and `vars` select (nothing selected = every map);
//   a name that neither snapshot has fails with the snapshot layer's
//   error (available names, did-you-mean). `ignore` drops maps by exact
//   name and fields at or below a path; `within` keeps only fields at or
//   below a path. Constant sections (is_constant_section) are compared only
//   when selected by name or when show_constants; hidden, they are still
//   counted, and whether they differ is said, but they never make the
//   snapshots differ. Unchanged maps and entries are counted, and listed
//   only with show_unchanged.
// - Bounded: at most max_entries entries listed per map (the rest are
//   counted in MapDiff::not_listed); value trees are walked at most
//   kMaxDiffDepth levels deep.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/report.h"
#include "util/result.h"

namespace ktest {

inline constexpr std::size_t kMaxDiffDepth = 32;

// after relative to before.
enum class Change { Added, Removed, Changed, Same };
const char* change_name(Change c);  // "added", "removed", "changed", "same"

// after - before of an integer, as sign and magnitude (both sides may be
// any 128-bit value).
struct IntDelta {
  bool negative = false;
  uint128_t magnitude = 0;
};
using Delta = std::variant<IntDelta, double>;

struct FieldDiff {
  Change change = Change::Changed;  // Added: only after has it; Removed: only before
  std::string path;                 // from the value's root; "" = the value itself
  std::optional<std::size_t> cpu;   // the CPU slot of a per-CPU value
  std::optional<RenderedValue> before;  // absent on the side that lacks the field
  std::optional<RenderedValue> after;
  std::optional<Delta> delta;  // numbers only
};

struct EntryDiff {
  Change change = Change::Changed;
  std::string key;      // rendered key, or HEX_KEY_PREFIX + key_hex
  std::string key_hex;  // "" for per-CPU array keys
  // Changed: what changed. Added/Removed: the whole value (one per CPU
  // slot of a per-CPU entry). Same: nothing.
  std::vector<FieldDiff> fields;
};

struct EntryCounts {
  std::size_t before = 0, after = 0;
  std::size_t added = 0, removed = 0, changed = 0, same = 0;
  std::size_t not_listed = 0;  // past DiffOptions::max_entries
};

struct MapDiff {
  Change change = Change::Changed;
  std::string name;
  std::string type;        // map type as dump prints it ("hash", "BPF_MAP_TYPE_QUEUE")
  bool variables = false;  // a global section: `value` paths start at a variable
  bool constant = false;   // is_constant_section(name)
  // The map's own state: "type", "error", "ringbuf.<field>", "arena.<field>".
  std::vector<FieldDiff> state;
  // The map's value (ARRAY-style maps, global sections, struct_ops, arena).
  std::vector<FieldDiff> value;
  std::vector<EntryDiff> entries;  // listed entries: after's order, then removed ones
  EntryCounts counts;
};

struct DiffHidden {
  std::size_t same_maps = 0;     // unchanged maps not listed
  std::size_t same_entries = 0;  // unchanged entries of listed maps, not listed
  std::vector<std::string> constant_sections;            // not compared
  std::vector<std::string> constant_sections_differing;  // ...of which differ
  std::size_t ignored_fields = 0;                        // dropped by `ignore`
};

struct SnapshotDiff {
  std::string before, after;  // the snapshots' labels (NamedReport::name)
  std::string before_captured_at, after_captured_at;
  std::vector<std::string> notes;  // kernel version changed, degraded captures, ...
  std::vector<MapDiff> maps;       // after's order, then maps only before has
  DiffHidden hidden;

  bool differs() const;  // some listed map was added, removed or changed
};

struct DiffOptions {
  std::vector<std::string> maps;    // only these maps (names as Snapshot::map takes them)
  std::vector<std::string> vars;    // only these global variables ("nr", "stats.nr_local")
  std::vector<std::string> ignore;  // map names, or field paths left out
  std::string within;               // only fields at or below this path ("" = all)
  bool show_constants = false;      // compare constant sections too
  bool show_unchanged = false;      // list unchanged maps and entries
  std::size_t max_entries = 0;      // entries listed per map; 0 = all
};

Result<SnapshotDiff> diff_snapshots(const NamedReport& before, const NamedReport& after,
                                    const DiffOptions& options = {});

// Text: "--- before" / "+++ after" header, one block per map
// ("~ map NAME (...)", entries "~ key K", fields "path: old → new (+d)",
// "+ path = new", "- path = old"), then what was hidden and a summary line.
// Every line ends with '\n'.
std::string diff_text(const SnapshotDiff& diff);
// JSON: {before, after, differs, notes, maps: [...], hidden}; values in the
// report JSON shapes (value_to_json), deltas as numbers.
nlohmann::json diff_json(const SnapshotDiff& diff);

// Canonical dotted path: "a.b.3" and "a.b[3]" both give "a.b[3]".
std::string canonical_path(std::string_view path);
// Whether `path` is `prefix` or lies below it (both canonical).
bool path_within(std::string_view path, std::string_view prefix);

}  // namespace ktest
