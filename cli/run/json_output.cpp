#include "cli/run/json_output.h"

#include <fmt/format.h>

#include <algorithm>

namespace ktest::cli {

namespace {

// The deepest bracket nesting outside strings.
std::size_t nesting(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Objects and arrays only: a line "42" or "true" is more likely a log line.
std::optional<nlohmann::json> parse_container(std::string_view text) {
  if (nesting(text) > kMaxJsonDepth) return std::nullopt;
  auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !(doc.is_object() || doc.is_array())) return std::nullopt;
  return doc;
}

std::string quoted_start(std::string_view output) {
  constexpr std::size_t kShown = 120;
  std::string start(output.substr(0, kShown));
  for (char& c : start)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return "\"" + start + (output.size() > kShown ? "...\"" : "\"");
}

}  // namespace

Result<std::shared_ptr<const nlohmann::json>> parse_json_output(std::string_view output) {
  std::size_t end = output.size();
  while (end > 0) {
    std::size_t start = output.rfind('\n', end - 1);
    start = start == std::string_view::npos ? 0 : start + 1;
    std::string_view line = output.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos && (line.find('{') != line.npos ||
                                                                       line.find('[') != line.npos))
      if (auto doc = parse_container(line)) return std::make_shared<const nlohmann::json>(std::move(*doc));
    end = start == 0 ? 0 : start - 1;
  }
  if (auto doc = parse_container(output)) return std::make_shared<const nlohmann::json>(std::move(*doc));
  if (nesting(output) > kMaxJsonDepth)
    return fail(fmt::format("the output's JSON nests deeper than {} levels", kMaxJsonDepth), "",
                "print a flatter document");
  if (output.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return fail("the output is empty, not a JSON document", "",
                "make the command print its JSON on stdout or stderr");
  return fail(fmt::format("the output holds no JSON object or array: it starts {}", quoted_start(output)),
              "", "print one JSON document, or one JSON object per line (the last is used)");
}

}  // namespace ktest::cli
