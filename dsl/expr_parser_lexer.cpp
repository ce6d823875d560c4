// The expression lexer: names, numbers (decimal, hex, float; 64-bit checked),
// quoted strings with escapes, one- and two-character punctuation.
#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "dsl/expr_parser_internal.h"

namespace ktest::dsl::expr_parse {

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::End: return "end of expression";
    case Tok::Name: return fmt::format("name '{}'", t.text);
    case Tok::Number: return "number";
    case Tok::String: return "string";
    case Tok::Punct: return fmt::format("'{}'", t.text);
  }
  return "token";
}

void Lexer::fail(Span span, std::string message, std::string hint) {
  if (!failure_) failure_ = ExprError{span, std::move(message), std::move(hint)};
  tok_ = Token{};
  tok_.span = {static_cast<uint32_t>(text_.size()), 0};
  pos_ = text_.size();
}

void Lexer::advance() {
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
      fail({static_cast<uint32_t>(pos_), 1}, fmt::format("unexpected character '{}'", c));
      return;
    }
    pos_ += tok_.text.size();
  }
  tok_.span.length = static_cast<uint32_t>(pos_ - start);
}

void Lexer::lex_number() {
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
    fail({span.offset, span.length + 1}, fmt::format("malformed number '{}{}'", digits, text_[pos_]),
         hex ? "hex digits are 0-9 and a-f" : "");
    return;
  }
  if (hex && digits.size() == 2) {
    fail(span, "'0x' needs hex digits");
    return;
  }
  tok_.kind = Tok::Number;
  tok_.text = digits;
  if (is_float) {
    double value = std::strtod(digits.c_str(), nullptr);
    // strtod gives inf past the double range; no expression prints it back.
    if (!std::isfinite(value)) {
      fail(span, fmt::format("number {} is out of range", digits), "a decimal number must lie within ±1.7e308");
      return;
    }
    tok_.number = value;
    return;
  }
  uint64_t value = 0;
  const std::string body = hex ? digits.substr(2) : digits;
  const unsigned base = hex ? 16 : 10;
  for (char d : body) {
    unsigned v = std::isdigit(static_cast<unsigned char>(d)) ? unsigned(d - '0')
                                                              : unsigned(std::tolower(d) - 'a' + 10);
    if (value > (UINT64_MAX - v) / base) {
      fail(span, fmt::format("number {} does not fit in 64 bits", digits));
      return;
    }
    value = value * base + v;
  }
  tok_.number = static_cast<expr_int_t>(value);
}

void Lexer::lex_string(char quote) {
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
          fail({static_cast<uint32_t>(pos_ - 2), 2}, fmt::format("unknown escape '\\{}'", esc),
               "escapes are \\\" \\' \\\\ \\n \\t");
          return;
      }
    } else {
      value += ch;
    }
  }
  if (pos_ >= text_.size()) {
    fail({static_cast<uint32_t>(start), static_cast<uint32_t>(pos_ - start)}, "unterminated string",
         fmt::format("close it with {}", quote));
    return;
  }
  ++pos_;
  tok_.kind = Tok::String;
  tok_.text = value;
}

}  // namespace ktest::dsl::expr_parse
