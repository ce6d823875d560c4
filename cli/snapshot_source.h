// Where the `ktest snapshot` commands find their reports (cli/cmd_snapshot*.cpp).
//
// Contract:
// - A REPORT is a report file (*.json, or *.json.zst as ktest stores big
//   ones), a run output directory (its snapshots/ folder, or the one
//   scenario directory below it that has one), or a folder of reports.
//   When no such path exists, `latest` and the name of a run are looked
//   up in the output directory (ktest.toml [output] dir). "" is
//   <output dir>/latest.
// - A snapshot reference is [RUN:]NAME: NAME as a CaptureSnapshot step
//   named it, RUN a REPORT (everything before the first ':'). Without
//   RUN, NAME is looked up in the REPORT the command defaults to. An empty
//   NAME ("RUN:") is that REPORT's only snapshot. A plain argument ending
//   in ".json" or ".json.zst" that names an existing file means "FILE:".
// - Errors say what was looked for and list what exists (the snapshot
//   layer's did-you-mean). Each REPORT is loaded once per command.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/config.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest::cli {

// The file or directory holding the reports `given` means.
Result<std::string> resolve_reports_path(const std::string& given, const Config& config);

// Every report of REPORT `given`; fails when it has none.
Result<std::vector<NamedReport>> load_reports_for(const std::string& given, const Config& config);

struct SnapshotRef {
  std::optional<std::string> run;  // nullopt: the command's default REPORT
  std::string name;                // "": the REPORT's only snapshot
  std::string text;                // as the user wrote it
};
SnapshotRef parse_snapshot_ref(const std::string& text);

class ReportCache {
 public:
  explicit ReportCache(const Config& config) : config_(config) {}
  // load_reports_for(given), loaded once.
  Result<const std::vector<NamedReport>*> reports(const std::string& given);
  // The report `ref` names, its RUN defaulting to `default_report`.
  Result<const NamedReport*> snapshot(const SnapshotRef& ref, const std::string& default_report);
  // The resolved path `ref` reads (after snapshot() succeeded for it).
  std::string path_of(const SnapshotRef& ref, const std::string& default_report) const;

 private:
  const Config& config_;
  std::map<std::string, std::string> resolved_;                // given -> path
  std::map<std::string, std::vector<NamedReport>> loaded_;  // path -> reports
};

}  // namespace ktest::cli
