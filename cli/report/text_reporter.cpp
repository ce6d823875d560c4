// Text: for a person at a terminal. Failures carry everything needed to act
// (expected/actual, error, console log); passing parts stay one line each.
#include <algorithm>

#include "cli/report/reporters.h"
#include "cli/term.h"

namespace ktest::cli::report_detail {
namespace {

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// Continuation lines of a multi-line text line up under its first line.
std::string indent_rest(const std::string& text, std::size_t columns) {
  std::string out;
  for (char c : sanitize_text(text)) {
    out += c;
    if (c == '\n') out.append(columns, ' ');
  }
  return out;
}

class TextReporter : public Reporter {
 public:
  explicit TextReporter(bool color) : style_{color} {}

  void write(const RunResult& run, std::ostream& out) const override {
    for (const auto& scenario : run.scenarios) write_scenario(scenario, out);
    RunSummary s = summarize(run);
    std::string line = std::to_string(s.total()) + (s.total() == 1 ? " scenario: " : " scenarios: ") +
                       std::to_string(s.passed) + " passed, " + std::to_string(s.failed) +
                       " failed, " + std::to_string(s.errors) + (s.errors == 1 ? " error" : " errors");
    if (s.skipped) line += ", " + std::to_string(s.skipped) + " skipped";
    bool all_good = s.failed == 0 && s.errors == 0;
    out << (all_good ? style_.green(line) : style_.red(line)) << " (" << format_elapsed(run.duration)
        << ")\n";
    if (!run.output_dir.empty()) out << "results: " << sanitize_text(run.output_dir) << "\n";
  }

 private:
  // Status word in a fixed-width column, coloured after padding.
  std::string status(Outcome o, bool headline) const {
    switch (o) {
      case Outcome::Passed: return style_.green(pad(headline ? "PASS" : "ok", 6));
      case Outcome::Failed: return style_.red(pad("FAIL", 6));
      case Outcome::Error: return style_.red(pad("ERROR", 6));
      case Outcome::Skipped: return style_.yellow(pad(headline ? "SKIP" : "skip", 6));
    }
    return pad("?", 6);
  }

  void detail(std::ostream& out, const char* label, const std::string& text) const {
    if (text.empty()) return;
    std::string head = pad(std::string(label) + ":", 10);
    out << "           " << style_.dim(head) << indent_rest(text, 11 + head.size()) << "\n";
  }

  void write_scenario(const ScenarioResult& sc, std::ostream& out) const {
    out << status(sc.outcome, true) << style_.bold(sanitize_text(sc.name)) << "  ("
        << sanitize_text(sc.file) << (sc.file.empty() ? "" : ", ") << format_elapsed(sc.duration)
        << ")\n";
    if (!sc.steps.empty()) {
      std::size_t op_width = 0, what_width = 0;
      for (const auto& step : sc.steps) {
        op_width = std::max(op_width, step.op.size());
        what_width = std::max(what_width, sanitize_text(step.description).size());
      }
      out << "  steps:\n";
      for (const auto& step : sc.steps) {
        out << "    " << status(step.outcome, false) << " " << pad(step.op, op_width) << "  "
            << pad(sanitize_text(step.description), what_width);
        if (step.outcome != Outcome::Skipped) out << "  " << style_.dim(format_elapsed(step.duration));
        if (!step.summary.empty()) out << "  " << sanitize_text(step.summary);
        out << "\n";
        detail(out, "error", step.error);
        // The whole output of a failed command is in its file; the error holds its tail.
        if (step.outcome == Outcome::Failed || step.outcome == Outcome::Error) detail(out, "output", step.output_file);
      }
    }
    if (!sc.captures.empty()) {
      out << "  captures:\n";
      for (const auto& cap : sc.captures) {
        out << "    " << status(cap.error.empty() ? Outcome::Passed : Outcome::Error, false) << " "
            << sanitize_text(cap.name);
        if (cap.error.empty()) {
          out << "  " << cap.maps << (cap.maps == 1 ? " map" : " maps")
              << (cap.degraded ? " (degraded)" : "") << "  "
              << style_.dim(format_elapsed(cap.duration));
          if (!cap.report_path.empty()) out << "  " << sanitize_text(cap.report_path);
        }
        out << "\n";
        detail(out, "error", cap.error);
        for (const auto& [section, why] : cap.section_errors) detail(out, "missing", section + ": " + why);
      }
    }
    for (const auto& exit : sc.scheduler_exits) {
      if (exit.missing) {
        out << "  scheduler exit:\n";
      } else {
        out << "  scheduler " << sanitize_text(exit.scheduler) << " exited"
            << (exit.expected ? " (expected)" : "") << ":\n";
      }
      out << "    " << status(exit.fails() ? Outcome::Failed : Outcome::Passed, false) << " "
          << sanitize_text(exit.summary()) << "\n";
      detail(out, "report", exit.report_path);
      detail(out, "dump", exit.dump_file);
    }
    if (!sc.assertions.empty()) {
      out << "  assertions:\n";
      for (const auto& a : sc.assertions) {
        out << "    " << status(a.outcome, false) << " " << sanitize_text(a.name);
        if (a.outcome == Outcome::Failed || a.outcome == Outcome::Error) {
          if (a.line > 0) out << style_.dim("  (line " + std::to_string(a.line) + ")");
          out << "\n";
          if (a.name != a.expression) detail(out, "expr", a.expression);
          detail(out, "expected", a.expected);
          detail(out, "actual", a.actual);
          detail(out, "message", a.message);
          detail(out, "error", a.error);
        } else {
          out << "\n";
        }
      }
    }
    if (!sc.error.empty())
      out << "  " << style_.red("error:") << " " << indent_rest(sc.error, 9) << "\n";
    for (const auto& note : sc.notes) out << "  " << style_.dim("note:") << " " << indent_rest(note, 8) << "\n";
    bool bad = sc.outcome == Outcome::Failed || sc.outcome == Outcome::Error;
    if (bad && !sc.console_log.empty())
      out << "  console log: " << sanitize_text(sc.console_log) << "\n";
    out << "\n";
  }

  Style style_;
};

}  // namespace

std::unique_ptr<Reporter> make_text_reporter(bool color) {
  return std::make_unique<TextReporter>(color);
}

}  // namespace ktest::cli::report_detail
