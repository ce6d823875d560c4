// The `steps` list: one single-key mapping per step, the key naming the op.
#include <fmt/format.h>

#include <array>

#include "dsl/yaml_reader.h"
#include "kvm/plan.h"
#include "util/edit_distance.h"

namespace ktest::dsl {
namespace {

const std::vector<std::string> kOps = {"AttachScheduler", "ReplaceScheduler", "DetachScheduler",
                                       "Spawn",           "Kill",             "Run",
                                       "Sleep",           "CaptureSnapshot",  "WatchSnapshot",
                                       "LoadBpf"};

struct SignalName {
  const char* name;
  int number;
};
constexpr std::array<SignalName, 8> kSignals = {{{"TERM", 15}, {"KILL", 9}, {"INT", 2}, {"HUP", 1},
                                                 {"USR1", 10}, {"USR2", 12}, {"STOP", 19}, {"CONT", 18}}};

class StepReader {
 public:
  StepReader(FieldReader& r, const std::string& dir, std::map<std::string, Location>& locs)
      : r_(r), dir_(dir), locs_(locs) {}

  std::optional<StepOp> read(const std::string& op, const YAML::Node& key, const YAML::Node& args) {
    if (op == "AttachScheduler" || op == "ReplaceScheduler") {
      if (args.IsNull()) {
        r_.error(key, fmt::format("{} needs 'object' or 'command'", op),
                 "write - " + op + ": {object: scx_simple.bpf.o} or - " + op + ": {command: [scx_simple]}");
        return std::nullopt;
      }
      auto ref = r_.scheduler(args, key, op, dir_);
      if (!ref) return std::nullopt;
      if (op == "AttachScheduler") return AttachScheduler{*ref};
      return ReplaceScheduler{*ref};
    }
    if (op == "DetachScheduler") {
      if (!args.IsNull()) r_.fields(args, {}, op, "- DetachScheduler: {}");
      return DetachScheduler{};
    }
    if (op == "LoadBpf" && args.IsNull()) {
      r_.error(key, "LoadBpf needs 'object'", "write - LoadBpf: {object: maps.bpf.o, run: [fill]}");
      return std::nullopt;
    }
    if ((op == "Sleep" || op == "CaptureSnapshot" || op == "LoadBpf") && args.IsScalar())
      return shorthand(op, key, args);
    const std::map<std::string, std::vector<std::string>> allowed = {
        {"Spawn", {"name", "command", "count", "cpus", "nice"}},
        {"Kill", {"name", "signal"}},
        {"Run", {"command", "expect_exit", "timeout", "json"}},
        {"Sleep", {"duration"}},
        {"CaptureSnapshot", {"name", "every", "count"}},
        {"WatchSnapshot", {"name", "symbol", "access", "len"}},
        {"LoadBpf", {"object", "name", "run"}}};
    const std::map<std::string, std::string> examples = {
        {"Spawn", "- Spawn: {name: worker, command: \"yes > /dev/null\"}"},
        {"Kill", "- Kill: {name: worker}"},
        {"Run", "- Run: {command: \"true\"}"},
        {"Sleep", "- Sleep: 500ms"},
        {"CaptureSnapshot", "- CaptureSnapshot: before"},
        {"WatchSnapshot", "- WatchSnapshot: {name: hit, symbol: nr_dispatched}"},
        {"LoadBpf", "- LoadBpf: {object: maps.bpf.o, run: [fill]}"}};
    op_ = op;
    example_ = examples.at(op);
    owner_ = args.IsNull() ? key : args;
    fs_ = r_.fields(args, allowed.at(op), op, example_);
    if (!args.IsMap()) return std::nullopt;
    for (const auto& [name, node] : fs_) locs_[name] = r_.loc(node);
    if (op == "Spawn") return spawn();
    if (op == "Kill") return kill();
    if (op == "Run") return run();
    if (op == "LoadBpf") return load_bpf(key);
    if (op == "Sleep") {
      auto d = need("duration", &FieldReader::duration);
      if (!d) return std::nullopt;
      return Sleep{*d};
    }
    if (op == "CaptureSnapshot") return capture();
    return watch();
  }

 private:
  template <typename T>
  std::optional<T> need(const std::string& key,
                        std::optional<T> (FieldReader::*reader)(const YAML::Node&, const std::string&)) {
    const YAML::Node* node = r_.require(fs_, key, owner_, op_, example_);
    if (!node) return std::nullopt;
    return (r_.*reader)(*node, key);
  }

  std::optional<StepOp> shorthand(const std::string& op, const YAML::Node& key, const YAML::Node& args) {
    locs_[op == "Sleep" ? "duration" : op == "LoadBpf" ? "object" : "name"] = r_.loc(args);
    if (op == "LoadBpf") {  // just the object
      auto object = r_.string(args, "object");
      if (!object) return std::nullopt;
      return LoadBpf{resolve_object(*object, "", r_.loc(key), dir_), {}};
    }
    if (op == "Sleep") {
      auto d = r_.duration(args, "Sleep");
      if (!d) return std::nullopt;
      return Sleep{*d};
    }
    auto name = r_.string(args, "CaptureSnapshot");
    if (!name) return std::nullopt;
    return CaptureSnapshot{*name};
  }

  // One capture, or a series: `every` and `count` come together.
  std::optional<StepOp> capture() {
    CaptureSnapshot c;
    auto name = need("name", &FieldReader::string);
    bool ok = name.has_value();
    if (name) c.name = *name;
    const YAML::Node* every = FieldReader::find(fs_, "every");
    const YAML::Node* count = FieldReader::find(fs_, "count");
    if ((every == nullptr) != (count == nullptr)) {
      r_.error(every != nullptr ? *every : *count, "a series needs both 'every' and 'count'",
               "write - CaptureSnapshot: {name: tick, every: 250ms, count: 8}");
      return std::nullopt;
    }
    if (every == nullptr) return ok ? std::optional<StepOp>(c) : std::nullopt;
    if (auto n = r_.integer(*count, "count", 2, kvm::kMaxCaptures)) c.count = static_cast<uint32_t>(*n);
    else ok = false;
    if (auto d = r_.duration(*every, "every")) {
      c.every = *d;
      if (*d < std::chrono::milliseconds(kvm::kMinSeriesPeriodMs)) {
        r_.error(*every, fmt::format("'every' must be at least {}ms", kvm::kMinSeriesPeriodMs),
                 "a capture freezes the guest for tens of milliseconds under TCG; take fewer, further apart");
        ok = false;
      }
    } else {
      ok = false;
    }
    return ok ? std::optional<StepOp>(c) : std::nullopt;
  }

  std::optional<StepOp> spawn() {
    Spawn s;
    auto name = need("name", &FieldReader::string);
    auto cmd = need("command", &FieldReader::command);
    bool ok = name && cmd;
    if (const YAML::Node* n = FieldReader::find(fs_, "count")) {
      auto count = r_.integer(*n, "count", 1, kvm::kMaxSpawnCount);
      ok = ok && count;
      if (count) s.count = static_cast<uint32_t>(*count);
    }
    if (const YAML::Node* n = FieldReader::find(fs_, "nice")) {
      auto nice = r_.integer(*n, "nice", -20, 19);
      ok = ok && nice;
      if (nice) s.nice = static_cast<int>(*nice);
    }
    if (const YAML::Node* n = FieldReader::find(fs_, "cpus")) {
      auto text = r_.string(*n, "cpus");
      auto cpus = text ? parse_cpu_list(*text) : Result<std::vector<uint32_t>>(fail("no cpus"));
      if (text && !cpus) r_.error(*n, "'cpus': " + cpus.error().message, cpus.error().hint);
      ok = ok && cpus;
      if (cpus) {
        s.cpus = *cpus;
        s.cpus_text = *text;
      }
    }
    if (!ok) return std::nullopt;
    s.name = *name;
    s.command = *cmd;
    return s;
  }

  std::optional<StepOp> kill() {
    Kill k;
    auto name = need("name", &FieldReader::string);
    if (const YAML::Node* n = FieldReader::find(fs_, "signal")) {
      auto sig = r_.string(*n, "signal");
      if (!sig) return std::nullopt;
      std::string bare = sig->rfind("SIG", 0) == 0 ? sig->substr(3) : *sig;
      std::vector<std::string> names;
      for (const auto& s : kSignals) names.emplace_back(s.name);
      auto it = std::find(names.begin(), names.end(), bare);
      if (it == names.end()) {
        auto guess = nearest(bare, names);
        r_.error(*n, fmt::format("unknown signal '{}'", *sig),
                 guess ? fmt::format("did you mean '{}'?", *guess)
                       : "use TERM, KILL, INT, HUP, USR1, USR2, STOP or CONT");
        return std::nullopt;
      }
      k.signal = bare;
      k.signal_number = kSignals[static_cast<std::size_t>(it - names.begin())].number;
    }
    if (!name) return std::nullopt;
    k.name = *name;
    return k;
  }

  std::optional<StepOp> run() {
    Run run;
    auto cmd = need("command", &FieldReader::command);
    bool ok = cmd.has_value();
    if (const YAML::Node* n = FieldReader::find(fs_, "expect_exit")) {
      auto code = r_.integer(*n, "expect_exit", 0, 255);
      ok = ok && code;
      if (code) run.expect_exit = static_cast<int>(*code);
    }
    if (const YAML::Node* n = FieldReader::find(fs_, "timeout")) {
      run.timeout = r_.duration(*n, "timeout");
      ok = ok && run.timeout;
    }
    if (const YAML::Node* n = FieldReader::find(fs_, "json")) {
      auto name = r_.string(*n, "json");
      ok = ok && name;
      if (name) run.json = *name;
    }
    if (!ok) return std::nullopt;
    run.command = *cmd;
    return run;
  }

  std::optional<StepOp> load_bpf(const YAML::Node& key) {
    auto object = need("object", &FieldReader::string);
    bool ok = object.has_value();
    std::string name;
    if (const YAML::Node* n = FieldReader::find(fs_, "name")) {
      auto label = r_.string(*n, "name");
      ok = ok && label;
      name = label.value_or("");
    }
    std::vector<std::string> run;
    if (const YAML::Node* n = FieldReader::find(fs_, "run")) {
      auto programs = r_.string_list(*n, "run", "run: [fill] (names of SEC(\"syscall\") programs)");
      ok = ok && programs;
      run = programs.value_or(std::vector<std::string>{});
    }
    if (!ok) return std::nullopt;
    return LoadBpf{resolve_object(*object, name, r_.loc(key), dir_), std::move(run)};
  }

  std::optional<StepOp> watch() {
    WatchSnapshot w;
    auto name = need("name", &FieldReader::string);
    auto symbol = need("symbol", &FieldReader::string);
    bool ok = name && symbol;
    if (const YAML::Node* n = FieldReader::find(fs_, "access")) {
      auto access = r_.string(*n, "access");
      if (access == "write") w.access = WatchAccess::Write;
      else if (access == "read") w.access = WatchAccess::Read;
      else if (access == "rw") w.access = WatchAccess::ReadWrite;
      else if (access) {
        auto guess = nearest(*access, {"write", "read", "rw"});
        r_.error(*n, fmt::format("unknown access '{}'", *access),
                 guess ? fmt::format("did you mean '{}'?", *guess) : "use write, read or rw");
        ok = false;
      }
      ok = ok && access;
    }
    if (const YAML::Node* n = FieldReader::find(fs_, "len")) {
      auto len = r_.integer(*n, "len", 1, 8);
      if (len && *len != 1 && *len != 2 && *len != 4 && *len != 8) {
        r_.error(*n, fmt::format("'len' is {}; a hardware watchpoint covers 1, 2, 4 or 8 bytes", *len),
                 "use 1, 2, 4 or 8");
        len.reset();
      }
      ok = ok && len;
      if (len) w.len = static_cast<uint32_t>(*len);
    }
    if (!ok) return std::nullopt;
    w.name = *name;
    w.symbol = *symbol;
    return w;
  }

  FieldReader& r_;
  const std::string& dir_;
  std::map<std::string, Location>& locs_;
  FieldReader::Fields fs_;
  YAML::Node owner_;
  std::string op_;
  std::string example_;
};

}  // namespace

std::vector<Step> read_steps(const YAML::Node& steps, FieldReader& reader, const std::string& dir) {
  std::vector<Step> out;
  if (steps.IsNull()) return out;
  if (!steps.IsSequence()) {
    reader.error(steps, "'steps' must be a list", "write steps:\n  - Sleep: 1s");
    return out;
  }
  for (const auto& item : steps) {
    // `- DetachScheduler` alone is accepted: the op has no fields.
    if (item.IsScalar() && item.Scalar() == "DetachScheduler") {
      out.push_back({DetachScheduler{}, reader.loc(item)});
      reader.state().step_fields.emplace_back();
      continue;
    }
    if (!item.IsMap() || item.size() == 0) {
      auto guess = item.IsScalar() ? nearest(item.Scalar(), kOps) : std::nullopt;
      reader.error(item, "a step must be a mapping with one key, the op",
                   guess ? fmt::format("write - {}: {{...}}", *guess) : "write - Sleep: 1s");
      continue;
    }
    if (item.size() > 1) {
      auto second = std::next(item.begin());
      reader.error(second->first,
                   fmt::format("a step holds one op; '{}' starts a second one", second->first.Scalar()),
                   "start each op with its own '-' item");
      continue;
    }
    const YAML::Node key = item.begin()->first;
    const YAML::Node args = item.begin()->second;
    const std::string op = key.Scalar();
    if (std::find(kOps.begin(), kOps.end(), op) == kOps.end()) {
      auto guess = nearest(op, kOps);
      std::string list;
      for (const auto& o : kOps) list += (list.empty() ? "" : ", ") + o;
      reader.error(key, fmt::format("unknown step '{}'", op),
                   guess ? fmt::format("did you mean '{}'?", *guess) : "steps are " + list);
      continue;
    }
    std::map<std::string, Location> locs;
    StepReader step_reader(reader, dir, locs);
    auto parsed = step_reader.read(op, key, args);
    if (!parsed) continue;
    out.push_back({std::move(*parsed), reader.loc(key)});
    reader.state().step_fields.push_back(std::move(locs));
  }
  return out;
}

}  // namespace ktest::dsl
