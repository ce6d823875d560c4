// JSON: one object per run, keys in a fixed order; "" fields become null
// so every key is always present (the schema is in ktest-run(1)).
#include <nlohmann/json.hpp>

#include "cli/report/reporters.h"

namespace ktest::cli::report_detail {
namespace {

using Json = nlohmann::ordered_json;

Json text_or_null(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }
Json line_or_null(int line) { return line > 0 ? Json(line) : Json(nullptr); }
long long millis(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

Json vm_json(const std::optional<VmResult>& vm) {
  if (!vm) return nullptr;
  return {{"accel", vm->accel},
          {"cpu_model", vm->cpu_model},
          {"cpu_model_source", vm->cpu_model_source},
          {"machine", vm->machine},
          {"cpus", vm->cpus},
          {"memory_mib", vm->memory_mib},
          {"topology", text_or_null(vm->topology)},
          {"numa_nodes", vm->numa_nodes},
          {"ready_ms", vm->ready ? Json(vm->ready->count()) : Json(nullptr)}};
}

Json scenario_json(const ScenarioResult& sc) {
  Json steps = Json::array();
  for (const auto& s : sc.steps) {
    steps.push_back({{"op", s.op},
                     {"description", s.description},
                     {"line", line_or_null(s.line)},
                     {"outcome", outcome_name(s.outcome)},
                     {"duration_ms", millis(s.duration)},
                     {"error", text_or_null(s.error)},
                     {"output_file", text_or_null(s.output_file)},
                     {"summary", text_or_null(s.summary)}});
  }
  Json captures = Json::array();
  for (const auto& c : sc.captures) {
    captures.push_back({{"name", c.name},
                        {"report", text_or_null(c.report_path)},
                        {"maps", c.maps},
                        {"degraded", c.degraded},
                        {"at_ms", millis(c.at)},
                        {"duration_ms", millis(c.duration)},
                        {"error", text_or_null(c.error)},
                        {"accel_counters", c.accel_counters.empty() ? Json(nullptr) : Json(c.accel_counters)},
                        {"section_errors", c.section_errors.empty() ? Json(nullptr) : Json(c.section_errors)}});
  }
  Json assertions = Json::array();
  for (const auto& a : sc.assertions) {
    assertions.push_back({{"name", a.name},
                          {"expression", a.expression},
                          {"line", line_or_null(a.line)},
                          {"outcome", outcome_name(a.outcome)},
                          {"expected", text_or_null(a.expected)},
                          {"actual", text_or_null(a.actual)},
                          {"message", text_or_null(a.message)},
                          {"error", text_or_null(a.error)}});
  }
  Json exits = Json::array();
  for (const auto& e : sc.scheduler_exits) {
    exits.push_back({{"scheduler", e.scheduler},
                     {"kind", text_or_null(e.kind)},
                     {"reason", text_or_null(e.reason)},
                     {"message", text_or_null(e.message)},
                     {"expected", e.expected},
                     {"missing", e.missing},
                     {"outcome", outcome_name(e.fails() ? Outcome::Failed : Outcome::Passed)},
                     {"report", text_or_null(e.report_path)},
                     {"dump_file", text_or_null(e.dump_file)}});
  }
  return {{"name", sc.name},
          {"file", sc.file},
          {"outcome", outcome_name(sc.outcome)},
          {"duration_ms", millis(sc.duration)},
          {"error", text_or_null(sc.error)},
          {"notes", sc.notes},
          {"output_dir", text_or_null(sc.output_dir)},
          {"console_log", text_or_null(sc.console_log)},
          {"steps", steps},
          {"captures", captures},
          {"assertions", assertions},
          {"scheduler_exits", exits},
          {"vm", vm_json(sc.vm)}};
}

class JsonReporter : public Reporter {
 public:
  void write(const RunResult& run, std::ostream& out) const override {
    RunSummary s = summarize(run);
    Json scenarios = Json::array();
    for (const auto& sc : run.scenarios) scenarios.push_back(scenario_json(sc));
    Json doc = {{"ktest_version", text_or_null(run.ktest_version)},
                {"started_at", text_or_null(run.started_at)},
                {"duration_ms", millis(run.duration)},
                {"output_dir", text_or_null(run.output_dir)},
                {"summary",
                 {{"scenarios", s.total()},
                  {"passed", s.passed},
                  {"failed", s.failed},
                  {"errors", s.errors},
                  {"skipped", s.skipped}}},
                {"scenarios", scenarios}};
    // Guest text may not be UTF-8: replace, never throw.
    out << doc.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
  }
};

}  // namespace

std::unique_ptr<Reporter> make_json_reporter() { return std::make_unique<JsonReporter>(); }

}  // namespace ktest::cli::report_detail
