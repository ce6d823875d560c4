#include <doctest/doctest.h>

#include "dsl/expr.h"

using namespace ktest::dsl;

namespace {

std::string canon(const std::string& text) {
  auto parsed = parse_expr_located(text);
  if (auto* err = std::get_if<ExprError>(&parsed)) return "ERROR " + err->message;
  return to_string(*std::get<ExprPtr>(parsed));
}

ExprError error_of(const std::string& text) {
  auto parsed = parse_expr_located(text);
  REQUIRE(std::holds_alternative<ExprError>(parsed));
  return std::get<ExprError>(parsed);
}

}  // namespace

TEST_CASE("the design's two queries parse") {
  CHECK(canon("var(\"nr_cpus_onln\") > 0") == "(var(\"nr_cpus_onln\") > 0)");
  CHECK(canon("map(\"scx_per_task\").find(tid == pid(\"worker\")).get(\"ctx.weight.value\") == 100") ==
        "(map(\"scx_per_task\").find((tid == pid(\"worker\"))).get(\"ctx.weight.value\") == 100)");
}

TEST_CASE("sugar: bare var, @snapshot, member access") {
  CHECK(canon("var nr_cpus_onln > 0") == "(var(\"nr_cpus_onln\") > 0)");
  CHECK(canon("@before.var(\"x\") == @after.var(\"x\")") ==
        "(snapshot(\"before\").var(\"x\") == snapshot(\"after\").var(\"x\"))");
  CHECK(canon("map(\"m\").at(0).ctx.weight.value >= 1") == "(map(\"m\").at(0).ctx.weight.value >= 1)");
  CHECK(canon("nr_cpus == 2") == "(nr_cpus == 2)");
}

TEST_CASE("precedence and literals") {
  CHECK(canon("a") == "ERROR unknown name 'a'");
  CHECK(canon("1 + 2 * 3 == 7 and not false || true") == "((((1 + (2 * 3)) == 7) and not false) or true)");
  CHECK(canon("-5 < 0x10") == "(-5 < 16)");
  CHECK(canon("-0.0 == -1.5") == "(0 == -1.5)");  // no "-0": it would read back as an integer
  CHECK(canon("1.5e3 > 2") == "(1500 > 2)");
  CHECK(canon("'it\\'s' != \"a\\\"b\"") == "(\"it's\" != \"a\\\"b\")");
  CHECK(canon("pid(\"w\") in pids(\"w\")") == "(pid(\"w\") in pids(\"w\"))");
  CHECK(canon("3 in [1, 2, 3]") == "(3 in [1, 2, 3])");
  CHECK(canon("!(1 == 2) && (2 != 3)") == "(not (1 == 2) and (2 != 3))");
  CHECK(canon("18446744073709551615 > 0") == "(18446744073709551615 > 0)");
}

TEST_CASE("predicates: bare paths resolve against the entry") {
  auto parsed = parse_expr("map(\"m\").filter(key.pid > 1 and ctx.weight.value == nr_cpus()).count() == 1");
  REQUIRE(parsed.ok());
  const Expr& cmp = **parsed;
  const Expr& count = *cmp.args[0];
  const Expr& filter = *count.receiver;
  REQUIRE(filter.name == "filter");
  const Expr& pred = *filter.args[0];
  const Expr& key_pid = *pred.args[0]->args[0];  // key.pid: member pid of the bare name key
  CHECK(key_pid.kind == ExprKind::Member);
  CHECK(key_pid.name == "pid");
  CHECK(key_pid.receiver->kind == ExprKind::Name);
  CHECK(key_pid.receiver->name == "key");
  CHECK(key_pid.receiver->in_predicate);
  const Expr& weight = *pred.args[1]->args[0];  // ctx.weight.value
  CHECK(to_string(weight) == "ctx.weight.value");
  CHECK(pred.args[1]->args[1]->kind == ExprKind::Call);  // nr_cpus() is the fact, not a field
}

TEST_CASE("syntax errors are located inside the expression") {
  auto e = error_of("var(\"x\") = 1");
  CHECK(e.span.offset == 9);
  CHECK(e.message == "'=' is not a comparison");
  CHECK(e.hint == "compare with '=='");

  e = error_of("map(\"m\").fnd(tid == 1)");
  CHECK(e.span.offset == 9);
  CHECK(e.span.length == 3);
  CHECK(e.message == "unknown method 'fnd'");
  CHECK(e.hint == "did you mean '.find()'?");

  e = error_of("vra(\"x\") > 0");
  CHECK(e.span.offset == 0);
  CHECK(e.message == "unknown function 'vra'");
  CHECK(e.hint == "did you mean 'var()'?");

  e = error_of("var(\"x\" > 0");
  CHECK(e.span.offset == 11);
  CHECK(e.message == "expected ',' or ')' in the arguments, found end of expression");

  e = error_of("var(x) > 0");
  CHECK(e.span.offset == 4);
  CHECK(e.message == "unknown name 'x'");

  e = error_of("var(\"x\") > ");
  CHECK(e.span.offset == 11);
  CHECK(e.message == "expected a value, found end of expression");

  e = error_of("var(\"x) > 0");
  CHECK(e.span.offset == 4);
  CHECK(e.message == "unterminated string");

  e = error_of("1 < 2 < 3");
  CHECK(e.span.offset == 6);
  CHECK(e.message == "comparisons do not chain");

  e = error_of("var(\"x\") > 0 var(\"y\")");
  CHECK(e.span.offset == 13);
  CHECK(e.message == "unexpected name 'var' after a complete expression");

  e = error_of("nr_cpus_onln > 0");
  CHECK(e.span.offset == 0);
  CHECK(e.message == "unknown name 'nr_cpus_onln'");
  CHECK(e.hint.find("var(\"nr_cpus_onln\")") != std::string::npos);

  e = error_of("map(\"m\").get(1)");
  CHECK(e.span.offset == 13);
  CHECK(e.message == "get() takes a string literal");

  e = error_of("map(\"m\").len(1)");
  CHECK(e.message == "len() takes 0 arguments, got 1");

  e = error_of("0x > 1");
  CHECK(e.message == "'0x' needs hex digits");

  e = error_of("12ab > 1");
  CHECK(e.message == "malformed number '12a'");

  e = error_of("var(\"x\") > 0 # note");
  CHECK(e.span.offset == 13);
  CHECK(e.message == "unexpected character '#'");

  e = error_of("(1 == 1");
  CHECK(e.message == "expected ')' to close the '(' at column 1, found end of expression");

  e = error_of("@ == 1");
  CHECK(e.message == "expected a snapshot name after '@'");

  e = error_of("99999999999999999999 > 1");
  CHECK(e.message == "number 99999999999999999999 does not fit in 64 bits");
}

TEST_CASE("references to workloads and snapshots are collected with spans") {
  auto parsed = parse_expr("@before.var(\"x\") == snapshot(\"after\").var(\"x\") and pid(\"w\") in pids(\"v\")");
  REQUIRE(parsed.ok());
  auto refs = collect_refs(**parsed);
  REQUIRE(refs.size() == 4);
  CHECK(refs[0].kind == ExprRef::Kind::Snapshot);
  CHECK(refs[0].name == "before");
  CHECK(refs[0].span.offset == 1);
  CHECK(refs[1].name == "after");
  CHECK(refs[1].span.offset == 29);
  CHECK(refs[2].kind == ExprRef::Kind::Workload);
  CHECK(refs[2].name == "w");
  CHECK(refs[3].name == "v");
}

TEST_CASE("parse_expr reports the column as a Result error") {
  auto r = parse_expr("var(\"x\") => 1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().to_string() == "column 10: '=' is not a comparison (hint: compare with '==')");
}

TEST_CASE("nesting is bounded, so hostile input cannot exhaust the stack") {
  CHECK(error_of(std::string(100000, '(') + "1").message == "expression nests deeper than 64 levels");
  CHECK(error_of(std::string(100000, '!') + "true").message == "expression nests deeper than 64 levels");
  CHECK(error_of(std::string(100000, '-') + "1").message == "expression nests deeper than 64 levels");
  CHECK(canon(std::string(30, '(') + "1 == 1" + std::string(30, ')')) == "(1 == 1)");
  // 64 levels: the expression itself and 63 nested in it; one more is refused.
  // A 'not' counts two (its canonical text may need a bracket): 31 fit.
  CHECK(canon(std::string(31, '!') + "true").rfind("ERROR", 0) == std::string::npos);
  CHECK(error_of(std::string(33, '!') + "true").message == "expression nests deeper than 64 levels");
  CHECK(canon(std::string(63, '-') + "1").rfind("ERROR", 0) == std::string::npos);
  CHECK(error_of(std::string(64, '-') + "1").message == "expression nests deeper than 64 levels");
  CHECK(canon(std::string(63, '(') + "1 == 1" + std::string(63, ')')) == "(1 == 1)");
  CHECK(error_of(std::string(64, '(') + "1 == 1" + std::string(64, ')')).message ==
        "expression nests deeper than 64 levels");
}

TEST_CASE("an expression whose canonical text would nest too deep is refused where it is typed") {
  // The canonical text brackets each operator: 1 - 1 - 1 prints as ((1 - 1) - 1).
  auto chain = [](int operators) {
    std::string text = "1";
    for (int i = 0; i < operators; ++i) text += " - 1";
    return text;
  };
  CHECK(canon(chain(63)).rfind(std::string(63, '('), 0) == 0);
  CHECK(canon(canon(chain(63))) == canon(chain(63)));
  ExprError deep = error_of(chain(64));
  CHECK(deep.message == "expression nests deeper than 64 levels");
  CHECK(deep.span.offset == 0);
  CHECK(deep.span.length == chain(64).size());
  // fuzz_expr's find: two 'not's over a subtraction, whose brackets the text
  // as typed does not have (var's argument is a level too).
  const std::string nots = "!!" + std::string(60, '-') + "var(\"x\") - 2";
  CHECK(error_of(nots).message == "expression nests deeper than 64 levels");
  CHECK(error_of(nots).span.offset == 0);
  CHECK(canon(nots.substr(2)).rfind("(--", 0) == 0);
}

TEST_CASE("the canonical text brackets a unary operand where its operator binds looser") {
  // fuzz_expr's find: (!("$")>"") > 1 printed as (not ("$" > "") > 1), which
  // reads back as not (("$" > "") > 1).
  CHECK(canon("(!(\"$\")>\"\") > 1") == "((not (\"$\" > \"\")) > 1)");
  CHECK(canon("-(not true) == 1") == "(-(not true) == 1)");
  CHECK(canon("(-var(\"x\")).y == 1") == "((-var(\"x\")).y == 1)");
  CHECK(canon("not 1 == 2 and not false") == "(not (1 == 2) and not false)");
  for (const char* text : {"(!(\"$\")>\"\") > 1", "-(not true) == 1", "(-var(\"x\")).y == 1"})
    CHECK(canon(canon(text)) == canon(text));
}
