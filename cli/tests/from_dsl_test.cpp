#include <doctest/doctest.h>

#include "cli/report/from_dsl.h"
#include "snapshot/report.h"

using namespace ktest;
using namespace ktest::cli;

// Real assertions, evaluated by the dsl against the cli's fixture report.
TEST_CASE("dsl assertion outcomes map onto the reporters' model") {
  auto reports = load_reports(std::string(KTEST_SOURCE_ROOT) + "/tests/cli/fixtures/report.json");
  REQUIRE_MESSAGE(reports.ok(), (reports.ok() ? "" : reports.error().to_string()));
  auto load = dsl::load_scenario_text(R"(name: t
steps:
  - CaptureSnapshot: before
assertions:
  - var("nr_cpus_onln") > 0
  - expr: map("scx_per_task").find(tid == 42).get("ctx.weight.value") == 7
    message: weight must be 7
  - var("nr_cpus_onlnx") > 0
)", "t.yaml");
  REQUIRE_MESSAGE(load.ok(), dsl::format_diagnostics(load.diagnostics));
  auto results = from_dsl(dsl::check_assertions(*load.scenario,
                                                dsl::EvalContext::from_reports(std::move(*reports))));
  REQUIRE(results.size() == 3);
  CHECK(results[0].outcome == Outcome::Passed);
  CHECK(results[0].expression == "var(\"nr_cpus_onln\") > 0");
  CHECK(results[0].line == 5);
  CHECK(results[0].actual == "2");  // a passing comparison keeps both sides
  CHECK(results[0].expected == "> 0");
  CHECK(results[1].outcome == Outcome::Failed);
  CHECK(results[1].actual == "100");
  CHECK(results[1].expected == "7");
  CHECK(results[1].message == "weight must be 7");
  CHECK(results[2].outcome == Outcome::Error);
  CHECK(results[2].error.find("nr_cpus_onlnx") != std::string::npos);
  CHECK(results[2].error.find("available: nr_cpus_onln nr_running") != std::string::npos);
}
