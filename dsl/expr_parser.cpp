// Recursive-descent parser for assertion expressions (grammar in dsl/expr.h):
// the entry points, error recording, and the operator levels from 'or' down
// to unary minus. Values, calls and method chains: expr_parser_terms.cpp.
#include <fmt/format.h>

#include "dsl/expr.h"
#include "dsl/expr_parser_internal.h"

namespace ktest::dsl {
namespace expr_parse {
namespace {

// Whether e's canonical text (to_string) nests at most `levels` levels deep
// as this parser counts them when it reads that text back. The canonical
// text brackets every binary operation, so a flat chain typed as
// "1 - 1 - ... - 1" nests one level per operator there, and it brackets a
// 'not' under a tighter operator (counted for every 'not', to keep this
// simple) and a unary receiver. A receiver chain prints flat, so it is
// walked in a loop; the recursion is at most `levels` deep.
bool printed_within(const Expr* e, int levels) {
  auto args_within = [&e](int inner) {
    for (const auto& a : e->args)
      if (!printed_within(a.get(), inner)) return false;
    return true;
  };
  for (;; e = e->receiver.get()) {
    if (levels < 0) return false;
    switch (e->kind) {
      case ExprKind::Literal: {
        // A negative number prints as "-5", which reads back through unary minus.
        const auto* i = std::get_if<expr_int_t>(&e->literal);
        const auto* d = std::get_if<double>(&e->literal);
        return levels >= ((i && *i < 0) || (d && *d < 0) ? 1 : 0);
      }
      case ExprKind::Name: return true;
      case ExprKind::Member:
      case ExprKind::Method:
        if (e->kind == ExprKind::Method && !args_within(levels - 1)) return false;
        if (e->receiver->kind == ExprKind::Unary) --levels;
        continue;
      case ExprKind::Unary: return args_within(levels - (e->op == Op::Not ? 2 : 1));
      case ExprKind::Call:
      case ExprKind::List:
      case ExprKind::Binary: return args_within(levels - 1);
    }
    return false;
  }
}

}  // namespace

ExprPtr Parser::parse_all() {
  ExprPtr e = parse_or();
  // parse_or above counted the text as typed; the canonical text must read
  // back too (one level for its outermost parse_or).
  if (!failure() && !printed_within(e.get(), kMaxDepth - 1)) return too_deep(e->span);
  if (tok().kind != Tok::End && !failure()) {
    std::string hint;
    if (tok().text == "=") hint = "compare with '=='";
    else if (tok().text == "&") hint = "write 'and' or '&&'";
    else if (tok().text == "|") hint = "write 'or' or '||'";
    else hint = "join conditions with 'and' / 'or'";
    error(tok().span, fmt::format("unexpected {} after a complete expression", describe(tok())), hint);
  }
  return e;
}

// Records the first error and ends the token stream, so every loop
// unwinds; callers return the placeholder it gives back.
ExprPtr Parser::error(Span span, std::string message, std::string hint) {
  lex_.fail(span, std::move(message), std::move(hint));
  return placeholder();
}

ExprPtr Parser::too_deep(Span span) {
  return error(span, fmt::format("expression nests deeper than {} levels", kMaxDepth),
               "each operator, '(', call and list counts as a level; split it into several assertions");
}

ExprPtr Parser::placeholder() {
  auto e = std::make_shared<Expr>();
  e->literal = false;
  return e;
}

bool Parser::expect(const char* punct, const char* what) {
  if (!is(punct)) {
    error(tok().span, fmt::format("expected '{}' {}, found {}", punct, what, describe(tok())));
    return false;
  }
  advance();
  return true;
}

ExprPtr Parser::binary(Op op, ExprPtr lhs, ExprPtr rhs) {
  auto e = std::make_shared<Expr>();
  e->kind = ExprKind::Binary;
  e->op = op;
  e->span = join(lhs->span, rhs->span);
  e->args = {std::move(lhs), std::move(rhs)};
  return e;
}

ExprPtr Parser::unary(Op op, Span op_span, ExprPtr operand) {
  auto e = std::make_shared<Expr>();
  e->kind = ExprKind::Unary;
  e->op = op;
  e->span = join(op_span, operand->span);
  e->args = {std::move(operand)};
  return e;
}

ExprPtr Parser::parse_or() {
  // Every nesting (parentheses, lists, arguments) passes through here.
  if (++depth_ > kMaxDepth) return too_deep();
  ExprPtr lhs = parse_and();
  while (is_word("or") || is("||")) {
    advance();
    lhs = binary(Op::Or, lhs, parse_and());
  }
  --depth_;
  return lhs;
}

ExprPtr Parser::parse_and() {
  ExprPtr lhs = parse_not();
  while (is_word("and") || is("&&")) {
    advance();
    lhs = binary(Op::And, lhs, parse_not());
  }
  return lhs;
}

ExprPtr Parser::parse_not() {
  if (is_word("not") || is("!")) {
    if (++depth_ > kMaxDepth) return too_deep();
    Span s = tok().span;
    advance();
    ExprPtr e = unary(Op::Not, s, parse_not());
    --depth_;
    return e;
  }
  return parse_cmp();
}

std::optional<Op> Parser::comparison_op() const {
  if (is("==")) return Op::Eq;
  if (is("!=")) return Op::Ne;
  if (is("<")) return Op::Lt;
  if (is("<=")) return Op::Le;
  if (is(">")) return Op::Gt;
  if (is(">=")) return Op::Ge;
  if (is_word("in")) return Op::In;
  return std::nullopt;
}

ExprPtr Parser::parse_cmp() {
  ExprPtr lhs = parse_sum();
  if (is("=")) return error(tok().span, "'=' is not a comparison", "compare with '=='");
  auto op = comparison_op();
  if (!op) return lhs;
  advance();
  ExprPtr e = binary(*op, lhs, parse_sum());
  if (comparison_op())
    return error(tok().span, "comparisons do not chain",
                 fmt::format("split it: ({}) and ...", lex_.text().substr(e->span.offset, e->span.length)));
  return e;
}

ExprPtr Parser::parse_sum() {
  ExprPtr lhs = parse_prod();
  while (is("+") || is("-")) {
    Op op = is("+") ? Op::Add : Op::Sub;
    advance();
    lhs = binary(op, lhs, parse_prod());
  }
  return lhs;
}

ExprPtr Parser::parse_prod() {
  ExprPtr lhs = parse_unary();
  while (is("*") || is("/") || is("%")) {
    Op op = is("*") ? Op::Mul : is("/") ? Op::Div : Op::Mod;
    advance();
    lhs = binary(op, lhs, parse_unary());
  }
  return lhs;
}

ExprPtr Parser::parse_unary() {
  if (is("-")) {
    if (++depth_ > kMaxDepth) return too_deep();
    Span s = tok().span;
    advance();
    ExprPtr operand = parse_unary();
    --depth_;
    // Fold "-5" into a literal so negative numbers compare as numbers.
    if (operand->kind == ExprKind::Literal && !std::holds_alternative<std::string>(operand->literal) &&
        !std::holds_alternative<bool>(operand->literal)) {
      auto lit = std::make_shared<Expr>(*operand);
      lit->span = join(s, operand->span);
      if (auto* i = std::get_if<expr_int_t>(&lit->literal)) *i = -*i;
      // No negative zero: it equals 0 but prints as "-0", which reads back
      // as the integer 0, so the canonical text would not parse to itself.
      else if (auto* d = std::get_if<double>(&lit->literal)) *d = *d == 0.0 ? 0.0 : -*d;
      return lit;
    }
    return unary(Op::Neg, s, operand);
  }
  return parse_postfix(parse_primary());
}

}  // namespace expr_parse

std::variant<ExprPtr, ExprError> parse_expr_located(const std::string& text) {
  expr_parse::Parser parser(text);
  ExprPtr e = parser.parse_all();
  if (parser.failure()) return *parser.failure();
  return e;
}

Result<ExprPtr> parse_expr(const std::string& text) {
  auto parsed = parse_expr_located(text);
  if (auto* e = std::get_if<ExprPtr>(&parsed)) return *e;
  const auto& err = std::get<ExprError>(parsed);
  return fail(err.message, fmt::format("column {}", err.span.offset + 1), err.hint);
}

}  // namespace ktest::dsl
