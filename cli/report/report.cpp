#include "cli/report/report.h"

#include <cstdio>
#include <sstream>

#include "cli/report/reporters.h"

namespace ktest::cli {

const char* outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::Passed: return "passed";
    case Outcome::Failed: return "failed";
    case Outcome::Error: return "error";
    case Outcome::Skipped: return "skipped";
  }
  return "error";
}

RunSummary summarize(const RunResult& run) {
  RunSummary s;
  for (const auto& scenario : run.scenarios) {
    switch (scenario.outcome) {
      case Outcome::Passed: ++s.passed; break;
      case Outcome::Failed: ++s.failed; break;
      case Outcome::Error: ++s.errors; break;
      case Outcome::Skipped: ++s.skipped; break;
    }
  }
  return s;
}

std::string SchedulerExitResult::summary() const {
  if (missing) return "expected an exit with " + kind + ", but the scheduler did not exit";
  std::string out = kind.empty() ? "an exit" : kind;
  if (!reason.empty()) out += " (" + reason + ")";
  if (!message.empty()) out += ": " + message;
  return out;
}

namespace {

struct Tally {
  bool ran = false, failed = false, error = false;
  void add(Outcome o) {
    ran |= o != Outcome::Skipped;
    failed |= o == Outcome::Failed;
    error |= o == Outcome::Error;
  }
  Outcome outcome() const {
    if (error) return Outcome::Error;
    if (failed) return Outcome::Failed;
    return ran ? Outcome::Passed : Outcome::Skipped;
  }
};

Tally run_tally(const ScenarioResult& scenario) {
  Tally t;
  t.error = !scenario.error.empty();
  for (const auto& step : scenario.steps) t.add(step.outcome);
  for (const auto& capture : scenario.captures) t.error |= !capture.error.empty();
  for (const auto& exit : scenario.scheduler_exits) t.failed |= exit.fails();
  return t;
}

}  // namespace

Outcome run_outcome(const ScenarioResult& scenario) { return run_tally(scenario).outcome(); }

Outcome derive_outcome(const ScenarioResult& scenario) {
  Tally t = run_tally(scenario);
  for (const auto& assertion : scenario.assertions) t.add(assertion.outcome);
  return t.outcome();
}

std::string format_elapsed(std::chrono::nanoseconds duration) {
  long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
  if (ms < 0) ms = 0;
  char buf[48];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", ms);
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%lld.%llds", ms / 1000, (ms % 1000) / 100);
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", ms / 60'000, (ms % 60'000) / 1000);
  }
  return buf;
}

std::string sanitize_text(const std::string& text) {
  static const std::string replacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      bool control = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f;
      if (control) out += replacement;
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    // Length and minimum code point of a UTF-8 sequence starting with c.
    std::size_t len = 0;
    unsigned min = 0;
    unsigned cp = 0;
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; cp = c & 0x07; }
    bool valid = len != 0 && i + len <= n;
    for (std::size_t k = 1; valid && k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) valid = false;
      else cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    valid = valid && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!valid) {
      out += replacement;
      ++i;
      continue;
    }
    out.append(text, i, len);
    i += len;
  }
  return out;
}

std::unique_ptr<Reporter> make_reporter(OutputFormat format, bool color) {
  switch (format) {
    case OutputFormat::Text: return report_detail::make_text_reporter(color);
    case OutputFormat::Json: return report_detail::make_json_reporter();
    case OutputFormat::Junit: return report_detail::make_junit_reporter();
    case OutputFormat::Tap: return report_detail::make_tap_reporter();
  }
  return report_detail::make_text_reporter(color);
}

std::string render_report(const RunResult& run, OutputFormat format, bool color) {
  std::ostringstream out;
  make_reporter(format, color)->write(run, out);
  return out.str();
}

}  // namespace ktest::cli
