#include "cli/report/from_dsl.h"

namespace ktest::cli {

AssertionResult from_dsl(const dsl::AssertionResult& result) {
  AssertionResult out;
  out.name = result.name;
  out.expression = result.text;
  out.line = result.loc.line;
  const dsl::EvalOutcome& o = result.outcome;
  switch (o.verdict) {
    case dsl::Verdict::Pass: out.outcome = Outcome::Passed; break;
    case dsl::Verdict::Fail: out.outcome = Outcome::Failed; break;
    case dsl::Verdict::Error: out.outcome = Outcome::Error; break;
  }
  // A side the expression does not spell out (never_decreases()'s pair of
  // elements) is named beside its value.
  auto spelled = [&](const std::string& side) { return result.text.find(side) != std::string::npos; };
  auto add_sides = [&](const dsl::FailedComparison& cmp) {
    const char* sep = out.actual.empty() ? "" : "; ";
    out.actual += sep + (spelled(cmp.lhs_text) ? cmp.lhs_value : cmp.lhs_text + " = " + cmp.lhs_value);
    out.expected += sep + (cmp.op == "==" || cmp.op.empty() ? cmp.rhs_value : cmp.op + " " + cmp.rhs_value);
    if (!cmp.op.empty() && !spelled(cmp.rhs_text)) out.expected += " (" + cmp.rhs_text + ")";
  };
  // A passing comparison shows its sides too (the HTML report lists them).
  if (out.outcome == Outcome::Passed) {
    if (o.compared) add_sides(*o.compared);
    return out;
  }
  out.message = result.message;
  for (const auto& cmp : o.failed) add_sides(cmp);
  if (o.error) {
    out.error = o.error->message;
    if (!o.error->hint.empty()) out.error += " (hint: " + o.error->hint + ")";
    if (!o.error->available.empty()) {
      out.error += "\navailable:";
      for (const auto& name : o.error->available) out.error += " " + name;
    }
  }
  return out;
}

std::vector<AssertionResult> from_dsl(const std::vector<dsl::AssertionResult>& results) {
  std::vector<AssertionResult> out;
  out.reserve(results.size());
  for (const auto& r : results) out.push_back(from_dsl(r));
  return out;
}

}  // namespace ktest::cli
