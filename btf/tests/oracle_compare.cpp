// Oracle parsers and comparisons (see oracle.h).
#include "btf/tests/oracle.h"

#include <bpf/btf.h>

#include <cctype>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "btf/render.h"

namespace ktest::btf::oracle {
namespace {

// ---- libbpf text -------------------------------------------------------

class TextParser {
 public:
  explicit TextParser(const std::string& s) : s_(s) {}

  Result<Node> top() {
    if (s_.compare(0, 5, "SEC(\"") == 0) return datasec();
    KTEST_ASSIGN(Node v, value());
    return v;
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  bool at(const char* lit) const { return s_.compare(i_, std::strlen(lit), lit) == 0; }
  Unexpected error(const std::string& what) const {
    return fail(what + " at offset " + std::to_string(i_) + " of: " + s_);
  }

  // "(struct x)", "(void (*)(int))", "(char[16])": nested parentheses.
  void skip_type() {
    if (peek() != '(' || at("(nil)")) return;
    int depth = 0;
    do {
      if (peek() == '(') ++depth;
      if (peek() == ')') --depth;
      ++i_;
    } while (depth > 0 && i_ < s_.size());
  }

  Result<Node> value() {
    skip_type();
    Node n;
    if (eat('{')) {
      n.kind = Node::Kind::Aggregate;
      while (!eat('}')) {
        if (i_ >= s_.size()) return error("unterminated {");
        std::string name;
        if (eat('.')) {
          const auto eq = s_.find(" = ", i_);
          if (eq == std::string::npos) return error("member without ' = '");
          name = s_.substr(i_, eq - i_);
          i_ = eq + 3;
        }
        KTEST_ASSIGN(Node member, value());
        separator(member);
        n.members.push_back({std::move(name), std::move(member)});
      }
      return n;
    }
    if (eat('[')) {
      n.kind = Node::Kind::List;
      while (!eat(']')) {
        if (i_ >= s_.size()) return error("unterminated [");
        KTEST_ASSIGN(Node element, value());
        separator(element);
        n.elements.push_back(std::move(element));
      }
      return n;
    }
    n.kind = Node::Kind::Scalar;
    if (at("(nil)")) {
      n.text = "(nil)";
      i_ += 5;
      return n;
    }
    if (eat('\'')) {  // 'c' or '\c'
      if (eat('\\')) n.text = "\\";
      n.text += peek();
      ++i_;
      if (!eat('\'')) return error("bad char literal");
      n.text = "'" + n.text + "'";
      return n;
    }
    const std::size_t start = i_;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == ',' || c == '}' || c == ']' || c == ';') break;
      // "(enum e)-40.next = ": a member starts without a ',' before it.
      if (c == '.' && i_ + 1 < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[i_ + 1])) ||
                                             s_[i_ + 1] == '_')) {
        break;
      }
      ++i_;
    }
    if (i_ == start) return error("empty value");
    n.text = s_.substr(start, i_ - start);
    return n;
  }

  void separator(Node& after) {
    if (eat(',')) return;
    if (peek() == '.') after.missing_separator_after = true;
  }

  // SEC(".data") int a = (int)1;char[8] b = (char[8])[...];
  Result<Node> datasec() {
    i_ = 5;
    const auto close = s_.find("\")", i_);
    if (close == std::string::npos) return error("bad SEC(");
    Node n;
    n.kind = Node::Kind::Aggregate;
    n.text = s_.substr(i_, close - i_);
    i_ = close + 2;
    eat(' ');
    while (i_ < s_.size()) {
      const auto eq = s_.find(" = ", i_);
      if (eq == std::string::npos) return error("variable without ' = '");
      const std::string decl = s_.substr(i_, eq - i_);
      i_ = eq + 3;
      KTEST_ASSIGN(Node v, value());
      if (!eat(';')) return error("variable without ';'");
      n.members.push_back({decl.substr(decl.rfind(' ') + 1), std::move(v)});
    }
    return n;
  }

  const std::string& s_;
  std::size_t i_ = 0;
};

// ---- JSON keeping duplicate keys ----------------------------------------

class TreeSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  Node root;
  std::string error;

  bool null() override { return add(Node{}) != nullptr; }
  bool boolean(bool v) override {
    Node n;
    n.kind = Node::Kind::Bool;
    n.flag = v;
    return add(std::move(n)) != nullptr;
  }
  bool number_integer(number_integer_t v) override { return number(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& s) override { return number(s); }
  bool string(string_t& v) override {
    Node n;
    n.kind = Node::Kind::String;
    n.text = v;
    return add(std::move(n)) != nullptr;
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open(Node::Kind::Aggregate); }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Node::Kind::List); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception& e) override {
    error = "JSON error at byte " + std::to_string(pos) + ": " + e.what();
    return false;
  }

 private:
  bool number(std::string text) {
    Node n;
    n.kind = Node::Kind::Number;
    n.text = std::move(text);
    return add(std::move(n)) != nullptr;
  }
  Node* add(Node n) {
    if (stack_.empty()) {
      root = std::move(n);
      return &root;
    }
    Node* parent = stack_.back();
    if (parent->kind == Node::Kind::Aggregate) {
      parent->members.push_back({key_, std::move(n)});
      return &parent->members.back().second;
    }
    parent->elements.push_back(std::move(n));
    return &parent->elements.back();
  }
  bool open(Node::Kind kind) {
    Node n;
    n.kind = kind;
    stack_.push_back(add(std::move(n)));
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }
  std::vector<Node*> stack_;
  std::string key_;
};

// ---- comparison ----------------------------------------------------------

uint128_t mask(uint32_t bits) { return bits >= 128 ? ~uint128_t{0} : (uint128_t{1} << bits) - 1; }

bool parse_number(const std::string& text, uint128_t& out) {
  std::size_t i = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) i = 1;
  uint128_t v = 0;
  unsigned base = 10;
  if (text.compare(i, 2, "0x") == 0) {
    base = 16;
    i += 2;
  }
  if (i >= text.size()) return false;
  for (; i < text.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    unsigned d = 0;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else if (c == 'u' || c == 'l') continue;  // ULL / LL suffixes
    else return false;
    v = v * base + d;
  }
  out = negative ? ~v + 1 : v;
  return true;
}

uint128_t numeric(const RenderedValue& v) {
  switch (v.kind) {
    case ValueKind::Int:
    case ValueKind::Enum: return static_cast<uint128_t>(v.int_value);
    default: return v.uint_value;
  }
}

bool is_identifier(const std::string& s) {
  return !s.empty() && (std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_');
}

std::string show(uint128_t v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0x%llx%016llx", static_cast<unsigned long long>(v >> 64),
                static_cast<unsigned long long>(v));
  return buf;
}

const Node* find_bits(const Node& n, uint32_t depth = 0) {
  if (depth > 4 || n.kind != Node::Kind::Aggregate) return nullptr;
  for (const auto& [k, v] : n.members) {
    if (k == "bits" && v.kind == Node::Kind::List) return &v;
    if (const Node* inner = find_bits(v, depth + 1)) return inner;
  }
  return nullptr;
}

void compare_cpus(const RenderedValue& ours, const Node& theirs, const std::string& path,
                  Comparison& out) {
  const Node* bits = find_bits(theirs);
  if (bits == nullptr) {
    out.mismatches.push_back(path + ": no bits array in the oracle's cpumask");
    return;
  }
  std::vector<uint8_t> bitmap;
  for (const auto& word : bits->elements) {
    uint128_t w = 0;
    parse_number(word.text, w);
    for (int k = 0; k < 8; ++k) bitmap.push_back(static_cast<uint8_t>(w >> (8 * k)));
  }
  const std::string expect = cpu_list_from_bitmap(bitmap);
  if (expect != ours.detail().cpus) out.mismatches.push_back(path + ": cpus " + ours.detail().cpus.str() + " vs " + expect);
}

// Shared scalar check: `text` is a number, a hex string, or an enum name.
void compare_scalar(const RenderedValue& ours, const std::string& text, const std::string& path,
                    Comparison& out) {
  if (ours.kind == ValueKind::Enum && is_identifier(text)) {
    if (ours.variant != text) {
      out.mismatches.push_back(path + ": enum " + ours.variant.value_or("<none>") + " vs " + text);
    }
    return;
  }
  if (ours.kind == ValueKind::Float) {
    const double theirs = std::strtod(text.c_str(), nullptr);
    if (std::fabs(theirs - ours.float_value) > 1e-6 + 1e-6 * std::fabs(ours.float_value)) {
      out.mismatches.push_back(path + ": float " + std::to_string(ours.float_value) + " vs " + text);
    }
    return;
  }
  uint128_t theirs = 0;
  if (text == "(nil)") {
    theirs = 0;
  } else if (text.size() >= 3 && text.front() == '\'') {
    theirs = static_cast<uint8_t>(text[text.size() - 2]);
  } else if (!parse_number(text, theirs)) {
    out.mismatches.push_back(path + ": unparsable oracle value " + text);
    return;
  }
  if (ours.kind == ValueKind::Bool) {
    if ((theirs != 0) != (ours.uint_value != 0)) out.mismatches.push_back(path + ": bool vs " + text);
    return;
  }
  const uint32_t bits = ours.kind == ValueKind::Ptr ? 64 : ours.bits;
  if ((numeric(ours) & mask(bits)) != (theirs & mask(bits))) {
    out.mismatches.push_back(path + ": " + show(numeric(ours)) + " vs " + text);
    return;
  }
  if (ours.kind == ValueKind::Enum && ours.variant && ours.is_signed) {
    // libbpf/bpftool do not sign-extend signed enum bitfields, so a named
    // negative value (COLD = -40 in 7 bits) prints as its raw bits (88).
    out.quirks.push_back(path + ": signed enum bitfield printed unsign-extended as " + text);
  }
}

}  // namespace

Result<Node> parse_btf_dump(const std::string& text) { return TextParser(text).top(); }

Result<std::string> btf_dump_text(const struct ::btf* btf, uint32_t id,
                                  const std::vector<uint8_t>& bytes) {
  std::string out;
  auto printer = [](void* ctx, const char* fmt, va_list args) {
    char buf[4096];
    std::vsnprintf(buf, sizeof buf, fmt, args);
    static_cast<std::string*>(ctx)->append(buf);
  };
  struct btf_dump* d = btf_dump__new(btf, printer, &out, nullptr);
  if (d == nullptr) return fail("btf_dump__new failed");
  struct btf_dump_type_data_opts opts = {};
  opts.sz = sizeof opts;
  opts.compact = true;
  opts.emit_zeroes = true;
  const int r = btf_dump__dump_type_data(d, id, bytes.data(), bytes.size(), &opts);
  btf_dump__free(d);
  if (r < 0) return fail("btf_dump__dump_type_data failed: " + std::to_string(r));
  return out;
}

Result<Node> parse_json(const std::string& text) {
  TreeSax sax;
  const bool ok = nlohmann::json::sax_parse(text, &sax);
  if (!ok) return fail(sax.error.empty() ? "invalid JSON" : sax.error);
  return std::move(sax.root);
}

const Node* find(const Node& node, const std::string& key) {
  for (const auto& [k, v] : node.members) {
    if (k == key) return &v;
  }
  return nullptr;
}

void compare_btf_dump(const RenderedValue& ours, const Node& theirs, const std::string& path,
                      Comparison& out) {
  switch (ours.kind) {
    case ValueKind::Struct: {
      if (theirs.kind != Node::Kind::Aggregate || theirs.members.size() != ours.members.size()) {
        out.mismatches.push_back(path + ": struct shape differs");
        return;
      }
      for (std::size_t i = 0; i < ours.members.size(); ++i) {
        const auto& [name, node] = theirs.members[i];
        if (name != ours.members[i].name) out.mismatches.push_back(path + ": member " + name);
        compare_btf_dump(ours.members[i].value, node,
                         path + "." + (name.empty() ? "<anon>" : name), out);
      }
      return;
    }
    case ValueKind::CpuList: compare_cpus(ours, theirs, path, out); return;
    case ValueKind::Array: {
      if (theirs.kind != Node::Kind::List) {
        out.mismatches.push_back(path + ": array vs non-list");
        return;
      }
      std::size_t n = ours.elements.size();
      if (theirs.elements.size() != n) {
        std::size_t nul = 0;  // libbpf prints a char array up to its first NUL
        while (nul < n && ours.elements[nul].uint_value != 0) ++nul;
        if (ours.text && nul < n && theirs.elements.size() == nul) {
          n = theirs.elements.size();  // libbpf stops a char array at its NUL
          out.after_nul_char_array = true;
        } else if (theirs.elements.empty() && out.after_nul_char_array) {
          // libbpf < 1.5 keeps "array terminated" set after a NUL-terminated
          // char array, so every later array prints as [] (fixed in 1.5).
          out.quirks.push_back(path + ": empty array after a NUL-terminated char array");
          return;
        } else {
          out.mismatches.push_back(path + ": " + std::to_string(n) + " elements vs " +
                                   std::to_string(theirs.elements.size()));
          return;
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        compare_btf_dump(ours.elements[i], theirs.elements[i], path + "[" + std::to_string(i) + "]", out);
      }
      return;
    }
    default:
      if (theirs.kind != Node::Kind::Scalar) {
        out.mismatches.push_back(path + ": scalar vs aggregate");
        return;
      }
      compare_scalar(ours, theirs.text, path, out);
      if (theirs.missing_separator_after) {
        // libbpf 1.4 btf_dump_enum_data() returns without the separator when
        // a signed enum value has no name: "(enum t)-3.next = ".
        out.quirks.push_back(path + ": no ',' after this value");
      }
      return;
  }
}

void compare_bpftool(const RenderedValue& ours, const Node& theirs, const std::string& path,
                     Comparison& out) {
  switch (ours.kind) {
    case ValueKind::Struct: {
      // DATASEC: {".data": [{"var": value}, ...]}.
      if (theirs.kind == Node::Kind::Aggregate && theirs.members.size() == 1 && ours.type_name &&
          theirs.members[0].first == *ours.type_name && theirs.members[0].second.kind == Node::Kind::List) {
        const auto& vars = theirs.members[0].second.elements;
        if (vars.size() != ours.members.size()) {
          out.mismatches.push_back(path + ": variable count differs");
          return;
        }
        for (std::size_t i = 0; i < vars.size(); ++i) {
          if (vars[i].members.size() != 1 || vars[i].members[0].first != ours.members[i].name) {
            out.mismatches.push_back(path + ": variable " + ours.members[i].name);
            continue;
          }
          compare_bpftool(ours.members[i].value, vars[i].members[0].second,
                          path + "." + ours.members[i].name, out);
        }
        return;
      }
      if (theirs.kind != Node::Kind::Aggregate || theirs.members.size() != ours.members.size()) {
        out.mismatches.push_back(path + ": struct shape differs");
        return;
      }
      for (std::size_t i = 0; i < ours.members.size(); ++i) {
        const auto& [name, node] = theirs.members[i];
        if (name != ours.members[i].name) out.mismatches.push_back(path + ": member " + name);
        compare_bpftool(ours.members[i].value, node, path + "." + (name.empty() ? "<anon>" : name), out);
      }
      return;
    }
    case ValueKind::CpuList: compare_cpus(ours, theirs, path, out); return;
    case ValueKind::Array: {
      if (theirs.kind == Node::Kind::String) {  // NUL-terminated char array
        if (ours.text != theirs.text) {
          out.mismatches.push_back(path + ": text " + ours.text.value_or("<none>") + " vs " + theirs.text);
        }
        return;
      }
      if (theirs.kind != Node::Kind::List || theirs.elements.size() != ours.elements.size()) {
        out.mismatches.push_back(path + ": array shape differs");
        return;
      }
      for (std::size_t i = 0; i < ours.elements.size(); ++i) {
        compare_bpftool(ours.elements[i], theirs.elements[i], path + "[" + std::to_string(i) + "]", out);
      }
      return;
    }
    case ValueKind::Bool:
      if (theirs.kind == Node::Kind::Bool) {
        if (theirs.flag != (ours.uint_value != 0)) out.mismatches.push_back(path + ": bool differs");
        return;
      }
      [[fallthrough]];
    default:
      if (theirs.kind != Node::Kind::Number && theirs.kind != Node::Kind::String) {
        out.mismatches.push_back(path + ": scalar vs composite");
        return;
      }
      compare_scalar(ours, theirs.text, path, out);
      return;
  }
}

}  // namespace ktest::btf::oracle
