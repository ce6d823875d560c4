#include "dsl/loader_state.h"

#include <algorithm>
#include <cctype>

namespace ktest::dsl {

LoadState::LoadState(const std::string& text, std::string file) : text_(text), file_(std::move(file)) {
  line_starts_.push_back(0);
  for (std::size_t i = 0; i < text_.size(); ++i)
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
}

Location LoadState::at_offset(std::size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const auto line = static_cast<std::size_t>(it - line_starts_.begin());  // 1-based
  return {static_cast<int>(line), static_cast<int>(offset - line_starts_[line - 1]) + 1};
}

std::string LoadState::line_text(int line) const {
  if (line <= 0 || static_cast<std::size_t>(line) > line_starts_.size()) return {};
  const std::size_t start = line_starts_[static_cast<std::size_t>(line) - 1];
  std::size_t end = text_.find('\n', start);
  if (end == std::string::npos) end = text_.size();
  std::string out = text_.substr(start, end - start);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return out;
}

void LoadState::report(Severity severity, Location loc, int length, std::string message,
                       std::string hint) {
  Diagnostic d;
  d.severity = severity;
  d.file = file_;
  d.line = loc.line;
  d.col = loc.col;
  d.length = std::max(length, 1);
  d.message = std::move(message);
  d.hint = std::move(hint);
  d.source_line = line_text(loc.line);
  diagnostics_.push_back(std::move(d));
}

// The expression text is the YAML scalar's value; the file holds it quoted,
// escaped or folded over lines. Walk both in step, skipping what YAML
// removed (indentation, line breaks, escape backslashes, quote doubling).
Location LoadState::expr_location(std::size_t assertion, const std::string& expr,
                                  std::size_t offset) const {
  if (assertion >= assertion_starts.size()) return {};
  std::size_t j = assertion_starts[assertion];
  for (std::size_t i = 0; i < offset && i < expr.size() && j < text_.size(); ++j) {
    if (text_[j] == expr[i]) {
      ++i;
    } else if (!std::isspace(static_cast<unsigned char>(text_[j])) && text_[j] != '\\' &&
               text_[j] != '\'') {
      ++i;  // an escape YAML decoded (\x41): count it as one character
    }
  }
  // Land on the character itself, not on the indentation or line break before it.
  if (offset < expr.size() && !std::isspace(static_cast<unsigned char>(expr[offset])))
    while (j < text_.size() && std::isspace(static_cast<unsigned char>(text_[j]))) ++j;
  return at_offset(j);
}

}  // namespace ktest::dsl
