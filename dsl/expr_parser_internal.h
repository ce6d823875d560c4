// Private to the expression parser; the public entry points are parse_expr()
// and parse_expr_located() in dsl/expr.h. Shared by expr_parser_lexer.cpp (tokens),
// expr_parser.cpp (operators and precedence) and expr_parser_terms.cpp
// (values, calls, method chains).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "dsl/expr.h"
#include "dsl/expr_vocabulary.h"

namespace ktest::dsl::expr_parse {

enum class Tok { End, Name, Number, String, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string text;  // Name/Punct text; String's decoded value
  Span span;
  std::variant<std::monostate, expr_int_t, double> number;
};

// "name 'x'", "'('", "end of expression": a token as error messages name it.
std::string describe(const Token& t);

// Reads one token ahead. It also holds the first error, from the lexer or
// the parser: recording it ends the token stream, so every parse loop unwinds.
class Lexer {
 public:
  explicit Lexer(const std::string& text) : text_(text) { advance(); }

  const std::string& text() const { return text_; }
  const Token& token() const { return tok_; }
  std::size_t prev_end() const { return prev_end_; }  // where the previous token ended
  const std::optional<ExprError>& failure() const { return failure_; }

  void advance();
  // Keeps only the first error.
  void fail(Span span, std::string message, std::string hint = {});

 private:
  void lex_number();
  void lex_string(char quote);

  const std::string& text_;
  std::size_t pos_ = 0;
  Token tok_;
  std::size_t prev_end_ = 0;
  std::optional<ExprError> failure_;
};

// Recursive descent over the grammar in dsl/expr.h; stops at the first error.
class Parser {
 public:
  explicit Parser(const std::string& text) : lex_(text) {}

  const std::optional<ExprError>& failure() const { return lex_.failure(); }
  ExprPtr parse_all();

 private:
  // expr_parser.cpp: errors, token tests, operator levels.
  ExprPtr error(Span span, std::string message, std::string hint = {});
  ExprPtr too_deep() { return too_deep(tok().span); }
  ExprPtr too_deep(Span span);
  static ExprPtr placeholder();
  const Token& tok() const { return lex_.token(); }
  void advance() { lex_.advance(); }
  bool is(const char* punct) const { return tok().kind == Tok::Punct && tok().text == punct; }
  bool is_word(const char* word) const { return tok().kind == Tok::Name && tok().text == word; }
  bool expect(const char* punct, const char* what);
  static Span join(Span a, Span b) { return {a.offset, b.offset + b.length - a.offset}; }
  ExprPtr binary(Op op, ExprPtr lhs, ExprPtr rhs);
  ExprPtr unary(Op op, Span op_span, ExprPtr operand);
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  std::optional<Op> comparison_op() const;
  ExprPtr parse_cmp();
  ExprPtr parse_sum();
  ExprPtr parse_prod();
  ExprPtr parse_unary();

  // expr_parser_terms.cpp: values, root calls, method and member chains.
  std::vector<ExprPtr> parse_args(bool predicate);
  void check_args(const Expr& call, const Signature& sig);
  ExprPtr parse_postfix(ExprPtr receiver);
  ExprPtr parse_primary();
  ExprPtr parse_name(const Token& t, std::shared_ptr<Expr> e);
  ExprPtr parse_punct_primary(const Token& t);

  Lexer lex_;
  bool in_predicate_ = false;
  static constexpr int kMaxDepth = 64;
  int depth_ = 0;
};

}  // namespace ktest::dsl::expr_parse
