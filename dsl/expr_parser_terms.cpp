// The expression parser's terms: literals, lists, parentheses, `@snap`,
// root calls (var(...), map(...)), bare names, and `.method()` / `.member`
// chains, with arity and "did you mean" checks against dsl/expr_vocabulary.h.
#include <fmt/format.h>

#include "dsl/expr_parser_internal.h"
#include "util/edit_distance.h"

namespace ktest::dsl::expr_parse {

std::vector<ExprPtr> Parser::parse_args(bool predicate) {
  std::vector<ExprPtr> args;
  if (!expect("(", "to start the arguments")) return args;
  const bool saved = in_predicate_;
  in_predicate_ = predicate || in_predicate_;
  if (!is(")")) {
    args.push_back(parse_or());
    while (is(",")) {
      advance();
      args.push_back(parse_or());
    }
  }
  in_predicate_ = saved;
  if (!is(")")) {
    error(tok().span, fmt::format("expected ',' or ')' in the arguments, found {}", describe(tok())));
    return args;
  }
  advance();
  return args;
}

// Checks a call's arguments against the vocabulary (dsl/expr_vocabulary.h).
void Parser::check_args(const Expr& call, const Signature& sig) {
  if (failure()) return;
  const std::string example = sig.example;
  if (call.args.size() != std::size_t(sig.arity)) {
    error(call.span, fmt::format("{}() takes {} argument{}, got {}", call.name, sig.arity,
                                 sig.arity == 1 ? "" : "s", call.args.size()),
          "write " + example);
    return;
  }
  if (sig.arg == ArgKind::String && !(call.args[0]->kind == ExprKind::Literal &&
                                      std::holds_alternative<std::string>(call.args[0]->literal)))
    error(call.args[0]->span, fmt::format("{}() takes a string literal", call.name), "write " + example);
  if (sig.arg == ArgKind::IdOrName && call.args[0]->kind == ExprKind::Literal &&
      !std::holds_alternative<std::string>(call.args[0]->literal) &&
      !std::holds_alternative<expr_int_t>(call.args[0]->literal))
    error(call.args[0]->span, fmt::format("{}() takes an integer id or a name", call.name), "write " + example);
}

ExprPtr Parser::parse_postfix(ExprPtr receiver) {
  while (is(".")) {
    advance();
    if (tok().kind != Tok::Name)
      return error(tok().span, fmt::format("expected a method or member name after '.', found {}", describe(tok())));
    Token name = tok();
    advance();
    auto e = std::make_shared<Expr>();
    e->receiver = receiver;
    e->name = name.text;
    e->name_span = name.span;
    if (is("(")) {
      const Signature* sig = find_method(name.text);
      if (!sig) {
        auto hint = nearest(name.text, method_names());
        return error(name.span, fmt::format("unknown method '{}'", name.text),
                     hint ? fmt::format("did you mean '.{}()'?", *hint)
                          : "see ktest-scenario(5) for the accessor vocabulary");
      }
      e->kind = ExprKind::Method;
      e->args = parse_args(sig->arg == ArgKind::Predicate);
      e->span = {receiver->span.offset, static_cast<uint32_t>(lex_.prev_end() - receiver->span.offset)};
      check_args(*e, *sig);
    } else {
      e->kind = ExprKind::Member;
      e->span = join(receiver->span, name.span);
    }
    receiver = e;
  }
  return receiver;
}

ExprPtr Parser::parse_primary() {
  const Token t = tok();
  auto e = std::make_shared<Expr>();
  e->span = t.span;
  switch (t.kind) {
    case Tok::End: return error(t.span, "expected a value, found end of expression");
    case Tok::Number:
      advance();
      e->kind = ExprKind::Literal;
      if (auto* i = std::get_if<expr_int_t>(&t.number)) e->literal = *i;
      else e->literal = std::get<double>(t.number);
      return e;
    case Tok::String:
      advance();
      e->kind = ExprKind::Literal;
      e->literal = t.text;
      return e;
    case Tok::Punct: return parse_punct_primary(t);
    case Tok::Name: break;
  }
  advance();
  if (t.text == "true" || t.text == "false") {
    e->kind = ExprKind::Literal;
    e->literal = t.text == "true";
    return e;
  }
  static const std::vector<std::string> reserved = {"and", "or", "not", "in"};
  for (const auto& r : reserved)
    if (t.text == r) return error(t.span, fmt::format("expected a value, found keyword '{}'", r));
  e->name = t.text;
  e->name_span = t.span;
  if (t.text == "var" && tok().kind == Tok::Name) {  // `var nr_cpus_onln` sugar
    auto arg = std::make_shared<Expr>();
    arg->kind = ExprKind::Literal;
    arg->literal = tok().text;
    arg->span = tok().span;
    e->kind = ExprKind::Call;
    e->args = {arg};
    e->span = join(t.span, tok().span);
    advance();
    return e;
  }
  if (is("(")) {
    const Signature* sig = find_root(t.text);
    if (!sig) {
      auto hint = nearest(t.text, root_names());
      return error(t.span, fmt::format("unknown function '{}'", t.text),
                   hint ? fmt::format("did you mean '{}()'?", *hint) : "roots are var, map, active, live_var, "
                                                                       "vars, snapshot, pid, pids, nr_cpus, scx");
    }
    e->kind = ExprKind::Call;
    e->args = parse_args(false);
    e->span.length = static_cast<uint32_t>(lex_.prev_end() - t.span.offset);
    check_args(*e, *sig);
    return e;
  }
  return parse_name(t, e);
}

// A bare name: the nr_cpus fact, or a field path inside a predicate.
ExprPtr Parser::parse_name(const Token& t, std::shared_ptr<Expr> e) {
  e->kind = ExprKind::Name;
  e->in_predicate = in_predicate_;
  if (in_predicate_) return e;
  if (t.text == "nr_cpus") return e;
  if (find_root(t.text))
    return error(t.span, fmt::format("'{}' needs arguments", t.text),
                 fmt::format("write {}", find_root(t.text)->example));
  return error(t.span, fmt::format("unknown name '{}'", t.text),
               fmt::format("bare names only refer to an entry inside find()/filter(); for a global write var(\"{}\")",
                           t.text));
}

ExprPtr Parser::parse_punct_primary(const Token& t) {
  auto e = std::make_shared<Expr>();
  if (t.text == "(") {
    advance();
    ExprPtr inner = parse_or();
    if (!is(")"))
      return error(tok().span, fmt::format("expected ')' to close the '(' at column {}, found {}",
                                           t.span.offset + 1, describe(tok())));
    advance();
    return inner;
  }
  if (t.text == "[") {
    advance();
    e->kind = ExprKind::List;
    if (!is("]")) {
      e->args.push_back(parse_or());
      while (is(",")) {
        advance();
        e->args.push_back(parse_or());
      }
    }
    if (!is("]")) return error(tok().span, fmt::format("expected ',' or ']' in the list, found {}", describe(tok())));
    advance();
    e->span = {t.span.offset, static_cast<uint32_t>(lex_.prev_end() - t.span.offset)};
    return e;
  }
  if (t.text == "@") {
    advance();
    if (tok().kind != Tok::Name)
      return error(tok().span, "expected a snapshot name after '@'", "write @before.var(\"x\")");
    auto arg = std::make_shared<Expr>();
    arg->kind = ExprKind::Literal;
    arg->literal = tok().text;
    arg->span = tok().span;
    e->kind = ExprKind::Call;
    e->name = "snapshot";
    e->name_span = t.span;
    e->args = {arg};
    e->span = join(t.span, tok().span);
    advance();
    return e;
  }
  return error(t.span, fmt::format("expected a value, found {}", describe(t)),
               t.text == "=" ? "compare with '=='" : "");
}

}  // namespace ktest::dsl::expr_parse
