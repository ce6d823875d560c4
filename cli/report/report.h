// Reporters: one interface, one implementation per output format.
//
// Contract: a Reporter writes a whole RunResult (results.h) to a stream in
// its format: text (for people; colour only when `color` is set), JSON
// (one object, schema in ktest-run(1)), JUnit XML (well-formed, escaped,
// one <testsuite> per scenario), TAP version 13 (one test point per
// scenario run plus one per assertion). Output is deterministic: the same
// RunResult gives the same bytes. Invalid UTF-8 and control characters
// coming from the guest are replaced, never passed through raw.
#pragma once

#include <memory>
#include <ostream>
#include <string>

#include "cli/config.h"
#include "cli/report/results.h"

namespace ktest::cli {

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void write(const RunResult& run, std::ostream& out) const = 0;
};

std::unique_ptr<Reporter> make_reporter(OutputFormat format, bool color = false);

// make_reporter(format, color)->write(run) into a string.
std::string render_report(const RunResult& run, OutputFormat format, bool color = false);

// Shared by the reporters and `ktest` messages: "350ms", "1.2s", "2m05s".
std::string format_elapsed(std::chrono::nanoseconds duration);

// Valid UTF-8 without C0 controls except \n and \t (U+FFFD in their place).
std::string sanitize_text(const std::string& text);

}  // namespace ktest::cli
