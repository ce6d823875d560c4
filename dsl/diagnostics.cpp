#include "dsl/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>

namespace ktest::dsl {

const char* severity_name(Severity severity) {
  switch (severity) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Note: return "note";
  }
  return "error";
}

std::string location_string(const Diagnostic& d) {
  if (d.line <= 0) return d.file;
  if (d.col <= 0) return fmt::format("{}:{}", d.file, d.line);
  return fmt::format("{}:{}:{}", d.file, d.line, d.col);
}

std::string format_diagnostic(const Diagnostic& d) {
  std::string out = fmt::format("{}: {}: {}\n", location_string(d), severity_name(d.severity),
                                d.message);
  if (!d.source_line.empty() && d.col > 0) {
    out += "    " + d.source_line + "\n";
    // Tabs stay tabs so the caret lines up under tab-indented text.
    std::string pad;
    for (int i = 0; i + 1 < d.col && i < static_cast<int>(d.source_line.size()); ++i)
      pad += d.source_line[static_cast<std::size_t>(i)] == '\t' ? '\t' : ' ';
    out += "    " + pad + "^" + std::string(static_cast<std::size_t>(std::max(d.length, 1) - 1), '~') +
           "\n";
  }
  if (!d.hint.empty()) out += "hint: " + d.hint + "\n";
  return out;
}

std::string format_diagnostics(const std::vector<Diagnostic>& ds) {
  std::string out;
  int errors = 0;
  int warnings = 0;
  for (const auto& d : ds) {
    out += format_diagnostic(d);
    errors += d.severity == Severity::Error;
    warnings += d.severity == Severity::Warning;
  }
  if (errors + warnings == 0) return out;
  out += fmt::format("{} error{}", errors, errors == 1 ? "" : "s");
  if (warnings > 0) out += fmt::format(", {} warning{}", warnings, warnings == 1 ? "" : "s");
  return out + "\n";
}

bool has_errors(const std::vector<Diagnostic>& ds) {
  return std::any_of(ds.begin(), ds.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::Error; });
}

Error to_error(const Diagnostic& d) { return Error(d.message, location_string(d), d.hint); }

}  // namespace ktest::dsl
