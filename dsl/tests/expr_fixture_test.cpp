// The evaluator against the snapshot layer's report fixtures
// (tests/fixtures/reports/, written by generate.py there). Expected values
// are read from the raw Report tree here, independently of the traversal.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>

#include "dsl/expr.h"
#include "snapshot/report.h"

using namespace ktest;
using namespace ktest::dsl;

namespace {

const std::string kReports = std::string(KTEST_SOURCE_ROOT) + "/tests/fixtures/reports/";


NamedReport load_one(const std::string& file) {
  auto loaded = load_report_file(kReports + file);
  REQUIRE_MESSAGE(loaded.ok(), loaded.error().to_string());
  REQUIRE(loaded->size() == 1);
  return (*loaded)[0];
}

// Raw navigation: a named member of a struct, through a rendered pointer.
const RenderedValue& member(const RenderedValue& v, const std::string& name) {
  const RenderedValue* s = &v;
  if (s->kind == ValueKind::Ptr) {
    REQUIRE(s->detail().deref != nullptr);
    s = s->detail().deref.get();
  }
  REQUIRE(s->kind == ValueKind::Struct);
  for (const auto& m : s->members)
    if (m.name == name) return m.value;
  FAIL("no member " << name);
  return v;
}

const MapDump& map_of(const Report& r, const std::string& name) {
  const MapDump* m = r.find_map(name);
  REQUIRE(m != nullptr);
  return *m;
}

std::string int_text(const RenderedValue& v) {
  return v.kind == ValueKind::Uint ? std::to_string(static_cast<uint64_t>(v.uint_value))
                                   : std::to_string(static_cast<int64_t>(v.int_value));
}

EvalOutcome run(const std::string& text, const EvalContext& ctx, bool as_query = false) {
  auto parsed = parse_expr(text);
  REQUIRE_MESSAGE(parsed.ok(), parsed.error().to_string());
  return as_query ? query(**parsed, text, ctx) : evaluate(**parsed, text, ctx);
}

}  // namespace

TEST_CASE("design queries on the sched_ext fixture") {
  NamedReport basic = load_one("scx_basic.json");
  const Report raw = basic.report;
  const RenderedValue& nr_cpus = member(*map_of(raw, "scx_simpl.bss").value, "nr_cpus_onln");
  const MapEntry& second = map_of(raw, "scx_per_task").entries.at(1);
  const RenderedValue& tid = member(*second.value, "tid");
  const RenderedValue& weight = member(member(member(*second.value, "ctx"), "weight"), "value");

  EvalContext ctx = EvalContext::from_reports({basic});
  ctx.workload_pids = {{"worker", {static_cast<int64_t>(tid.int_value)}}};

  CHECK(run("var(\"nr_cpus_onln\") > 0", ctx).verdict == Verdict::Pass);
  CHECK(run("var(\"nr_cpus_onln\")", ctx, true).value_text == int_text(nr_cpus));

  const std::string find = "map(\"scx_per_task\").find(tid == pid(\"worker\")).get(\"ctx.weight.value\")";
  CHECK(run(find, ctx, true).value_text == int_text(weight));
  CHECK(run(find + " == " + int_text(weight), ctx).verdict == Verdict::Pass);
  auto wrong = run(find + " == " + int_text(weight) + "1", ctx);
  REQUIRE(wrong.verdict == Verdict::Fail);
  CHECK(wrong.failed.at(0).lhs_value == int_text(weight));
  // Member sugar reads through the ctx pointer the same way.
  CHECK(run("map(\"scx_per_task\").find(tid == pid(\"worker\")).ctx.weight.value", ctx, true).value_text ==
        int_text(weight));
  CHECK(run("map(\"scx_per_task\").len()", ctx, true).value_text ==
        std::to_string(map_of(raw, "scx_per_task").entries.size()));
}

TEST_CASE("a failing path on the fixture prints the alternatives") {
  NamedReport basic = load_one("scx_basic.json");
  std::vector<std::string> expected;
  const MapEntry& first = map_of(basic.report, "scx_per_task").entries.at(0);
  const RenderedValue& sched_ctx = *member(*first.value, "ctx").detail().deref;
  for (const auto& m : sched_ctx.members) expected.push_back(m.name);

  EvalContext ctx = EvalContext::from_reports({basic});
  const std::string text = "map(\"scx_per_task\").at(0).get(\"ctx.weigth.value\") == 1";
  auto out = run(text, ctx);
  REQUIRE(out.verdict == Verdict::Error);
  CHECK(out.error->available == expected);
  const std::string why = explain(out, text);
  for (const auto& name : expected) CHECK(why.find(name) != std::string::npos);
  CHECK(why.find("weigth") != std::string::npos);
}

TEST_CASE("several captures and several schedulers") {
  NamedReport basic = load_one("scx_basic.json");
  NamedReport later = load_one("scx_later.json");
  NamedReport two = load_one("two_schedulers.json");
  EvalContext ctx = EvalContext::from_reports({basic, later, two});

  const auto nr_enqueued = [](const NamedReport& r) {
    return int_text(member(*map_of(r.report, "scx_simpl.bss").value, "nr_enqueued"));
  };
  CHECK(run("@" + basic.name + ".var(\"nr_enqueued\")", ctx, true).value_text == nr_enqueued(basic));
  CHECK(run("snapshot(\"" + later.name + "\").var(\"nr_enqueued\")", ctx, true).value_text == nr_enqueued(later));

  // The default snapshot is the last one: two schedulers' globals.
  CHECK(run("vars(\"nr_enqueued\").len()", ctx, true).value_text == "2");
  auto ambiguous = run("var(\"nr_enqueued\") > 0", ctx);
  REQUIRE(ambiguous.verdict == Verdict::Error);
  CHECK(ambiguous.error->message.find("scx_lavd") != std::string::npos);
  CHECK(ambiguous.error->message.find("scx_simpl") != std::string::npos);
}
