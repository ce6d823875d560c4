#include "cli/run/scheduler_exits.h"

#include <algorithm>
#include <filesystem>

#include "snapshot/scx_state.h"
#include "util/atomic_file.h"

namespace ktest::cli {

namespace fs = std::filesystem;

std::vector<SchedulerExitResult> exit_results(const std::vector<freeze::SchedulerExit>& exits,
                                              const std::optional<dsl::ExpectedExit>& expected) {
  std::vector<SchedulerExitResult> out;
  for (const auto& e : exits) {
    if (!freeze::is_death(e)) continue;
    SchedulerExitResult r;
    r.scheduler = e.ops_name;
    r.kind = e.kind;
    r.reason = e.reason;
    r.message = e.msg;
    r.expected = expected && expected->matches(e.kind, e.kind_value);
    out.push_back(std::move(r));
  }
  if (expected && std::none_of(out.begin(), out.end(), [](const auto& r) { return r.expected; })) {
    SchedulerExitResult missing;
    missing.kind = expected->text();
    missing.missing = true;
    out.push_back(std::move(missing));
  }
  return out;
}

std::vector<NamedReport> save_failure_dump(const freeze::FailureDump& dump, const std::string& scenario_dir,
                                           const std::string& snapshots_dir,
                                           std::vector<SchedulerExitResult>& exits, Notes& notes) {
  std::vector<NamedReport> out;
  if (dump.empty()) return out;
  std::error_code ec;
  fs::create_directories(snapshots_dir, ec);
  std::string path = (fs::path(snapshots_dir) / kFailureDumpFile).string();
  if (Status s = write_file_atomic(path, dump.to_json().dump()); !s) {
    notes.add("saving the scheduler's failure dump: " + s.error().to_string());
    path.clear();
  }
  std::string dump_file;
  const ScxExit* exit = dump.late && dump.late->scx && dump.late->scx->exit ? &*dump.late->scx->exit : nullptr;
  if (exit && !exit->dump.empty()) {
    dump_file = (fs::path(scenario_dir) / kExitDumpFile).string();
    if (Status s = write_file_atomic(dump_file, exit->dump); !s) {
      notes.add("saving the scheduler's debug dump: " + s.error().to_string());
      dump_file.clear();
    }
  }
  // The first death is the one captured.
  auto first = std::find_if(exits.begin(), exits.end(), [](const auto& r) { return !r.missing; });
  if (first != exits.end()) {
    first->report_path = path;
    first->dump_file = dump_file;
  }
  if (dump.early) out.push_back({std::string(kEarlySnapshotName), *dump.early});
  if (dump.late) out.push_back({std::string(kExitSnapshotName), *dump.late});
  return out;
}

}  // namespace ktest::cli
