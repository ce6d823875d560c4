// Printing and walking parsed expressions.
#include <fmt/format.h>

#include "dsl/expr.h"
#include "dsl/expr_value.h"

namespace ktest::dsl {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    if (c == '\t') { out += "\\t"; continue; }
    out += c;
  }
  return out + "\"";
}

void walk(const Expr& e, std::vector<ExprRef>& out) {
  if (e.kind == ExprKind::Call && e.args.size() == 1) {
    const auto* name = std::get_if<std::string>(&e.args[0]->literal);
    if (name && (e.name == "pid" || e.name == "pids"))
      out.push_back({ExprRef::Kind::Workload, *name, e.args[0]->span});
    if (name && e.name == "snapshot") out.push_back({ExprRef::Kind::Snapshot, *name, e.args[0]->span});
    if (name && e.name == "stats") out.push_back({ExprRef::Kind::Stats, *name, e.args[0]->span});
    if (name && e.name == "series") out.push_back({ExprRef::Kind::Series, *name, e.args[0]->span});
  }
  if (e.receiver) walk(*e.receiver, out);
  for (const auto& a : e.args) walk(*a, out);
}

std::string tight(const Expr& e, bool any_unary);

}  // namespace

const char* op_text(Op op) {
  switch (op) {
    case Op::None: return "";
    case Op::Not: return "not";
    case Op::Neg: return "-";
    case Op::Or: return "or";
    case Op::And: return "and";
    case Op::Eq: return "==";
    case Op::Ne: return "!=";
    case Op::Lt: return "<";
    case Op::Le: return "<=";
    case Op::Gt: return ">";
    case Op::Ge: return ">=";
    case Op::In: return "in";
    case Op::Add: return "+";
    case Op::Sub: return "-";
    case Op::Mul: return "*";
    case Op::Div: return "/";
    case Op::Mod: return "%";
  }
  return "";
}

std::string to_string(const Expr& e) {
  auto args = [&e] {
    std::string out;
    for (const auto& a : e.args) out += (out.empty() ? "" : ", ") + to_string(*a);
    return out;
  };
  switch (e.kind) {
    case ExprKind::Literal:
      if (auto* i = std::get_if<expr_int_t>(&e.literal)) return int_to_string(*i);
      if (auto* d = std::get_if<double>(&e.literal)) return fmt::format("{}", *d);
      if (auto* s = std::get_if<std::string>(&e.literal)) return quote(*s);
      if (auto* b = std::get_if<bool>(&e.literal)) return *b ? "true" : "false";
      return "?";
    case ExprKind::List: return "[" + args() + "]";
    case ExprKind::Name: return e.name;
    case ExprKind::Call: return e.name + "(" + args() + ")";
    case ExprKind::Method: return tight(*e.receiver, true) + "." + e.name + "(" + args() + ")";
    case ExprKind::Member: return tight(*e.receiver, true) + "." + e.name;
    case ExprKind::Unary:
      return e.op == Op::Not ? "not " + to_string(*e.args[0]) : "-" + tight(*e.args[0], false);
    case ExprKind::Binary: {
      const bool logical = e.op == Op::And || e.op == Op::Or;
      auto side = [&](const Expr& a) { return logical ? to_string(a) : tight(a, false); };
      return "(" + side(*e.args[0]) + " " + op_text(e.op) + " " + side(*e.args[1]) + ")";
    }
  }
  return "?";
}

namespace {

// 'not' binds looser than a comparison, arithmetic or minus, and any unary
// operator looser than '.': there the operand is bracketed, so the canonical
// text reads back as the same tree.
std::string tight(const Expr& e, bool any_unary) {
  const bool bracket = e.kind == ExprKind::Unary && (any_unary || e.op == Op::Not);
  return bracket ? "(" + to_string(e) + ")" : to_string(e);
}

}  // namespace

std::vector<ExprRef> collect_refs(const Expr& expr) {
  std::vector<ExprRef> out;
  walk(expr, out);
  return out;
}

}  // namespace ktest::dsl
