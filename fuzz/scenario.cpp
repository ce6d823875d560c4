// Scenario YAML: load_scenario_text (YAML parse, schema, units, steps,
// VM shape, assertions parsed at load, cross-checks) on mutated text; a
// loaded scenario's assertions are then evaluated against an empty run.
// Relative paths resolve against a directory that does not exist.
#include <string>

#include "dsl/diagnostics.h"
#include "dsl/scenario.h"
#include "fuzz/fuzz_target.h"

using namespace ktest;
using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(scenario, nullptr) {
  std::string text(reinterpret_cast<const char*>(data.data()), data.size());
  auto load = dsl::load_scenario_text(text, "fuzz.yaml", "/nonexistent/ktest-fuzz");
  fuzz_check(load.ok() == !dsl::has_errors(load.diagnostics), "a scenario loads iff no error was found");
  for (const auto& d : load.diagnostics) {
    fuzz_check(!d.message.empty(), "a diagnostic says what");
    fuzz_check(d.length >= 1, "a diagnostic underlines at least one column");
    (void)dsl::format_diagnostic(d);
  }
  if (!load.ok()) return;
  const dsl::Scenario& s = *load.scenario;
  (void)s.snapshot_names();
  (void)s.workload_names();
  for (const auto& step : s.steps) fuzz_check(dsl::step_op_name(step.op) != nullptr, "every step has an op name");
  for (const auto& a : s.assertions) fuzz_check(a.expr != nullptr, "a loaded assertion is parsed");
  for (const auto& result : dsl::check_assertions(s, dsl::EvalContext{})) {
    fuzz_check(result.outcome.verdict != dsl::Verdict::Pass || result.explanation().empty(),
               "a passed assertion needs no explanation");
    (void)result.explanation();
  }
}
