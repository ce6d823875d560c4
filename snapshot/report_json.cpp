// Report <-> JSON: ktstr FailureDumpReport fields plus ktest's header.
#include <fmt/format.h>

#include "snapshot/json_read.h"
#include "snapshot/report.h"

namespace ktest {

using nlohmann::json;
using namespace json_read;

namespace {

json opt_value_json(const std::optional<RenderedValue>& v) {
  return v ? value_to_json(*v) : json(nullptr);
}

json per_cpu_json(const std::vector<std::optional<RenderedValue>>& slots) {
  json out = json::array();
  for (const auto& s : slots) out.push_back(opt_value_json(s));
  return out;
}

json map_to_json(const MapDump& m) {
  json j = m.extra.is_object() ? m.extra : json::object();
  j["name"] = m.name;
  if (m.map_kva != 0) j["map_kva"] = m.map_kva;
  j["map_type"] = m.map_type;
  if (!m.type_name.empty()) j["type_name"] = m.type_name;
  j["value_size"] = m.value_size;
  j["max_entries"] = m.max_entries;
  if (!m.program.empty()) j["program"] = m.program;
  if (m.value) j["value"] = value_to_json(*m.value);
  if (!m.entries.empty()) {
    json entries = json::array();
    for (const auto& e : m.entries) {
      json je = json::object();
      if (e.key) je["key"] = value_to_json(*e.key);
      je["key_hex"] = e.key_hex;
      if (e.value) je["value"] = value_to_json(*e.value);
      je["value_hex"] = e.value_hex;
      if (e.payload) je["payload"] = value_to_json(*e.payload);
      entries.push_back(std::move(je));
    }
    j["entries"] = std::move(entries);
  }
  if (!m.percpu_entries.empty()) {
    json entries = json::array();
    for (const auto& e : m.percpu_entries) {
      entries.push_back(json{{"key", e.key}, {"per_cpu", per_cpu_json(e.per_cpu)}});
    }
    j["percpu_entries"] = std::move(entries);
  }
  if (!m.percpu_hash_entries.empty()) {
    json entries = json::array();
    for (const auto& e : m.percpu_hash_entries) {
      json je = json::object();
      if (e.key) je["key"] = value_to_json(*e.key);
      je["key_hex"] = e.key_hex;
      je["per_cpu"] = per_cpu_json(e.per_cpu);
      entries.push_back(std::move(je));
    }
    j["percpu_hash_entries"] = std::move(entries);
  }
  if (m.arena) j["arena"] = arena_to_json(*m.arena);
  if (m.ringbuf) j["ringbuf"] = ringbuf_to_json(*m.ringbuf);
  if (m.error) j["error"] = *m.error;
  return j;
}

// ---- reading ----

Result<std::optional<RenderedValue>> opt_value(const json& obj, const std::string& where,
                                               std::string_view key) {
  const json* f = find(obj, key);
  if (f == nullptr) return std::optional<RenderedValue>{};
  KTEST_ASSIGN(RenderedValue v, value_from_json(*f, field_path(where, key)));
  return std::optional<RenderedValue>{std::move(v)};
}

Result<const json*> opt_array(const json& obj, const std::string& where, std::string_view key) {
  const json* f = find(obj, key);
  if (f != nullptr && !f->is_array()) return type_error(field_path(where, key), "an array", *f);
  return f;
}

Result<std::vector<std::optional<RenderedValue>>> read_per_cpu(const json& obj,
                                                               const std::string& where) {
  std::vector<std::optional<RenderedValue>> out;
  KTEST_ASSIGN(const json* slots, opt_array(obj, where, "per_cpu"));
  if (slots == nullptr) return out;
  std::string swhere = field_path(where, "per_cpu");
  out.reserve(slots->size());
  for (std::size_t c = 0; c < slots->size(); ++c) {
    const json& s = (*slots)[c];
    if (s.is_null()) {
      out.emplace_back();
      continue;
    }
    KTEST_ASSIGN(RenderedValue v, value_from_json(s, index_path(swhere, c)));
    out.emplace_back(std::move(v));
  }
  return out;
}

}  // namespace

Result<MapEntry> entry_from_json(const json& je, const std::string& at) {
  if (!je.is_object()) return type_error(at, "an object", je);
  MapEntry e;
  KTEST_ASSIGN(e.key, opt_value(je, at, "key"));
  KTEST_ASSIGN(auto key_hex, opt_str(je, at, "key_hex"));
  e.key_hex = key_hex.value_or("");
  KTEST_ASSIGN(e.value, opt_value(je, at, "value"));
  KTEST_ASSIGN(auto value_hex, opt_str(je, at, "value_hex"));
  e.value_hex = value_hex.value_or("");
  KTEST_ASSIGN(e.payload, opt_value(je, at, "payload"));
  return e;
}

namespace {

Status read_entries(const json& jm, const std::string& where, MapDump& m) {
  KTEST_ASSIGN(const json* entries, opt_array(jm, where, "entries"));
  if (entries != nullptr) {
    std::string ewhere = field_path(where, "entries");
    for (std::size_t i = 0; i < entries->size(); ++i) {
      KTEST_ASSIGN(MapEntry e, entry_from_json((*entries)[i], index_path(ewhere, i)));
      m.entries.push_back(std::move(e));
    }
  }
  KTEST_ASSIGN(const json* percpu, opt_array(jm, where, "percpu_entries"));
  if (percpu != nullptr) {
    std::string pwhere = field_path(where, "percpu_entries");
    for (std::size_t i = 0; i < percpu->size(); ++i) {
      const json& je = (*percpu)[i];
      std::string at = index_path(pwhere, i);
      if (!je.is_object()) return type_error(at, "an object", je);
      PercpuEntry e;
      KTEST_ASSIGN(uint64_t key, req_u64(je, at, "key"));
      if (key > UINT32_MAX) return fail(fmt::format("{}.key: {} does not fit 32 bits", at, key));
      e.key = static_cast<uint32_t>(key);
      KTEST_ASSIGN(e.per_cpu, read_per_cpu(je, at));
      m.percpu_entries.push_back(std::move(e));
    }
  }
  KTEST_ASSIGN(const json* phash, opt_array(jm, where, "percpu_hash_entries"));
  if (phash != nullptr) {
    std::string hwhere = field_path(where, "percpu_hash_entries");
    for (std::size_t i = 0; i < phash->size(); ++i) {
      const json& je = (*phash)[i];
      std::string at = index_path(hwhere, i);
      if (!je.is_object()) return type_error(at, "an object", je);
      PercpuHashEntry e;
      KTEST_ASSIGN(e.key, opt_value(je, at, "key"));
      KTEST_ASSIGN(auto key_hex, opt_str(je, at, "key_hex"));
      e.key_hex = key_hex.value_or("");
      KTEST_ASSIGN(e.per_cpu, read_per_cpu(je, at));
      m.percpu_hash_entries.push_back(std::move(e));
    }
  }
  return {};
}

constexpr std::string_view kMapFields[] = {
    "name", "map_kva", "map_type", "type_name", "value_size", "max_entries", "program", "value",
    "entries", "percpu_entries", "percpu_hash_entries", "error"};

Result<MapDump> read_map(const json& jm, const std::string& where) {
  if (!jm.is_object()) return type_error(where, "an object", jm);
  MapDump m;
  KTEST_ASSIGN(m.name, req_str(jm, where, "name"));
  KTEST_ASSIGN(m.map_kva, opt_u64(jm, where, "map_kva", 0));
  KTEST_ASSIGN(m.map_type, opt_u32(jm, where, "map_type", 0));
  KTEST_ASSIGN(auto type_name, opt_str(jm, where, "type_name"));
  m.type_name = type_name.value_or("");
  KTEST_ASSIGN(m.value_size, opt_u32(jm, where, "value_size", 0));
  KTEST_ASSIGN(m.max_entries, opt_u32(jm, where, "max_entries", 0));
  KTEST_ASSIGN(auto program, opt_str(jm, where, "program"));
  m.program = program.value_or("");
  KTEST_ASSIGN(m.value, opt_value(jm, where, "value"));
  KTEST_TRY(read_entries(jm, where, m));
  KTEST_ASSIGN(m.error, opt_str(jm, where, "error"));
  // ktest's own shapes are modelled; another tool's stay in `extra`.
  if (const json* a = find(jm, "arena")) {
    if (auto arena = arena_from_json(*a, field_path(where, "arena"))) m.arena = std::move(*arena);
  }
  if (const json* r = find(jm, "ringbuf")) {
    if (auto ringbuf = ringbuf_from_json(*r, field_path(where, "ringbuf"))) m.ringbuf = std::move(*ringbuf);
  }
  for (const auto& [key, val] : jm.items()) {
    bool known = (key == "arena" && m.arena) || (key == "ringbuf" && m.ringbuf);
    for (auto f : kMapFields) known = known || key == f;
    if (!known) m.extra[key] = val;
  }
  return m;
}

Result<std::optional<VcpuRegs>> read_regs(const json& j, const std::string& where) {
  if (j.is_null()) return std::optional<VcpuRegs>{};
  if (!j.is_object()) return type_error(where, "an object or null", j);
  VcpuRegs r;
  KTEST_ASSIGN(r.instruction_pointer, opt_u64(j, where, "instruction_pointer", 0));
  KTEST_ASSIGN(r.stack_pointer, opt_u64(j, where, "stack_pointer", 0));
  KTEST_ASSIGN(r.page_table_root, opt_u64(j, where, "page_table_root", 0));
  return std::optional<VcpuRegs>{r};
}

constexpr std::string_view kReportFields[] = {
    "schema", "snapshot_name", "captured_at", "kernel_version", "maps", "vcpu_regs",
    "active_obj_name", "active_map_kvas", "dump_truncated_at_us", "is_placeholder", "scx"};
constexpr std::string_view kDegradedFields[] = {"reason", "watchpoint_hit", "bss_latch_state",
                                                "exit_kind", "elapsed_ms"};

Status read_degraded(const json& j, Report& r) {
  DegradedInfo d;
  const std::string where;
  KTEST_ASSIGN(auto reason, opt_str(j, where, "reason"));
  d.reason = reason.value_or("");
  KTEST_ASSIGN(d.watchpoint_hit, opt_bool(j, where, "watchpoint_hit", false));
  KTEST_ASSIGN(auto latch, opt_str(j, where, "bss_latch_state"));
  d.bss_latch_state = latch.value_or("");
  if (const json* ek = find(j, "exit_kind")) {
    KTEST_ASSIGN(d.exit_kind, to_u32(*ek, "exit_kind"));
  }
  KTEST_ASSIGN(d.elapsed_ms, opt_u64(j, where, "elapsed_ms", 0));
  r.degraded = std::move(d);
  return {};
}

}  // namespace

json report_to_json(const Report& r) {
  json j = r.extra.is_object() ? r.extra : json::object();
  j["schema"] = r.schema;
  if (!r.snapshot_name.empty()) j["snapshot_name"] = r.snapshot_name;
  if (!r.captured_at.empty()) j["captured_at"] = r.captured_at;
  if (!r.kernel_version.empty()) j["kernel_version"] = r.kernel_version;
  if (r.degraded) {
    j["reason"] = r.degraded->reason;
    j["watchpoint_hit"] = r.degraded->watchpoint_hit;
    j["bss_latch_state"] = r.degraded->bss_latch_state;
    if (r.degraded->exit_kind) j["exit_kind"] = *r.degraded->exit_kind;
    if (r.degraded->elapsed_ms != 0) j["elapsed_ms"] = r.degraded->elapsed_ms;
  }
  json maps = json::array();
  for (const auto& m : r.maps) maps.push_back(map_to_json(m));
  j["maps"] = std::move(maps);
  if (!r.vcpu_regs.empty()) {
    json regs = json::array();
    for (const auto& reg : r.vcpu_regs) {
      if (!reg) {
        regs.push_back(nullptr);
        continue;
      }
      regs.push_back(json{{"instruction_pointer", reg->instruction_pointer},
                          {"stack_pointer", reg->stack_pointer},
                          {"page_table_root", reg->page_table_root}});
    }
    j["vcpu_regs"] = std::move(regs);
  }
  if (r.active_obj_name) j["active_obj_name"] = *r.active_obj_name;
  if (!r.active_map_kvas.empty()) j["active_map_kvas"] = r.active_map_kvas;
  if (r.dump_truncated_at_us) j["dump_truncated_at_us"] = *r.dump_truncated_at_us;
  if (r.is_placeholder) j["is_placeholder"] = true;
  if (r.scx) j["scx"] = scx_to_json(*r.scx);
  return j;
}

Result<Report> report_from_json(const json& j) {
  if (!j.is_object()) return type_error("report", "a JSON object", j);
  Report r;
  KTEST_ASSIGN(auto schema, opt_str(j, "", "schema"));
  r.schema = schema.value_or(std::string(kSchemaSingle));
  if (r.schema == kSchemaDual) {
    return fail("schema: \"dual\" holds two reports (early and late)", "",
                "load it with load_report_file() / parse_any_report()");
  }
  if (r.schema != kSchemaSingle && r.schema != kSchemaDegraded) {
    return fail(fmt::format("schema: unknown schema \"{}\"", r.schema.substr(0, 40)), "",
                "expected \"single\", \"dual\" or \"degraded\"");
  }
  KTEST_ASSIGN(auto name, opt_str(j, "", "snapshot_name"));
  r.snapshot_name = name.value_or("");
  KTEST_ASSIGN(auto at, opt_str(j, "", "captured_at"));
  r.captured_at = at.value_or("");
  KTEST_ASSIGN(auto kv, opt_str(j, "", "kernel_version"));
  r.kernel_version = kv.value_or("");
  KTEST_ASSIGN(const json* maps, opt_array(j, "", "maps"));
  if (maps != nullptr) {
    r.maps.reserve(maps->size());
    for (std::size_t i = 0; i < maps->size(); ++i) {
      KTEST_ASSIGN(MapDump m, read_map((*maps)[i], index_path("maps", i)));
      r.maps.push_back(std::move(m));
    }
  }
  KTEST_ASSIGN(const json* regs, opt_array(j, "", "vcpu_regs"));
  if (regs != nullptr) {
    for (std::size_t i = 0; i < regs->size(); ++i) {
      KTEST_ASSIGN(auto reg, read_regs((*regs)[i], index_path("vcpu_regs", i)));
      r.vcpu_regs.push_back(reg);
    }
  }
  KTEST_ASSIGN(r.active_obj_name, opt_str(j, "", "active_obj_name"));
  KTEST_ASSIGN(const json* kvas, opt_array(j, "", "active_map_kvas"));
  if (kvas != nullptr) {
    for (std::size_t i = 0; i < kvas->size(); ++i) {
      KTEST_ASSIGN(uint64_t kva, to_u64((*kvas)[i], index_path("active_map_kvas", i)));
      r.active_map_kvas.push_back(kva);
    }
  }
  if (const json* t = find(j, "dump_truncated_at_us")) {
    KTEST_ASSIGN(r.dump_truncated_at_us, to_u64(*t, "dump_truncated_at_us"));
  }
  KTEST_ASSIGN(r.is_placeholder, opt_bool(j, "", "is_placeholder", false));
  if (const json* scx = find(j, "scx")) {
    KTEST_ASSIGN(ScxState state, scx_from_json(*scx, "scx"));
    r.scx = std::move(state);
  }
  bool degraded = r.schema == kSchemaDegraded;
  if (degraded) KTEST_TRY(read_degraded(j, r));
  for (const auto& [key, val] : j.items()) {
    bool known = false;
    for (auto f : kReportFields) known = known || key == f;
    for (auto f : kDegradedFields) known = known || (degraded && key == f);
    if (!known) r.extra[key] = val;
  }
  return r;
}

std::string report_to_text(const Report& r, int indent) {
  return safe_dump(report_to_json(r), indent) + "\n";
}

Result<Report> parse_report(std::string_view text) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return fail(fmt::format("report: invalid JSON: {}", e.what()));
  }
  return report_from_json(j);
}

const MapDump* Report::find_map(std::string_view map_name) const {
  for (const auto& m : maps) {
    if (m.name == map_name) return &m;
  }
  return nullptr;
}

}  // namespace ktest
