// JUnit XML: the dialect Jenkins, GitLab and GitHub test reporters read.
// Each scenario is a <testsuite>; its steps and assertions are <testcase>s
// (classname <scenario>.steps / <scenario>.assertions), and a scenario-level
// error (boot, timeout) is one more testcase named "run".
#include <cstdio>

#include "cli/report/reporters.h"

namespace ktest::cli::report_detail {
namespace {

// Escapes for both attribute values and text; sanitize_text() already
// removed the control characters XML 1.0 forbids.
std::string xml(const std::string& raw) {
  std::string out;
  for (char c : sanitize_text(raw)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\n': out += "&#10;"; break;
      case '\t': out += "&#9;"; break;
      default: out += c;
    }
  }
  return out;
}

// Element text keeps newlines readable.
std::string xml_text(const std::string& raw) {
  std::string out;
  for (char c : sanitize_text(raw)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string seconds(std::chrono::nanoseconds d) {
  char buf[32];
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  std::snprintf(buf, sizeof buf, "%lld.%03lld", ms / 1000, ms % 1000);
  return buf;
}

struct Case {
  std::string classname, name, file;
  int line = 0;
  Outcome outcome = Outcome::Skipped;
  std::chrono::nanoseconds duration{0};
  std::string message;  // one line, for the attribute
  std::string body;     // details, for the element text
};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::vector<Case> cases_of(const ScenarioResult& sc) {
  std::vector<Case> cases;
  if (!sc.error.empty()) {
    std::string body = sc.error;
    if (!sc.console_log.empty()) body += "\nconsole log: " + sc.console_log;
    cases.push_back({sc.name, "run", sc.file, 0, Outcome::Error, sc.duration, first_line(sc.error),
                     body});
  }
  int index = 0;
  for (const auto& s : sc.steps) {
    ++index;
    std::string name = "step " + std::to_string(index) + ": " + s.op;
    if (!s.description.empty()) name += " " + s.description;
    std::string body = s.error;
    if (!sc.console_log.empty() && !s.error.empty()) body += "\nconsole log: " + sc.console_log;
    cases.push_back({sc.name + ".steps", name, sc.file, s.line, s.outcome, s.duration,
                     first_line(s.error), body});
  }
  for (const auto& c : sc.captures) {
    if (c.error.empty()) continue;  // a capture is a case only when it failed
    cases.push_back({sc.name + ".captures", "capture " + c.name, sc.file, 0, Outcome::Error, c.duration,
                     first_line(c.error), c.error});
  }
  for (const auto& e : sc.scheduler_exits) {
    std::string body = e.summary();
    if (!e.report_path.empty()) body += "\nreport: " + e.report_path;
    if (!e.dump_file.empty()) body += "\ndump: " + e.dump_file;
    std::string name = e.missing ? "expected scheduler exit" : "scheduler " + e.scheduler + " exit";
    cases.push_back({sc.name + ".scheduler", name, sc.file, 0,
                     e.fails() ? Outcome::Failed : Outcome::Passed, std::chrono::nanoseconds(0),
                     e.summary(), body});
  }
  for (const auto& a : sc.assertions) {
    std::string body;
    auto add = [&](const char* label, const std::string& v) {
      if (!v.empty()) body += std::string(label) + ": " + v + "\n";
    };
    add("expression", a.expression);
    add("expected", a.expected);
    add("actual", a.actual);
    add("message", a.message);
    add("error", a.error);
    std::string message = !a.error.empty()     ? first_line(a.error)
                          : !a.message.empty() ? first_line(a.message)
                          : !a.expected.empty() ? "expected " + a.expected + ", actual " + a.actual
                                                : "assertion is false";
    cases.push_back({sc.name + ".assertions", a.name, sc.file, a.line, a.outcome,
                     std::chrono::nanoseconds(0), message, body});
  }
  return cases;
}

class JunitReporter : public Reporter {
 public:
  void write(const RunResult& run, std::ostream& out) const override {
    std::size_t tests = 0, failures = 0, errors = 0, skipped = 0;
    std::vector<std::vector<Case>> suites;
    for (const auto& sc : run.scenarios) {
      suites.push_back(cases_of(sc));
      for (const auto& c : suites.back()) count(c.outcome, tests, failures, errors, skipped);
    }
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<testsuites name=\"ktest\" tests=\"" << tests << "\" failures=\"" << failures
        << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\""
        << seconds(run.duration) << "\">\n";
    for (std::size_t i = 0; i < run.scenarios.size(); ++i) write_suite(run.scenarios[i], suites[i], out);
    out << "</testsuites>\n";
  }

 private:
  static void count(Outcome o, std::size_t& tests, std::size_t& failures, std::size_t& errors,
                    std::size_t& skipped) {
    ++tests;
    if (o == Outcome::Failed) ++failures;
    if (o == Outcome::Error) ++errors;
    if (o == Outcome::Skipped) ++skipped;
  }

  static void write_suite(const ScenarioResult& sc, const std::vector<Case>& cases,
                          std::ostream& out) {
    std::size_t tests = 0, failures = 0, errors = 0, skipped = 0;
    for (const auto& c : cases) count(c.outcome, tests, failures, errors, skipped);
    out << "  <testsuite name=\"" << xml(sc.name) << "\" tests=\"" << tests << "\" failures=\""
        << failures << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\""
        << seconds(sc.duration) << "\">\n";
    for (const auto& c : cases) {
      out << "    <testcase classname=\"" << xml(c.classname) << "\" name=\"" << xml(c.name)
          << "\" time=\"" << seconds(c.duration) << "\"";
      if (!c.file.empty()) out << " file=\"" << xml(c.file) << "\"";
      if (c.line > 0) out << " line=\"" << c.line << "\"";
      const char* element = c.outcome == Outcome::Failed  ? "failure"
                            : c.outcome == Outcome::Error ? "error"
                            : c.outcome == Outcome::Skipped ? "skipped"
                                                            : nullptr;
      if (!element) {
        out << "/>\n";
        continue;
      }
      out << ">\n      <" << element;
      if (c.outcome == Outcome::Skipped) {
        out << "/>\n";
      } else {
        out << " message=\"" << xml(c.message) << "\" type=\"" << element << "\">"
            << xml_text(c.body) << "</" << element << ">\n";
      }
      out << "    </testcase>\n";
    }
    if (!sc.console_log.empty() || !sc.output_dir.empty() || !sc.notes.empty()) {
      out << "    <system-out>";
      if (!sc.output_dir.empty()) out << "output dir: " << xml_text(sc.output_dir) << "\n";
      if (!sc.console_log.empty()) out << "console log: " << xml_text(sc.console_log) << "\n";
      for (const auto& note : sc.notes) out << "note: " << xml_text(note) << "\n";
      out << "</system-out>\n";
    }
    out << "  </testsuite>\n";
  }
};

}  // namespace

std::unique_ptr<Reporter> make_junit_reporter() { return std::make_unique<JunitReporter>(); }

}  // namespace ktest::cli::report_detail
