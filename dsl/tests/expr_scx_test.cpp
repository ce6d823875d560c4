// scx(): the kernel's sched_ext state in assertions, over reports whose scx
// section is filled here by hand.
#include <doctest/doctest.h>

#include "dsl/expr.h"
#include "dsl/tests/eval_of.h"
#include "snapshot/report.h"

using namespace ktest;
using namespace ktest::dsl;

namespace {

constexpr uint64_t kGlobal = (1ull << 63) | 1;
constexpr uint64_t kLocal = (1ull << 63) | 2;

ScxState stalled() {
  ScxState s;
  s.state = "enabled";
  s.state_value = 1;
  s.ops = ScxState::Ops{"stall", 0, 3000};
  ScxExit e;
  e.kind = "SCX_EXIT_ERROR_STALL";
  e.kind_value = 1026;
  e.reason = "runnable task stall";
  e.msg = "stress[187] failed to run for 3.004s";
  e.backtrace = {"scx_watchdog_workfn+0x150/0x1e0"};
  e.dump = "Debug dump\n";
  s.exit = e;
  s.watchdog_timeout_ms = 3000;
  s.hz = 250;
  s.cpus = {{0, 0, 0, 0, 0, "", false}, {1, 2, 1, 0, 187, "stress", true}};
  s.dsqs = {{kGlobal, "global", -1, 0, 0}, {kLocal, "local", 0, -1, 0}, {kLocal, "local", 1, -1, 1},
            {0x4b54, "user", -1, -1, 3}};
  s.runnable = {{187, "stress", 1, 0x4b54, 100, 3004}, {190, "worker", 1, std::nullopt, 900, 204},
                {191, "worker", 0, kLocal, 950, 4}};
  s.longest_wait_ms = 3004;
  return s;
}

EvalContext context() {
  Report before;
  before.snapshot_name = "before";  // an older capture: no scx section
  Report exit;
  exit.snapshot_name = std::string(kExitSnapshotName);  // as the error trigger names it
  exit.scx = stalled();
  std::vector<NamedReport> reports;
  reports.push_back({"before", before});
  reports.push_back({exit.snapshot_name, exit});
  return EvalContext::from_reports(std::move(reports));
}

EvalOutcome eval(const std::string& text) { return test::eval_in(context(), text); }

bool passes(const std::string& text) {
  EvalOutcome out = eval(text);
  if (out.verdict == Verdict::Error) MESSAGE(text, ": ", out.error->message);
  return out.verdict == Verdict::Pass;
}

std::string value_of(const std::string& text) { return test::value_in(context(), text); }

std::string error_of(const std::string& text) {
  EvalOutcome out = eval(text);
  REQUIRE(out.verdict == Verdict::Error);
  return out.error->message;
}

std::string parse_error(const std::string& text) {
  auto r = parse_expr_located(text);
  REQUIRE(std::holds_alternative<ExprError>(r));
  const auto& e = std::get<ExprError>(r);
  return e.message + " | " + e.hint;
}

}  // namespace

TEST_CASE("scx() members through the generic machinery") {
  CHECK(passes("scx().state == \"enabled\""));
  CHECK(passes("scx().state == 1"));
  CHECK(passes("scx().state != \"disabled\""));
  CHECK(passes("scx().exit.kind == \"SCX_EXIT_ERROR_STALL\""));
  CHECK(passes("scx().exit.kind >= 1024"));
  CHECK(passes("scx().exit.kind in [\"SCX_EXIT_ERROR\", \"SCX_EXIT_ERROR_STALL\"]"));
  CHECK_FALSE(passes("scx().exit.kind in [\"SCX_EXIT_UNREG\"]"));
  CHECK(passes("scx().exit.msg == \"stress[187] failed to run for 3.004s\""));
  CHECK(passes("scx().exit.reason.as_str() == \"runnable task stall\""));
  CHECK(passes("scx().longest_wait_ms > 100"));
  CHECK(passes("scx().cpus.len() == 2"));
  CHECK(passes("scx().runnable.max_by(\"wait_ms\").pid == 187"));
  CHECK(passes("scx().runnable.min_by(\"wait_ms\").comm == \"worker\""));
  CHECK(passes("scx().dsqs.find(id == 0x4b54).nr == 3"));
  CHECK(passes("scx().dsqs.filter(kind == \"local\").count() == 2"));
  CHECK(passes("scx().runnable.filter(wait_ms > scx().watchdog_timeout_ms / 2).count() == 1"));
  CHECK(passes("scx().ops.name == \"stall\""));
  CHECK(passes("scx().exit.backtrace.len() == 1"));
  CHECK(passes("scx().exit.exists() and not scx().runnable.at(1).dsq_id.exists()"));
  CHECK(passes("@exit.scx().exit.kind == \"SCX_EXIT_ERROR_STALL\""));
  CHECK(passes("snapshot(\"exit\").scx().hz == 250"));
  CHECK(passes("snapshot(\"@exit\").scx().hz == 250"));
  CHECK(passes("not @before.scx().exists()"));
  CHECK(value_of("scx().exit.msg") == "\"stress[187] failed to run for 3.004s\"");
  CHECK(value_of("scx().state") == "enabled (1)");
  CHECK(value_of("scx().runnable.max_by(\"wait_ms\").pid") == "187");
}

TEST_CASE("scx().dsq(id) and scx().cpu(n)") {
  CHECK(passes("scx().dsq(0x4b54).nr == 3"));
  CHECK(passes("scx().dsq(19284).kind == \"user\""));
  CHECK(passes("scx().dsq(\"global\").id == 0x8000000000000001"));
  CHECK(passes("scx().dsq(0x8000000000000002).cpu == 0"));  // the first local DSQ
  CHECK(passes("@exit.scx().dsq(\"global\").nr == 0"));
  CHECK(passes("scx().cpu(1).curr_comm == \"stress\""));
  CHECK(passes("scx().cpu(1).curr_is_scx"));
  CHECK(passes("scx().cpu(0).nr_running == 0"));
  CHECK(error_of("scx().dsq(0x4b55)") ==
        "no DSQ with id 0x4b55 (19285) in scx.dsqs; available ids: 0x8000000000000001 (global), "
        "0x8000000000000002 (local), 0x4b54 (19284)");
  CHECK(error_of("scx().dsq(\"local\")").rfind("unknown DSQ name \"local\"", 0) == 0);
  CHECK(error_of("scx().dsq(-1)") == "dsq() needs a DSQ id (a u64) or \"global\", got -1");
  CHECK(error_of("scx().cpu(7)") == "CPU 7 out of range for 'scx.cpus': 2 CPU slots captured");
  CHECK(error_of("scx().exit.dsq(1)") == ".dsq(id) applies to scx(), not a field");
  CHECK(error_of("scx().exit.cpu(1)").rfind(".cpu(n) selects a CPU of a per-CPU map or entry, or of scx()", 0) == 0);
}

TEST_CASE("scx() errors: no sched_ext section, unknown members, misuse") {
  const std::string missing =
      "snapshot 'before' has no sched_ext state: captured by an older ktest, or the guest kernel has no sched_ext";
  CHECK(error_of("@before.scx().state == \"enabled\"") == missing);
  auto out = eval("@before.scx().state == \"enabled\"");
  CHECK(out.error->hint.find("CONFIG_SCHED_CLASS_EXT") != std::string::npos);
  CHECK(error_of("scx().exit.knd == 1").rfind("no member 'knd' in struct scx_exit at 'scx.exit.knd'", 0) == 0);
  CHECK(error_of("scx().exit.knd == 1").find("did you mean 'kind'?") != std::string::npos);
  CHECK(error_of("scx() == 1").rfind("'scx' is a struct, not a single value", 0) == 0);
  CHECK(error_of("scx().scx()") == ".scx() applies to a snapshot, not a field");
  EvalContext none;
  auto parsed = parse_expr("scx().state == \"enabled\"");
  REQUIRE(parsed.ok());
  auto empty = evaluate(**parsed, "scx().state == \"enabled\"", none);
  REQUIRE(empty.verdict == Verdict::Error);
  CHECK(empty.error->message == "no snapshot was captured");
}

TEST_CASE("scx vocabulary: arity, did you mean, argument kinds") {
  CHECK(parse_error("scx(1)") == "scx() takes 0 arguments, got 1 | write scx().state == \"enabled\"");
  CHECK(parse_error("scc().state").rfind("unknown function 'scc' | did you mean 'scx()'?", 0) == 0);
  CHECK(parse_error("scx().dqs(1)") == "unknown method 'dqs' | did you mean '.dsq()'?");
  CHECK(parse_error("scx().dsq()") == "dsq() takes 1 argument, got 0 | write scx().dsq(0x4b54).nr");
  CHECK(parse_error("scx().dsq(true)") == "dsq() takes an integer id or a name | write scx().dsq(0x4b54).nr");
  CHECK(parse_error("scx") == "'scx' needs arguments | write scx().state == \"enabled\"");
  CHECK(parse_error("@exit.scx(\"x\")") == "scx() takes 0 arguments, got 1 | write @exit.scx().exit.kind");
}
