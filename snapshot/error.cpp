// SnapshotError texts. Each factory's wording is pinned by golden tests.
#include <fmt/format.h>

#include "snapshot/snapshot.h"
#include "util/edit_distance.h"

namespace ktest {

namespace {

// Suggestion work is bounded: hostile reports may carry huge name lists.
constexpr std::size_t kMaxSuggestCandidates = 4096;
constexpr std::size_t kMaxNameChars = 64;

std::string list_alternatives(const std::vector<std::string>& names) {
  if (names.empty()) return "(none)";
  std::string out;
  std::size_t shown = std::min(names.size(), MAX_LISTED_ALTERNATIVES);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i != 0) out += ", ";
    out += cut_key_text(names[i]);
  }
  if (names.size() > shown) out += fmt::format(" (+{} more)", names.size() - shown);
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& names) {
  if (word.size() > kMaxNameChars) return "";
  std::vector<std::string> candidates;
  for (const auto& n : names) {
    if (candidates.size() >= kMaxSuggestCandidates) break;
    if (n.size() <= kMaxNameChars && n != word) candidates.push_back(n);
  }
  auto best = nearest(word, candidates);
  return best ? fmt::format(" (did you mean '{}'?)", *best) : "";
}

SnapshotError make(SnapshotErrorKind kind, std::string_view path, std::string message,
                   std::string hint = {}, std::vector<std::string> available = {}) {
  SnapshotError e;
  e.kind = kind;
  e.path = std::string(path);
  e.message = std::move(message);
  e.hint = std::move(hint);
  e.available = std::move(available);
  return e;
}

}  // namespace

const char* snapshot_error_kind_name(SnapshotErrorKind kind) {
  switch (kind) {
    case SnapshotErrorKind::MissingMember: return "MissingMember";
    case SnapshotErrorKind::NotAStruct: return "NotAStruct";
    case SnapshotErrorKind::IndexOutOfRange: return "IndexOutOfRange";
    case SnapshotErrorKind::NotAnArray: return "NotAnArray";
    case SnapshotErrorKind::EmptyPathComponent: return "EmptyPathComponent";
    case SnapshotErrorKind::PointerNotFollowed: return "PointerNotFollowed";
    case SnapshotErrorKind::DerefChainTooLong: return "DerefChainTooLong";
    case SnapshotErrorKind::ValueUnavailable: return "ValueUnavailable";
    case SnapshotErrorKind::TypeMismatch: return "TypeMismatch";
    case SnapshotErrorKind::OutOfRange: return "OutOfRange";
    case SnapshotErrorKind::NoSuchMap: return "NoSuchMap";
    case SnapshotErrorKind::AmbiguousMap: return "AmbiguousMap";
    case SnapshotErrorKind::NoSuchVar: return "NoSuchVar";
    case SnapshotErrorKind::AmbiguousVar: return "AmbiguousVar";
    case SnapshotErrorKind::NoActiveScheduler: return "NoActiveScheduler";
    case SnapshotErrorKind::NoMatch: return "NoMatch";
    case SnapshotErrorKind::EntryOutOfRange: return "EntryOutOfRange";
    case SnapshotErrorKind::NotPerCpu: return "NotPerCpu";
    case SnapshotErrorKind::CpuOutOfRange: return "CpuOutOfRange";
    case SnapshotErrorKind::PerCpuNeedsCpu: return "PerCpuNeedsCpu";
    case SnapshotErrorKind::MapUnavailable: return "MapUnavailable";
    case SnapshotErrorKind::NoSuchSnapshot: return "NoSuchSnapshot";
    case SnapshotErrorKind::NoScxState: return "NoScxState";
  }
  return "Unknown";
}

std::string SnapshotError::to_string() const {
  return hint.empty() ? message : fmt::format("{} (hint: {})", message, hint);
}

Error SnapshotError::to_error() const { return Error(message, "", hint); }

std::string cut_key_text(std::string_view text) {
  // Count code points, cutting only at a UTF-8 lead byte.
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == NO_MATCH_KEY_CHAR_CAP) return std::string(text.substr(0, i)) + "…";
    ++chars;
  }
  return std::string(text);
}

SnapshotError SnapshotError::missing_member(std::string_view member, std::string_view at,
                                            std::string_view type_name,
                                            std::vector<std::string> available) {
  std::string where = type_name.empty() ? "anonymous struct" : fmt::format("struct {}", type_name);
  std::string msg = fmt::format("no member '{}' in {} at '{}'; available: {}{}", member, where, at,
                                list_alternatives(available), did_you_mean(member, available));
  return make(SnapshotErrorKind::MissingMember, at, std::move(msg), {}, std::move(available));
}

SnapshotError SnapshotError::not_a_struct(std::string_view member, std::string_view at,
                                          std::string_view found_kind) {
  return make(SnapshotErrorKind::NotAStruct, at,
              fmt::format("cannot take member '{}' at '{}': value is {}, not a struct", member, at,
                          found_kind));
}

SnapshotError SnapshotError::index_out_of_range(std::size_t index, std::string_view at,
                                                std::size_t rendered, uint64_t declared_len) {
  std::string msg =
      fmt::format("index {} out of range at '{}': array has {} elements", index, at, rendered);
  std::string hint;
  if (declared_len > rendered) {
    msg += fmt::format(" rendered of {} declared", declared_len);
    hint = "the capture keeps at most the first 4096 elements of an array";
  }
  return make(SnapshotErrorKind::IndexOutOfRange, at, std::move(msg), std::move(hint));
}

SnapshotError SnapshotError::not_an_array(std::string_view component, std::string_view at,
                                          std::string_view found_kind) {
  return make(SnapshotErrorKind::NotAnArray, at,
              fmt::format("cannot index '{}' at '{}': value is {}, not an array", component, at,
                          found_kind));
}

SnapshotError SnapshotError::empty_path_component(std::string_view full_path,
                                                  std::size_t position) {
  return make(SnapshotErrorKind::EmptyPathComponent, full_path,
              fmt::format("empty component #{} in path '{}'", position, full_path),
              "separate components with single dots, e.g. 'ctx.weight.value'");
}

SnapshotError SnapshotError::pointer_not_followed(std::string_view at, uint64_t address,
                                                  std::string_view reason) {
  std::string why = !reason.empty() ? std::string(reason)
                    : address == 0  ? std::string("null pointer")
                                    : std::string("target not captured");
  return make(SnapshotErrorKind::PointerNotFollowed, at,
              fmt::format("pointer at '{}' (0x{:x}) was not dereferenced at capture: {}", at,
                          address, why));
}

SnapshotError SnapshotError::deref_chain_too_long(std::string_view at) {
  return make(SnapshotErrorKind::DerefChainTooLong, at,
              fmt::format("more than {} pointer dereferences in a row at '{}'", MAX_DEREF_CHAIN,
                          at));
}

SnapshotError SnapshotError::value_unavailable(std::string_view at, std::string_view why) {
  return make(SnapshotErrorKind::ValueUnavailable, at,
              fmt::format("value at '{}' is unavailable: {}", at, why));
}

SnapshotError SnapshotError::type_mismatch(std::string_view at, std::string_view wanted,
                                           std::string_view found_kind,
                                           std::string_view found_text) {
  return make(SnapshotErrorKind::TypeMismatch, at,
              fmt::format("value at '{}' is {} {}, not {}", at, found_kind,
                          cut_key_text(found_text), wanted));
}

SnapshotError SnapshotError::out_of_range(std::string_view at, std::string_view wanted,
                                          std::string_view value_text) {
  return make(SnapshotErrorKind::OutOfRange, at,
              fmt::format("value at '{}' is {}, which does not fit {}", at, value_text, wanted));
}

SnapshotError SnapshotError::no_such_map(std::string_view name, std::string_view snapshot,
                                         std::vector<std::string> available) {
  std::string msg = fmt::format("no map '{}' in snapshot '{}'; available: {}{}", name, snapshot,
                                list_alternatives(available), did_you_mean(name, available));
  return make(SnapshotErrorKind::NoSuchMap, name, std::move(msg), {}, std::move(available));
}

SnapshotError SnapshotError::ambiguous_map(std::string_view name,
                                           std::vector<std::string> matches) {
  std::string msg =
      fmt::format("map name '{}' is ambiguous; matches: {}", name, list_alternatives(matches));
  return make(SnapshotErrorKind::AmbiguousMap, name, std::move(msg), "use the full map name",
              std::move(matches));
}

SnapshotError SnapshotError::no_such_var(std::string_view name, std::string_view snapshot,
                                         std::vector<std::string> available) {
  std::string msg =
      fmt::format("no global variable '{}' in snapshot '{}'; available: {}{}", name, snapshot,
                  list_alternatives(available), did_you_mean(name, available));
  return make(SnapshotErrorKind::NoSuchVar, name, std::move(msg), {}, std::move(available));
}

SnapshotError SnapshotError::ambiguous_var(std::string_view name, std::vector<std::string> maps) {
  std::string msg = fmt::format("global variable '{}' exists in several BPF objects: {}", name,
                                list_alternatives(maps));
  return make(SnapshotErrorKind::AmbiguousVar, name, std::move(msg),
              "use live_var() for the attached scheduler's copy, or vars() for every copy",
              std::move(maps));
}

SnapshotError SnapshotError::no_active_scheduler(std::string_view why,
                                                 std::vector<std::string> observed_objs) {
  std::string msg = fmt::format("cannot tell which scheduler is active: {}; observed objects: {}",
                                why, list_alternatives(observed_objs));
  return make(SnapshotErrorKind::NoActiveScheduler, "", std::move(msg),
              "use vars() to see every copy", std::move(observed_objs));
}

SnapshotError SnapshotError::no_match(std::string_view map, std::string_view what,
                                      std::size_t entries, std::vector<std::string> sampled_keys) {
  std::vector<std::string> sample;
  bool all_hex = !sampled_keys.empty();
  for (std::size_t i = 0; i < sampled_keys.size() && i < NO_MATCH_KEY_SAMPLE; ++i) {
    all_hex = all_hex && sampled_keys[i].rfind(HEX_KEY_PREFIX, 0) == 0;
    sample.push_back(cut_key_text(sampled_keys[i]));
  }
  std::string msg = fmt::format("no entry of map '{}' matched {} ({} {})", map, what, entries,
                                entries == 1 ? "entry" : "entries");
  if (!sample.empty()) {
    msg += "; sampled keys: ";
    for (std::size_t i = 0; i < sample.size(); ++i) msg += (i ? ", " : "") + sample[i];
    if (entries > sample.size()) msg += fmt::format(" (+{} more)", entries - sample.size());
  }
  std::string hint;
  if (all_hex) {
    hint = fmt::format(
        "keys shown as '{}' had no BTF at capture; build the guest kernel with "
        "CONFIG_DEBUG_INFO_BTF=y and load the scheduler with its BTF",
        HEX_KEY_PREFIX);
  }
  return make(SnapshotErrorKind::NoMatch, map, std::move(msg), std::move(hint), std::move(sample));
}

SnapshotError SnapshotError::entry_out_of_range(std::string_view map, std::size_t index,
                                                std::size_t entries) {
  return make(SnapshotErrorKind::EntryOutOfRange, map,
              fmt::format("entry {} out of range in map '{}': it has {} {}", index, map, entries,
                          entries == 1 ? "entry" : "entries"));
}

SnapshotError SnapshotError::not_per_cpu(std::string_view map, std::string_view map_type) {
  return make(SnapshotErrorKind::NotPerCpu, map,
              fmt::format("map '{}' ({}) has no per-CPU values", map, map_type));
}

SnapshotError SnapshotError::cpu_out_of_range(std::string_view where, std::size_t cpu,
                                              std::size_t nr_cpus, bool slot_unreadable) {
  std::string msg =
      slot_unreadable
          ? fmt::format("CPU {} slot of '{}' was not readable at capture", cpu, where)
          : fmt::format("CPU {} out of range for '{}': {} CPU slots captured", cpu, where, nr_cpus);
  return make(SnapshotErrorKind::CpuOutOfRange, where, std::move(msg));
}

SnapshotError SnapshotError::per_cpu_needs_cpu(std::string_view where, std::size_t nr_cpus) {
  return make(SnapshotErrorKind::PerCpuNeedsCpu, where,
              fmt::format("'{}' holds one value per CPU ({} CPUs)", where, nr_cpus),
              "select one with cpu(N), or aggregate with sum/max/min");
}

SnapshotError SnapshotError::map_unavailable(std::string_view map,
                                             std::string_view capture_error) {
  return make(SnapshotErrorKind::MapUnavailable, map,
              fmt::format("map '{}' has no captured data: {}", map, capture_error));
}

SnapshotError SnapshotError::no_such_snapshot(std::string_view name,
                                              std::vector<std::string> available) {
  std::string msg = fmt::format("no snapshot '{}'; available: {}{}", name,
                                list_alternatives(available), did_you_mean(name, available));
  return make(SnapshotErrorKind::NoSuchSnapshot, name, std::move(msg),
              "snapshots are named by the CaptureSnapshot step", std::move(available));
}

SnapshotError SnapshotError::no_scx_state(std::string_view snapshot) {
  return make(SnapshotErrorKind::NoScxState, "scx",
              fmt::format("snapshot '{}' has no sched_ext state: captured by an older ktest, or the "
                          "guest kernel has no sched_ext",
                          snapshot),
              "capture it again with this ktest; the guest kernel needs CONFIG_SCHED_CLASS_EXT=y");
}

}  // namespace ktest
