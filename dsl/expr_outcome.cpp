// evaluate()/query() entry points, outcome explanations, and the scenario's
// assertion pass.
#include <fmt/format.h>

#include "dsl/expr_eval.h"
#include "dsl/scenario.h"

namespace ktest::dsl {
namespace {

std::string caret(const std::string& text, Span span) {
  const std::size_t len = std::max<std::size_t>(span.length, 1);
  std::string out = text + "\n" + std::string(std::min<std::size_t>(span.offset, text.size()), ' ') + "^";
  return out + std::string(len - 1, '~');
}

std::string indent(const std::string& block, const std::string& pad) {
  std::string out;
  bool line_start = true;
  for (char c : block) {
    if (line_start && c != '\n') out += pad;
    out += c;
    line_start = c == '\n';
  }
  return out;
}

EvalOutcome run(const Expr& expr, const std::string& text, const EvalContext& ctx, bool as_assertion) {
  Evaluator ev(ctx, text);
  EvalOutcome out;
  if (as_assertion) {
    auto b = ev.eval_bool(expr);
    if (b) {
      out.verdict = *b ? Verdict::Pass : Verdict::Fail;
      if (!*b) out.failed = ev.failures();
      out.compared = ev.compared(expr.span);
      out.value_text = *b ? "true" : "false";
      out.value_json = *b;
      return out;
    }
  } else {
    auto v = ev.eval(expr);
    if (v) {
      out.verdict = Verdict::Pass;
      out.value_text = render_value(*v);
      out.value_json = value_json(*v);
      return out;
    }
  }
  out.verdict = Verdict::Error;
  out.error = ev.error().value_or(EvalError{expr.span, "evaluation failed", "", {}});
  return out;
}

}  // namespace

EvalContext EvalContext::from_reports(std::vector<NamedReport> reports) {
  EvalContext ctx;
  for (auto& r : reports) ctx.snapshots.emplace_back(r.name, Snapshot(std::move(r.report)));
  return ctx;
}

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Pass: return "pass";
    case Verdict::Fail: return "fail";
    case Verdict::Error: return "error";
  }
  return "error";
}

EvalOutcome evaluate(const Expr& expr, const std::string& text, const EvalContext& ctx) {
  return run(expr, text, ctx, true);
}

EvalOutcome query(const Expr& expr, const std::string& text, const EvalContext& ctx) {
  return run(expr, text, ctx, false);
}

std::string explain(const EvalOutcome& outcome, const std::string& text) {
  std::string out;
  if (outcome.verdict == Verdict::Error && outcome.error) {
    const EvalError& err = *outcome.error;
    out += caret(text, err.span) + " error here\n";
    out += "  " + err.message + "\n";
    if (!err.available.empty() && err.message.find("available") == std::string::npos) {
      std::string list;
      for (const auto& a : err.available) list += (list.empty() ? "" : ", ") + a;
      out += "  available: " + list + "\n";
    }
    if (!err.hint.empty()) out += "  hint: " + err.hint + "\n";
    return out;
  }
  if (outcome.verdict != Verdict::Fail) return out;
  for (const auto& f : outcome.failed) {
    out += caret(text, f.span) + " is false\n";
    if (f.op.empty() || f.op == "not") {
      out += fmt::format("  actual:   {} = {}\n", f.lhs_text, f.lhs_value);
      out += fmt::format("  expected: {}\n", f.rhs_value);
      continue;
    }
    out += fmt::format("  actual:   {} = {}\n", f.lhs_text, f.lhs_value);
    out += fmt::format("  expected: {} {}", f.op, f.rhs_value);
    if (f.rhs_text != f.rhs_value) out += fmt::format("  ({})", f.rhs_text);
    out += "\n";
  }
  return out;
}

std::string AssertionResult::explanation() const {
  if (passed()) return {};
  std::string out = fmt::format("assertion '{}' {}{}\n", name,
                                outcome.verdict == Verdict::Fail ? "failed" : "could not be evaluated",
                                loc.line > 0 ? fmt::format(" (line {})", loc.line) : "");
  if (!message.empty()) out += "  " + message + "\n";
  return out + indent(explain(outcome, text), "  ");
}

std::vector<AssertionResult> check_assertions(const Scenario& scenario, EvalContext ctx) {
  if (ctx.nr_cpus == 0) ctx.nr_cpus = scenario.vm.cpus;
  std::vector<AssertionResult> results;
  for (const auto& a : scenario.assertions) {
    AssertionResult r;
    r.name = a.name;
    r.text = a.text;
    r.message = a.message;
    r.loc = a.loc;
    r.outcome = evaluate(*a.expr, a.text, ctx);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace ktest::dsl
