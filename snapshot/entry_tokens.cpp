// A map entry read from its parser events; see entry_tokens.h.
#include "snapshot/entry_tokens.h"

#include <array>
#include <limits>
#include <unordered_map>

namespace ktest {

using json = nlohmann::json;
using Type = EntryTokens::Type;
using Token = EntryTokens::Token;

void EntryTokens::add_text(Type type, std::string_view s) {
  add(type).text = Span{static_cast<uint32_t>(text_.size()), static_cast<uint32_t>(s.size())};
  text_.append(s);
}

void EntryTokens::open(Type container) {
  open_.push_back(size());
  add(container);
}

void EntryTokens::close() {
  tokens_[open_.back()].end = size();
  open_.pop_back();
  add(Type::End);
}

json EntryTokens::to_json(uint32_t i) const {
  const Token& t = tokens_[i];
  switch (t.type) {
    case Type::Null: return nullptr;
    case Type::Bool: return t.boolean;
    case Type::Int: return t.integer;
    case Type::Uint: return t.unsigned_integer;
    case Type::Float: return t.floating;
    case Type::String: return std::string(text(t));
    case Type::ObjectStart: {
      json out = json::object();
      for (uint32_t k = i + 1; k < t.end; k = after(k + 1)) out[std::string(text(tokens_[k]))] = to_json(k + 1);
      return out;
    }
    case Type::ArrayStart: {
      json out = json::array();
      for (uint32_t k = i + 1; k < t.end; k = after(k)) out.push_back(to_json(k));
      return out;
    }
    case Type::Key:
    case Type::End: break;  // never where a value starts
  }
  return nullptr;
}

namespace {

// The keys value_json.cpp's reader knows on a value object.
enum Field : uint8_t {
  kKind, kBits, kValue, kVariant, kIsSigned, kTypeName, kMembers, kElements, kLen, kText,
  kDeref, kDerefSkippedReason, kCastAnnotation, kCpus, kHex, kNeeded, kHad, kPartial, kReason, kFieldCount
};
constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "kind", "bits", "value", "variant", "is_signed", "type_name", "members", "elements", "len", "text",
    "deref", "deref_skipped_reason", "cast_annotation", "cpus", "hex", "needed", "had", "partial", "reason"};

class Reader {
 public:
  explicit Reader(const EntryTokens& t, std::unordered_map<std::string_view, OptionalText>& interned)
      : t_(t), interned_(interned) {}

  // The object at `at` read into `out`; false: not the shape ktest writes.
  bool value(uint32_t at, std::size_t depth, RenderedValue& out) {
    if (depth > kMaxJsonDepth) return false;
    std::array<uint32_t, kFieldCount> f{};
    if (!fields(at, kFieldNames, f)) return false;
    if (f[kKind] == 0 || t_.at(f[kKind]).type != Type::String) return false;
    std::optional<ValueKind> kind = kind_from_name(t_.text(t_.at(f[kKind])));
    if (!kind) return false;
    uint64_t bits = 0;
    if (f[kBits] != 0 && (!u64(f[kBits], bits) || bits > 128)) return false;
    switch (*kind) {
      case ValueKind::Int:
      case ValueKind::Enum: {
        int128_t v = 0;
        if (f[kValue] == 0 || !i128(f[kValue], v)) return false;
        if (*kind == ValueKind::Int) {
          set_int(out, static_cast<uint32_t>(bits), v);
          return true;
        }
        OptionalText variant;
        bool is_signed = false;
        if (!text(f[kVariant], variant) || !boolean(f[kIsSigned], is_signed)) return false;
        set_enum(out, static_cast<uint32_t>(bits), v, std::nullopt, is_signed);
        out.variant = std::move(variant);
        return true;
      }
      case ValueKind::Uint:
      case ValueKind::Char:
      case ValueKind::Ptr: {
        uint64_t v = 0;
        if (f[kValue] == 0 || !u64(f[kValue], v)) return false;
        if (*kind == ValueKind::Uint) {
          set_uint(out, static_cast<uint32_t>(bits), v);
        } else if (*kind == ValueKind::Char) {
          if (v > 0xff) return false;
          set_char(out, static_cast<uint8_t>(v));
        } else {
          return pointer(f, v, depth, out);
        }
        return true;
      }
      case ValueKind::Bool: {
        if (f[kValue] == 0) return false;
        const Token& v = t_.at(f[kValue]);
        if (v.type != Type::Bool && v.type != Type::Uint) return false;
        set_bool(out, v.type == Type::Bool ? v.boolean : v.unsigned_integer != 0);
        return true;
      }
      case ValueKind::Float: {
        double v = std::numeric_limits<double>::quiet_NaN();
        if (f[kValue] != 0 && !number(f[kValue], v)) return false;
        set_float(out, static_cast<uint32_t>(bits), v);
        return true;
      }
      case ValueKind::Struct: return structure(f, depth, out);
      case ValueKind::Array: return array(f, depth, out);
      case ValueKind::CpuList:
      case ValueKind::Bytes: {
        const Field field = *kind == ValueKind::CpuList ? kCpus : kHex;
        std::string text;
        if (f[field] == 0 || !string(f[field], text)) return false;  // required
        *kind == ValueKind::CpuList ? set_cpu_list(out, std::move(text)) : set_bytes(out, std::move(text));
        return true;
      }
      case ValueKind::Unsupported: {
        std::string reason;
        if (!string(f[kReason], reason)) return false;
        set_unsupported(out, std::move(reason));
        return true;
      }
      case ValueKind::Truncated: {
        uint64_t needed = 0, had = 0;
        if ((f[kNeeded] != 0 && !u64(f[kNeeded], needed)) || (f[kHad] != 0 && !u64(f[kHad], had))) return false;
        RenderedValue partial = make_bytes("");
        if (f[kPartial] != 0 && !value(f[kPartial], depth + 1, partial)) return false;
        out = make_truncated(needed, had, std::move(partial));
        return true;
      }
    }
    return false;
  }

  // The object at `at` as its fields: f[k] is the token of the value of
  // key names[k], 0 when absent or null (as json_read's find()). False on a
  // key not in `names` or given twice.
  template <std::size_t N>
  bool fields(uint32_t at, const std::array<std::string_view, N>& names, std::array<uint32_t, N>& f) const {
    const Token& object = t_.at(at);
    if (object.type != Type::ObjectStart) return false;
    uint64_t seen = 0;
    static_assert(N <= 64);
    for (uint32_t k = at + 1; k < object.end; k = t_.after(k + 1)) {
      std::string_view key = t_.text(t_.at(k));
      std::size_t n = 0;
      while (n < N && names[n] != key) ++n;
      if (n == N || (seen & (uint64_t{1} << n)) != 0) return false;
      seen |= uint64_t{1} << n;
      if (t_.at(k + 1).type != Type::Null) f[n] = k + 1;
    }
    return true;
  }

  // An entry's key, value or payload: absent (0) or a value.
  bool optional_value(uint32_t at, std::optional<RenderedValue>& out) {
    if (at == 0) return true;
    out.emplace();
    return value(at, 0, *out);
  }

  // A string field, absent (0) or as it is.
  bool string(uint32_t at, std::string& out) const {
    if (at == 0) return true;
    if (t_.at(at).type != Type::String) return false;
    out = t_.text(t_.at(at));
    return true;
  }

  // A string field, absent (0) or shared with every equal one read before:
  // names and texts repeat from entry to entry (a type name, a comm).
  bool text(uint32_t at, OptionalText& out) {
    if (at == 0) return true;
    if (t_.at(at).type != Type::String) return false;
    std::string_view s = t_.text(t_.at(at));
    if (auto it = interned_.find(s); it != interned_.end()) {
      out = it->second;
      return true;
    }
    out = OptionalText(std::string(s));
    if (interned_.size() < EntryReader::kMaxShared) interned_.emplace(std::string_view(*out), out);
    return true;
  }

 private:
  bool u64(uint32_t at, uint64_t& out) const {
    const Token& t = t_.at(at);
    if (t.type != Type::Uint) return false;  // a negative, a float or a string: the plain reader words it
    out = t.unsigned_integer;
    return true;
  }
  bool i128(uint32_t at, int128_t& out) const {
    const Token& t = t_.at(at);
    if (t.type == Type::Uint) out = t.unsigned_integer;
    else if (t.type == Type::Int) out = t.integer;
    else return false;
    return true;
  }
  bool number(uint32_t at, double& out) const {
    const Token& t = t_.at(at);
    if (t.type == Type::Float) out = t.floating;
    else if (t.type == Type::Uint) out = static_cast<double>(t.unsigned_integer);
    else if (t.type == Type::Int) out = static_cast<double>(t.integer);
    else return false;
    return true;
  }
  bool boolean(uint32_t at, bool& out) const {
    if (at == 0) return true;
    if (t_.at(at).type != Type::Bool) return false;
    out = t_.at(at).boolean;
    return true;
  }

  bool pointer(const std::array<uint32_t, kFieldCount>& f, uint64_t address, std::size_t depth,
               RenderedValue& out) {
    std::shared_ptr<RenderedValue> deref;
    if (f[kDeref] != 0) {
      deref = std::make_shared<RenderedValue>();
      if (!value(f[kDeref], depth + 1, *deref)) return false;
    }
    OptionalText reason, annotation;
    if (!text(f[kDerefSkippedReason], reason) || !text(f[kCastAnnotation], annotation)) return false;
    set_ptr(out, address, std::move(deref), reason);
    if (annotation) out.mutable_detail().cast_annotation = std::move(annotation);
    return true;
  }

  bool structure(const std::array<uint32_t, kFieldCount>& f, std::size_t depth, RenderedValue& out) {
    out.kind = ValueKind::Struct;
    if (!text(f[kTypeName], out.type_name)) return false;
    if (f[kMembers] == 0) return true;
    const Token& members = t_.at(f[kMembers]);
    if (members.type != Type::ArrayStart) return false;
    out.members.reserve(count(f[kMembers]));
    static constexpr std::array<std::string_view, 2> kMemberFields = {"name", "value"};
    for (uint32_t k = f[kMembers] + 1; k < members.end; k = t_.after(k)) {
      std::array<uint32_t, 2> m{};
      if (!fields(k, kMemberFields, m) || m[1] == 0) return false;
      RenderedMember& member = out.members.emplace_back();
      if (!string(m[0], member.name)) return false;
      if (!value(m[1], depth + 1, member.value)) return false;
    }
    return true;
  }

  bool array(const std::array<uint32_t, kFieldCount>& f, std::size_t depth, RenderedValue& out) {
    out.kind = ValueKind::Array;
    if (f[kElements] != 0) {
      const Token& elements = t_.at(f[kElements]);
      if (elements.type != Type::ArrayStart) return false;
      out.elements.resize(count(f[kElements]));
      std::size_t n = 0;
      for (uint32_t k = f[kElements] + 1; k < elements.end; k = t_.after(k))
        if (!value(k, depth + 1, out.elements[n++])) return false;
    }
    out.len = out.elements.size();
    if (f[kLen] != 0 && !u64(f[kLen], out.len)) return false;
    return text(f[kText], out.text);
  }

  // The number of values in the array starting at `at`.
  std::size_t count(uint32_t at) const {
    std::size_t n = 0;
    for (uint32_t k = at + 1; k < t_.at(at).end; k = t_.after(k)) ++n;
    return n;
  }

  const EntryTokens& t_;
  std::unordered_map<std::string_view, OptionalText>& interned_;
};

}  // namespace

std::optional<MapEntry> EntryReader::read(const EntryTokens& tokens) {
  static constexpr std::array<std::string_view, 5> kEntryFields = {"key", "key_hex", "value", "value_hex",
                                                                   "payload"};
  Reader read(tokens, interned_);
  std::array<uint32_t, 5> f{};
  if (!read.fields(0, kEntryFields, f)) return std::nullopt;
  MapEntry e;
  if (!read.optional_value(f[0], e.key) || !read.string(f[1], e.key_hex) || !read.optional_value(f[2], e.value) ||
      !read.string(f[3], e.value_hex) || !read.optional_value(f[4], e.payload))
    return std::nullopt;
  return e;
}

}  // namespace ktest
