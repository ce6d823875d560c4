// Internal to snapshot/: one map entry's JSON as the parser's events, and
// the entry read from them without building a JSON document first.
//
// Contract:
// - EntryTokens holds one JSON value as a flat list of tokens (reused from
//   entry to entry, so a big report's entries cost no allocations of
//   their own). Each container's start token knows where the container ends.
// - EntryReader::read() reads the shape ktest writes (report_json.cpp,
//   value_json.cpp), and only that: every key known, integers as JSON
//   integers, no value it would have to word an error for. For anything
//   else it returns nullopt, and the caller reads to_json() with
//   entry_from_json(), whose reading is the one truth. What it reads, it
//   reads as that reader does (snapshot/tests/entry_tokens_test.cpp, and
//   the report_json fuzz target, which compares the two on every input).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/report.h"

namespace ktest {

class EntryTokens {
 public:
  enum class Type : uint8_t { Null, Bool, Int, Uint, Float, String, Key, ObjectStart, ArrayStart, End };
  struct Span {
    uint32_t offset, size;  // in the text buffer
  };
  struct Token {
    Type type = Type::Null;
    bool boolean = false;
    uint32_t end = 0;  // ObjectStart, ArrayStart: the index of their End
    union {
      int64_t integer = 0;  // Int: a number written with a minus sign (others are Uint)
      uint64_t unsigned_integer;
      double floating;
      Span text;  // String, Key
    };
  };

  void clear() {
    tokens_.clear();
    text_.clear();
    open_.clear();
  }
  bool empty() const { return tokens_.empty(); }
  // True when the value is complete (its outermost container has ended).
  bool complete() const { return !tokens_.empty() && open_.empty(); }

  void add_null() { add(Type::Null); }
  void add_bool(bool b) { add(Type::Bool).boolean = b; }
  void add_int(int64_t v) { add(Type::Int).integer = v; }
  void add_uint(uint64_t v) { add(Type::Uint).unsigned_integer = v; }
  void add_float(double v) { add(Type::Float).floating = v; }
  void add_string(std::string_view s) { add_text(Type::String, s); }
  void add_key(std::string_view s) { add_text(Type::Key, s); }
  void open(Type container);  // ObjectStart or ArrayStart
  void close();

  const Token& at(uint32_t i) const { return tokens_[i]; }
  uint32_t size() const { return static_cast<uint32_t>(tokens_.size()); }
  std::string_view text(const Token& t) const { return std::string_view(text_).substr(t.text.offset, t.text.size); }
  // The index just past the value that starts at i.
  uint32_t after(uint32_t i) const {
    const Token& t = tokens_[i];
    return (t.type == Type::ObjectStart || t.type == Type::ArrayStart) ? t.end + 1 : i + 1;
  }

  // The value starting at i as a JSON document, as the parser would have built it.
  nlohmann::json to_json(uint32_t i = 0) const;

 private:
  Token& add(Type type) {
    Token& t = tokens_.emplace_back();
    t.type = type;
    return t;
  }
  void add_text(Type type, std::string_view s);

  std::vector<Token> tokens_;
  std::string text_;
  std::vector<uint32_t> open_;  // start tokens of the containers not yet ended
};

// Reads entries one after another; equal names and texts read by one
// reader share their storage (OptionalText), up to kMaxShared distinct ones.
class EntryReader {
 public:
  static constexpr std::size_t kMaxShared = 4096;
  std::optional<MapEntry> read(const EntryTokens& tokens);

 private:
  // Each key views the text of the OptionalText it maps to (held on the heap, immutable).
  std::unordered_map<std::string_view, OptionalText> interned_;
};

}  // namespace ktest
