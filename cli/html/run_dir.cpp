// A run directory read back for the page: results.json, then each
// scenario's files (html_report.h says what and within which limits).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "cli/html/page_data.h"
#include "cli/report/events_log.h"
#include "cli/report/report.h"
#include "util/atomic_file.h"

namespace ktest::cli::html_detail {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// At most the last `max_bytes` of a file; *skipped: the bytes before them.
Result<std::string> read_tail(const std::string& path, std::size_t max_bytes, std::size_t* skipped) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("cannot open {}", path));
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
  *skipped = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(*skipped));
  std::string text(size - *skipped, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(std::max<std::streamsize>(0, in.gcount())));
  return text;
}

// At most the first `max_bytes` of a file; *cut: whether there was more.
Result<std::string> read_head(const std::string& path, std::size_t max_bytes, bool* cut) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("cannot open {}", path));
  std::string text(max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(std::max<std::streamsize>(0, in.gcount())));
  *cut = text.size() > max_bytes;
  if (*cut) text.resize(max_bytes);
  return text;
}

std::string text_or_empty(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class RunReader {
 public:
  RunReader(std::string run_dir, std::string recorded_dir, const HtmlLimits& limits)
      : run_dir_(std::move(run_dir)), recorded_dir_(std::move(recorded_dir)), limits_(limits) {}

  Json scenario_extras(const Json& scenario) {
    problems_ = Json::array();
    Json extras = Json::object();
    std::string dir = rebase(text_or_empty(scenario, "output_dir"));
    if (!dir.empty()) add_events(extras, (fs::path(dir) / "events.log").string());
    if (std::string console = rebase(text_or_empty(scenario, "console_log")); !console.empty())
      add_console(extras, console);
    Json captures = Json::array();
    if (auto list = scenario.find("captures"); list != scenario.end() && list->is_array())
      for (const auto& capture : *list) captures.push_back(capture_extras(capture));
    extras["captures"] = std::move(captures);
    Json exits = Json::array();
    if (auto list = scenario.find("scheduler_exits"); list != scenario.end() && list->is_array())
      for (const auto& exit : *list) exits.push_back(exit_extras(exit));
    extras["scheduler_exits"] = std::move(exits);
    extras["problems"] = std::move(problems_);
    return extras;
  }

 private:
  // A path results.json recorded under the run's directory, moved under
  // the directory given now (the run may have been copied or moved).
  std::string rebase(const std::string& path) const {
    if (path.empty() || recorded_dir_.empty()) return path;
    fs::path recorded = fs::path(recorded_dir_).lexically_normal();
    fs::path rel = fs::path(path).lexically_normal().lexically_relative(recorded);
    if (rel.empty() || *rel.begin() == "..") return path;
    return (fs::path(run_dir_) / rel).string();
  }

  void problem(std::string what) { problems_.push_back(sanitize_text(what)); }

  void add_events(Json& extras, const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return;  // runs before events.log existed
    auto text = read_file(path);
    if (!text) return problem(fmt::format("events log {}: {}", path, text.error().to_string()));
    std::size_t dropped = 0;
    Json events = Json::array();
    for (const auto& e : parse_events_log(*text, limits_.event_lines, &dropped)) {
      Json event = {{"t", e.seconds}, {"kind", event_kind_name(e.kind)}, {"text", sanitize_text(e.text)}};
      if (e.kind == EventKind::Step) event["step"] = e.step;
      if (e.kind == EventKind::Capture) event["name"] = sanitize_text(e.subject);
      events.push_back(std::move(event));
    }
    extras["events"] = std::move(events);
    extras["events_dropped"] = dropped;
  }

  void add_console(Json& extras, const std::string& path) {
    // Enough bytes for the lines kept, even when they are long.
    std::size_t skipped = 0;
    auto text = read_tail(path, limits_.console_lines * 512, &skipped);
    if (!text) return problem(fmt::format("console log {}: {}", path, text.error().to_string()));
    std::vector<std::string> lines;
    std::string_view rest = *text;
    if (skipped > 0 && rest.find('\n') != std::string_view::npos) rest.remove_prefix(rest.find('\n') + 1);
    while (!rest.empty()) {
      std::size_t eol = rest.find('\n');
      lines.emplace_back(rest.substr(0, eol));
      rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    }
    std::size_t dropped = lines.size() > limits_.console_lines ? lines.size() - limits_.console_lines : 0;
    Json tail = Json::array();
    for (std::size_t i = dropped; i < lines.size(); ++i) {
      if (!lines[i].empty() && lines[i].back() == '\r') lines[i].pop_back();  // the serial console's CRLF
      tail.push_back(sanitize_text(lines[i]));
    }
    extras["console_tail"] = std::move(tail);
    extras["console_cut"] = skipped > 0 || dropped > 0;
  }

  Json capture_extras(const Json& capture) {
    std::string name = text_or_empty(capture, "name");
    Json out = {{"name", name}};
    std::string path = rebase(text_or_empty(capture, "report"));
    if (path.empty()) return out;
    auto reports = load(path);
    if (!reports) {
      std::string why = fmt::format("snapshot '{}': {}", name, reports.error().to_string());
      problem(why);
      out["error"] = sanitize_text(why);
      return out;
    }
    // A failure dump file holds @early and @exit: take the one named.
    const NamedReport* chosen = nullptr;
    for (const auto& r : **reports)
      if (r.name == name) chosen = &r;
    if (!chosen && !(*reports)->empty()) chosen = &(*reports)->back();
    if (!chosen) return out;
    const Report& report = chosen->report;
    CaptureTree tree = capture_tree(report, limits_);
    out["captured_at"] = report.captured_at;
    out["schema"] = report.schema;
    if (auto trigger = report.extra.find("trigger"); trigger != report.extra.end() && trigger->is_string())
      out["trigger"] = *trigger;
    if (report.degraded) out["degraded_reason"] = report.degraded->reason;
    out["maps"] = std::move(tree.maps);
    out["omitted"] = tree.omitted;
    return out;
  }

  Json exit_extras(const Json& exit) {
    Json out = Json::object();
    std::string path = rebase(text_or_empty(exit, "dump_file"));
    if (path.empty()) return out;
    bool cut = false;
    auto text = read_head(path, limits_.dump_bytes, &cut);
    if (!text) {
      problem(fmt::format("scheduler dump {}: {}", path, text.error().to_string()));
      return out;
    }
    out["dump_text"] = sanitize_text(*text);
    out["dump_cut"] = cut;
    return out;
  }

  // Each report file once (the failure dump backs two captures).
  Result<const std::vector<NamedReport>*> load(const std::string& path) {
    auto it = loaded_.find(path);
    if (it == loaded_.end()) it = loaded_.emplace(path, load_report_file(path)).first;
    if (!it->second) return fail(it->second.error());
    return &*it->second;
  }

  std::string run_dir_, recorded_dir_;
  const HtmlLimits& limits_;
  Json problems_ = Json::array();
  std::map<std::string, Result<std::vector<NamedReport>>> loaded_;
};

}  // namespace

Result<Json> load_page_data(const std::string& run_dir, const HtmlLimits& limits) {
  std::string results_path = (fs::path(run_dir) / "results.json").string();
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec))
    return fail(fmt::format("'{}' is not a directory", run_dir), "",
                "name a run directory that `ktest run` wrote, e.g. ktest-runs/latest");
  if (!fs::exists(results_path, ec))
    return fail(fmt::format("{} has no results.json", run_dir), "",
                "name a run directory that `ktest run` wrote (it holds results.json), not a scenario's");
  KTEST_ASSIGN(std::string text, read_file(results_path));
  Json results = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (results.is_discarded() || !results.is_object() || !results.contains("scenarios") ||
      !results["scenarios"].is_array())
    return fail("results.json is not a ktest results file (an object with a \"scenarios\" array)", results_path,
                "point at a run directory written by `ktest run`");
  RunReader reader(run_dir, text_or_empty(results, "output_dir"), limits);
  Json extras = Json::array();
  for (const auto& scenario : results["scenarios"]) {
    if (!scenario.is_object())
      return fail("results.json: a scenario is not an object", results_path, "point at a run directory written by `ktest run`");
    extras.push_back(reader.scenario_extras(scenario));
  }
  Json limits_json = {{"entries_per_map", limits.entries_per_map},
                      {"elements_per_array", limits.elements_per_array},
                      {"nodes_per_capture", limits.nodes_per_capture},
                      {"console_lines", limits.console_lines},
                      {"event_lines", limits.event_lines},
                      {"dump_bytes", limits.dump_bytes}};
  return Json{{"results", std::move(results)}, {"scenarios", std::move(extras)}, {"limits", std::move(limits_json)}};
}

}  // namespace ktest::cli::html_detail
