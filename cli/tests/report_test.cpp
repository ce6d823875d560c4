#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/report/report.h"
#include "util/atomic_file.h"

using namespace ktest;
using namespace ktest::cli;
using namespace std::chrono_literals;

namespace {

// Two scenarios that exercise every field: one passing, one with a failed
// comparison, an evaluation error, a failed step, a skipped step, a failed
// capture, and guest text with markup, quotes, controls and bad UTF-8.
RunResult sample_run() {
  RunResult run;
  run.ktest_version = "0.1.0";
  run.started_at = "2026-11-26T07:00:00Z";
  run.duration = 75'250ms;
  run.output_dir = "ktest-runs/20261126-070000";

  ScenarioResult ok;
  ok.name = "quickstart";
  ok.file = "scenarios/quickstart.yaml";
  ok.outcome = Outcome::Passed;
  ok.duration = 12'345ms;
  ok.output_dir = "ktest-runs/20261126-070000/quickstart";
  ok.console_log = "ktest-runs/20261126-070000/quickstart/console.log";
  ok.steps = {{"AttachScheduler", "scx_simple", 3, Outcome::Passed, 1'200ms, "", "", ""},
              {"LoadBpf", "maps", 4, Outcome::Passed, 40ms, "", "", "attached: count_exec; ran: fill = 0"},
              {"Spawn", "worker", 5, Outcome::Passed, 12ms, "", "", ""},
              {"CaptureSnapshot", "before", 7, Outcome::Passed, 350ms, "", "", ""}};
  ok.captures = {{"before", "ktest-runs/20261126-070000/quickstart/snapshots/before.json", 3, false,
                  350ms, "", {{"exits", 1200}, {"mmio_exits", 3}}, {}}};
  ok.notes = {"cannot watch the scheduler's exit_kind: all 4 debug registers are in use"};
  ok.assertions = {{"var(\"nr_cpus_onln\") > 0", "var(\"nr_cpus_onln\") > 0", 10, Outcome::Passed,
                    "", "", "", ""}};

  ScenarioResult bad;
  bad.name = "weights <&>";
  bad.file = "scenarios/weights.yaml";
  bad.outcome = Outcome::Error;
  bad.duration = 62'900ms;
  bad.output_dir = "ktest-runs/20261126-070000/weights";
  bad.console_log = "ktest-runs/20261126-070000/weights/console.log";
  bad.steps = {{"Spawn", "hog", 4, Outcome::Passed, 8ms, "", "", ""},
               {"Run", "false", 6, Outcome::Failed, 5ms, "exit status 1, expected 0",
                "ktest-runs/20261126-070000/weights/output/step-1.log", ""},
               {"Sleep", "500ms", 7, Outcome::Skipped, 0ms, "", "", ""}};
  bad.captures = {{"after", "", 0, false, 0ms, "freeze timed out after 30s", {}, {}},
                  {"mid", "ktest-runs/20261126-070000/weights/snapshots/mid.json", 2, true, 2'100ms,
                   "", {}, {{"bpf_maps", "the guest kernel has no BTF"}}}};
  bad.assertions = {
      {"weight is 100", "map(\"scx_per_task\").find(tid == pid(\"hog\")).get(\"ctx.weight.value\") == 100",
       12, Outcome::Failed, "100", "42", "hog's weight must stay at 100", ""},
      {"var(\"nope\") > 0", "var(\"nope\") > 0", 13, Outcome::Error, "", "", "",
       "no variable 'nope' in snapshot 'mid'\navailable: nr_cpus_onln, nr_running"},
      {"comm", "var(\"comm\") == \"a\\tb\"", 14, Outcome::Failed, "\"a\tb\"",
       std::string("\"x\x01y\xff\"", 7) + "'</tag>]]>", "", ""}};
  bad.error = "guest kernel panic: Attempted to kill init!\n[    1.234] end Kernel panic";
  SchedulerExitResult died;
  died.scheduler = "scx_simple";
  died.kind = "SCX_EXIT_ERROR_BPF";
  died.reason = "scx_bpf_error";
  died.message = "boom <&> was scheduled 20 times";
  died.report_path = "ktest-runs/20261126-070000/weights/snapshots/scheduler-exit.failure-dump.json";
  died.dump_file = "ktest-runs/20261126-070000/weights/scheduler-exit.dump.txt";
  SchedulerExitResult missing;
  missing.kind = "SCX_EXIT_ERROR_STALL";
  missing.missing = true;
  bad.scheduler_exits = {died, missing};

  run.scenarios = {ok, bad};
  return run;
}

std::string golden_path(const std::string& name) {
  return std::string(KTEST_SOURCE_ROOT) + "/cli/tests/golden/" + name;
}

// KTEST_UPDATE_GOLDEN=1 rewrites the golden file instead of comparing.
void check_golden(const std::string& name, const std::string& actual) {
  std::string path = golden_path(name);
  if (const char* update = std::getenv("KTEST_UPDATE_GOLDEN"); update && *update == '1') {
    REQUIRE(write_file_atomic(path, actual).ok());
    MESSAGE("updated " << path);
    return;
  }
  auto expected = read_file(path);
  REQUIRE_MESSAGE(expected.ok(), "missing golden " << path << " (KTEST_UPDATE_GOLDEN=1 writes it)");
  CHECK(actual == *expected);
}

}  // namespace

TEST_CASE("text report golden (plain and coloured)") {
  std::string plain = render_report(sample_run(), OutputFormat::Text, false);
  check_golden("report.txt", plain);
  CHECK(plain.find('\x1b') == std::string::npos);
  CHECK(plain.find("output:   ktest-runs/20261126-070000/weights/output/step-1.log") != std::string::npos);
  CHECK(plain.find("attached: count_exec; ran: fill = 0") != std::string::npos);
  std::string colored = render_report(sample_run(), OutputFormat::Text, true);
  check_golden("report.color.txt", colored);
  CHECK(colored.find("\x1b[1;31mFAIL") != std::string::npos);
}

TEST_CASE("JSON report golden, parses back with every key") {
  std::string text = render_report(sample_run(), OutputFormat::Json);
  check_golden("report.json", text);
  auto doc = nlohmann::json::parse(text);
  CHECK(doc["summary"]["scenarios"] == 2);
  CHECK(doc["summary"]["passed"] == 1);
  CHECK(doc["summary"]["errors"] == 1);
  const auto& weights = doc["scenarios"][1];
  CHECK(weights["assertions"][0]["expected"] == "100");
  CHECK(weights["assertions"][0]["actual"] == "42");
  CHECK(weights["assertions"][1]["error"].get<std::string>().find("available:") != std::string::npos);
  CHECK(doc["scenarios"][0]["error"].is_null());
  CHECK(weights["console_log"] == "ktest-runs/20261126-070000/weights/console.log");
  CHECK(weights["steps"][1]["output_file"] == "ktest-runs/20261126-070000/weights/output/step-1.log");
  CHECK(weights["steps"][0]["output_file"].is_null());
  CHECK(doc["scenarios"][0]["steps"][1]["summary"] == "attached: count_exec; ran: fill = 0");
  CHECK(weights["steps"][1]["summary"].is_null());
}

TEST_CASE("JUnit report golden, well-formed XML") {
  std::string xml = render_report(sample_run(), OutputFormat::Junit);
  check_golden("report.junit.xml", xml);
  CHECK(xml.find("weights <&>") == std::string::npos);
  CHECK(xml.find("weights &lt;&amp;&gt;") != std::string::npos);
  CHECK(xml.find('\x01') == std::string::npos);

  // xmllint (libxml2-utils) when present; the test says so when it is not.
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0) {
    MESSAGE("xmllint not installed: JUnit well-formedness checked by the golden only");
    return;
  }
  auto path = std::filesystem::temp_directory_path() / "ktest_cli_report.junit.xml";
  REQUIRE(write_file_atomic(path.string(), xml).ok());
  CHECK(std::system(("xmllint --noout " + path.string()).c_str()) == 0);
  std::filesystem::remove(path);
}

TEST_CASE("TAP report golden: plan matches test points") {
  std::string tap = render_report(sample_run(), OutputFormat::Tap);
  check_golden("report.tap", tap);
  std::istringstream in(tap);
  std::string line;
  std::getline(in, line);
  CHECK(line == "TAP version 13");
  std::getline(in, line);
  CHECK(line == "1..6");
  int points = 0, not_ok = 0;
  while (std::getline(in, line)) {
    if (line.rfind("ok ", 0) == 0) ++points;
    if (line.rfind("not ok ", 0) == 0) ++points, ++not_ok;
  }
  CHECK(points == 6);
  CHECK(not_ok == 4);
}

TEST_CASE("the sample's verdicts are derive_outcome()'s, the one rule") {
  for (const auto& sc : sample_run().scenarios) CHECK(sc.outcome == derive_outcome(sc));
}

TEST_CASE("outcome of a scenario from its parts") {
  ScenarioResult s;
  CHECK(derive_outcome(s) == Outcome::Skipped);
  s.steps.push_back({"Spawn", "w", 1, Outcome::Passed, 1ms, "", "", ""});
  CHECK(derive_outcome(s) == Outcome::Passed);
  s.assertions.push_back({"a", "a", 2, Outcome::Failed, "", "", "", ""});
  CHECK(derive_outcome(s) == Outcome::Failed);
  CHECK(run_outcome(s) == Outcome::Passed);  // the assertions are not the run's
  s.notes.push_back("a note");                 // never the verdict
  s.captures.push_back({"c", "", 0, false, 0ms, "", {}, {{"bpf_maps", "no BTF"}}});
  CHECK(derive_outcome(s) == Outcome::Failed);  // nor a section error
  s.captures.push_back({"c", "", 0, false, 0ms, "timed out", {}, {}});
  CHECK(derive_outcome(s) == Outcome::Error);
  CHECK(run_outcome(s) == Outcome::Error);
  s.scheduler_exits.push_back({});
  CHECK(derive_outcome(s) == Outcome::Error);  // the worst stands
}

TEST_CASE("elapsed times and text sanitizing") {
  CHECK(format_elapsed(0ms) == "0ms");
  CHECK(format_elapsed(999ms) == "999ms");
  CHECK(format_elapsed(1'250ms) == "1.2s");
  CHECK(format_elapsed(125'000ms) == "2m05s");
  CHECK(sanitize_text("ok\ttab\nline") == "ok\ttab\nline");
  CHECK(sanitize_text(std::string("a\x01z", 3)) == "a\xEF\xBF\xBDz");
  CHECK(sanitize_text("\xff") == "\xEF\xBF\xBD");
  CHECK(sanitize_text("\xC3\xA9") == "\xC3\xA9");          // é kept
  CHECK(sanitize_text("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  CHECK(sanitize_text("\xE2\x82") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut short
}
