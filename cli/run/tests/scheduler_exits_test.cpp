// Scheduler exits as `ktest run` reports them: which fail a scenario, and
// the failure dump files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "cli/run/scheduler_exits.h"
#include "snapshot/scx_state.h"
#include "util/atomic_file.h"

using namespace ktest;
using namespace ktest::cli;
namespace fs = std::filesystem;

namespace {

freeze::SchedulerExit exit_of(std::string kind, int64_t value, std::string msg = "") {
  freeze::SchedulerExit e;
  e.ops_name = "ktest_sched_error";
  e.kind = std::move(kind);
  e.kind_value = value;
  e.reason = "scx_bpf_error";
  e.msg = std::move(msg);
  return e;
}

Report report_named(std::string name, std::string dump) {
  Report r;
  r.snapshot_name = std::move(name);
  ScxState scx;
  scx.state = "enabled";
  ScxExit e;
  e.kind = "SCX_EXIT_ERROR_BPF";
  e.kind_value = 1025;
  e.dump = std::move(dump);
  scx.exit = e;
  r.scx = scx;
  return r;
}

}  // namespace

TEST_CASE("exit_results: deaths fail unless expected; unloads are not deaths; a missing one fails") {
  std::vector<freeze::SchedulerExit> exits = {exit_of("SCX_EXIT_UNREG", 64), exit_of("SCX_EXIT_DONE", 1),
                                              exit_of("SCX_EXIT_ERROR_BPF", 1025, "boom")};
  auto unexpected = exit_results(exits, std::nullopt);
  REQUIRE(unexpected.size() == 1);
  CHECK(unexpected[0].kind == "SCX_EXIT_ERROR_BPF");
  CHECK(unexpected[0].fails());
  CHECK(unexpected[0].summary() == "SCX_EXIT_ERROR_BPF (scx_bpf_error): boom");

  auto expected = exit_results(exits, dsl::ExpectedExit{{"any_error"}, {}});
  REQUIRE(expected.size() == 1);
  CHECK_FALSE(expected[0].fails());

  auto other = exit_results(exits, dsl::ExpectedExit{{"SCX_EXIT_ERROR_STALL"}, {}});
  REQUIRE(other.size() == 2);
  CHECK(other[0].fails());  // the death nobody expected
  CHECK(other[1].missing);  // and the stall that never came
  CHECK(other[1].summary() == "expected an exit with SCX_EXIT_ERROR_STALL, but the scheduler did not exit");

  CHECK(exit_results({}, std::nullopt).empty());
}

TEST_CASE("save_failure_dump: one FailureDumpReport file read back as @early/@exit, the dump as text") {
  fs::path dir = fs::path(KTEST_TEST_TMP) / ("scheduler_exits_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  Notes notes;
  std::vector<SchedulerExitResult> results = exit_results({exit_of("SCX_EXIT_ERROR_BPF", 1025)}, std::nullopt);

  freeze::FailureDump none;
  CHECK(save_failure_dump(none, dir.string(), (dir / "snapshots").string(), results, notes).empty());
  CHECK_FALSE(fs::exists(dir / "snapshots"));

  freeze::FailureDump dual;
  dual.early = report_named("@early", "");
  dual.late = report_named("@exit", "CPU states\n----------\n");
  dual.early_max_age_jiffies = 400;
  dual.early_threshold_jiffies = 375;
  auto reports = save_failure_dump(dual, dir.string(), (dir / "snapshots").string(), results, notes);
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].name == "@early");
  CHECK(reports[1].name == "@exit");
  CHECK(notes.empty());
  CHECK(results[0].report_path == (dir / "snapshots" / kFailureDumpFile).string());
  CHECK(read_file(results[0].dump_file).value() == "CPU states\n----------\n");
  // `ktest snapshot dump` reads the directory back under the same names.
  auto loaded = load_reports((dir / "snapshots").string());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 2);
  CHECK((*loaded)[0].name == "@early");
  CHECK((*loaded)[1].name == "@exit");
  CHECK((*loaded)[1].report.scx->exit->kind == "SCX_EXIT_ERROR_BPF");
  fs::remove_all(dir);
}

TEST_CASE("FailureDump schemas: single, dual, degraded") {
  freeze::FailureDump dump;
  dump.late = report_named("@exit", "");
  CHECK(dump.schema() == "single");
  CHECK(dump.to_json()["snapshot_name"] == "@exit");
  dump.early = report_named("@early", "");
  CHECK(dump.schema() == "dual");
  CHECK(dump.to_json().contains("early_threshold_jiffies"));
  freeze::FailureDump degraded;
  degraded.degraded_reason = "the vCPUs could not be paused";
  CHECK(degraded.schema() == "degraded");
  auto j = degraded.to_json();
  CHECK(j["schema"] == "degraded");
  auto parsed = parse_any_report(j.dump(), "scheduler-exit");
  REQUIRE(parsed.ok());
  CHECK((*parsed)[0].report.degraded->reason == "the vCPUs could not be paused");
}
