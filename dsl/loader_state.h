// Internal to dsl/: what the YAML reader and the consistency checks share
// while loading one scenario file (source text, positions, diagnostics).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "dsl/diagnostics.h"
#include "dsl/scenario.h"

namespace ktest::dsl {

class LoadState {
 public:
  LoadState(const std::string& text, std::string file);

  const std::string& file() const { return file_; }
  const std::string& text() const { return text_; }

  // 0-based file offset -> 1-based line:col.
  Location at_offset(std::size_t offset) const;
  std::string line_text(int line) const;  // 1-based
  void report(Severity severity, Location loc, int length, std::string message,
              std::string hint = {});
  void error(Location loc, int length, std::string message, std::string hint = {}) {
    report(Severity::Error, loc, length, std::move(message), std::move(hint));
  }
  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }

  // Where assertion i's expression text starts in the file (0-based offset),
  // and whether it was quoted/folded; see expr_location().
  std::vector<std::size_t> assertion_starts;
  // File location of `offset` bytes into assertion i's expression.
  Location expr_location(std::size_t assertion, const std::string& expr, std::size_t offset) const;

  // Per step: where each field's value was written ("name", "cpus", ...).
  std::vector<std::map<std::string, Location>> step_fields;

 private:
  std::string text_;
  std::string file_;
  std::vector<std::size_t> line_starts_;
  std::vector<Diagnostic> diagnostics_;
};

// Cross-step consistency: names, scheduler state, cpus, assertion references.
void check_scenario(const Scenario& scenario, LoadState& state);

}  // namespace ktest::dsl
