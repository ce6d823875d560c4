// Test helper: an expression's outcome, and its value as text, against a context.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "dsl/expr.h"

namespace ktest::dsl::test {

inline EvalOutcome eval_in(const EvalContext& ctx, const std::string& text) {
  auto parsed = parse_expr(text);
  REQUIRE_MESSAGE(parsed.ok(), parsed.error().to_string());
  return evaluate(**parsed, text, ctx);
}

// The value `ktest snapshot query` prints, or "ERROR <message>".
inline std::string value_in(const EvalContext& ctx, const std::string& text) {
  auto parsed = parse_expr(text);
  REQUIRE_MESSAGE(parsed.ok(), parsed.error().to_string());
  auto out = query(**parsed, text, ctx);
  if (out.verdict == Verdict::Error) return "ERROR " + out.error->message;
  return out.value_text;
}

}  // namespace ktest::dsl::test
