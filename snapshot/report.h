// Snapshot reports: what one capture holds, and its JSON form on disk.
//
// Contract:
// - Report mirrors ktstr's FailureDumpReport (schema "single"/"degraded";
//   maps with name, map_type, value_size, max_entries, value, entries
//   {key, key_hex, value, value_hex, payload}, percpu_entries {key, per_cpu},
//   percpu_hash_entries {key, key_hex, per_cpu}, error; vcpu_regs,
//   active_obj_name, active_map_kvas, ...) plus ktest's own header fields
//   (snapshot_name, captured_at, kernel_version; program and type_name per
//   map). The entries of queue/stack, map-of-maps, struct_ops and local
//   storage maps reuse the entry shape; what key and value hold per type is
//   in freeze/bpf_maps.h and man/ktest-snapshot.1 ("Map types"). ktstr
//   dumps load as is; top-level and per-map fields this model does not name
//   are kept verbatim in `extra` and written back unchanged.
// - "scx" (ktest only) is the kernel's sched_ext state at the capture
//   (snapshot/scx_state.h); absent when not captured (older ktest, a kernel
//   without sched_ext, ktstr dumps), and then `scx` is nullopt.
// - RenderedValue JSON is ktstr's serde form: {"kind": "<kind_name>", ...}.
//   128-bit ints are written as a JSON number when they fit 64 bits, else as
//   a decimal string; reading accepts both (and numbers given as floats when
//   they are integral).
// - Reading is total: malformed input gives an Error whose message starts
//   with the JSON path of the problem ("maps[2].entries[5].value: \"kind\"
//   missing"); it never throws and never crashes. Nesting deeper than
//   kMaxJsonDepth is rejected.
// - On disk, one run writes one report per snapshot: <dir>/<file>.json where
//   <file> = report_file_stem(snapshot name). load_reports() takes a file or
//   such a directory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/rendered_value.h"
#include "snapshot/scx_state.h"
#include "util/result.h"

namespace ktest {

inline constexpr std::string_view kSchemaSingle = "single";
inline constexpr std::string_view kSchemaDual = "dual";
inline constexpr std::string_view kSchemaDegraded = "degraded";

// Deepest JSON/RenderedValue nesting accepted when reading.
inline constexpr std::size_t kMaxJsonDepth = 128;

// Kernel BPF map type ids used by the traversal layer (uapi values).
inline constexpr uint32_t kMapTypeHash = 1;
inline constexpr uint32_t kMapTypeArray = 2;
inline constexpr uint32_t kMapTypePercpuHash = 5;
inline constexpr uint32_t kMapTypePercpuArray = 6;
inline constexpr uint32_t kMapTypeLruHash = 9;
inline constexpr uint32_t kMapTypeLruPercpuHash = 10;
inline constexpr uint32_t kMapTypeArrayOfMaps = 12;
inline constexpr uint32_t kMapTypeHashOfMaps = 13;
inline constexpr uint32_t kMapTypeQueue = 22;
inline constexpr uint32_t kMapTypeStack = 23;
inline constexpr uint32_t kMapTypeSkStorage = 24;
inline constexpr uint32_t kMapTypeStructOps = 26;
inline constexpr uint32_t kMapTypeRingbuf = 27;
inline constexpr uint32_t kMapTypeInodeStorage = 28;
inline constexpr uint32_t kMapTypeTaskStorage = 29;
inline constexpr uint32_t kMapTypeUserRingbuf = 31;
inline constexpr uint32_t kMapTypeCgrpStorage = 32;
inline constexpr uint32_t kMapTypeArena = 33;

// "hash", "array", "percpu_array", ...; "type <n>" for unknown ids.
std::string map_type_name(uint32_t map_type);

// One (key, value) pair of a hash-like map (ktstr FailureDumpEntry).
struct MapEntry {
  std::optional<RenderedValue> key;  // absent when the key type had no BTF
  std::string key_hex;
  std::optional<RenderedValue> value;  // absent when the value type had no BTF
  std::string value_hex;
  std::optional<RenderedValue> payload;  // sdt_alloc payload, when decoded
};

// One key of a per-CPU array: one slot per CPU (nullopt: slot unreadable).
struct PercpuEntry {
  uint32_t key = 0;
  std::vector<std::optional<RenderedValue>> per_cpu;
};

// One key of a per-CPU hash map.
struct PercpuHashEntry {
  std::optional<RenderedValue> key;
  std::string key_hex;
  std::vector<std::optional<RenderedValue>> per_cpu;
};

// ARENA map (ktest "arena", kernel/bpf/arena.c): where the arena lives
// and what is mapped. Its `__arena` globals render into MapDump::value as
// {globals: <the .addr_space.1 DATASEC>}.
struct ArenaDump {
  uint64_t user_vm_start = 0;  // user address of page 0 (0: never mmapped)
  uint64_t user_vm_end = 0;
  uint64_t kern_vm_start = 0;  // kernel address of page 0's (u32) user offset
  uint64_t pages_present = 0;  // pages mapped in the kernel's page tables
  uint64_t globals_addr = 0;   // user address of the globals (0: none found)
  uint64_t globals_size = 0;   // bytes of the globals' DATASEC
};

// One record header of a RINGBUF / USER_RINGBUF between consumer and producer.
struct RingbufRecord {
  uint64_t pos = 0;       // logical position of its 8-byte header
  uint32_t len = 0;       // sample length (flag bits cleared)
  bool busy = false;      // reserved, not yet committed
  bool discarded = false;
};

// RINGBUF / USER_RINGBUF state (ktstr's "ringbuf" fields plus ktest's
// records). The committed records' samples are MapDump::entries, keyed by
// their position (u64), so map("events").len() counts them.
struct RingbufDump {
  uint64_t capacity = 0;  // data area bytes (mask + 1)
  uint64_t consumer_pos = 0;
  uint64_t producer_pos = 0;
  uint64_t pending_pos = 0;
  uint64_t pending_bytes = 0;          // producer_pos - consumer_pos
  std::vector<RingbufRecord> records;  // every header walked, busy/discarded too
  std::string record_type;             // BTF type the samples render as ("" = bytes only)
};

// One BPF map's rendered contents (ktstr FailureDumpMap).
struct MapDump {
  std::string name;  // kernel name, e.g. "scx_simpl.bss" or "scx_per_task"
  uint64_t map_kva = 0;
  uint32_t map_type = 0;
  // ktest: the kernel's name of map_type from vmlinux BTF's enum
  // bpf_map_type ("BPF_MAP_TYPE_QUEUE"); "" when unknown (ktstr dumps).
  std::string type_name;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  std::optional<RenderedValue> value;  // ARRAY-style maps (key 0)
  std::vector<MapEntry> entries;
  std::vector<PercpuEntry> percpu_entries;
  std::vector<PercpuHashEntry> percpu_hash_entries;
  std::optional<std::string> error;  // why contents are missing/partial
  // ktest: obj name of the BPF object that owns the map ("" = unknown).
  std::string program;
  // ARENA / RINGBUF maps (JSON "arena" / "ringbuf"; a value of another
  // shape, e.g. from another tool, stays in `extra`).
  std::optional<ArenaDump> arena;
  std::optional<RingbufDump> ringbuf;
  // Fields not modelled here (stack_trace, fd_array, ktstr's ringbuf, ...).
  nlohmann::json extra = nlohmann::json::object();
};

// Architectural state of one vCPU at freeze time.
struct VcpuRegs {
  uint64_t instruction_pointer = 0;
  uint64_t stack_pointer = 0;
  uint64_t page_table_root = 0;
};

// Degraded-capture details (ktstr DegradedFailureDumpReport).
struct DegradedInfo {
  std::string reason;
  bool watchpoint_hit = false;
  std::string bss_latch_state;
  std::optional<uint32_t> exit_kind;
  uint64_t elapsed_ms = 0;
};

// One capture (ktstr FailureDumpReport + ktest header).
struct Report {
  std::string schema = std::string(kSchemaSingle);  // "single" or "degraded"
  // ktest header; empty when the report came from ktstr.
  std::string snapshot_name;
  std::string captured_at;  // ISO-8601 UTC, e.g. "2026-11-26T07:01:02Z"
  std::string kernel_version;
  std::vector<MapDump> maps;
  std::vector<std::optional<VcpuRegs>> vcpu_regs;  // index = vCPU id
  std::optional<std::string> active_obj_name;
  std::vector<uint64_t> active_map_kvas;
  std::optional<uint64_t> dump_truncated_at_us;
  bool is_placeholder = false;
  std::optional<DegradedInfo> degraded;  // set iff schema == "degraded"
  std::optional<ScxState> scx;  // the kernel's sched_ext state (ktest captures only)
  // Top-level fields not modelled here, kept verbatim.
  nlohmann::json extra = nlohmann::json::object();

  const MapDump* find_map(std::string_view name) const;  // exact name
};

// ---- RenderedValue <-> JSON ----
nlohmann::json value_to_json(const RenderedValue& v);
// `where` prefixes error messages (the JSON path of `j`).
Result<RenderedValue> value_from_json(const nlohmann::json& j, std::string_view where = "value");

// ---- Report <-> JSON ----
// The "arena" / "ringbuf" objects of a map (report_special_json.cpp);
// reading fails on a shape that is not ktest's (the caller keeps it verbatim).
nlohmann::json arena_to_json(const ArenaDump& a);
nlohmann::json ringbuf_to_json(const RingbufDump& r);
Result<ArenaDump> arena_from_json(const nlohmann::json& j, const std::string& where);
Result<RingbufDump> ringbuf_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json report_to_json(const Report& r);
Result<Report> report_from_json(const nlohmann::json& j);
std::string report_to_text(const Report& r, int indent = 2);
Result<Report> parse_report(std::string_view text);  // JSON text -> Report

// A report with the name it is known by (snapshot name, or derived).
struct NamedReport {
  std::string name;
  Report report;
};

// Parses any ktstr failure-dump JSON (single, dual, degraded). Names: the
// report's snapshot_name when set, else `fallback_name`; a dual dump yields
// "<fallback_name>.early" (when present) and "<fallback_name>.late".
Result<std::vector<NamedReport>> parse_any_report(std::string_view text,
                                                  std::string_view fallback_name);

// ---- Files ----
// File stem for a snapshot name: [A-Za-z0-9_.-] kept, others as %XX; a
// leading '.' is escaped so no stem is hidden or "." / "..".
std::string report_file_stem(std::string_view snapshot_name);
// <dir>/<report_file_stem(name)>.json: where save_run_reports() writes it
// (with kCompressedReportSuffix appended when the report is big).
std::string report_file_in(const std::string& dir, std::string_view snapshot_name);

// Reports whose compact JSON is bigger are stored as one zstd frame, at the
// JSON file's path plus ".zst": a capture of many maps is tens of MB of
// JSON and a tenth of that compressed. Smaller ones stay plain JSON for jq.
inline constexpr std::size_t kCompressReportsAbove = 1 << 20;
inline constexpr std::string_view kCompressedReportSuffix = ".zst";
// What a compressed report may inflate to (a file is untrusted input).
inline constexpr std::size_t kMaxReportJsonBytes = std::size_t{2} << 30;
// "*.json" or "*.json.zst": a name load_reports() reads in a directory.
bool is_report_file_name(std::string_view file_name);

// Writes `r` atomically as compact JSON at `path`, or compressed at `path`
// + kCompressedReportSuffix past kCompressReportsAbove bytes; removes the
// other of the two. Returns the path written.
Result<std::string> save_report(const std::string& path, const Report& r);
// One report file (ktest or ktstr, any schema; plain or a zstd frame).
// Fallback name = file name without ".failure-dump.json" / ".json" (and ".zst").
Result<std::vector<NamedReport>> load_report_file(const std::string& path);
// Writes each report under report_file_in(dir, name) (creates dir).
// Returns the paths written, in order.
Result<std::vector<std::string>> save_run_reports(const std::string& dir,
                                                  const std::vector<NamedReport>& reports);
// A file, or every report file in a directory (ordered by captured_at, then name).
Result<std::vector<NamedReport>> load_reports(const std::string& path);

}  // namespace ktest
