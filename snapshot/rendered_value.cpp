// RenderedValue constructors, names and equality.
#include "snapshot/rendered_value.h"

#include <cstring>

namespace ktest {

void set_enum(RenderedValue& v, uint32_t bits, int128_t value, std::optional<std::string> variant,
              bool is_signed) {
  v.kind = ValueKind::Enum;
  v.bits = bits;
  v.int_value = value;
  v.variant = std::move(variant);
  v.is_signed = is_signed;
}

void set_cpu_list(RenderedValue& v, std::string cpus) {
  v.kind = ValueKind::CpuList;
  v.mutable_detail().cpus = std::move(cpus);
}

void set_ptr(RenderedValue& v, uint64_t address, std::shared_ptr<RenderedValue> deref,
             std::optional<std::string> deref_skipped_reason) {
  v.kind = ValueKind::Ptr;
  v.bits = 64;
  v.uint_value = address;
  // A pointer left alone (no reader) has no detail: no allocation.
  if (deref || deref_skipped_reason) {
    RenderedDetail& d = v.mutable_detail();
    d.deref = std::move(deref);
    d.deref_skipped_reason = std::move(deref_skipped_reason);
  }
}

void set_bytes(RenderedValue& v, std::string hex) {
  v.kind = ValueKind::Bytes;
  v.mutable_detail().hex = std::move(hex);
}

void set_unsupported(RenderedValue& v, std::string reason) {
  v.kind = ValueKind::Unsupported;
  v.mutable_detail().reason = std::move(reason);
}

RenderedValue make_int(uint32_t bits, int128_t value) {
  RenderedValue v;
  set_int(v, bits, value);
  return v;
}

RenderedValue make_uint(uint32_t bits, uint128_t value) {
  RenderedValue v;
  set_uint(v, bits, value);
  return v;
}

RenderedValue make_bool(bool value) {
  RenderedValue v;
  set_bool(v, value);
  return v;
}

RenderedValue make_char(uint8_t value) {
  RenderedValue v;
  set_char(v, value);
  return v;
}

RenderedValue make_float(uint32_t bits, double value) {
  RenderedValue v;
  set_float(v, bits, value);
  return v;
}

RenderedValue make_enum(uint32_t bits, int128_t value, std::optional<std::string> variant,
                        bool is_signed) {
  RenderedValue v;
  set_enum(v, bits, value, std::move(variant), is_signed);
  return v;
}

RenderedValue make_struct(std::optional<std::string> type_name,
                          std::vector<RenderedMember> members) {
  RenderedValue v;
  v.kind = ValueKind::Struct;
  v.type_name = std::move(type_name);
  v.members = std::move(members);
  return v;
}

RenderedValue make_array(uint64_t len, std::vector<RenderedValue> elements) {
  RenderedValue v;
  v.kind = ValueKind::Array;
  v.len = len;
  v.elements = std::move(elements);
  return v;
}

RenderedValue make_cpu_list(std::string cpus) {
  RenderedValue v;
  set_cpu_list(v, std::move(cpus));
  return v;
}

RenderedValue make_ptr(uint64_t address, std::shared_ptr<RenderedValue> deref,
                       std::optional<std::string> deref_skipped_reason) {
  RenderedValue v;
  set_ptr(v, address, std::move(deref), std::move(deref_skipped_reason));
  return v;
}

RenderedValue make_bytes(std::string hex) {
  RenderedValue v;
  set_bytes(v, std::move(hex));
  return v;
}

RenderedValue make_truncated(uint64_t needed, uint64_t had, RenderedValue partial) {
  RenderedValue v;
  v.kind = ValueKind::Truncated;
  RenderedDetail& d = v.mutable_detail();
  d.needed = needed;
  d.had = had;
  d.partial = std::make_shared<RenderedValue>(std::move(partial));
  return v;
}

RenderedValue make_unsupported(std::string reason) {
  RenderedValue v;
  set_unsupported(v, std::move(reason));
  return v;
}

std::string hex_bytes(const uint8_t* data, std::size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  if (data == nullptr || size == 0) return out;
  out.reserve(size * 3 - 1);
  for (std::size_t i = 0; i < size; ++i) {
    if (i != 0) out.push_back(' ');
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0xf]);
  }
  return out;
}

const char* kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::Int: return "int";
    case ValueKind::Uint: return "uint";
    case ValueKind::Bool: return "bool";
    case ValueKind::Char: return "char";
    case ValueKind::Float: return "float";
    case ValueKind::Enum: return "enum";
    case ValueKind::Struct: return "struct";
    case ValueKind::Array: return "array";
    case ValueKind::CpuList: return "cpu_list";
    case ValueKind::Ptr: return "ptr";
    case ValueKind::Bytes: return "bytes";
    case ValueKind::Truncated: return "truncated";
    case ValueKind::Unsupported: return "unsupported";
  }
  return "unsupported";
}

std::optional<ValueKind> kind_from_name(std::string_view name) {
  for (ValueKind k : kAllValueKinds)
    if (name == kind_name(k)) return k;
  return std::nullopt;
}

namespace {

bool same_ptr_target(const std::shared_ptr<RenderedValue>& a,
                     const std::shared_ptr<RenderedValue>& b) {
  if (!a || !b) return !a && !b;
  return *a == *b;
}

// Bitwise so NaN == NaN and round trips compare equal.
bool same_double(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

// Compares only the fields meaningful for the kind, so producers need not
// zero the others.
bool operator==(const RenderedValue& a, const RenderedValue& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::Int: return a.bits == b.bits && a.int_value == b.int_value;
    case ValueKind::Uint: return a.bits == b.bits && a.uint_value == b.uint_value;
    case ValueKind::Bool:
    case ValueKind::Char: return a.uint_value == b.uint_value;
    case ValueKind::Float: return a.bits == b.bits && same_double(a.float_value, b.float_value);
    case ValueKind::Enum:
      return a.bits == b.bits && a.int_value == b.int_value && a.variant == b.variant &&
             a.is_signed == b.is_signed;
    case ValueKind::Struct: return a.type_name == b.type_name && a.members == b.members;
    case ValueKind::Array: return a.len == b.len && a.elements == b.elements && a.text == b.text;
    case ValueKind::CpuList: return a.detail().cpus == b.detail().cpus;
    case ValueKind::Ptr: {
      const RenderedDetail& da = a.detail();
      const RenderedDetail& db = b.detail();
      return a.uint_value == b.uint_value && same_ptr_target(da.deref, db.deref) &&
             da.deref_skipped_reason == db.deref_skipped_reason &&
             da.cast_annotation == db.cast_annotation;
    }
    case ValueKind::Bytes: return a.detail().hex == b.detail().hex;
    case ValueKind::Truncated: {
      const RenderedDetail& da = a.detail();
      const RenderedDetail& db = b.detail();
      return da.needed == db.needed && da.had == db.had && same_ptr_target(da.partial, db.partial);
    }
    case ValueKind::Unsupported: return a.detail().reason == b.detail().reason;
  }
  return false;
}

}  // namespace ktest
