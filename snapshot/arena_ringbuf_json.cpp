// The "arena" and "ringbuf" objects of a map in a report (snapshot/report.h).
// ktstr writes a "ringbuf" of its own without "records"; reading that (or
// any other foreign shape) fails here and read_map keeps it verbatim.
#include <fmt/format.h>

#include "snapshot/json_read.h"
#include "snapshot/report.h"

namespace ktest {

using nlohmann::json;
using namespace json_read;

json arena_to_json(const ArenaDump& a) {
  return json{{"user_vm_start", a.user_vm_start}, {"user_vm_end", a.user_vm_end},
              {"kern_vm_start", a.kern_vm_start}, {"pages_present", a.pages_present},
              {"globals_addr", a.globals_addr},   {"globals_size", a.globals_size}};
}

json ringbuf_to_json(const RingbufDump& r) {
  json records = json::array();
  for (const auto& rec : r.records) {
    records.push_back(json{{"pos", rec.pos}, {"len", rec.len}, {"busy", rec.busy},
                           {"discarded", rec.discarded}});
  }
  json j{{"capacity", r.capacity},         {"consumer_pos", r.consumer_pos},
         {"producer_pos", r.producer_pos}, {"pending_pos", r.pending_pos},
         {"pending_bytes", r.pending_bytes}, {"records", std::move(records)}};
  if (!r.record_type.empty()) j["record_type"] = r.record_type;
  return j;
}

Result<ArenaDump> arena_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) return type_error(where, "an object", j);
  ArenaDump a;
  KTEST_ASSIGN(a.user_vm_start, req_u64(j, where, "user_vm_start"));
  KTEST_ASSIGN(a.user_vm_end, req_u64(j, where, "user_vm_end"));
  KTEST_ASSIGN(a.kern_vm_start, req_u64(j, where, "kern_vm_start"));
  KTEST_ASSIGN(a.pages_present, req_u64(j, where, "pages_present"));
  KTEST_ASSIGN(a.globals_addr, opt_u64(j, where, "globals_addr", 0));
  KTEST_ASSIGN(a.globals_size, opt_u64(j, where, "globals_size", 0));
  return a;
}

Result<RingbufDump> ringbuf_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) return type_error(where, "an object", j);
  const json* records = find(j, "records");
  if (records == nullptr) return fail(fmt::format("{}: \"records\" missing", where));
  if (!records->is_array()) return type_error(field_path(where, "records"), "an array", *records);
  RingbufDump r;
  KTEST_ASSIGN(r.capacity, req_u64(j, where, "capacity"));
  KTEST_ASSIGN(r.consumer_pos, req_u64(j, where, "consumer_pos"));
  KTEST_ASSIGN(r.producer_pos, req_u64(j, where, "producer_pos"));
  KTEST_ASSIGN(r.pending_pos, opt_u64(j, where, "pending_pos", 0));
  KTEST_ASSIGN(r.pending_bytes, opt_u64(j, where, "pending_bytes", 0));
  KTEST_ASSIGN(auto type, opt_str(j, where, "record_type"));
  r.record_type = type.value_or("");
  std::string rwhere = field_path(where, "records");
  for (std::size_t i = 0; i < records->size(); ++i) {
    const json& jr = (*records)[i];
    std::string at = index_path(rwhere, i);
    if (!jr.is_object()) return type_error(at, "an object", jr);
    RingbufRecord rec;
    KTEST_ASSIGN(rec.pos, req_u64(jr, at, "pos"));
    KTEST_ASSIGN(rec.len, opt_u32(jr, at, "len", 0));
    KTEST_ASSIGN(rec.busy, opt_bool(jr, at, "busy", false));
    KTEST_ASSIGN(rec.discarded, opt_bool(jr, at, "discarded", false));
    r.records.push_back(rec);
  }
  return r;
}

}  // namespace ktest
