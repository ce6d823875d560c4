// What `ktest run` makes of the scheduler exits the error-trigger pipeline
// saw (freeze/error_trigger.h): the verdict's inputs and the files.
//
// Contract:
// - exit_results() lists every death (freeze::is_death: not a userspace
//   unload) with `expected` set when the scenario's expect_scheduler_exit
//   names its kind, plus one `missing` entry when the scenario expected an
//   exit that never came. A result that fails() fails the scenario.
// - save_failure_dump() writes the first death's reports as one ktstr
//   FailureDumpReport file, <snapshots_dir>/kFailureDumpFile (read back by
//   `ktest snapshot dump` as @early / @exit), and the kernel's debug dump
//   as text to <scenario_dir>/kExitDumpFile; both atomically. It points the
//   first death's report_path/dump_file at them and returns the reports
//   under their snapshot names (@early first) for the assertions. A file
//   that cannot be written is a note; the reports are still returned.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/report/results.h"
#include "cli/run/guest_output.h"
#include "dsl/scenario.h"
#include "freeze/error_trigger.h"
#include "snapshot/report.h"

namespace ktest::cli {

inline constexpr const char* kFailureDumpFile = "scheduler-exit.failure-dump.json";
inline constexpr const char* kExitDumpFile = "scheduler-exit.dump.txt";

std::vector<SchedulerExitResult> exit_results(const std::vector<freeze::SchedulerExit>& exits,
                                              const std::optional<dsl::ExpectedExit>& expected);

std::vector<NamedReport> save_failure_dump(const freeze::FailureDump& dump, const std::string& scenario_dir,
                                           const std::string& snapshots_dir,
                                           std::vector<SchedulerExitResult>& exits, Notes& notes);

}  // namespace ktest::cli
