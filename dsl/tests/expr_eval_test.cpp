// The evaluator over real snapshot views (snapshot/ library) of a
// sched_ext-like report built here with the renderer's constructors.
#include <doctest/doctest.h>

#include "dsl/expr.h"
#include "dsl/tests/eval_of.h"
#include "dsl/scenario.h"
#include "snapshot/report.h"

using namespace ktest;
using namespace ktest::dsl;

namespace {

RenderedValue task_ctx(int64_t tid, uint64_t weight, uint64_t runtime) {
  return make_struct("task_ctx",
                     {{"tid", make_int(32, tid)},
                      {"ctx", make_struct("sched_ctx", {{"weight", make_struct("load_weight", {{"value", make_uint(32, weight)}})}})},
                      {"runtime", make_uint(64, runtime)}});
}

Report sched_report(const std::string& name, uint32_t nr_cpus_onln) {
  Report r;
  r.snapshot_name = name;
  MapDump bss;
  bss.name = "scx_simpl.bss";
  bss.map_type = kMapTypeArray;
  bss.program = "scx_simpl";
  bss.value = make_struct(".bss", {{"nr_cpus_onln", make_uint(32, nr_cpus_onln)},
                                   {"nr_dispatched", make_uint(64, 1234)},
                                   {"exit_kind", make_enum(32, 1, std::string("SCX_EXIT_DONE"), false)},
                                   {"slots", make_array(3, {make_uint(32, 1), make_uint(32, 2), make_uint(32, 3)})},
                                   {"enabled", make_bool(true)}});
  MapDump per_task;
  per_task.name = "scx_per_task";
  per_task.map_type = kMapTypeHash;
  per_task.program = "scx_simpl";
  per_task.entries.push_back({make_int(32, 101), "65 00 00 00", task_ctx(101, 100, 5000), "", std::nullopt});
  per_task.entries.push_back({make_int(32, 202), "ca 00 00 00", task_ctx(202, 39, 9000), "", std::nullopt});
  per_task.entries.push_back({make_int(32, 303), "2f 01 00 00", task_ctx(303, 1024, 7000), "", std::nullopt});
  MapDump stats;
  stats.name = "scx_stats";
  stats.map_type = kMapTypePercpuArray;
  stats.program = "scx_simpl";
  stats.percpu_entries.push_back({0, {make_uint(64, 5), make_uint(64, 7)}});
  r.maps = {bss, per_task, stats};
  r.active_obj_name = "scx_simpl";
  return r;
}

EvalContext context() {
  std::vector<NamedReport> reports;
  reports.push_back({"before", sched_report("before", 2)});
  reports.push_back({"after", sched_report("after", 4)});
  EvalContext ctx = EvalContext::from_reports(std::move(reports));
  ctx.workload_pids = {{"worker", {202, 203}}, {"idle", {303}}};
  ctx.nr_cpus = 4;
  return ctx;
}

EvalOutcome eval(const std::string& text, const EvalContext& ctx = context()) { return test::eval_in(ctx, text); }

std::string value_of(const std::string& text) { return test::value_in(context(), text); }

}  // namespace

TEST_CASE("the design's two queries") {
  CHECK(eval("var(\"nr_cpus_onln\") > 0").verdict == Verdict::Pass);
  CHECK(eval("map(\"scx_per_task\").find(tid == pid(\"worker\")).get(\"ctx.weight.value\") == 39").verdict ==
        Verdict::Pass);
  auto wrong = eval("map(\"scx_per_task\").find(tid == pid(\"worker\")).get(\"ctx.weight.value\") == 100");
  CHECK(wrong.verdict == Verdict::Fail);
}

TEST_CASE("snapshots: the default is the last capture; @name and snapshot() pick one") {
  CHECK(value_of("var(\"nr_cpus_onln\")") == "4");
  CHECK(value_of("@before.var(\"nr_cpus_onln\")") == "2");
  CHECK(value_of("snapshot(\"after\").var(\"nr_cpus_onln\")") == "4");
  CHECK(eval("@before.var(\"nr_cpus_onln\") < var nr_cpus_onln").verdict == Verdict::Pass);
}

TEST_CASE("accessor vocabulary") {
  CHECK(value_of("var nr_cpus_onln == nr_cpus") == "true");
  CHECK(value_of("var(\"exit_kind\") == \"SCX_EXIT_DONE\"") == "true");
  CHECK(value_of("var(\"exit_kind\").as_str()") == "\"SCX_EXIT_DONE\"");
  CHECK(value_of("var(\"exit_kind\").as_u64()") == "1");
  CHECK(value_of("var(\"slots\").len()") == "3");
  CHECK(value_of("var(\"slots\").sum()") == "6");
  CHECK(value_of("var(\"slots\").max()") == "3");
  CHECK(value_of("var(\"slots\").index(1)") == "2");
  CHECK(value_of("var(\"slots\").as_u64_array()") == "[1, 2, 3]");
  CHECK(value_of("var(\"enabled\")") == "true");
  CHECK(value_of("var(\"enabled\").as_bool() and var(\"nr_dispatched\").as_f64() > 1000.5") == "true");
  CHECK(value_of("map(\"scx_per_task\").len()") == "3");
  CHECK(value_of("map(\"scx_per_task\").filter(ctx.weight.value >= 100).count()") == "2");
  CHECK(value_of("map(\"scx_per_task\").max_by(\"runtime\").tid") == "202");
  CHECK(value_of("map(\"scx_per_task\").min_by(\"ctx.weight.value\").key()") == "202");
  CHECK(value_of("map(\"scx_per_task\").at(2).value().ctx.weight.value") == "1024");
  CHECK(value_of("map(\"scx_per_task\").find(key == 303).runtime + 1") == "7001");
  CHECK(value_of("map(\"scx_per_task\").find(value.tid == pid(\"idle\")).exists()") == "true");
  CHECK(value_of("map(\"scx_per_task\").find(tid == 9).exists()") == "false");
  CHECK(value_of("map(\"scx_stats\").at(0).cpu(1).value()") == "7");
  CHECK(value_of("map(\"scx_stats\").sum()") == "12");
  CHECK(value_of("map(\"scx_stats\").at(0).max()") == "7");
  CHECK(value_of("live_var(\"nr_cpus_onln\")") == "4");
  CHECK(value_of("active().var(\"nr_dispatched\")") == "1234");
  CHECK(value_of("vars(\"nr_cpus_onln\").len()") == "1");
  CHECK(value_of("pids(\"worker\")") == "[202, 203]");
  CHECK(value_of("pid(\"worker\") in pids(\"worker\") and not (303 in pids(\"worker\"))") == "true");
  CHECK(value_of("pids(\"worker\").filter(value > 202).at(0)") == "203");
  CHECK(value_of("(nr_cpus() + 2) * 3 % 5 - -1") == "4");
  CHECK(value_of("7 / 2 == 3 and 7.0 / 2 == 3.5") == "true");
}

TEST_CASE("a failing comparison shows both sides") {
  const std::string text = "map(\"scx_per_task\").find(tid == pid(\"worker\")).get(\"ctx.weight.value\") == 100";
  auto out = eval(text);
  REQUIRE(out.verdict == Verdict::Fail);
  REQUIRE(out.failed.size() == 1);
  CHECK(out.failed[0].lhs_value == "39");
  CHECK(out.failed[0].rhs_value == "100");
  CHECK(out.failed[0].op == "==");
  CHECK(explain(out, text) ==
        text + "\n^" + std::string(text.size() - 1, '~') + " is false\n"
        "  actual:   map(\"scx_per_task\").find(tid == pid(\"worker\")).get(\"ctx.weight.value\") = 39\n"
        "  expected: == 100\n");
}

TEST_CASE("an assertion that is a comparison keeps both sides, true or false") {
  auto out = eval("var(\"nr_dispatched\") >= 1000");
  REQUIRE(out.verdict == Verdict::Pass);
  CHECK(out.failed.empty());
  REQUIRE(out.compared);
  CHECK(out.compared->lhs_value == "1234");
  CHECK(out.compared->op == ">=");
  CHECK(out.compared->rhs_value == "1000");
  out = eval("var(\"nr_dispatched\") < 10");
  REQUIRE(out.compared);
  CHECK(out.compared->lhs_value == "1234");
  // Not at the top: and/or and predicates have no one pair of sides.
  CHECK_FALSE(eval("var(\"nr_cpus_onln\") > 1 and var(\"nr_dispatched\") > 10").compared);
  auto found = eval("map(\"scx_per_task\").find(tid == pid(\"worker\")).get(\"tid\") > 0");
  REQUIRE(found.compared);  // the root, not the predicate's tid == ...
  CHECK(found.compared->lhs_text.rfind("map(", 0) == 0);
}

TEST_CASE("and/or/not name the deciding terms") {
  auto out = eval("var(\"nr_cpus_onln\") > 1 and var(\"nr_dispatched\") < 10");
  REQUIRE(out.failed.size() == 1);
  CHECK(out.failed[0].lhs_text == "var(\"nr_dispatched\")");
  CHECK(out.failed[0].lhs_value == "1234");
  CHECK(out.failed[0].span.offset == 28);

  out = eval("var(\"nr_cpus_onln\") == 1 or var(\"nr_cpus_onln\") == 2");
  CHECK(out.failed.size() == 2);

  out = eval("not var(\"enabled\")");
  REQUIRE(out.failed.size() == 1);
  CHECK(out.failed[0].op == "not");
  CHECK(out.failed[0].lhs_value == "true");

  CHECK(eval("var(\"nr_cpus_onln\") == 1 or var(\"nr_cpus_onln\") == 4").failed.empty());
}

TEST_CASE("a path that does not resolve names the component and the alternatives") {
  const std::string text = "map(\"scx_per_task\").find(tid == pid(\"worker\")).get(\"ctx.wieght.value\") == 100";
  auto out = eval(text);
  REQUIRE(out.verdict == Verdict::Error);
  REQUIRE(out.error.has_value());
  CHECK(out.error->span.offset == text.find("\"ctx.wieght.value\""));
  CHECK(out.error->message.find("wieght") != std::string::npos);
  CHECK(out.error->available == std::vector<std::string>{"weight"});
  const std::string why = explain(out, text);
  CHECK(why.find("^~~~~~~~~~~~~~~~~~ error here") != std::string::npos);
  CHECK(why.find("available: weight") != std::string::npos);
}

TEST_CASE("find with no match samples keys") {
  const std::string text = "map(\"scx_per_task\").find(tid == 42).tid == 42";
  auto out = eval(text);
  REQUIRE(out.verdict == Verdict::Error);
  CHECK(out.error->message ==
        "no entry of map 'scx_per_task' matched `tid == 42` (3 entries); sampled keys: 101, 202, 303");
  CHECK(out.error->available == std::vector<std::string>{"101", "202", "303"});
  CHECK(out.error->span.offset == text.find("find"));
}

TEST_CASE("evaluation errors") {
  auto err = [](const std::string& text) {
    auto out = eval(text);
    REQUIRE(out.verdict == Verdict::Error);
    return out.error->message;
  };
  CHECK(err("var(\"nr_cpus_onlin\") > 0").find("nr_cpus_onln") != std::string::npos);  // alternatives listed
  CHECK(err("map(\"scx_per_tsk\").len() > 0").find("scx_per_task") != std::string::npos);
  CHECK(err("snapshot(\"middle\").var(\"x\") > 0").find("before") != std::string::npos);
  CHECK(err("pid(\"nobody\") > 0") == "no pids recorded for workload 'nobody'");
  CHECK(err("var(\"nr_cpus_onln\")") == "this is a field (4), not true/false");
  CHECK(err("map(\"scx_per_task\").at(0) > 1").find("is a struct") != std::string::npos);
  CHECK(err("var(\"slots\") > 1").find("is an array of 3 elements") != std::string::npos);
  CHECK(err("var(\"enabled\") < true") ==
        "cannot compare a boolean (true) with a boolean (true) using '<'");
  CHECK(err("1 / 0 == 1") == "division by zero");
  CHECK(err("map(\"scx_stats\").at(0).value() == 1") == "'scx_stats[0]' holds one value per CPU (2 CPUs)");
  CHECK(err("var(\"slots\").index(7) == 1").find("7") != std::string::npos);
  CHECK(err("pid(\"worker\").var(\"x\") == 1") == ".var() applies to a snapshot, not a number");

  EvalContext empty;
  auto out = eval("var(\"x\") > 0", empty);
  REQUIRE(out.verdict == Verdict::Error);
  CHECK(out.error->message == "no snapshot was captured");
}

TEST_CASE("query returns values as text and JSON") {
  auto parsed = parse_expr("map(\"scx_per_task\").find(tid == 101)");
  REQUIRE(parsed.ok());
  auto out = query(**parsed, "map(\"scx_per_task\").find(tid == 101)", context());
  REQUIRE(out.verdict == Verdict::Pass);
  CHECK(out.value_json["key"] == "101");
  CHECK(out.value_json["value"]["kind"] == "struct");
  parsed = parse_expr("var(\"slots\").as_u64_array()");
  out = query(**parsed, "", context());
  CHECK(out.value_json == nlohmann::json::array({1, 2, 3}));
}

TEST_CASE("a scenario's assertions evaluate into printable results") {
  auto load = load_scenario_text(
      "vm: {cpus: 4}\n"
      "steps:\n"
      "  - Spawn: {name: worker, command: yes}\n"
      "  - CaptureSnapshot: before\n"
      "  - CaptureSnapshot: after\n"
      "assertions:\n"
      "  - var(\"nr_cpus_onln\") == nr_cpus\n"
      "  - expr: map(\"scx_per_task\").find(tid == pid(\"worker\")).ctx.weight.value == 100\n"
      "    name: worker_weight\n"
      "    message: nice 5 should give weight 100\n"
      "  - '@before.var(\"nr_cpus_onln\") == @after.var(\"nr_cpus_onln\")'\n"
      "  - var(\"no_such_var\") == 1\n",
      "weights.yaml");
  REQUIRE_MESSAGE(load.ok(), format_diagnostics(load.diagnostics));
  EvalContext ctx = context();
  ctx.nr_cpus = 0;  // check_assertions fills it from vm.cpus
  auto results = check_assertions(*load.scenario, ctx);
  REQUIRE(results.size() == 4);
  CHECK(results[0].passed());
  CHECK(results[0].explanation().empty());
  CHECK_FALSE(results[1].passed());
  CHECK(results[1].outcome.verdict == Verdict::Fail);
  const std::string& text = results[1].text;
  CHECK(results[1].explanation() ==
        "assertion 'worker_weight' failed (line 8)\n"
        "  nice 5 should give weight 100\n"
        "  " + text + "\n"
        "  ^" + std::string(text.size() - 1, '~') + " is false\n"
        "    actual:   map(\"scx_per_task\").find(tid == pid(\"worker\")).ctx.weight.value = 39\n"
        "    expected: == 100\n");
  CHECK(results[2].outcome.verdict == Verdict::Fail);
  CHECK(results[2].outcome.failed.at(0).lhs_value == "2");
  CHECK(results[2].outcome.failed.at(0).rhs_value == "4");
  CHECK(results[3].outcome.verdict == Verdict::Error);
  CHECK(std::string(verdict_name(results[3].outcome.verdict)) == "error");
  CHECK(results[3].explanation().find("no_such_var") != std::string::npos);
}

TEST_CASE("stats(): recorded JSON documents walked with the snapshot vocabulary") {
  EvalContext ctx = context();
  ctx.json_docs.emplace_back("sched", std::make_shared<const nlohmann::json>(nlohmann::json::parse(R"({
      "nr_dispatched": 1200, "busy": 0.75, "name": "ktest_loader", "enabled": true,
      "cpus": [{"cpu": 0, "runs": 10}, {"cpu": 1, "runs": 30}], "layers": {"batch": {"util": 0.5}}})")));
  CHECK(eval(R"(stats("sched").get("nr_dispatched") > 1000)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").nr_dispatched == 1200)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").layers.batch.util < stats("sched").busy)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").name == "ktest_loader")", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").enabled)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").cpus.len() == 2)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").cpus.index(1).runs == 30)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").get("cpus.1.runs").as_u64() == 30)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").cpus.find(cpu == 1).runs == 30)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").cpus.max_by("runs").cpu == 1)", ctx).verdict == Verdict::Pass);
  CHECK(eval(R"(stats("sched").get("nr_dispatched") > 5000)", ctx).verdict == Verdict::Fail);

  EvalOutcome missing = eval(R"(stats("sched").get("nr_enqueued") > 0)", ctx);
  REQUIRE(missing.verdict == Verdict::Error);
  CHECK(missing.error->message.find("nr_enqueued") != std::string::npos);
  CHECK(missing.error->available.size() >= 5);  // the keys that exist
  EvalOutcome object = eval(R"(stats("sched").layers > 0)", ctx);
  REQUIRE(object.verdict == Verdict::Error);
  CHECK(object.error->message.find("JSON object") != std::string::npos);
  EvalOutcome unknown = eval(R"(stats("other").x == 1)", ctx);
  REQUIRE(unknown.verdict == Verdict::Error);
  CHECK(unknown.error->message.find("no JSON document named 'other'") != std::string::npos);
  CHECK(unknown.error->available == std::vector<std::string>{"sched"});
}
