#include "kvm/plan.h"

#include <limits>
#include <nlohmann/json.hpp>

#include "util/edit_distance.h"

namespace ktest::kvm {
namespace {

using nlohmann::json;

constexpr const char* kOpNames[] = {"AttachScheduler", "ReplaceScheduler", "DetachScheduler",
                                    "Spawn",           "Run",              "Sleep",
                                    "CaptureSnapshot", "WatchSnapshot",   "Kill",
                                    "LoadBpf"};
static_assert(std::size(kOpNames) == std::variant_size_v<Step>);

Unexpected field_error(const std::string& path, const std::string& what,
                       std::string hint = {}) {
  return fail(what, path.empty() ? std::string("plan") : "plan: " + path, std::move(hint));
}

// Reads the members of one JSON object and rejects keys nobody asked for.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  Result<std::optional<std::string>> optional_string(const std::string& key) {
    const json* v = take(key);
    if (v == nullptr) return std::optional<std::string>{};
    if (!v->is_string()) return field_error(at(key), "expected a string");
    return std::optional<std::string>{v->get<std::string>()};
  }
  Result<std::string> string(const std::string& key) {
    KTEST_ASSIGN(auto v, optional_string(key));
    if (!v) return field_error(at(key), "missing required string");
    return *v;
  }
  template <typename Int>
  Result<Int> integer(const std::string& key, Int fallback) {
    const json* v = take(key);
    if (v == nullptr) return fallback;
    if (!v->is_number_integer()) return field_error(at(key), "expected an integer");
    if (v->is_number_unsigned()) {
      auto u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<Int>::max()))
        return field_error(at(key), "integer out of range");
      return static_cast<Int>(u);
    }
    auto s = v->get<int64_t>();
    if (s < static_cast<int64_t>(std::numeric_limits<Int>::min()) ||
        s > static_cast<int64_t>(std::numeric_limits<Int>::max()))
      return field_error(at(key), "integer out of range");
    return static_cast<Int>(s);
  }
  Result<bool> boolean(const std::string& key, bool fallback) {
    const json* v = take(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) return field_error(at(key), "expected true or false");
    return v->get<bool>();
  }
  Result<std::vector<std::string>> strings(const std::string& key, bool required) {
    const json* v = take(key);
    if (v == nullptr) {
      if (required) return field_error(at(key), "missing required array of strings");
      return std::vector<std::string>{};
    }
    if (!v->is_array()) return field_error(at(key), "expected an array of strings");
    if (v->size() > kMaxArgvLength)
      return field_error(at(key), "more than " + std::to_string(kMaxArgvLength) + " elements");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string())
        return field_error(at(key) + "[" + std::to_string(i) + "]", "expected a string");
      out.push_back((*v)[i].get<std::string>());
    }
    return out;
  }
  Result<std::vector<uint32_t>> cpu_list(const std::string& key) {
    const json* v = take(key);
    std::vector<uint32_t> out;
    if (v == nullptr) return out;
    if (!v->is_array()) return field_error(at(key), "expected an array of CPU ids");
    if (v->size() > 4096) return field_error(at(key), "more than 4096 CPU ids");
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (!e.is_number_unsigned() || e.get<uint64_t>() >= 4096)
        return field_error(at(key) + "[" + std::to_string(i) + "]",
                           "expected a CPU id between 0 and 4095");
      out.push_back(static_cast<uint32_t>(e.get<uint64_t>()));
    }
    return out;
  }
  const json* object(const std::string& key) { return take(key); }

  // Fails on the first key that no accessor consumed.
  Status finish() const {
    std::vector<std::string> known(used_.begin(), used_.end());
    for (const auto& [key, unused] : object_.items()) {
      bool seen = false;
      for (const auto& u : used_) seen = seen || u == key;
      if (seen) continue;
      auto near = nearest(key, known);
      return field_error(at(key), "unknown key",
                         near ? "did you mean \"" + *near + "\"?" : "remove it");
    }
    return {};
  }

  std::string at(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

 private:
  // Marks the key as known even when absent, so "did you mean" can use it.
  const json* take(const std::string& key) {
    used_.push_back(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  const json& object_;
  std::string path_;
  std::vector<std::string> used_;
};

template <typename SchedulerStep>
Result<Step> read_scheduler(ObjectReader& r) {
  SchedulerStep s;
  KTEST_ASSIGN(auto object, r.optional_string("object"));
  KTEST_ASSIGN(s.command, r.strings("command", false));
  if (object.has_value() == !s.command.empty())
    return field_error(r.at("object"), object ? "both \"object\" and \"command\" are set"
                                              : "missing required string (or a \"command\" array)",
                       "a scheduler is either a BPF object or a loader command");
  s.object = object.value_or("");
  if (object && s.object.empty()) return field_error(r.at("object"), "object path must not be empty");
  for (std::size_t i = 0; i < s.command.size(); ++i)
    if (s.command[i].empty())
      return field_error(r.at("command") + "[" + std::to_string(i) + "]", "must not be empty");
  KTEST_ASSIGN(s.ops, r.optional_string("ops"));
  KTEST_ASSIGN(auto name, r.optional_string("name"));
  s.name = name.value_or(s.ops.value_or("scheduler"));
  KTEST_ASSIGN(s.timeout_ms, r.integer<uint32_t>("timeout_ms", kDefaultLoaderTimeoutMs));
  if (s.timeout_ms == 0) return field_error(r.at("timeout_ms"), "must be > 0");
  return Step{std::move(s)};
}

Result<Step> read_step_body(const std::string& op, ObjectReader& r, const std::string& path) {
  if (op == "AttachScheduler") return read_scheduler<AttachScheduler>(r);
  if (op == "ReplaceScheduler") return read_scheduler<ReplaceScheduler>(r);
  if (op == "DetachScheduler") return Step{DetachScheduler{}};
  if (op == "Spawn") {
    Spawn s;
    KTEST_ASSIGN(s.name, r.string("name"));
    KTEST_ASSIGN(s.argv, r.strings("argv", true));
    if (s.argv.empty()) return field_error(r.at("argv"), "argv must not be empty");
    KTEST_ASSIGN(s.count, r.integer<uint32_t>("count", 1));
    if (s.count == 0 || s.count > kMaxSpawnCount)
      return field_error(r.at("count"), "count must be 1.." + std::to_string(kMaxSpawnCount));
    KTEST_ASSIGN(s.cpus, r.cpu_list("cpus"));
    KTEST_ASSIGN(s.nice, r.integer<int32_t>("nice", 0));
    if (s.nice < -20 || s.nice > 19) return field_error(r.at("nice"), "nice must be -20..19");
    return Step{std::move(s)};
  }
  if (op == "Run") {
    Run s;
    KTEST_ASSIGN(s.argv, r.strings("argv", true));
    if (s.argv.empty()) return field_error(r.at("argv"), "argv must not be empty");
    KTEST_ASSIGN(s.expect_exit, r.integer<int32_t>("expect_exit", 0));
    KTEST_ASSIGN(s.timeout_ms, r.integer<uint32_t>("timeout_ms", 10000));
    return Step{std::move(s)};
  }
  if (op == "Sleep") {
    Sleep s;
    KTEST_ASSIGN(s.ms, r.integer<uint32_t>("ms", 0));
    return Step{s};
  }
  if (op == "CaptureSnapshot") {
    CaptureSnapshot s;
    KTEST_ASSIGN(s.name, r.string("name"));
    if (s.name.empty()) return field_error(r.at("name"), "snapshot name must not be empty");
    KTEST_ASSIGN(s.count, r.integer<uint32_t>("count", 1));
    if (s.count == 0 || s.count > kMaxCaptures)
      return field_error(r.at("count"), "count must be 1.." + std::to_string(kMaxCaptures));
    KTEST_ASSIGN(s.every_ms, r.integer<uint32_t>("every_ms", 0));
    if (s.series() && s.every_ms < kMinSeriesPeriodMs)
      return field_error(r.at("every_ms"), "a series needs every_ms >= " + std::to_string(kMinSeriesPeriodMs));
    return Step{std::move(s)};
  }
  if (op == "WatchSnapshot") {
    WatchSnapshot s;
    KTEST_ASSIGN(s.name, r.string("name"));
    KTEST_ASSIGN(s.symbol, r.string("symbol"));
    KTEST_ASSIGN(auto access, r.optional_string("access"));
    s.access = access.value_or("w");
    if (s.access != "r" && s.access != "w" && s.access != "rw")
      return field_error(r.at("access"), "access must be \"r\", \"w\" or \"rw\"");
    KTEST_ASSIGN(s.len, r.integer<uint32_t>("len", 8));
    if (s.len != 1 && s.len != 2 && s.len != 4 && s.len != 8)
      return field_error(r.at("len"), "len must be 1, 2, 4 or 8");
    return Step{std::move(s)};
  }
  if (op == "Kill") {
    Kill s;
    KTEST_ASSIGN(s.name, r.string("name"));
    KTEST_ASSIGN(s.signal, r.integer<int32_t>("signal", 15));
    if (s.signal < 1 || s.signal > 64) return field_error(r.at("signal"), "signal must be 1..64");
    return Step{std::move(s)};
  }
  if (op == "LoadBpf") {
    LoadBpf s;
    KTEST_ASSIGN(s.object, r.string("object"));
    if (s.object.empty()) return field_error(r.at("object"), "object path must not be empty");
    KTEST_ASSIGN(auto name, r.optional_string("name"));
    s.name = name.value_or(s.object.substr(s.object.rfind('/') + 1));
    KTEST_ASSIGN(s.run, r.strings("run", false));
    for (std::size_t i = 0; i < s.run.size(); ++i)
      if (s.run[i].empty())
        return field_error(r.at("run") + "[" + std::to_string(i) + "]", "program name must not be empty");
    return Step{std::move(s)};
  }
  std::vector<std::string> names(std::begin(kOpNames), std::end(kOpNames));
  auto near = nearest(op, names);
  return field_error(path + ".op", "unknown op \"" + op + "\"",
                     near ? "did you mean \"" + *near + "\"?" : "one of the documented ops");
}

Result<Step> read_step(const json& j, const std::string& path) {
  if (!j.is_object()) return field_error(path, "expected an object");
  ObjectReader r(j, path);
  KTEST_ASSIGN(auto op, r.string("op"));
  KTEST_ASSIGN(auto step, read_step_body(op, r, path));
  KTEST_TRY(r.finish());
  return step;
}

Result<PlanSettings> read_settings(const json* j) {
  PlanSettings s;
  if (j == nullptr) return s;
  if (!j->is_object()) return field_error("settings", "expected an object");
  ObjectReader r(*j, "settings");
  KTEST_ASSIGN(s.step_timeout_ms, r.integer<uint32_t>("step_timeout_ms", s.step_timeout_ms));
  if (s.step_timeout_ms == 0) return field_error("settings.step_timeout_ms", "must be > 0");
  KTEST_ASSIGN(auto policy, r.optional_string("on_failure"));
  if (policy && *policy == "continue") s.on_failure = OnFailure::Continue;
  else if (policy && *policy != "stop")
    return field_error("settings.on_failure", "expected \"stop\" or \"continue\"");
  KTEST_ASSIGN(s.send_kallsyms, r.boolean("send_kallsyms", true));
  KTEST_ASSIGN(s.scheduler_exit_expected, r.boolean("scheduler_exit_expected", false));
  KTEST_ASSIGN(s.offer_shell, r.boolean("offer_shell", false));
  KTEST_TRY(r.finish());
  return s;
}

json step_to_json(const Step& step) {
  json j;
  j["op"] = std::string(step_op(step));
  std::visit(
      [&j](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, AttachScheduler> || std::is_same_v<T, ReplaceScheduler>) {
          if (s.loader()) j["command"] = s.command;
          else j["object"] = s.object;
          j["timeout_ms"] = s.timeout_ms;
          if (s.ops) j["ops"] = *s.ops;
          j["name"] = s.name;
        } else if constexpr (std::is_same_v<T, Spawn>) {
          j["name"] = s.name;
          j["argv"] = s.argv;
          j["count"] = s.count;
          j["cpus"] = s.cpus;
          j["nice"] = s.nice;
        } else if constexpr (std::is_same_v<T, Run>) {
          j["argv"] = s.argv;
          j["expect_exit"] = s.expect_exit;
          j["timeout_ms"] = s.timeout_ms;
        } else if constexpr (std::is_same_v<T, Sleep>) {
          j["ms"] = s.ms;
        } else if constexpr (std::is_same_v<T, Kill>) {
          j["name"] = s.name;
          j["signal"] = s.signal;
        } else if constexpr (std::is_same_v<T, LoadBpf>) {
          j["object"] = s.object;
          j["name"] = s.name;
          j["run"] = s.run;
        } else if constexpr (std::is_same_v<T, CaptureSnapshot>) {
          j["name"] = s.name;
          if (s.series()) {
            j["every_ms"] = s.every_ms;
            j["count"] = s.count;
          }
        } else if constexpr (std::is_same_v<T, WatchSnapshot>) {
          j["name"] = s.name;
          j["symbol"] = s.symbol;
          j["access"] = s.access;
          j["len"] = s.len;
        } else if constexpr (std::is_same_v<T, DetachScheduler>) {
          // no fields: the op says it all
        } else {
          static_assert(std::is_same_v<T, void>, "every plan step is encoded");
        }
      },
      step);
  return j;
}

}  // namespace

std::string_view step_op(const Step& step) { return kOpNames[step.index()]; }

std::string plan_to_json(const Plan& plan) {
  json j;
  j["version"] = kPlanVersion;
  j["settings"] = {{"step_timeout_ms", plan.settings.step_timeout_ms},
                   {"on_failure", plan.settings.on_failure == OnFailure::Stop ? "stop" : "continue"},
                   {"send_kallsyms", plan.settings.send_kallsyms},
                   {"scheduler_exit_expected", plan.settings.scheduler_exit_expected},
                   {"offer_shell", plan.settings.offer_shell}};
  if (!plan.modules.empty()) j["modules"] = plan.modules;
  j["steps"] = json::array();
  for (const auto& step : plan.steps) j["steps"].push_back(step_to_json(step));
  return j.dump(2) + "\n";
}

Result<Plan> plan_from_json(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return fail("plan is not valid JSON", std::string(kPlanGuestPath),
                "the host writes it with plan_to_json(); regenerate the initramfs");
  if (!j.is_object()) return field_error("", "expected a JSON object at the top level");
  ObjectReader r(j, "");
  KTEST_ASSIGN(auto version, r.integer<uint32_t>("version", kPlanVersion));
  if (version != kPlanVersion)
    return field_error("version", "unsupported plan version " + std::to_string(version),
                       "host and agent come from different ktest builds; rebuild both");
  Plan plan;
  KTEST_ASSIGN(plan.settings, read_settings(r.object("settings")));
  KTEST_ASSIGN(plan.modules, r.strings("modules", false));
  const json* steps = r.object("steps");
  if (steps == nullptr || !steps->is_array())
    return field_error("steps", "missing required array of steps");
  if (steps->size() > kMaxPlanSteps)
    return field_error("steps", "more than " + std::to_string(kMaxPlanSteps) + " steps");
  for (std::size_t i = 0; i < steps->size(); ++i) {
    KTEST_ASSIGN(auto step, read_step((*steps)[i], "steps[" + std::to_string(i) + "]"));
    plan.steps.push_back(std::move(step));
  }
  KTEST_TRY(r.finish());
  return plan;
}

Result<Step> step_from_json(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return fail("the step is not valid JSON");
  return read_step(j, "step");
}

}  // namespace ktest::kvm
