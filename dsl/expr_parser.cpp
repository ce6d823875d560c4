// Recursive-descent parser for assertion expressions (grammar in dsl/expr.h).
#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <optional>

#include "dsl/expr.h"
#include "dsl/expr_vocabulary.h"
#include "util/edit_distance.h"

namespace ktest::dsl {
namespace {

enum class Tok { End, Name, Number, String, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string text;  // Name/Punct text; String's decoded value
  Span span;
  std::variant<std::monostate, expr_int_t, double> number;
};

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) { advance(); }

  // The first error, if any; parsing stops at it.
  const std::optional<ExprError>& failure() const { return failure_; }

  ExprPtr parse_all() {
    ExprPtr e = parse_or();
    if (tok_.kind != Tok::End && !failure_) {
      std::string hint;
      if (tok_.text == "=") hint = "compare with '=='";
      else if (tok_.text == "&") hint = "write 'and' or '&&'";
      else if (tok_.text == "|") hint = "write 'or' or '||'";
      else hint = "join conditions with 'and' / 'or'";
      error(tok_.span, fmt::format("unexpected {} after a complete expression", describe(tok_)), hint);
    }
    return e;
  }

 private:
  // ---- errors ----
  // Records the first error and ends the token stream, so every loop
  // unwinds; callers return the placeholder it gives back.
  ExprPtr error(Span span, std::string message, std::string hint = {}) {
    if (!failure_) failure_ = ExprError{span, std::move(message), std::move(hint)};
    tok_ = Token{};
    tok_.span = {static_cast<uint32_t>(text_.size()), 0};
    pos_ = text_.size();
    return placeholder();
  }
  ExprPtr too_deep() { return error(tok_.span, fmt::format("expression nests deeper than {} levels", kMaxDepth)); }
  static ExprPtr placeholder() {
    auto e = std::make_shared<Expr>();
    e->literal = false;
    return e;
  }

  // ---- lexer ----

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::End: return "end of expression";
      case Tok::Name: return fmt::format("name '{}'", t.text);
      case Tok::Number: return "number";
      case Tok::String: return "string";
      case Tok::Punct: return fmt::format("'{}'", t.text);
    }
    return "token";
  }

  void advance() {
    prev_end_ = tok_.span.offset + tok_.span.length;
    if (failure_) return;
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    tok_ = Token{};
    tok_.span.offset = static_cast<uint32_t>(pos_);
    if (pos_ >= text_.size()) return;
    const char c = text_[pos_];
    const std::size_t start = pos_;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (pos_ < text_.size() &&
             (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_'))
        ++pos_;
      tok_.kind = Tok::Name;
      tok_.text = text_.substr(start, pos_ - start);
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      lex_number();
    } else if (c == '"' || c == '\'') {
      lex_string(c);
    } else {
      static const char* two[] = {"==", "!=", "<=", ">=", "&&", "||"};
      tok_.kind = Tok::Punct;
      tok_.text = std::string(1, c);
      for (const char* t : two)
        if (text_.compare(pos_, 2, t) == 0) tok_.text = t;
      if (std::string("()[],.@<>!+-*/%=&|").find(c) == std::string::npos) {
        error({static_cast<uint32_t>(pos_), 1}, fmt::format("unexpected character '{}'", c));
        return;
      }
      pos_ += tok_.text.size();
    }
    tok_.span.length = static_cast<uint32_t>(pos_ - start);
  }

  void lex_number() {
    const std::size_t start = pos_;
    const bool hex = text_.compare(pos_, 2, "0x") == 0 || text_.compare(pos_, 2, "0X") == 0;
    if (hex) pos_ += 2;
    bool is_float = false;
    while (pos_ < text_.size()) {
      char ch = text_[pos_];
      if (hex ? std::isxdigit(static_cast<unsigned char>(ch)) : std::isdigit(static_cast<unsigned char>(ch))) {
        ++pos_;
      } else if (!hex && (ch == '.' || ch == 'e' || ch == 'E') && pos_ + 1 < text_.size() &&
                 (std::isdigit(static_cast<unsigned char>(text_[pos_ + 1])) ||
                  ((ch == 'e' || ch == 'E') && (text_[pos_ + 1] == '-' || text_[pos_ + 1] == '+')))) {
        is_float = true;
        pos_ += (ch != '.' && (text_[pos_ + 1] == '-' || text_[pos_ + 1] == '+')) ? 2 : 1;
      } else {
        break;
      }
    }
    const std::string digits = text_.substr(start, pos_ - start);
    const Span span{static_cast<uint32_t>(start), static_cast<uint32_t>(pos_ - start)};
    if (pos_ < text_.size() && (std::isalpha(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) {
      error({span.offset, span.length + 1}, fmt::format("malformed number '{}{}'", digits, text_[pos_]),
            hex ? "hex digits are 0-9 and a-f" : "");
      return;
    }
    if (hex && digits.size() == 2) {
      error(span, "'0x' needs hex digits");
      return;
    }
    tok_.kind = Tok::Number;
    tok_.text = digits;
    if (is_float) {
      tok_.number = std::strtod(digits.c_str(), nullptr);
      return;
    }
    uint64_t value = 0;
    const std::string body = hex ? digits.substr(2) : digits;
    const unsigned base = hex ? 16 : 10;
    for (char d : body) {
      unsigned v = std::isdigit(static_cast<unsigned char>(d)) ? unsigned(d - '0')
                                                                : unsigned(std::tolower(d) - 'a' + 10);
      if (value > (UINT64_MAX - v) / base) {
        error(span, fmt::format("number {} does not fit in 64 bits", digits));
        return;
      }
      value = value * base + v;
    }
    tok_.number = static_cast<expr_int_t>(value);
  }

  void lex_string(char quote) {
    const std::size_t start = pos_++;
    std::string value;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char ch = text_[pos_++];
      if (ch == '\\' && pos_ < text_.size()) {
        char esc = text_[pos_++];
        switch (esc) {
          case 'n': value += '\n'; break;
          case 't': value += '\t'; break;
          case '\\': case '"': case '\'': value += esc; break;
          default:
            error({static_cast<uint32_t>(pos_ - 2), 2}, fmt::format("unknown escape '\\{}'", esc),
                  "escapes are \\\" \\' \\\\ \\n \\t");
            return;
        }
      } else {
        value += ch;
      }
    }
    if (pos_ >= text_.size()) {
      error({static_cast<uint32_t>(start), static_cast<uint32_t>(pos_ - start)}, "unterminated string",
            fmt::format("close it with {}", quote));
      return;
    }
    ++pos_;
    tok_.kind = Tok::String;
    tok_.text = value;
  }

  bool is(const char* punct) const { return tok_.kind == Tok::Punct && tok_.text == punct; }
  bool is_word(const char* word) const { return tok_.kind == Tok::Name && tok_.text == word; }

  bool expect(const char* punct, const char* what) {
    if (!is(punct)) {
      error(tok_.span, fmt::format("expected '{}' {}, found {}", punct, what, describe(tok_)));
      return false;
    }
    advance();
    return true;
  }

  // ---- grammar ----
  static Span join(Span a, Span b) { return {a.offset, b.offset + b.length - a.offset}; }

  ExprPtr binary(Op op, ExprPtr lhs, ExprPtr rhs) {
    auto e = std::make_shared<Expr>();
    e->kind = ExprKind::Binary;
    e->op = op;
    e->span = join(lhs->span, rhs->span);
    e->args = {std::move(lhs), std::move(rhs)};
    return e;
  }

  ExprPtr unary(Op op, Span op_span, ExprPtr operand) {
    auto e = std::make_shared<Expr>();
    e->kind = ExprKind::Unary;
    e->op = op;
    e->span = join(op_span, operand->span);
    e->args = {std::move(operand)};
    return e;
  }

  ExprPtr parse_or() {
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

  ExprPtr parse_and() {
    ExprPtr lhs = parse_not();
    while (is_word("and") || is("&&")) {
      advance();
      lhs = binary(Op::And, lhs, parse_not());
    }
    return lhs;
  }

  ExprPtr parse_not() {
    if (is_word("not") || is("!")) {
      if (++depth_ > kMaxDepth) return too_deep();
      Span s = tok_.span;
      advance();
      ExprPtr e = unary(Op::Not, s, parse_not());
      --depth_;
      return e;
    }
    return parse_cmp();
  }

  std::optional<Op> comparison_op() const {
    if (is("==")) return Op::Eq;
    if (is("!=")) return Op::Ne;
    if (is("<")) return Op::Lt;
    if (is("<=")) return Op::Le;
    if (is(">")) return Op::Gt;
    if (is(">=")) return Op::Ge;
    if (is_word("in")) return Op::In;
    return std::nullopt;
  }

  ExprPtr parse_cmp() {
    ExprPtr lhs = parse_sum();
    if (is("=")) return error(tok_.span, "'=' is not a comparison", "compare with '=='");
    auto op = comparison_op();
    if (!op) return lhs;
    advance();
    ExprPtr e = binary(*op, lhs, parse_sum());
    if (comparison_op())
      return error(tok_.span, "comparisons do not chain",
            fmt::format("split it: ({}) and ...", text_.substr(e->span.offset, e->span.length)));
    return e;
  }

  ExprPtr parse_sum() {
    ExprPtr lhs = parse_prod();
    while (is("+") || is("-")) {
      Op op = is("+") ? Op::Add : Op::Sub;
      advance();
      lhs = binary(op, lhs, parse_prod());
    }
    return lhs;
  }

  ExprPtr parse_prod() {
    ExprPtr lhs = parse_unary();
    while (is("*") || is("/") || is("%")) {
      Op op = is("*") ? Op::Mul : is("/") ? Op::Div : Op::Mod;
      advance();
      lhs = binary(op, lhs, parse_unary());
    }
    return lhs;
  }

  ExprPtr parse_unary() {
    if (is("-")) {
      if (++depth_ > kMaxDepth) return too_deep();
      Span s = tok_.span;
      advance();
      ExprPtr operand = parse_unary();
      --depth_;
      // Fold "-5" into a literal so negative numbers compare as numbers.
      if (operand->kind == ExprKind::Literal && !std::holds_alternative<std::string>(operand->literal) &&
          !std::holds_alternative<bool>(operand->literal)) {
        auto lit = std::make_shared<Expr>(*operand);
        lit->span = join(s, operand->span);
        if (auto* i = std::get_if<expr_int_t>(&lit->literal)) *i = -*i;
        else if (auto* d = std::get_if<double>(&lit->literal)) *d = -*d;
        return lit;
      }
      return unary(Op::Neg, s, operand);
    }
    return parse_postfix(parse_primary());
  }

  std::vector<ExprPtr> parse_args(bool predicate) {
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
      error(tok_.span, fmt::format("expected ',' or ')' in the arguments, found {}", describe(tok_)));
      return args;
    }
    advance();
    return args;
  }

  // Checks a call's arguments against the vocabulary (dsl/expr_vocabulary.h).
  void check_args(const Expr& call, const Signature& sig) {
    if (failure_) return;
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
  }

  ExprPtr parse_postfix(ExprPtr receiver) {
    while (is(".")) {
      advance();
      if (tok_.kind != Tok::Name)
        return error(tok_.span, fmt::format("expected a method or member name after '.', found {}", describe(tok_)));
      Token name = tok_;
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
        e->span = {receiver->span.offset, static_cast<uint32_t>(prev_end_ - receiver->span.offset)};
        check_args(*e, *sig);
      } else {
        e->kind = ExprKind::Member;
        e->span = join(receiver->span, name.span);
      }
      receiver = e;
    }
    return receiver;
  }

  ExprPtr parse_primary() {
    const Token t = tok_;
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
    if (t.text == "var" && tok_.kind == Tok::Name) {  // `var nr_cpus_onln` sugar
      auto arg = std::make_shared<Expr>();
      arg->kind = ExprKind::Literal;
      arg->literal = tok_.text;
      arg->span = tok_.span;
      e->kind = ExprKind::Call;
      e->args = {arg};
      e->span = join(t.span, tok_.span);
      advance();
      return e;
    }
    if (is("(")) {
      const Signature* sig = find_root(t.text);
      if (!sig) {
        auto hint = nearest(t.text, root_names());
        return error(t.span, fmt::format("unknown function '{}'", t.text),
              hint ? fmt::format("did you mean '{}()'?", *hint) : "roots are var, map, active, live_var, "
                                                                  "vars, snapshot, pid, pids, nr_cpus");
      }
      e->kind = ExprKind::Call;
      e->args = parse_args(false);
      e->span.length = static_cast<uint32_t>(prev_end_ - t.span.offset);
      check_args(*e, *sig);
      return e;
    }
    return parse_name(t, e);
  }

  // A bare name: the nr_cpus fact, or a field path inside a predicate.
  ExprPtr parse_name(const Token& t, std::shared_ptr<Expr> e) {
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

  ExprPtr parse_punct_primary(const Token& t) {
    auto e = std::make_shared<Expr>();
    if (t.text == "(") {
      advance();
      ExprPtr inner = parse_or();
      if (!is(")")) return error(tok_.span, fmt::format("expected ')' to close the '(' at column {}, found {}",
                                                 t.span.offset + 1, describe(tok_)));
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
      if (!is("]")) return error(tok_.span, fmt::format("expected ',' or ']' in the list, found {}", describe(tok_)));
      advance();
      e->span = {t.span.offset, static_cast<uint32_t>(prev_end_ - t.span.offset)};
      return e;
    }
    if (t.text == "@") {
      advance();
      if (tok_.kind != Tok::Name) return error(tok_.span, "expected a snapshot name after '@'", "write @before.var(\"x\")");
      auto arg = std::make_shared<Expr>();
      arg->kind = ExprKind::Literal;
      arg->literal = tok_.text;
      arg->span = tok_.span;
      e->kind = ExprKind::Call;
      e->name = "snapshot";
      e->name_span = t.span;
      e->args = {arg};
      e->span = join(t.span, tok_.span);
      advance();
      return e;
    }
    return error(t.span, fmt::format("expected a value, found {}", describe(t)),
          t.text == "=" ? "compare with '=='" : "");
  }

  const std::string& text_;
  std::size_t pos_ = 0;
  Token tok_;
  std::size_t prev_end_ = 0;  // where the previous token ended, for call spans
  bool in_predicate_ = false;
  std::optional<ExprError> failure_;
  static constexpr int kMaxDepth = 64;
  int depth_ = 0;
};

}  // namespace

std::variant<ExprPtr, ExprError> parse_expr_located(const std::string& text) {
  Parser parser(text);
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
