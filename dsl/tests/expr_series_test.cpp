// Periodic captures: the series() root and the list methods over real
// snapshot views of reports built here.
#include <doctest/doctest.h>

#include "dsl/expr.h"
#include "dsl/tests/eval_of.h"
#include "dsl/scenario.h"
#include "dsl/tests/diagnostics_of.h"
#include "snapshot/report.h"

using namespace ktest;
using namespace ktest::dsl;

namespace {

Report tick_report(const std::string& name, uint64_t nr_enqueued, uint64_t nr_queued, std::size_t queue_len) {
  Report r;
  r.snapshot_name = name;
  MapDump bss;
  bss.name = "sched.bss";
  bss.map_type = kMapTypeArray;
  bss.value = make_struct(".bss", {{"nr_enqueued", make_uint(64, nr_enqueued)},
                                   {"nr_queued", make_uint(32, nr_queued)},
                                   {"stats", make_struct("stats", {{"ticks", make_uint(64, nr_enqueued * 2)}})}});
  MapDump queue;
  queue.name = "queue";
  queue.map_type = kMapTypeHash;
  for (std::size_t i = 0; i < queue_len; ++i)
    queue.entries.push_back({make_int(32, static_cast<int64_t>(i)), "00", make_uint(64, i), "", std::nullopt});
  r.maps = {bss, queue};
  return r;
}

// tick.1..tick.4 (nr_enqueued 10, 20, 20, 35; nr_queued 5, 3, 4, 0), between
// two plain captures; "ticker.1" is not a member of "tick".
EvalContext context() {
  std::vector<NamedReport> reports;
  reports.push_back({"before", tick_report("before", 1, 9, 3)});
  const uint64_t enqueued[] = {10, 20, 20, 35};
  const uint64_t queued[] = {5, 3, 4, 0};
  for (uint32_t k = 1; k <= 4; ++k) {
    std::string name = kvm::series_member("tick", k);
    reports.push_back({name, tick_report(name, enqueued[k - 1], queued[k - 1], queued[k - 1])});
  }
  reports.push_back({"ticker.1", tick_report("ticker.1", 0, 0, 0)});
  reports.push_back({"after", tick_report("after", 50, 0, 0)});
  return EvalContext::from_reports(std::move(reports));
}

EvalOutcome eval(const std::string& text) { return test::eval_in(context(), text); }

std::string value_of(const std::string& text) { return test::value_in(context(), text); }

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

}  // namespace

TEST_CASE("series() lists the members in capture order, and nothing else") {
  CHECK(value_of("series(\"tick\").len()") == "4");
  CHECK(value_of("series(\"tick\").var(\"nr_enqueued\")") == "[10, 20, 20, 35]");
  CHECK(value_of("series(\"ticker\").var(\"nr_enqueued\")") == "[0]");
  CHECK(value_of("series(\"tick\").at(3).var(\"nr_queued\")") == "0");
  auto none = eval("series(\"tock\").len() == 4");
  REQUIRE(none.verdict == Verdict::Error);
  CHECK(none.error->message == "no capture of series 'tock' was taken");
}

TEST_CASE("snapshot methods and paths apply to each element") {
  CHECK(value_of("series(\"tick\").var(\"stats\").ticks") == "[20, 40, 40, 70]");
  CHECK(value_of("series(\"tick\").var(\"stats\").get(\"ticks\")") == "[20, 40, 40, 70]");
  CHECK(value_of("series(\"tick\").map(\"queue\").each(value.len())") == "[5, 3, 4, 0]");
  CHECK(value_of("series(\"tick\").var(\"nr_enqueued\").max()") == "35");
  auto missing = value_of("series(\"tick\").var(\"nr_dispatched\")");
  CHECK(missing.find("nr_dispatched") != std::string::npos);
  CHECK(missing.find("(in snapshot 'tick.1')") != std::string::npos);
}

TEST_CASE("never_decreases / never_increases name the first pair out of order") {
  CHECK(eval("series(\"tick\").var(\"nr_enqueued\").never_decreases()").verdict == Verdict::Pass);
  CHECK(eval("series(\"tick\").var(\"nr_enqueued\").never_increases()").verdict == Verdict::Fail);
  auto out = eval("series(\"tick\").var(\"nr_queued\").never_increases()");
  REQUIRE(out.verdict == Verdict::Fail);
  REQUIRE(out.failed.size() == 1);
  CHECK(out.failed[0].lhs_text == "series(\"tick\").var(\"nr_queued\")[1]");
  CHECK(out.failed[0].op == ">=");
  CHECK(out.failed[0].rhs_text == "series(\"tick\").var(\"nr_queued\")[2]");
  CHECK(out.failed[0].lhs_value == "3");
  CHECK(out.failed[0].rhs_value == "4");
  CHECK(eval("not series(\"tick\").var(\"nr_queued\").never_increases()").verdict == Verdict::Pass);
  CHECK(eval("[1, 1, 2].never_decreases() and [].never_increases()").verdict == Verdict::Pass);
  auto text = eval("series(\"tick\").map(\"queue\").never_decreases()");
  REQUIRE(text.verdict == Verdict::Error);
  CHECK(text.error->message.find("needs numbers; element 0") != std::string::npos);
}

TEST_CASE("take and find: a queue drains within N ticks") {
  CHECK(value_of("series(\"tick\").var(\"nr_queued\").take(2)") == "[5, 3]");
  CHECK(value_of("series(\"tick\").take(9).len()") == "4");
  CHECK(eval("series(\"tick\").var(\"nr_queued\").take(4).find(value == 0).exists()").verdict == Verdict::Pass);
  CHECK(eval("series(\"tick\").var(\"nr_queued\").take(3).find(value == 0).exists()").verdict == Verdict::Fail);
  CHECK(eval("series(\"tick\").map(\"queue\").each(value.len()).take(3).filter(value == 0).len() == 0").verdict ==
        Verdict::Pass);
}

TEST_CASE("series expressions print and parse back to the same text") {
  for (const char* text : {"series(\"tick\").var(\"x\").never_decreases()", "series(\"t\").map(\"q\").each(value.len())",
                           "series(\"t\").take(3).len()"}) {
    auto parsed = parse_expr(text);
    REQUIRE(parsed.ok());
    CHECK(to_string(**parsed) == text);
  }
  auto bad = parse_expr("series(tick)");
  CHECK(!bad.ok());
}

TEST_CASE("a CaptureSnapshot with every and count is a series of named captures") {
  using test::errors_of;
  using test::Lines;
  const std::string head = "vm: {timeout: 60s}\nsteps:\n";
  auto load = load_scenario_text(head + "  - CaptureSnapshot: {name: tick, every: 250ms, count: 3}\n"
                                 "  - CaptureSnapshot: end\n"
                                 "assertions:\n  - series(\"tick\").len() == 3\n  - snapshot(\"tick.2\").var(\"x\") > 0\n",
                                 "t.yaml", ".");
  REQUIRE(load.ok());
  const auto& c = std::get<CaptureSnapshot>(load.scenario->steps[0].op);
  CHECK(c.count == 3);
  CHECK(c.every == std::chrono::milliseconds(250));
  CHECK(load.scenario->snapshot_names() == std::vector<std::string>{"tick.1", "tick.2", "tick.3", "end"});
  CHECK(load.scenario->series_names() == std::vector<std::string>{"tick"});

  auto expect = [&](const std::string& steps, const Lines& want) {
    const Lines got = errors_of(head + steps);
    CHECK_MESSAGE(got == want, joined(got));
  };
  expect("  - CaptureSnapshot: {name: tick, every: 250ms}\n",
         {"3:42: a series needs both 'every' and 'count' | write - CaptureSnapshot: {name: tick, every: 250ms, "
          "count: 8}"});
  expect("  - CaptureSnapshot: {name: tick, every: 49ms, count: 2}\n",
         {"3:42: 'every' must be at least 50ms | a capture freezes the guest for tens of milliseconds under "
          "TCG; take fewer, further apart"});
  expect("  - CaptureSnapshot: {name: tick, every: 50ms, count: 64}\n", {});
  CHECK(errors_of(head + "  - CaptureSnapshot: {name: tick, every: 50ms, count: 65}\n").size() == 1);
  CHECK(errors_of(head + "  - CaptureSnapshot: {name: tick, every: 50ms, count: 1}\n").size() == 1);
  expect("  - CaptureSnapshot: {name: tick, every: 1s, count: 61}\n",
         {"3:42: series 'tick' spans 60000 ms (61 captures every 1000 ms), not less than vm.timeout (60000 ms) "
          "| take fewer captures, closer together, or raise vm.timeout"});
  expect("  - CaptureSnapshot: {name: tick, every: 1s, count: 2}\n  - CaptureSnapshot: tick.2\n",
         {"4:22: snapshot 'tick.2' is captured twice (first at line 3) | give each capture its own name, e.g. "
          "'tick.2_2'"});
  expect("  - CaptureSnapshot: {name: tick, every: 1s, count: 2}\nassertions:\n  - series(\"tik\").len() == 2\n",
         {"5:13: assertion reads series 'tik', which no step takes | did you mean 'tick'?"});
  // Each member counts against the cap on captures.
  CHECK(errors_of(head + "  - CaptureSnapshot: {name: a, every: 50ms, count: 60}\n"
                         "  - CaptureSnapshot: {name: b, every: 50ms, count: 5}\n")
            .size() == 1);
}
