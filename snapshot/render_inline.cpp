// One-line rendering of RenderedValue trees (keys, error messages, arrays).
#include <fmt/format.h>

#include "snapshot/dump.h"
#include "snapshot/json_read.h"
#include "snapshot/render_util.h"

namespace ktest {

namespace {

// Inline text is for humans and error messages: bounded in size and depth.
constexpr std::size_t kInlineBudget = 2048;
constexpr std::size_t kInlineDepth = 24;

class InlineWriter {
 public:
  std::string out;

  void value(const RenderedValue& v, std::size_t depth) {
    if (full()) return;
    if (depth > kInlineDepth) {
      out += "…";
      return;
    }
    switch (v.kind) {
      case ValueKind::Struct: struct_(v, depth); break;
      case ValueKind::Array: array(v, depth); break;
      case ValueKind::Ptr:
        out += scalar_text(v);
        if (v.detail().deref) {
          out += " -> ";
          value(*v.detail().deref, depth + 1);
        } else if (v.detail().deref_skipped_reason) {
          out += fmt::format(" [chase: {}]", *v.detail().deref_skipped_reason);
        }
        break;
      case ValueKind::Truncated:
        out += fmt::format("<truncated needed={} had={}>", v.detail().needed, v.detail().had);
        if (v.detail().partial) {
          out += " ";
          value(*v.detail().partial, depth + 1);
        }
        break;
      default: out += scalar_text(v); break;
    }
    if (out.size() > kInlineBudget) {
      out.resize(kInlineBudget);
      out += "…";
    }
  }

 private:
  bool full() const { return out.size() >= kInlineBudget; }

  void struct_(const RenderedValue& v, std::size_t depth) {
    if (v.type_name) out += *v.type_name;
    out += "{";
    for (std::size_t i = 0; i < v.members.size() && !full(); ++i) {
      if (i != 0) out += ", ";
      out += v.members[i].name.empty() ? "<anon>" : v.members[i].name;
      out += "=";
      value(v.members[i].value, depth + 1);
    }
    out += "}";
  }

  void array(const RenderedValue& v, std::size_t depth) {
    if (auto text = char_array_text(v)) {
      out += quote_text(*text);
      return;
    }
    out += "[";
    for (std::size_t i = 0; i < v.elements.size() && !full(); ++i) {
      if (i != 0) out += ", ";
      value(v.elements[i], depth + 1);
    }
    if (v.len > v.elements.size()) out += fmt::format(", … (len {})", v.len);
    out += "]";
  }
};

}  // namespace

std::optional<std::string> char_array_text(const RenderedValue& v) {
  if (v.kind != ValueKind::Array) return std::nullopt;
  if (v.text) return *v.text;  // also for "" (no elements)
  if (v.elements.empty()) return std::nullopt;
  bool any_char = false;
  std::string s;
  bool ended = false;
  for (const auto& e : v.elements) {
    uint8_t b = 0;
    if (e.kind == ValueKind::Char) {
      any_char = true;
      b = static_cast<uint8_t>(e.uint_value);
    } else {
      return std::nullopt;
    }
    if (b == 0) ended = true;
    if (!ended) s.push_back(static_cast<char>(b));
  }
  if (!any_char) return std::nullopt;
  return s;
}

std::string quote_text(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (b < 0x20 || b == 0x7f) {
      out += fmt::format("\\x{:02x}", b);
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string scalar_text(const RenderedValue& v) {
  switch (v.kind) {
    case ValueKind::Int: return json_read::i128_text(v.int_value);
    case ValueKind::Uint: return json_read::u128_text(v.uint_value);
    case ValueKind::Bool: return v.uint_value ? "true" : "false";
    case ValueKind::Char: {
      auto b = static_cast<unsigned>(v.uint_value & 0xff);
      if (b >= 0x20 && b < 0x7f && b != '\'') return fmt::format("'{}'", static_cast<char>(b));
      return fmt::format("0x{:02x}", b);
    }
    case ValueKind::Float: return fmt::format("{}", v.float_value);
    case ValueKind::Enum:
      return v.variant ? fmt::format("{} ({})", *v.variant, json_read::i128_text(v.int_value))
                       : json_read::i128_text(v.int_value);
    case ValueKind::CpuList: return fmt::format("cpus={{{}}}", v.detail().cpus);
    case ValueKind::Ptr: {
      std::string s = fmt::format("0x{:x}", static_cast<uint64_t>(v.uint_value));
      if (v.detail().cast_annotation) s += fmt::format(" ({})", *v.detail().cast_annotation);
      return s;
    }
    case ValueKind::Bytes: return fmt::format("bytes({})", v.detail().hex);
    case ValueKind::Unsupported: return fmt::format("<unsupported: {}>", v.detail().reason);
    case ValueKind::Truncated: return fmt::format("<truncated needed={} had={}>", v.detail().needed, v.detail().had);
    case ValueKind::Struct: return "{…}";
    case ValueKind::Array: return "[…]";
  }
  return "?";
}

bool is_zero_value(const RenderedValue& v, std::size_t depth) {
  if (depth > kInlineDepth) return false;
  switch (v.kind) {
    case ValueKind::Int: return v.int_value == 0;
    case ValueKind::Uint:
    case ValueKind::Bool:
    case ValueKind::Char: return v.uint_value == 0;
    case ValueKind::Float: return v.float_value == 0.0;
    case ValueKind::Enum: return false;  // a named state is information
    case ValueKind::Ptr: return v.uint_value == 0 && !v.detail().deref;
    case ValueKind::CpuList: return v.detail().cpus.empty();
    case ValueKind::Bytes: return v.detail().hex.str().find_first_not_of("0 ") == std::string::npos;
    case ValueKind::Struct:
      for (const auto& m : v.members) {
        if (!is_zero_value(m.value, depth + 1)) return false;
      }
      return true;
    case ValueKind::Array:
      for (const auto& e : v.elements) {
        if (!is_zero_value(e, depth + 1)) return false;
      }
      return true;
    default: return false;
  }
}

std::string render_value_inline(const RenderedValue& v) {
  InlineWriter w;
  w.value(v, 0);
  return w.out;
}

}  // namespace ktest
