// Assertion expressions: parse_expr_located on mutated text; a parsed
// expression's canonical text (to_string) must parse to itself, and it is
// evaluated and queried against a fixed run: the fixture reports
// scx_basic.json and two_schedulers.json (tests/fixtures/reports), two
// workloads, 4 CPUs and a Run step's JSON document.
#include <fstream>
#include <iterator>
#include <string>

#include "dsl/expr.h"
#include "fuzz/fuzz_target.h"
#include "snapshot/report.h"

namespace ktest::fuzz {
namespace {

const dsl::EvalContext& fixed_run() {
  static const dsl::EvalContext ctx = [] {
    std::vector<NamedReport> reports;
    for (const char* file : {"scx_basic.json", "two_schedulers.json"}) {
      auto loaded = load_report_file(std::string(KTEST_FUZZ_FIXTURES) + "/reports/" + file);
      fuzz_check(loaded.ok(), "the fixture reports load");
      for (auto& r : *loaded) reports.push_back(std::move(r));
    }
    auto c = dsl::EvalContext::from_reports(std::move(reports));
    c.workload_pids = {{"stress", {101, 102}}, {"idle", {}}};
    c.nr_cpus = 4;
    c.json_docs = {{"metrics", std::make_shared<const nlohmann::json>(nlohmann::json::parse(
                                   R"({"p99_us": 812, "runs": [1, 2, 3], "name": "x", "ok": true})"))}};
    return c;
  }();
  return ctx;
}

bool span_in(const dsl::Span& span, const std::string& text) {
  return span.offset <= text.size() && span.length <= text.size() - span.offset;
}

void check_outcome(const dsl::EvalOutcome& outcome, const std::string& text) {
  if (outcome.error) {
    fuzz_check(outcome.verdict == dsl::Verdict::Error, "an evaluation error is the Error verdict");
    fuzz_check(!outcome.error->message.empty(), "an evaluation error says what");
    fuzz_check(span_in(outcome.error->span, text), "an evaluation error points into the text");
  }
  for (const auto& f : outcome.failed) fuzz_check(span_in(f.span, text), "a failed comparison points into the text");
  (void)dsl::explain(outcome, text);
}

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest;
using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(expr, nullptr) {
  std::string text(reinterpret_cast<const char*>(data.data()), data.size());
  auto parsed = dsl::parse_expr_located(text);
  if (const auto* error = std::get_if<dsl::ExprError>(&parsed)) {
    fuzz_check(!error->message.empty(), "a parse error says what");
    fuzz_check(span_in(error->span, text), "a parse error points into the text");
    return;
  }
  const dsl::Expr& expr = *std::get<dsl::ExprPtr>(parsed);
  std::string canonical = dsl::to_string(expr);
  auto again = dsl::parse_expr(canonical);
  fuzz_check(again.ok(), "an expression's canonical text parses");
  fuzz_check(dsl::to_string(**again) == canonical, "canonical text parses to itself");
  for (const auto& ref : dsl::collect_refs(expr)) fuzz_check(span_in(ref.span, text), "a reference points into the text");
  check_outcome(dsl::evaluate(expr, text, fixed_run()), text);
  check_outcome(dsl::query(expr, text, fixed_run()), text);
}
