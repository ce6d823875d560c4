// Located diagnostics for scenario files, printed like a compiler's.
//
// Contract: a Diagnostic names what is wrong (message), where (file and a
// 1-based line:col; 0 means "unknown"), the offending source line, and how
// to fix it (hint, may be empty). The scenario loader returns every
// diagnostic it finds, never just the first. format_diagnostic() prints:
//
//   five_mistakes.yaml:7:5: error: unknown step 'Spwan'
//       - Spwan: {name: worker, command: "yes"}
//         ^~~~~
//   hint: did you mean 'Spawn'?
//
// The caret line has one '^' under `col` followed by '~' for the rest of
// `length`. format_diagnostics() adds a "N errors, M warnings" summary line.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace ktest::dsl {

enum class Severity { Error, Warning, Note };

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;   // 1-based; 0 when unknown
  int length = 1;           // columns the caret underlines (>= 1)
  std::string message;
  std::string source_line;  // the text of `line`, without the newline
  std::string hint;         // "" when there is nothing to suggest
};

const char* severity_name(Severity severity);  // "error", "warning", "note"

// "file:line:col" (or "file:line", or "file" when the position is unknown).
std::string location_string(const Diagnostic& d);

// The compiler-style block shown above, ending with a newline.
std::string format_diagnostic(const Diagnostic& d);

// Every diagnostic in order, then "N error(s)[, M warning(s)]" when any.
std::string format_diagnostics(const std::vector<Diagnostic>& ds);

bool has_errors(const std::vector<Diagnostic>& ds);

// The diagnostic as a one-line ktest::Error (location, message, hint).
Error to_error(const Diagnostic& d);

}  // namespace ktest::dsl
