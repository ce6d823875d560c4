#include "kvm/control_protocol.h"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

namespace ktest::kvm::control {
namespace {

using nlohmann::json;

constexpr const char* kTypeNames[] = {"hello",         "kallsyms_chunk", "kallsyms_end",
                                      "step_started",  "step_finished",  "workload",
                                      "log",           "done",           "step_output"};
static_assert(std::size(kTypeNames) == std::variant_size_v<Message>);

// Keeps the tail: for logs and output the end is what explains a failure.
std::string clamp_tail(const std::string& s, std::size_t max = kMaxDetailTextBytes) {
  if (s.size() <= max) return s;
  return "[" + std::to_string(s.size() - max) + " bytes cut]" + s.substr(s.size() - max);
}

std::string hex(uint64_t v) {
  char buf[19] = "0x";
  auto r = std::to_chars(buf + 2, buf + sizeof buf, v, 16);
  return std::string(buf, r.ptr);
}

json details_to_json(const StepDetails& d) {
  json j = json::object();
  if (!d.verifier_log.empty()) j["verifier_log"] = clamp_tail(d.verifier_log);
  if (!d.scheduler_state.empty()) j["scheduler_state"] = clamp_tail(d.scheduler_state, 256);
  if (!d.scheduler_ops.empty()) j["scheduler_ops"] = clamp_tail(d.scheduler_ops, 256);
  if (!d.pids.empty()) j["pids"] = d.pids;
  if (d.exit_code) j["exit_code"] = *d.exit_code;
  if (d.signal) j["signal"] = *d.signal;
  if (!d.output_tail.empty()) j["output_tail"] = clamp_tail(d.output_tail);
  if (d.reply_status) j["reply_status"] = *d.reply_status;
  if (!d.reply_text.empty()) j["reply_text"] = clamp_tail(d.reply_text);
  // Lists are cut to what the decoder accepts, so the line always decodes.
  auto name = [](const std::string& n) { return n.substr(0, kMaxProgramNameBytes); };
  if (!d.programs_attached.empty()) {
    json names = json::array();
    for (std::size_t i = 0; i < d.programs_attached.size() && i < kMaxProgramNames; ++i)
      names.push_back(name(d.programs_attached[i]));
    j["programs_attached"] = std::move(names);
  }
  if (!d.programs_run.empty()) {
    json runs = json::array();
    for (std::size_t i = 0; i < d.programs_run.size() && i < kMaxProgramNames; ++i)
      runs.push_back({{"name", name(d.programs_run[i].name)}, {"retval", d.programs_run[i].retval}});
    j["programs_run"] = std::move(runs);
  }
  if (d.output_bytes) j["output_bytes"] = *d.output_bytes;
  if (d.output_dropped != 0) j["output_dropped"] = d.output_dropped;
  if (!d.output_name.empty()) j["output_name"] = d.output_name.substr(0, kMaxProgramNameBytes);
  return j;
}

json to_json(const Message& m) {
  json j;
  j["type"] = std::string(message_type(m));
  std::visit(
      [&j](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Hello>) {
          j["agent_version"] = v.agent_version;
          j["protocol"] = v.protocol;
          j["kernel_release"] = v.kernel_release;
          j["text_address"] = hex(v.text_address);
          j["nr_cpus"] = v.nr_cpus;
          j["doorbell_device"] = v.doorbell_device;
          j["doorbell_ready"] = v.doorbell_ready;
        } else if constexpr (std::is_same_v<T, KallsymsChunk>) {
          j["seq"] = v.seq;
          j["data"] = v.data;
        } else if constexpr (std::is_same_v<T, KallsymsEnd>) {
          j["chunks"] = v.chunks;
          j["raw_bytes"] = v.raw_bytes;
          j["compressed_bytes"] = v.compressed_bytes;
          j["encoding"] = v.encoding;
          j["error"] = clamp_tail(v.error);
        } else if constexpr (std::is_same_v<T, StepStarted>) {
          j["index"] = v.index;
          j["op"] = v.op;
        } else if constexpr (std::is_same_v<T, StepFinished>) {
          j["index"] = v.index;
          j["op"] = v.op;
          j["ok"] = v.ok;
          j["error"] = clamp_tail(v.error);
          j["duration_ms"] = v.duration_ms;
          j["details"] = details_to_json(v.details);
        } else if constexpr (std::is_same_v<T, Workload>) {
          j["name"] = v.name;
          j["pids"] = v.pids;
        } else if constexpr (std::is_same_v<T, Log>) {
          j["text"] = clamp_tail(v.text);
        } else if constexpr (std::is_same_v<T, Done>) {
          j["ok"] = v.ok;
          j["steps_run"] = v.steps_run;
          j["error"] = clamp_tail(v.error);
        } else if constexpr (std::is_same_v<T, StepOutput>) {
          j["index"] = v.index;
          j["seq"] = v.seq;
          j["data"] = v.data;
        } else {
          static_assert(std::is_same_v<T, void>, "every control message is encoded");
        }
      },
      m);
  return j;
}

// Typed, bounded field access for decoding; unknown keys are ignored so a
// newer agent may add fields.
class Fields {
 public:
  explicit Fields(const json& j) : j_(j) {}
  const json* get(const char* key) const {
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  Result<std::string> str(const char* key, bool required = true) const {
    const json* v = get(key);
    if (v == nullptr && !required) return std::string();
    if (v == nullptr || !v->is_string()) return missing(key, "a string");
    return v->get<std::string>();
  }
  Result<uint64_t> u64(const char* key, bool required = true) const {
    const json* v = get(key);
    if (v == nullptr && !required) return uint64_t{0};
    if (v == nullptr || !v->is_number_unsigned()) return missing(key, "an unsigned integer");
    return v->get<uint64_t>();
  }
  Result<uint32_t> u32(const char* key, bool required = true) const {
    KTEST_ASSIGN(uint64_t v, u64(key, required));
    if (v > UINT32_MAX) return fail("field \"" + std::string(key) + "\" out of range");
    return static_cast<uint32_t>(v);
  }
  Result<std::optional<int32_t>> opt_i32(const char* key) const {
    const json* v = get(key);
    if (v == nullptr) return std::optional<int32_t>{};
    if (!v->is_number_integer()) return missing(key, "an integer");
    int64_t x = v->get<int64_t>();
    if (x < INT32_MIN || x > INT32_MAX) return fail("field \"" + std::string(key) + "\" out of range");
    return std::optional<int32_t>{static_cast<int32_t>(x)};
  }
  Result<std::optional<uint64_t>> opt_u64(const char* key) const {
    if (get(key) == nullptr) return std::optional<uint64_t>{};
    KTEST_ASSIGN(uint64_t v, u64(key));
    return std::optional<uint64_t>{v};
  }
  // An array of at most kMaxProgramNames names of at most kMaxProgramNameBytes.
  Result<std::vector<std::string>> names(const char* key) const {
    std::vector<std::string> out;
    const json* v = get(key);
    if (v == nullptr) return out;
    if (!v->is_array() || v->size() > kMaxProgramNames) return missing(key, "an array of program names");
    for (const auto& e : *v) {
      if (!e.is_string() || e.get_ref<const std::string&>().size() > kMaxProgramNameBytes)
        return missing(key, "an array of program names");
      out.push_back(e.get<std::string>());
    }
    return out;
  }
  Result<std::vector<ProgramRun>> program_runs(const char* key) const {
    std::vector<ProgramRun> out;
    const json* v = get(key);
    if (v == nullptr) return out;
    if (!v->is_array() || v->size() > kMaxProgramNames) return missing(key, "an array of program runs");
    for (const auto& e : *v) {
      if (!e.is_object()) return missing(key, "an array of {name, retval} objects");
      Fields f(e);
      ProgramRun run;
      KTEST_ASSIGN(run.name, f.str("name"));
      KTEST_ASSIGN(auto retval, f.opt_i32("retval"));
      if (!retval || run.name.size() > kMaxProgramNameBytes)
        return missing(key, "an array of {name, retval} objects");
      run.retval = *retval;
      out.push_back(std::move(run));
    }
    return out;
  }
  Result<bool> boolean(const char* key) const {
    const json* v = get(key);
    if (v == nullptr || !v->is_boolean()) return missing(key, "true or false");
    return v->get<bool>();
  }
  Result<std::vector<int32_t>> pids(const char* key) const {
    std::vector<int32_t> out;
    const json* v = get(key);
    if (v == nullptr) return out;
    if (!v->is_array() || v->size() > kMaxPids) return missing(key, "an array of pids");
    for (const auto& e : *v) {
      if (!e.is_number_integer() || e.get<int64_t>() <= 0 || e.get<int64_t>() > INT32_MAX)
        return missing(key, "an array of positive pids");
      out.push_back(static_cast<int32_t>(e.get<int64_t>()));
    }
    return out;
  }

 private:
  static Unexpected missing(const char* key, const char* what) {
    return fail("field \"" + std::string(key) + "\" must be " + what);
  }
  const json& j_;
};

Result<StepDetails> decode_details(const json* j) {
  StepDetails d;
  if (j == nullptr) return d;
  if (!j->is_object()) return fail("field \"details\" must be an object");
  Fields f(*j);
  KTEST_ASSIGN(d.verifier_log, f.str("verifier_log", false));
  KTEST_ASSIGN(d.scheduler_state, f.str("scheduler_state", false));
  KTEST_ASSIGN(d.scheduler_ops, f.str("scheduler_ops", false));
  KTEST_ASSIGN(d.pids, f.pids("pids"));
  KTEST_ASSIGN(d.exit_code, f.opt_i32("exit_code"));
  KTEST_ASSIGN(d.signal, f.opt_i32("signal"));
  KTEST_ASSIGN(d.output_tail, f.str("output_tail", false));
  KTEST_ASSIGN(d.reply_status, f.opt_i32("reply_status"));
  KTEST_ASSIGN(d.reply_text, f.str("reply_text", false));
  KTEST_ASSIGN(d.programs_attached, f.names("programs_attached"));
  KTEST_ASSIGN(d.programs_run, f.program_runs("programs_run"));
  KTEST_ASSIGN(d.output_bytes, f.opt_u64("output_bytes"));
  KTEST_ASSIGN(d.output_dropped, f.u64("output_dropped", false));
  KTEST_ASSIGN(d.output_name, f.str("output_name", false));
  if (d.output_name.size() > kMaxProgramNameBytes) return fail("field \"output_name\" is too long");
  return d;
}

Result<Message> decode_fields(const std::string& type, const Fields& f) {
  if (type == "hello") {
    Hello m;
    KTEST_ASSIGN(m.agent_version, f.str("agent_version"));
    KTEST_ASSIGN(m.protocol, f.u32("protocol"));
    KTEST_ASSIGN(m.kernel_release, f.str("kernel_release"));
    KTEST_ASSIGN(auto text, f.str("text_address"));
    KTEST_ASSIGN(m.text_address, parse_hex_address(text));
    KTEST_ASSIGN(m.nr_cpus, f.u32("nr_cpus", false));
    KTEST_ASSIGN(m.doorbell_device, f.str("doorbell_device", false));
    if (f.get("doorbell_ready") != nullptr) {
      KTEST_ASSIGN(m.doorbell_ready, f.boolean("doorbell_ready"));
    }
    return Message{std::move(m)};
  }
  if (type == "kallsyms_chunk") {
    KallsymsChunk m;
    KTEST_ASSIGN(m.seq, f.u32("seq"));
    KTEST_ASSIGN(m.data, f.str("data"));
    return Message{std::move(m)};
  }
  if (type == "kallsyms_end") {
    KallsymsEnd m;
    KTEST_ASSIGN(m.chunks, f.u32("chunks"));
    KTEST_ASSIGN(m.raw_bytes, f.u64("raw_bytes"));
    KTEST_ASSIGN(m.compressed_bytes, f.u64("compressed_bytes"));
    KTEST_ASSIGN(m.encoding, f.str("encoding"));
    KTEST_ASSIGN(m.error, f.str("error", false));
    return Message{std::move(m)};
  }
  if (type == "step_started") {
    StepStarted m;
    KTEST_ASSIGN(m.index, f.u32("index"));
    KTEST_ASSIGN(m.op, f.str("op"));
    return Message{std::move(m)};
  }
  if (type == "step_finished") {
    StepFinished m;
    KTEST_ASSIGN(m.index, f.u32("index"));
    KTEST_ASSIGN(m.op, f.str("op"));
    KTEST_ASSIGN(m.ok, f.boolean("ok"));
    KTEST_ASSIGN(m.error, f.str("error", false));
    KTEST_ASSIGN(m.duration_ms, f.u64("duration_ms", false));
    KTEST_ASSIGN(m.details, decode_details(f.get("details")));
    return Message{std::move(m)};
  }
  if (type == "step_output") {
    StepOutput m;
    KTEST_ASSIGN(m.index, f.u32("index"));
    KTEST_ASSIGN(m.seq, f.u32("seq"));
    KTEST_ASSIGN(m.data, f.str("data"));
    return Message{std::move(m)};
  }
  if (type == "workload") {
    Workload m;
    KTEST_ASSIGN(m.name, f.str("name"));
    KTEST_ASSIGN(m.pids, f.pids("pids"));
    return Message{std::move(m)};
  }
  if (type == "log") {
    Log m;
    KTEST_ASSIGN(m.text, f.str("text"));
    return Message{std::move(m)};
  }
  if (type == "done") {
    Done m;
    KTEST_ASSIGN(m.ok, f.boolean("ok"));
    KTEST_ASSIGN(m.steps_run, f.u32("steps_run", false));
    KTEST_ASSIGN(m.error, f.str("error", false));
    return Message{std::move(m)};
  }
  return fail("unknown message type \"" + type.substr(0, 64) + "\"");
}

}  // namespace

std::string_view message_type(const Message& m) { return kTypeNames[m.index()]; }

std::string encode(const Message& m) {
  // Invalid UTF-8 (a cut output tail) is replaced rather than thrown on.
  return to_json(m).dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string resize_line(Resize size) {
  return json{{"type", "resize"}, {"rows", size.rows}, {"cols", size.cols}}.dump() + "\n";
}

std::optional<Resize> parse_resize(std::string_view line) {
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("type", "") != "resize") return std::nullopt;
  auto dimension = [&](const char* key) -> std::optional<uint16_t> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() > UINT16_MAX) return std::nullopt;
    return it->get<uint16_t>();
  };
  auto rows = dimension("rows"), cols = dimension("cols");
  if (!rows || !cols) return std::nullopt;
  return Resize{*rows, *cols};
}

Result<Message> decode_message(std::string_view line) {
  if (line.size() > kMaxLineBytes)
    return fail("control message of " + std::to_string(line.size()) + " bytes exceeds the " +
                std::to_string(kMaxLineBytes) + "-byte limit");
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("control message is not a JSON object");
  Fields f(j);
  KTEST_ASSIGN(auto type, f.str("type"));
  auto decoded = decode_fields(type, f);
  if (!decoded) return std::move(decoded).context("decoding \"" + type.substr(0, 64) + "\" message");
  return decoded;
}

LineSplitter::Output LineSplitter::feed(std::string_view bytes) {
  Output out;
  while (!bytes.empty()) {
    auto nl = bytes.find('\n');
    std::string_view piece = bytes.substr(0, nl);
    if (!discarding_) {
      if (pending_.size() + piece.size() > kMaxLineBytes) {
        out.errors.push_back("control line longer than " + std::to_string(kMaxLineBytes) +
                             " bytes dropped");
        pending_.clear();
        discarding_ = true;
      } else {
        pending_.append(piece);
      }
    }
    if (nl == std::string_view::npos) break;
    if (!discarding_ && !pending_.empty()) out.lines.push_back(std::move(pending_));
    pending_.clear();
    discarding_ = false;
    bytes.remove_prefix(nl + 1);
  }
  return out;
}

// ---- address -> symbol (declared with SymbolTable) ----

namespace {

bool is_text_symbol(const KernelSymbol& s) { return s.type == 'T' || s.type == 't'; }

std::string hex_number(uint64_t v) {
  char buf[19] = "0x";
  auto r = std::to_chars(buf + 2, buf + sizeof buf, v, 16);
  return std::string(buf, r.ptr);
}

}  // namespace

void SymbolTable::index_addresses() {
  by_address_.clear();
  for (std::size_t i = 0; i < symbols_.size(); ++i) {
    if (symbols_[i].address != 0) by_address_.push_back(static_cast<uint32_t>(i));
  }
  // Within one address: text first, then vmlinux, then file order.
  std::stable_sort(by_address_.begin(), by_address_.end(), [this](uint32_t a, uint32_t b) {
    const KernelSymbol& x = symbols_[a];
    const KernelSymbol& y = symbols_[b];
    if (x.address != y.address) return x.address < y.address;
    if (is_text_symbol(x) != is_text_symbol(y)) return is_text_symbol(x);
    return x.module.empty() && !y.module.empty();
  });
}

std::optional<SymbolHit> SymbolTable::lookup(uint64_t address) const {
  auto above = std::upper_bound(by_address_.begin(), by_address_.end(), address,
                                [this](uint64_t a, uint32_t i) { return a < symbols_[i].address; });
  if (above == by_address_.begin() || above == by_address_.end()) return std::nullopt;
  uint64_t base = symbols_[*std::prev(above)].address;
  // The first entry at `base` is the preferred name.
  auto first = std::lower_bound(by_address_.begin(), above, base,
                                [this](uint32_t i, uint64_t a) { return symbols_[i].address < a; });
  uint64_t size = symbols_[*above].address - base;
  if (size > kMaxSymbolSpan) return std::nullopt;
  return SymbolHit{&symbols_[*first], address - base, size};
}

std::string SymbolTable::symbolize(uint64_t address) const {
  auto hit = lookup(address);
  if (!hit) return hex_number(address);
  std::string out = hit->symbol->name + "+" + hex_number(hit->offset) + "/" + hex_number(hit->size);
  const std::string& module = hit->symbol->module;
  if (!module.empty() && module != "bpf") out += " [" + module + "]";
  return out;
}

}  // namespace ktest::kvm::control
