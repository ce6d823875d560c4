// ScxState <-> JSON: the report's "scx" section (snapshot/scx_state.h).

#include <fmt/format.h>

#include "snapshot/json_read.h"
#include "snapshot/scx_state.h"

namespace ktest {

using nlohmann::json;
using namespace json_read;

namespace {

// Bounds on what a report may hold; a larger section is corrupt, not big.
constexpr std::size_t kMaxCpus = 8192;            // the kernel's NR_CPUS limit
constexpr std::size_t kMaxDsqs = 2 * kMaxCpus + 65536;  // global + local/bypass + user
constexpr std::size_t kMaxTasks = 1u << 20;
constexpr std::size_t kMaxBacktrace = 1024;
constexpr std::size_t kMaxErrors = 4096;
constexpr std::size_t kMaxShortText = 4096;       // names, comms, kinds, reasons
constexpr std::size_t kMaxMsgText = 1u << 20;     // ei->msg (1 KiB in the kernel)
constexpr std::size_t kMaxDumpText = 64u << 20;   // ei->dump (ops.exit_dump_len)

json exit_json(const ScxExit& e) {
  return json{{"kind", e.kind},         {"kind_value", e.kind_value}, {"exit_code", e.exit_code},
              {"reason", e.reason},     {"msg", e.msg},               {"backtrace", e.backtrace},
              {"dump", e.dump}};
}

json cpu_json(const ScxCpu& c) {
  return json{{"cpu", c.cpu},           {"nr_running", c.nr_running}, {"local_dsq_nr", c.local_dsq_nr},
              {"flags", c.flags},       {"curr_pid", c.curr_pid},     {"curr_comm", c.curr_comm},
              {"curr_is_scx", c.curr_is_scx}};
}

json dsq_json(const ScxDsq& d) {
  return json{{"id", d.id}, {"kind", d.kind}, {"cpu", d.cpu}, {"node", d.node}, {"nr", d.nr}};
}

json task_json(const ScxTask& t) {
  json j{{"pid", t.pid}, {"comm", t.comm}, {"cpu", t.cpu}};
  if (t.dsq_id) j["dsq_id"] = *t.dsq_id;
  j["runnable_at"] = t.runnable_at;
  j["wait_ms"] = t.wait_ms;
  return j;
}

// ---- reading ----

Result<std::string> text(const json& obj, std::string_view where, std::string_view key,
                         std::size_t max = kMaxShortText) {
  KTEST_ASSIGN(auto s, opt_str(obj, where, key));
  if (s && s->size() > max) {
    return fail(fmt::format("{}: {} bytes, more than the {} allowed", field_path(where, key),
                            s->size(), max));
  }
  return s.value_or("");
}

// The array at obj.key (absent: empty), at most `max` elements, each an object.
Result<const json*> array_of(const json& obj, std::string_view where, std::string_view key,
                             std::size_t max, bool objects) {
  const json* f = find(obj, key);
  if (f == nullptr) return f;
  const std::string at = field_path(where, key);
  if (!f->is_array()) return type_error(at, "an array", *f);
  if (f->size() > max) {
    return fail(fmt::format("{}: {} elements, more than the {} allowed", at, f->size(), max));
  }
  for (std::size_t i = 0; i < f->size(); ++i) {
    const json& e = (*f)[i];
    if (objects && !e.is_object()) return type_error(index_path(at, i), "an object", e);
    if (!objects && !e.is_string()) return type_error(index_path(at, i), "a string", e);
  }
  return f;
}

Result<std::vector<std::string>> strings(const json& obj, std::string_view where,
                                         std::string_view key, std::size_t max) {
  std::vector<std::string> out;
  KTEST_ASSIGN(const json* arr, array_of(obj, where, key, max, false));
  if (arr == nullptr) return out;
  const std::string at = field_path(where, key);
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const auto& s = (*arr)[i].get_ref<const std::string&>();
    if (s.size() > kMaxShortText) {
      return fail(fmt::format("{}: {} bytes, more than the {} allowed", index_path(at, i), s.size(),
                              kMaxShortText));
    }
    out.push_back(s);
  }
  return out;
}

Result<ScxExit> read_exit(const json& j, const std::string& where) {
  if (!j.is_object()) return type_error(where, "an object", j);
  ScxExit e;
  KTEST_ASSIGN(e.kind, text(j, where, "kind"));
  KTEST_ASSIGN(e.kind_value, opt_i64(j, where, "kind_value", 0));
  KTEST_ASSIGN(e.exit_code, opt_i64(j, where, "exit_code", 0));
  KTEST_ASSIGN(e.reason, text(j, where, "reason"));
  KTEST_ASSIGN(e.msg, text(j, where, "msg", kMaxMsgText));
  KTEST_ASSIGN(e.backtrace, strings(j, where, "backtrace", kMaxBacktrace));
  KTEST_ASSIGN(e.dump, text(j, where, "dump", kMaxDumpText));
  return e;
}

Result<ScxState::Ops> read_ops(const json& j, const std::string& where) {
  if (!j.is_object()) return type_error(where, "an object", j);
  ScxState::Ops o;
  KTEST_ASSIGN(o.name, text(j, where, "name"));
  KTEST_ASSIGN(o.flags, opt_u64(j, where, "flags", 0));
  KTEST_ASSIGN(o.timeout_ms, opt_u32(j, where, "timeout_ms", 0));
  return o;
}

Result<ScxCpu> read_cpu(const json& j, const std::string& where) {
  ScxCpu c;
  KTEST_ASSIGN(c.cpu, opt_u32(j, where, "cpu", 0));
  KTEST_ASSIGN(c.nr_running, opt_u32(j, where, "nr_running", 0));
  KTEST_ASSIGN(c.local_dsq_nr, opt_u32(j, where, "local_dsq_nr", 0));
  KTEST_ASSIGN(c.flags, opt_u64(j, where, "flags", 0));
  KTEST_ASSIGN(c.curr_pid, opt_i32(j, where, "curr_pid", 0));
  KTEST_ASSIGN(c.curr_comm, text(j, where, "curr_comm"));
  KTEST_ASSIGN(c.curr_is_scx, opt_bool(j, where, "curr_is_scx", false));
  return c;
}

Result<ScxDsq> read_dsq(const json& j, const std::string& where) {
  ScxDsq d;
  KTEST_ASSIGN(d.id, opt_u64(j, where, "id", 0));
  KTEST_ASSIGN(d.kind, text(j, where, "kind"));
  KTEST_ASSIGN(d.cpu, opt_i32(j, where, "cpu", -1));
  KTEST_ASSIGN(d.node, opt_i32(j, where, "node", -1));
  KTEST_ASSIGN(d.nr, opt_u32(j, where, "nr", 0));
  return d;
}

Result<ScxTask> read_task(const json& j, const std::string& where) {
  ScxTask t;
  KTEST_ASSIGN(t.pid, opt_i32(j, where, "pid", 0));
  KTEST_ASSIGN(t.comm, text(j, where, "comm"));
  KTEST_ASSIGN(t.cpu, opt_u32(j, where, "cpu", 0));
  if (const json* d = find(j, "dsq_id")) {
    KTEST_ASSIGN(uint64_t id, to_u64(*d, field_path(where, "dsq_id")));
    t.dsq_id = id;
  }
  KTEST_ASSIGN(t.runnable_at, opt_u64(j, where, "runnable_at", 0));
  KTEST_ASSIGN(t.wait_ms, opt_u64(j, where, "wait_ms", 0));
  return t;
}

// Reads each object of obj.key with `one` into `out`.
template <typename T, typename Fn>
Status read_list(const json& obj, const std::string& where, std::string_view key, std::size_t max,
                 std::vector<T>& out, Fn one) {
  KTEST_ASSIGN(const json* arr, array_of(obj, where, key, max, true));
  if (arr == nullptr) return {};
  const std::string at = field_path(where, key);
  out.reserve(arr->size());
  for (std::size_t i = 0; i < arr->size(); ++i) {
    KTEST_ASSIGN(T v, one((*arr)[i], index_path(at, i)));
    out.push_back(std::move(v));
  }
  return {};
}

}  // namespace

json scx_to_json(const ScxState& s) {
  json j = json::object();
  j["state"] = s.state;
  j["state_value"] = s.state_value;
  if (s.ops) {
    j["ops"] = json{{"name", s.ops->name}, {"flags", s.ops->flags}, {"timeout_ms", s.ops->timeout_ms}};
  }
  if (s.exit) j["exit"] = exit_json(*s.exit);
  j["watchdog_timeout_ms"] = s.watchdog_timeout_ms;
  j["bypass_depth"] = s.bypass_depth;
  j["hz"] = s.hz;
  j["jiffies"] = s.jiffies;
  json cpus = json::array();
  for (const auto& c : s.cpus) cpus.push_back(cpu_json(c));
  j["cpus"] = std::move(cpus);
  json dsqs = json::array();
  for (const auto& d : s.dsqs) dsqs.push_back(dsq_json(d));
  j["dsqs"] = std::move(dsqs);
  json runnable = json::array();
  for (const auto& t : s.runnable) runnable.push_back(task_json(t));
  j["runnable"] = std::move(runnable);
  j["longest_wait_ms"] = s.longest_wait_ms;
  j["errors"] = s.errors;
  return j;
}

Result<ScxState> scx_from_json(const json& j, std::string_view where_view) {
  const std::string where(where_view);
  if (!j.is_object()) return type_error(where, "an object", j);
  ScxState s;
  KTEST_ASSIGN(s.state, text(j, where, "state"));
  KTEST_ASSIGN(s.state_value, opt_i64(j, where, "state_value", 0));
  if (const json* ops = find(j, "ops")) {
    KTEST_ASSIGN(ScxState::Ops o, read_ops(*ops, field_path(where, "ops")));
    s.ops = std::move(o);
  }
  if (const json* ex = find(j, "exit")) {
    KTEST_ASSIGN(ScxExit e, read_exit(*ex, field_path(where, "exit")));
    s.exit = std::move(e);
  }
  KTEST_ASSIGN(s.watchdog_timeout_ms, opt_u64(j, where, "watchdog_timeout_ms", 0));
  KTEST_ASSIGN(s.bypass_depth, opt_i64(j, where, "bypass_depth", 0));
  KTEST_ASSIGN(s.hz, opt_u32(j, where, "hz", 0));
  KTEST_ASSIGN(s.jiffies, opt_u64(j, where, "jiffies", 0));
  KTEST_TRY(read_list(j, where, "cpus", kMaxCpus, s.cpus, read_cpu));
  KTEST_TRY(read_list(j, where, "dsqs", kMaxDsqs, s.dsqs, read_dsq));
  KTEST_TRY(read_list(j, where, "runnable", kMaxTasks, s.runnable, read_task));
  KTEST_ASSIGN(s.longest_wait_ms, opt_u64(j, where, "longest_wait_ms", 0));
  KTEST_ASSIGN(s.errors, strings(j, where, "errors", kMaxErrors));
  return s;
}

}  // namespace ktest
