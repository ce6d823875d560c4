// Typed traversal of captured snapshots (the snapshot layer's contract).
//
// Contract:
// - Snapshot -> SnapshotMap -> SnapshotEntry -> SnapshotField is a lazy,
//   copyable chain over one Report. Every view shares ownership of the
//   report, so a view never dangles and may outlive the Snapshot it came from.
// - Dotted paths ("ctx.weight.value", "slots.3.vtime") walk struct members by
//   name and array elements by decimal index; pointers whose target was
//   rendered at capture are followed transparently (at most
//   MAX_DEREF_CHAIN derefs in a row). An empty path is the value itself; an
//   empty component ("a..b", ".a", "a.") is an error.
// - A failed step never throws: get()/member()/index() return a Missing
//   SnapshotField carrying a SnapshotError that names the failing component
//   and the alternatives available at that level; terminal accessors (as_*)
//   then return that error as a ktest::Error (message + hint).
// - Nothing here crashes or loops on a malformed report; counts and depths
//   are bounded.
// - Snapshot::scx() views the report's sched_ext section through the same
//   SnapshotField vocabulary (the tree is built from the report, not
//   captured BTF data, and is owned by the fields that view it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/rendered_value.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest {

// NoMatch samples at most this many rendered keys...
inline constexpr std::size_t NO_MATCH_KEY_SAMPLE = 3;
// ...each cut to this many characters, ending in "…".
inline constexpr std::size_t NO_MATCH_KEY_CHAR_CAP = 80;
// Key text prefix when an entry had no BTF-rendered key ("hex:0a 00 ...").
inline constexpr std::string_view HEX_KEY_PREFIX = "hex:";
// Most pointer derefs followed in a row by one path step.
inline constexpr std::size_t MAX_DEREF_CHAIN = 16;
// Most alternatives listed in an error ("available: a, b, ... (+N more)").
inline constexpr std::size_t MAX_LISTED_ALTERNATIVES = 12;

enum class SnapshotErrorKind {
  MissingMember,       // no such struct member
  NotAStruct,          // member step on a non-struct
  IndexOutOfRange,     // array index past the rendered elements
  NotAnArray,          // index step on a non-array
  EmptyPathComponent,  // "a..b"
  PointerNotFollowed,  // step through a pointer whose target was not rendered
  DerefChainTooLong,   // more than MAX_DEREF_CHAIN derefs in a row
  ValueUnavailable,    // truncated / unsupported / bytes-only value
  TypeMismatch,        // as_u64() on a struct, as_str() on an int, ...
  OutOfRange,          // value does not fit the requested type
  NoSuchMap,
  AmbiguousMap,
  NoSuchVar,
  AmbiguousVar,
  NoActiveScheduler,
  NoMatch,            // find()/max_by() found nothing
  EntryOutOfRange,    // at(i) past the entries
  NotPerCpu,          // cpu(n) on a map/entry without per-CPU slots
  CpuOutOfRange,      // cpu(n) past the slots, or the slot was unreadable
  PerCpuNeedsCpu,     // value access on a per-CPU entry without cpu(n)
  MapUnavailable,     // the map's capture recorded an error and no data
  NoSuchSnapshot,
  NoScxState,         // scx() on a report without a sched_ext section
};

const char* snapshot_error_kind_name(SnapshotErrorKind kind);

struct SnapshotError {
  SnapshotErrorKind kind = SnapshotErrorKind::MissingMember;
  std::string path;                    // where (dotted path, map or var name)
  std::string message;                 // full one-line text
  std::string hint;                    // "" when nothing to suggest
  std::vector<std::string> available;  // alternatives at the failing level

  std::string to_string() const;  // message, then " (hint: ...)" if any
  Error to_error() const;         // Error{message, "", hint}

  // Factories; each builds the golden text pinned in snapshot tests.
  // `at` is the full dotted path including the failing component.
  static SnapshotError missing_member(std::string_view member, std::string_view at,
                                      std::string_view type_name,
                                      std::vector<std::string> available);
  static SnapshotError not_a_struct(std::string_view member, std::string_view at,
                                    std::string_view found_kind);
  static SnapshotError index_out_of_range(std::size_t index, std::string_view at,
                                          std::size_t rendered, uint64_t declared_len);
  static SnapshotError not_an_array(std::string_view component, std::string_view at,
                                    std::string_view found_kind);
  static SnapshotError empty_path_component(std::string_view full_path, std::size_t position);
  static SnapshotError pointer_not_followed(std::string_view at, uint64_t address,
                                            std::string_view reason);
  static SnapshotError deref_chain_too_long(std::string_view at);
  static SnapshotError value_unavailable(std::string_view at, std::string_view why);
  static SnapshotError type_mismatch(std::string_view at, std::string_view wanted,
                                     std::string_view found_kind, std::string_view found_text);
  static SnapshotError out_of_range(std::string_view at, std::string_view wanted,
                                    std::string_view value_text);
  static SnapshotError no_such_map(std::string_view name, std::string_view snapshot,
                                   std::vector<std::string> available);
  static SnapshotError ambiguous_map(std::string_view name, std::vector<std::string> matches);
  static SnapshotError no_such_var(std::string_view name, std::string_view snapshot,
                                   std::vector<std::string> available);
  static SnapshotError ambiguous_var(std::string_view name, std::vector<std::string> maps);
  static SnapshotError no_active_scheduler(std::string_view why,
                                           std::vector<std::string> observed_objs);
  // `sampled_keys` are rendered key texts (cut and counted by the factory).
  static SnapshotError no_match(std::string_view map, std::string_view what,
                                std::size_t entries, std::vector<std::string> sampled_keys);
  static SnapshotError entry_out_of_range(std::string_view map, std::size_t index,
                                          std::size_t entries);
  static SnapshotError not_per_cpu(std::string_view map, std::string_view map_type);
  static SnapshotError cpu_out_of_range(std::string_view where, std::size_t cpu,
                                        std::size_t nr_cpus, bool slot_unreadable);
  static SnapshotError per_cpu_needs_cpu(std::string_view where, std::size_t nr_cpus);
  static SnapshotError map_unavailable(std::string_view map, std::string_view capture_error);
  static SnapshotError no_such_snapshot(std::string_view name, std::vector<std::string> available);
  static SnapshotError no_scx_state(std::string_view snapshot);
};

// Wraps a SnapshotError as a failed ktest::Result.
inline Unexpected fail(const SnapshotError& e) { return Unexpected{e.to_error()}; }

// Cuts `text` to NO_MATCH_KEY_CHAR_CAP characters (UTF-8 aware), adding "…".
std::string cut_key_text(std::string_view text);

// Walks `path` from `root`. `base` is the path `root` sits at (for messages).
using WalkResult = std::variant<const RenderedValue*, SnapshotError>;
WalkResult walk_dotted_path(const RenderedValue& root, std::string_view path,
                            std::string_view base = "");

// 1-based number of the first empty dot-separated component of `path`
// ("a..b" -> 2, ".a" -> 1, "a." -> 2), nullopt when none (or path is "").
std::optional<std::size_t> empty_component_position(std::string_view path);

// Follows rendered pointer targets from `v` (bounded); `v` itself when not a
// pointer. Returns the pointer node when its target was not rendered.
const RenderedValue* follow_pointers(const RenderedValue& v);

// ---------------------------------------------------------------- fields

// Characters of a map name the kernel keeps (BPF_OBJ_NAME_LEN - 1).
inline constexpr std::size_t kKernelMapNameChars = 15;

class SnapshotField {
 public:
  // A present field: `node` lives inside `owner` (kept alive by the field).
  SnapshotField(std::shared_ptr<const void> owner, const RenderedValue* node, std::string path);
  static SnapshotField missing(SnapshotError error);

  bool ok() const { return node_ != nullptr; }
  explicit operator bool() const { return ok(); }
  const SnapshotError* error() const;  // nullptr when ok()
  const std::string& path() const { return path_; }

  SnapshotField get(std::string_view dotted_path) const;
  SnapshotField member(std::string_view name) const;  // one struct step
  SnapshotField index(std::size_t i) const;           // one array step

  Result<uint64_t> as_u64() const;
  Result<int64_t> as_i64() const;
  Result<double> as_f64() const;
  Result<bool> as_bool() const;
  // Enum variant name, char/u8 array text (up to NUL), cpu_list text.
  Result<std::string> as_str() const;
  Result<int128_t> as_i128() const;  // any integer-like value, full width

  Result<std::vector<uint64_t>> as_u64_array() const;
  Result<std::vector<uint32_t>> as_u32_array() const;
  Result<std::vector<int64_t>> as_i64_array() const;
  Result<std::vector<double>> as_f64_array() const;
  Result<std::vector<bool>> as_bool_array() const;

  // The node reached (pointer targets already followed), or the error.
  Result<const RenderedValue*> raw() const;
  // Kind of the reached node (nullopt when missing).
  std::optional<ValueKind> kind() const;
  // Member names when the node is a struct (else empty).
  std::vector<std::string> member_names() const;
  // Compact one-line text of the value (or "<missing: ...>").
  std::string render() const;

 private:
  SnapshotField() = default;
  std::shared_ptr<const void> owner_;
  const RenderedValue* node_ = nullptr;
  std::string path_;
  std::shared_ptr<const SnapshotError> error_;
};

// Same vocabulary over a plain JSON value (e.g. scheduler stats output):
// objects are walked by key, arrays by decimal index.
class JsonField {
 public:
  explicit JsonField(std::shared_ptr<const nlohmann::json> root);
  static JsonField missing(SnapshotError error);

  bool ok() const { return node_ != nullptr; }
  explicit operator bool() const { return ok(); }
  const SnapshotError* error() const;
  const std::string& path() const { return path_; }

  JsonField get(std::string_view dotted_path) const;
  JsonField member(std::string_view key) const;
  JsonField index(std::size_t i) const;

  Result<uint64_t> as_u64() const;
  Result<int64_t> as_i64() const;
  Result<double> as_f64() const;
  Result<bool> as_bool() const;
  Result<std::string> as_str() const;
  Result<std::vector<uint64_t>> as_u64_array() const;
  Result<std::vector<uint32_t>> as_u32_array() const;
  Result<std::vector<int64_t>> as_i64_array() const;
  Result<std::vector<double>> as_f64_array() const;
  Result<std::vector<bool>> as_bool_array() const;
  Result<const nlohmann::json*> raw() const;

 private:
  JsonField() = default;
  std::shared_ptr<const nlohmann::json> root_;
  const nlohmann::json* node_ = nullptr;
  std::string path_;
  std::shared_ptr<const SnapshotError> error_;
};

// ---------------------------------------------------------------- maps

class SnapshotEntry;
// Predicate for find()/filter(): an error aborts the search and is returned.
using EntryPredicate = std::function<Result<bool>(const SnapshotEntry&)>;

class SnapshotEntry {
 public:
  std::size_t index() const { return index_; }
  const std::string& map_name() const;
  // The rendered key (per-CPU array keys are u32). Missing when the key had
  // no BTF rendering: use key_hex() / key_text().
  SnapshotField key() const;
  const std::string& key_hex() const;  // "" for per-CPU array keys
  // Rendered key compact text, or HEX_KEY_PREFIX + key_hex.
  std::string key_text() const;

  bool is_per_cpu() const;   // true for per-CPU keys with no CPU selected
  std::size_t nr_cpus() const;  // per-CPU slots (0 if not per-CPU)
  Result<SnapshotEntry> cpu(std::size_t n) const;  // select one CPU's slot

  SnapshotField value() const;  // per-CPU without cpu(n): PerCpuNeedsCpu
  SnapshotField get(std::string_view dotted_path) const { return value().get(dotted_path); }
  SnapshotField payload() const;  // sdt_alloc payload, Missing when none
  const std::string& value_hex() const;

  // Across this entry's readable CPU slots (unreadable slots are skipped;
  // an entry that is not per-CPU counts as one slot).
  Result<uint64_t> sum_u64(std::string_view path = "") const;  // saturating
  Result<uint64_t> max_u64(std::string_view path = "") const;
  Result<uint64_t> min_u64(std::string_view path = "") const;
  Result<int64_t> sum_i64(std::string_view path = "") const;  // saturating
  Result<int64_t> max_i64(std::string_view path = "") const;
  Result<int64_t> min_i64(std::string_view path = "") const;
  // Each readable CPU slot's value at `path`, in CPU order.
  std::vector<SnapshotField> per_cpu_values(std::string_view path = "") const;

 private:
  friend class SnapshotMap;
  std::shared_ptr<const Report> report_;
  std::size_t map_index_ = 0;
  std::size_t index_ = 0;
  std::optional<std::size_t> cpu_;
  std::shared_ptr<const RenderedValue> synthesized_key_;
};

class SnapshotMap {
 public:
  const std::string& name() const;
  uint32_t map_type() const;
  const MapDump& raw() const;
  bool is_per_cpu() const;  // has per-CPU entries and no CPU selected
  std::optional<std::size_t> selected_cpu() const { return cpu_; }

  // Entries: hash entries, per-CPU (hash) keys, or the single ARRAY value
  // as entry 0 (key u32 0).
  std::size_t size() const;
  std::vector<SnapshotEntry> entries() const;
  Result<SnapshotEntry> at(std::size_t i) const;
  // ARRAY-style value (entry 0's value); get(path) is value().get(path).
  SnapshotField value() const;
  SnapshotField get(std::string_view dotted_path) const { return value().get(dotted_path); }

  Result<SnapshotEntry> find(const EntryPredicate& pred) const;  // first match or NoMatch
  Result<std::vector<SnapshotEntry>> filter(const EntryPredicate& pred) const;
  // Entry whose value at `path` is largest/smallest (first wins ties).
  // Entries where `path` is missing are skipped; none usable -> NoMatch.
  Result<SnapshotEntry> max_by(std::string_view path) const;
  Result<SnapshotEntry> min_by(std::string_view path) const;

  // View with every per-CPU entry narrowed to CPU `n`.
  Result<SnapshotMap> cpu(std::size_t n) const;
  std::size_t nr_cpus() const;  // widest per-CPU slot vector (0 if none)

  // Across every entry (and every readable CPU slot of per-CPU entries).
  Result<uint64_t> sum_u64(std::string_view path = "") const;
  Result<uint64_t> max_u64(std::string_view path = "") const;
  Result<uint64_t> min_u64(std::string_view path = "") const;
  Result<int64_t> sum_i64(std::string_view path = "") const;
  Result<int64_t> max_i64(std::string_view path = "") const;
  Result<int64_t> min_i64(std::string_view path = "") const;

 private:
  friend class Snapshot;
  std::shared_ptr<const Report> report_;
  std::size_t map_index_ = 0;
  std::optional<std::size_t> cpu_;
  Result<SnapshotMap> ready() const;  // MapUnavailable when error-only
};

// ---------------------------------------------------------------- snapshot

class Snapshot {
 public:
  explicit Snapshot(Report report);
  explicit Snapshot(std::shared_ptr<const Report> report);

  // report.snapshot_name, or "" for an unnamed (e.g. ktstr) report.
  const std::string& name() const;
  const Report& report() const { return *report_; }
  std::shared_ptr<const Report> shared_report() const { return report_; }

  std::vector<std::string> map_names() const;
  std::vector<SnapshotMap> maps() const;
  // Exact kernel name (a longer name also matches its first
  // kKernelMapNameChars characters, as the kernel keeps it), else a unique
  // "<obj>.<name>" suffix match (so map("bss") finds "scx_simpl.bss").
  Result<SnapshotMap> map(std::string_view name) const;

  // A global variable: `name_path` is "<var>[.member...]", looked up in the
  // global-section maps (.bss, .data, .rodata, .data.*, ...). Found in the
  // sections of more than one BPF object -> AmbiguousVar (use live_var()).
  SnapshotField var(std::string_view name_path) const;
  // Every captured copy of the variable, one per section map holding it.
  std::vector<SnapshotField> vars(std::string_view name_path) const;
  // Every global variable name (sorted, unique).
  std::vector<std::string> var_names() const;

  // Projection onto the currently attached scheduler's maps: by the
  // report's active_obj_name (+ active_map_kvas), else by the per-map
  // `program` tag, else by a unique global-section obj prefix.
  Result<Snapshot> active() const;
  SnapshotField live_var(std::string_view name_path) const;  // active()->var()

  // The kernel's sched_ext state (report().scx) as one value tree
  // (scx_to_rendered(), snapshot/scx_state.h) at path "scx". The tree is
  // built on first use and shared by every copy of this Snapshot; the field
  // owns it, so it stays valid on its own. Missing (NoScxState) when the
  // report has no scx section.
  SnapshotField scx() const;

 private:
  struct ScxTree;  // the lazily built scx() tree, shared by copies
  std::variant<Snapshot, SnapshotError> active_view() const;
  std::string name_or_unnamed() const;
  std::shared_ptr<const Report> report_;
  std::shared_ptr<ScxTree> scx_tree_;
};

// Obj prefix of a global-section map name ("scx_simpl.bss" -> "scx_simpl"),
// nullopt when `map_name` is not a global section.
std::optional<std::string> global_section_obj(std::string_view map_name);

// A section of constants: .rodata (and .rodata.*) and .kconfig, which a
// loaded program cannot change; dump and diff hide them unless asked.
bool is_constant_section(std::string_view map_name);

}  // namespace ktest
