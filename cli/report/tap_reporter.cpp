// TAP version 13: per scenario one test point for the run itself (boot,
// steps, captures) and one per assertion. Failures carry a YAML block whose
// strings are JSON-quoted, which is valid YAML for any content.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/report/reporters.h"

namespace ktest::cli::report_detail {
namespace {

std::string quoted(const std::string& s) {
  return nlohmann::json(sanitize_text(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// TAP descriptions end at a newline and treat '#' as the directive start.
std::string description(const std::string& s) {
  std::string out;
  for (char c : sanitize_text(s)) {
    if (c == '\n' || c == '\t') out += ' ';
    else if (c == '#') out += "\\#";
    else out += c;
  }
  return out;
}

// A diagnostic ("# ...") is one line.
std::string one_line(const std::string& s) {
  std::string out = sanitize_text(s);
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

struct Point {
  Outcome outcome;
  std::string description;
  std::vector<std::pair<std::string, std::string>> yaml;  // key, value (unquoted)
  std::vector<std::string> diagnostics;  // "# " lines after the point, shown ok or not
};

// The scenario's run (all but its assertions, which are points of their
// own): ok or not as run_outcome() says; the YAML tells the first story.
Point run_point(const ScenarioResult& sc) {
  Point p{run_outcome(sc), sc.name + ": run", {}, {}};
  p.yaml.emplace_back("file", sc.file);
  p.yaml.emplace_back("duration_ms",
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(sc.duration).count()));
  if (!sc.error.empty()) p.yaml.emplace_back("message", sc.error);
  for (const auto& s : sc.steps) {
    if (s.outcome != Outcome::Error && s.outcome != Outcome::Failed) continue;
    p.yaml.emplace_back("step", s.op + (s.description.empty() ? "" : " " + s.description));
    if (s.line > 0) p.yaml.emplace_back("line", std::to_string(s.line));
    p.yaml.emplace_back("step_error", s.error);
    break;  // later steps depend on this one; the first failure is the story
  }
  for (const auto& e : sc.scheduler_exits) {
    if (!e.fails()) continue;
    p.yaml.emplace_back("scheduler_exit", e.summary());
    if (!e.report_path.empty()) p.yaml.emplace_back("exit_report", e.report_path);
    if (!e.dump_file.empty()) p.yaml.emplace_back("exit_dump", e.dump_file);
    break;
  }
  for (const auto& c : sc.captures) {
    if (c.error.empty()) continue;
    p.yaml.emplace_back("capture", c.name);
    p.yaml.emplace_back("capture_error", c.error);
    break;
  }
  p.diagnostics = sc.notes;
  if (p.outcome != Outcome::Passed && p.outcome != Outcome::Skipped && !sc.console_log.empty())
    p.yaml.emplace_back("console_log", sc.console_log);
  return p;
}

Point assertion_point(const ScenarioResult& sc, const AssertionResult& a) {
  Point p{a.outcome, sc.name + ": " + a.name, {}, {}};
  p.yaml.emplace_back("expression", a.expression);
  if (a.line > 0) p.yaml.emplace_back("line", std::to_string(a.line));
  if (!a.expected.empty()) p.yaml.emplace_back("expected", a.expected);
  if (!a.actual.empty()) p.yaml.emplace_back("actual", a.actual);
  if (!a.message.empty()) p.yaml.emplace_back("message", a.message);
  if (!a.error.empty()) p.yaml.emplace_back("error", a.error);
  return p;
}

class TapReporter : public Reporter {
 public:
  void write(const RunResult& run, std::ostream& out) const override {
    std::vector<Point> points;
    for (const auto& sc : run.scenarios) {
      points.push_back(run_point(sc));
      for (const auto& a : sc.assertions) points.push_back(assertion_point(sc, a));
    }
    out << "TAP version 13\n1.." << points.size() << "\n";
    std::size_t n = 0;
    for (const auto& p : points) {
      ++n;
      bool ok = p.outcome == Outcome::Passed || p.outcome == Outcome::Skipped;
      out << (ok ? "ok " : "not ok ") << n << " - " << description(p.description);
      if (p.outcome == Outcome::Skipped) out << " # SKIP not reached";
      out << "\n";
      if (!ok) {
        out << "  ---\n  outcome: " << outcome_name(p.outcome) << "\n";
        for (const auto& [key, value] : p.yaml) {
          bool number = key == "line" || key == "duration_ms";
          out << "  " << key << ": " << (number ? value : quoted(value)) << "\n";
        }
        out << "  ...\n";
      }
      for (const auto& line : p.diagnostics) out << "# note: " << one_line(line) << "\n";
    }
  }
};

}  // namespace

std::unique_ptr<Reporter> make_tap_reporter() { return std::make_unique<TapReporter>(); }

}  // namespace ktest::cli::report_detail
