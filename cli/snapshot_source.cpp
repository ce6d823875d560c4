// Where the `ktest snapshot` commands find their reports (cli/snapshot_source.h).
#include "cli/snapshot_source.h"

#include <filesystem>

#include <fmt/format.h>

#include "snapshot/snapshot.h"

namespace ktest::cli {
namespace fs = std::filesystem;

namespace {

bool has_json_files(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (is_report_file_name(entry.path().filename().string()) && entry.is_regular_file(ec)) return true;
  return false;
}

// The path `given` names: itself, or a run in the output directory.
Result<fs::path> locate(const std::string& given, const Config& config) {
  std::error_code ec;
  fs::path in_output = fs::path(config.output_dir) / (given.empty() ? "latest" : given);
  if (given.empty()) {
    if (fs::exists(in_output, ec)) return in_output;
    return fail("no run found: " + in_output.string() + " does not exist", {},
                "run 'ktest run SCENARIO' first, or name a report file or run directory");
  }
  if (fs::exists(given, ec)) return fs::path(given);
  bool plain_name = given.find('/') == std::string::npos && given != "." && given != "..";
  if (plain_name && fs::exists(in_output, ec)) return in_output;
  return fail("'" + given + "' does not exist" +
                  (plain_name ? fmt::format(", nor {}", in_output.string()) : std::string()),
              {}, "name a report JSON file, a run output directory, 'latest', or a run in " + config.output_dir);
}

Result<std::vector<NamedReport>> load_resolved(const std::string& path) {
  auto reports = load_reports(path);
  if (!reports) return std::move(reports).context("reading " + path);
  if (reports->empty()) return fail("no snapshot reports in " + path, {}, "the run captured no snapshot");
  return reports;
}

}  // namespace

Result<std::string> resolve_reports_path(const std::string& given, const Config& config) {
  std::error_code ec;
  KTEST_ASSIGN(fs::path path, locate(given, config));
  if (!fs::is_directory(path, ec)) return path.string();
  if (fs::is_directory(path / "snapshots", ec)) return (path / "snapshots").string();
  // A run directory: <run>/<scenario>/snapshots (its results.json is no report).
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(path, ec))
    if (entry.is_directory(ec) && fs::is_directory(entry.path() / "snapshots", ec))
      found.push_back(entry.path() / "snapshots");
  if (found.size() == 1) return found.front().string();
  if (found.empty() && has_json_files(path)) return path.string();
  if (found.empty())
    return fail("no snapshot reports in " + path.string(), {},
                "the run captured no snapshot; add a CaptureSnapshot step");
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f.parent_path().filename().string();
  return fail("run directory " + path.string() + " holds several scenarios: " + list, {},
              "name one of them: " + (found.front().parent_path()).string());
}

Result<std::vector<NamedReport>> load_reports_for(const std::string& given, const Config& config) {
  KTEST_ASSIGN(std::string path, resolve_reports_path(given, config));
  return load_resolved(path);
}

SnapshotRef parse_snapshot_ref(const std::string& text) {
  std::error_code ec;
  auto colon = text.find(':');
  if (colon != std::string::npos) return SnapshotRef{text.substr(0, colon), text.substr(colon + 1), text};
  bool json_file = is_report_file_name(text) && fs::is_regular_file(text, ec);
  if (json_file) return SnapshotRef{text, "", text};
  return SnapshotRef{std::nullopt, text, text};
}

Result<const std::vector<NamedReport>*> ReportCache::reports(const std::string& given) {
  auto known = resolved_.find(given);
  if (known == resolved_.end()) {
    KTEST_ASSIGN(std::string path, resolve_reports_path(given, config_));
    known = resolved_.emplace(given, path).first;
  }
  const std::string& path = known->second;
  if (auto it = loaded_.find(path); it != loaded_.end()) return &it->second;
  KTEST_ASSIGN(auto loaded, load_resolved(path));
  return &loaded_.emplace(path, std::move(loaded)).first->second;
}

Result<const NamedReport*> ReportCache::snapshot(const SnapshotRef& ref, const std::string& default_report) {
  const std::string& given = ref.run ? *ref.run : default_report;
  KTEST_ASSIGN(const std::vector<NamedReport>* all, reports(given));
  std::vector<std::string> names;
  for (const auto& nr : *all) names.push_back(nr.name);
  if (ref.name.empty()) {
    if (all->size() == 1) return &all->front();
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return fail(fmt::format("'{}' holds {} snapshots; say which: {}:NAME", given, all->size(), given), {},
                "snapshots there: " + list);
  }
  for (const auto& nr : *all)
    if (nr.name == ref.name) return &nr;
  Error e = SnapshotError::no_such_snapshot(ref.name, names).to_error();
  e.location = resolved_.at(given);
  return fail(std::move(e));
}

std::string ReportCache::path_of(const SnapshotRef& ref, const std::string& default_report) const {
  auto it = resolved_.find(ref.run ? *ref.run : default_report);
  return it == resolved_.end() ? "" : it->second;
}

}  // namespace ktest::cli
