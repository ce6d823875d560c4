// The assertion expression language: parse once at load time, evaluate
// against the captured snapshots after the run.
//
// Contract: parse_expr() turns the text of one assertion into an AST or a
// located ExprError (byte offset and length inside the text, message, hint);
// it never throws. Every node keeps its span, so evaluation failures name
// the sub-expression that failed. evaluate() (below) never throws either.
//
// Grammar (lowest precedence first; keywords are case-sensitive):
//
//   expr    := or
//   or      := and  (("or"  | "||") and)*
//   and     := not  (("and" | "&&") not)*
//   not     := ("not" | "!") not | cmp
//   cmp     := sum [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") sum]
//              (comparisons do not chain: a < b < c is an error)
//   sum     := prod (("+" | "-") prod)*
//   prod    := unary (("*" | "/" | "%") unary)*
//   unary   := "-" unary | postfix
//   postfix := primary ("." NAME ["(" args ")"])*
//   primary := NUMBER | STRING | "true" | "false" | "[" [expr ("," expr)*] "]"
//            | "(" expr ")" | "@" NAME | "var" NAME | NAME "(" args ")" | NAME
//
//   NUMBER: 42, -7, 0x1f, 1.5, 2e3        STRING: "..." or '...' (\" \\ \n \t)
//
// Roots (calls without a receiver):
//   var("x")        a global variable (.bss/.data/.rodata) of the default snapshot
//   var x           sugar for var("x")
//   map("m")        a BPF map of the default snapshot
//   active()        the default snapshot projected to the attached scheduler
//   live_var("x")   active().var("x")
//   vars("x")       every captured copy of variable x (a list, one per scheduler)
//   snapshot("s")   the snapshot captured under name s; `@s` is sugar for it.
//                   The default snapshot is the one captured last.
//   pid("w")        first pid of workload w (a Spawn step's name)
//   pids("w")       every pid of workload w (a list)
//   nr_cpus         the vm's cpu count (also nr_cpus())
//   scx()           the kernel's sched_ext state in the default snapshot (below)
//   stats("s")      the JSON document a Run step recorded with `json: s`
//                   (e.g. a scheduler's stats): walked with the same
//                   accessors as captured values, e.g.
//                   stats("s").get("layers.batch.util") > 0.5,
//                   stats("s").cpus.len(), stats("s").name == "ktest_loader".
//                   Objects are walked by key, arrays by .index(i) (or a
//                   decimal path component); numbers, strings and booleans
//                   compare as such; a missing key is an Error naming the
//                   keys that exist.
//   series("t")     the captures of series t (a CaptureSnapshot with every and
//                   count), a list of snapshots in capture order: t.1, t.2 ...
//                   A missed capture is absent (len() counts those taken);
//                   none taken is an Error.
//
// Methods (receiver.name(args)):
//   snapshot:  .var(s) .map(s) .active() .live_var(s) .vars(s) .scx()
//   map/list:  .find(pred) .filter(pred) .max_by(path) .min_by(path) .at(i)
//              .len() .count() .sum() .max() .min()
//   any:       .exists()  true when the receiver evaluates without error
//              (map("m").find(tid == 5).exists()); the only method that
//              turns a failed lookup into a value
//   entry:     .key() .value()  (other accessors apply to the entry's value)
//   scx():     .dsq(id) the element of dsqs whose id is id (a number; the
//              first match, so a built-in id gives node 0 / CPU 0's DSQ), or
//              .dsq("global") (node 0's global DSQ); .cpu(n) the element of
//              cpus for CPU n
//   value:     .get("a.b.c") .index(i) .cpu(n) (one CPU of a per-CPU value)
//              .as_u64() .as_i64() .as_f64() .as_bool() .as_str()
//              .as_u64_array() .as_u32_array() .as_i64_array() .as_f64_array()
//              .as_bool_array() .len() .sum() .max() .min()
//   x.a.b       plain member access: sugar for x.get("a.b")
//   series:    a snapshot method on a list of snapshots applies to each
//              (series("t").var("n") is the list of n, one per capture), and
//              .get(path) / .a.b on any list applies to each element.
//              .each(expr)  expr per element (a predicate's names: `value`
//                           is the element), the list of results:
//                           series("t").map("q").each(value.len())
//              .take(n)     the first n elements (all when fewer)
//              .never_decreases() .never_increases()  every element is >=
//                           (<=) the one before; false names the first pair
//                           out of order as the comparison it broke
//                           (list[i-1] <= list[i], with both values)
//
// Sched_ext state: scx() (or snapshot("s").scx(), @s.scx()) is the report's
// "scx" section (snapshot/scx_state.h) as a struct value, walked like any
// captured value: scx().state == "enabled", scx().exit.kind ==
// "SCX_EXIT_ERROR_STALL", scx().exit.msg, scx().longest_wait_ms > 100,
// scx().cpus.len(), scx().runnable.max_by("wait_ms").pid,
// scx().dsqs.find(id == 0x4b54).nr. Members (the JSON keys):
//   state               "enabling" "enabled" "disabling" "disabled" (an enum:
//                       also compares as its number); state_value
//   ops                 the attached scheduler {name, flags, timeout_ms};
//                       absent when none is attached
//   exit                the root scheduler's exit {kind (enum scx_exit_kind,
//                       "SCX_EXIT_ERROR"...), kind_value, exit_code, reason,
//                       msg, backtrace (list of "sym+0x../0x.."), dump (the
//                       debug dump text)}; absent until it starts to exit
//   watchdog_timeout_ms bypass_depth hz jiffies longest_wait_ms
//   cpus                per CPU {cpu, nr_running, local_dsq_nr, flags,
//                       curr_pid, curr_comm, curr_is_scx}
//   dsqs                {id, kind ("global" "local" "bypass" "user"), cpu,
//                       node, nr}: global ones, then per CPU, then user DSQs
//   runnable            runnable tasks, longest wait first {pid, comm, cpu,
//                       dsq_id (absent when on no DSQ), runnable_at, wait_ms}
//   errors              what the capture could not read
// Strings compare as text (scx().ops.name == "simple"). A snapshot without
// the section (an older ktest, a kernel without sched_ext) is an Error.
//
// Predicates (the argument of find/filter) are evaluated once per entry:
// a bare NAME or dotted path (tid, ctx.weight.value) resolves against the
// entry's value, `key` / `key.x` against its key, `value` is the value
// itself. Inside a predicate the fact nr_cpus is written nr_cpus().
//
// Values and comparisons: a field compares by its rendered kind: integers
// (full 128-bit width), floats, bools; an enum compares as its variant name
// against a string and as its number otherwise; a char array compares as
// its text against a string; a struct or array is not a single value (an
// error naming its members / length). Integer arithmetic is exact (an
// overflow is an error), mixed with a float it is floating point; / and %
// by zero are errors. `x in list` tests membership in a list literal,
// pids(), an array field or a filter() result. Nesting is limited to 64
// levels.
//
// Outcomes: an assertion passes or fails only when it evaluates to a
// boolean; a path that does not resolve, a type mismatch or a missing
// snapshot makes it an Error (never a silent false) that carries the
// snapshot layer's message (the failing component and its alternatives).
//
// Why hand-written recursive descent: the grammar is small, and the located
// errors with hints that scenario validation needs (column inside the YAML
// file, "did you mean") are easier to produce by hand than through the
// parser generators Debian packages (bison/PEGTL would add a build or
// runtime dependency and still need this error layer on top).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/report.h"
#include "snapshot/snapshot.h"
#include "util/result.h"

namespace ktest::dsl {

__extension__ typedef __int128 expr_int_t;

// A byte range inside the expression text.
struct Span {
  uint32_t offset = 0;
  uint32_t length = 0;
};

enum class ExprKind {
  Literal,  // number, string or boolean
  List,     // [a, b]
  Name,     // bare dotted path: nr_cpus, or an entry field inside a predicate
  Call,     // root call: name(args)
  Method,   // receiver.name(args)
  Member,   // receiver.name (sugar for receiver.get("name"))
  Unary,    // op args[0]
  Binary,   // args[0] op args[1]
};

enum class Op { None, Not, Neg, Or, And, Eq, Ne, Lt, Le, Gt, Ge, In, Add, Sub, Mul, Div, Mod };

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

struct Expr {
  ExprKind kind = ExprKind::Literal;
  Span span;           // the whole node
  Span name_span;      // Call/Method/Member/Name: the name itself
  // Literal value: integer, float, string or bool.
  std::variant<std::monostate, expr_int_t, double, std::string, bool> literal;
  std::string name;    // Call/Method/Member name; Name's dotted path
  Op op = Op::None;    // Unary/Binary
  ExprPtr receiver;    // Method/Member
  std::vector<ExprPtr> args;  // Call/Method arguments; Unary/Binary operands; List items
  bool in_predicate = false;  // Name: inside find()/filter()
};

struct ExprError {
  Span span;  // where inside the text
  std::string message;
  std::string hint;
};

// Parses one assertion. The text is kept by the caller for error display.
Result<ExprPtr> parse_expr(const std::string& text);
// The same with the located error (Result's Error has no span).
std::variant<ExprPtr, ExprError> parse_expr_located(const std::string& text);

// Names an expression refers to, for load-time checks.
struct ExprRef {
  enum class Kind { Workload, Snapshot, Stats, Series } kind;
  std::string name;
  Span span;  // the string argument
};
std::vector<ExprRef> collect_refs(const Expr& expr);

const char* op_text(Op op);  // "==", "and", ...
// Canonical text of an expression (for messages and round-trip tests).
std::string to_string(const Expr& expr);

// ------------------------------------------------------------ evaluation

// What an expression is evaluated against: the run's captures and facts.
struct EvalContext {
  // Captures in capture order; the last one is the default snapshot.
  std::vector<std::pair<std::string, Snapshot>> snapshots;
  // Spawned workloads' pids, first pid first.
  std::vector<std::pair<std::string, std::vector<int64_t>>> workload_pids;
  uint32_t nr_cpus = 0;
  // JSON documents recorded by Run steps' `json:`, by name.
  std::vector<std::pair<std::string, std::shared_ptr<const nlohmann::json>>> json_docs;

  // Snapshots from reports (as SnapshotBridge::drain() or load_reports() give them).
  static EvalContext from_reports(std::vector<NamedReport> reports);
};

// Why evaluation could not produce a value. `span` is the sub-expression
// (for a path that does not resolve: the method or member that failed).
struct EvalError {
  Span span;
  std::string message;  // e.g. the SnapshotError text naming the component
  std::string hint;
  std::vector<std::string> available;  // alternatives at the failing level
};

// One comparison with both sides' values: a false one (EvalOutcome::failed),
// or the assertion's own (EvalOutcome::compared).
struct FailedComparison {
  Span span;
  std::string lhs_text, op, rhs_text;   // as written
  std::string lhs_value, rhs_value;     // as evaluated ("actual" / "expected")
};

enum class Verdict { Pass, Fail, Error };
const char* verdict_name(Verdict v);  // "pass", "fail", "error"

struct EvalOutcome {
  Verdict verdict = Verdict::Error;
  // Fail: the comparisons (or boolean terms) that made it false, innermost
  // decisive ones; for `a or b`, both sides'.
  std::vector<FailedComparison> failed;
  // Pass or Fail of an assertion that is a comparison at its top ("a > b";
  // not and/or/not or a plain boolean): both sides as evaluated.
  std::optional<FailedComparison> compared;
  std::optional<EvalError> error;  // Error
  std::string value_text;          // the whole expression's value, rendered
  nlohmann::json value_json;       // the same as JSON (RenderedValue form for fields)
};

// Evaluates an assertion: Pass/Fail when it yields a boolean (or a field
// that as_bool() accepts), Error otherwise.
EvalOutcome evaluate(const Expr& expr, const std::string& text, const EvalContext& ctx);
// Evaluates any expression for its value (`ktest snapshot query`): the
// verdict is Pass unless evaluation failed; value_text/json hold the value.
EvalOutcome query(const Expr& expr, const std::string& text, const EvalContext& ctx);

// Multi-line human explanation of a failed or errored outcome:
//   var("nr_cpus_onln") > 4
//   ^~~~~~~~~~~~~~~~~~~~~~~ is false
//     actual:   var("nr_cpus_onln") = 2
//     expected: > 4
// (and for errors: the caret under the failing part, the message, hint).
std::string explain(const EvalOutcome& outcome, const std::string& text);

}  // namespace ktest::dsl
