// RenderedValue: one BTF-typed value rendered into a tree.
//
// Contract: this is the data model shared by btf/ (the producer),
// snapshot/ (traversal, JSON), dsl/ (assertions) and cli/ (dump). It
// mirrors ktstr's `RenderedValue` so ktstr failure-dump JSON loads as is:
// each node is tagged by `kind` (int, uint, bool, char, float, enum,
// struct, array, cpu_list, ptr, bytes, truncated, unsupported).
// Ints wider than 64 bits keep their full 128-bit value.
// Nodes own their children; trees are plain values (copyable, movable).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "snapshot/optional_text.h"

namespace ktest {

__extension__ typedef __int128 int128_t;
__extension__ typedef unsigned __int128 uint128_t;

enum class ValueKind : uint8_t {
  Int, Uint, Bool, Char, Float, Enum, Struct, Array, CpuList, Ptr, Bytes, Truncated, Unsupported
};

struct RenderedMember;
struct RenderedValue;

// What only the rarer kinds of node have (Ptr, Truncated, Bytes, CpuList,
// Unsupported). A node keeps it behind one pointer, made when first written:
// a big report is millions of nodes, nearly all scalars, structs and arrays.
struct RenderedDetail {
  // CpuList: range-collapsed list such as "0-2,5".
  Text cpus;

  // Ptr: dereferenced target when it was chased, else why not (if tried).
  std::shared_ptr<RenderedValue> deref;
  OptionalText deref_skipped_reason;
  // Ptr: how a cast-recovered pointer was typed ("cast→arena", "sdt_alloc").
  OptionalText cast_annotation;

  // Bytes: lowercase space-separated hex ("0a 1b").
  Text hex;

  // Truncated: bytes needed and had; partial is what did decode.
  uint64_t needed = 0;
  uint64_t had = 0;
  std::shared_ptr<RenderedValue> partial;

  // Unsupported: why.
  Text reason;
};

// A RenderedDetail owned by one node: null until written, copied with it.
class DetailBox {
 public:
  DetailBox() noexcept = default;
  DetailBox(const DetailBox& other)
      : held_(other.held_ ? std::make_unique<RenderedDetail>(*other.held_) : nullptr) {}
  DetailBox(DetailBox&&) noexcept = default;
  DetailBox& operator=(const DetailBox& other) {
    if (this != &other) held_ = other.held_ ? std::make_unique<RenderedDetail>(*other.held_) : nullptr;
    return *this;
  }
  DetailBox& operator=(DetailBox&&) noexcept = default;
  ~DetailBox() = default;

  const RenderedDetail& get() const noexcept { return held_ ? *held_ : none(); }
  RenderedDetail& made() {
    if (!held_) held_ = std::make_unique<RenderedDetail>();
    return *held_;
  }

 private:
  static const RenderedDetail& none() noexcept {
    static const RenderedDetail empty;
    return empty;
  }
  std::unique_ptr<RenderedDetail> held_;
};

struct RenderedValue {
  // User-provided: value-initialization (vector::resize, emplace_back())
  // then runs only the initializers below instead of first zeroing all of
  // the node's bytes. Defined below RenderedMember: clang needs that type
  // complete wherever the constructor's body is.
  RenderedValue() noexcept;

  // 112 bytes, in an order that leaves no padding: fields for the common
  // kinds inline, the rest in detail(). A big report is millions of nodes.
  ValueKind kind = ValueKind::Unsupported;
  bool is_signed = false;  // Enum signedness
  // Int/Uint/Float/Enum: declared width in bits.
  uint32_t bits = 0;

  // Array: true length (may exceed elements.size() when capped at 4096).
  uint64_t len = 0;

  // The scalar, by kind: no node has more than one (operator== and every
  // reader go by kind).
  union {
    int128_t int_value = 0;  // Int, Enum (as stored)
    uint128_t uint_value;    // Uint, Char (the raw byte), Bool (0/1), Ptr (the address)
    double float_value;      // Float
  };

  // Enum: resolved variant name (empty optional when the value has none).
  OptionalText variant;

  // Struct: optional type name (section name for DATASEC) and members.
  OptionalText type_name;
  std::vector<RenderedMember> members;

  // Array: the elements kept; char arrays also keep their text (up to the
  // first NUL) for as_str().
  std::vector<RenderedValue> elements;
  OptionalText text;

  // Ptr, Truncated, Bytes, CpuList, Unsupported: see RenderedDetail.
  const RenderedDetail& detail() const noexcept { return detail_.get(); }
  RenderedDetail& mutable_detail() { return detail_.made(); }

 private:
  DetailBox detail_;
};

struct RenderedMember {
  RenderedMember() noexcept {}  // see RenderedValue()
  RenderedMember(std::string member_name, RenderedValue member_value)
      : name(std::move(member_name)), value(std::move(member_value)) {}

  std::string name;  // empty for anonymous members
  RenderedValue value;
};

inline RenderedValue::RenderedValue() noexcept {}

static_assert(sizeof(RenderedValue) <= 112, "a node's size multiplies by millions: keep rare parts in RenderedDetail");

// Constructors for the producer side (btf/ and tests).
RenderedValue make_int(uint32_t bits, int128_t value);
RenderedValue make_uint(uint32_t bits, uint128_t value);
RenderedValue make_bool(bool value);
RenderedValue make_char(uint8_t value);
RenderedValue make_float(uint32_t bits, double value);
RenderedValue make_enum(uint32_t bits, int128_t value, std::optional<std::string> variant,
                        bool is_signed);
RenderedValue make_struct(std::optional<std::string> type_name,
                          std::vector<RenderedMember> members);
RenderedValue make_array(uint64_t len, std::vector<RenderedValue> elements);
RenderedValue make_cpu_list(std::string cpus);
RenderedValue make_ptr(uint64_t address, std::shared_ptr<RenderedValue> deref = nullptr,
                       std::optional<std::string> deref_skipped_reason = std::nullopt);
RenderedValue make_bytes(std::string hex);
RenderedValue make_truncated(uint64_t needed, uint64_t had, RenderedValue partial);
RenderedValue make_unsupported(std::string reason);

// The same in place, on a default-constructed value: a producer filling a
// tree node where it lies (btf/'s renderer) needs no temporary to move in.
// The scalar ones are inline: the renderer calls them once per leaf.
inline void set_int(RenderedValue& v, uint32_t bits, int128_t value) {
  v.kind = ValueKind::Int;
  v.bits = bits;
  v.int_value = value;
}
inline void set_uint(RenderedValue& v, uint32_t bits, uint128_t value) {
  v.kind = ValueKind::Uint;
  v.bits = bits;
  v.uint_value = value;
}
inline void set_bool(RenderedValue& v, bool value) {
  v.kind = ValueKind::Bool;
  v.bits = 8;
  v.uint_value = value ? 1 : 0;
}
inline void set_char(RenderedValue& v, uint8_t value) {
  v.kind = ValueKind::Char;
  v.bits = 8;
  v.uint_value = value;
}
inline void set_float(RenderedValue& v, uint32_t bits, double value) {
  v.kind = ValueKind::Float;
  v.bits = bits;
  v.float_value = value;
}
void set_enum(RenderedValue& v, uint32_t bits, int128_t value, std::optional<std::string> variant,
              bool is_signed);
void set_cpu_list(RenderedValue& v, std::string cpus);
void set_ptr(RenderedValue& v, uint64_t address, std::shared_ptr<RenderedValue> deref = nullptr,
             std::optional<std::string> deref_skipped_reason = std::nullopt);
void set_bytes(RenderedValue& v, std::string hex);
void set_unsupported(RenderedValue& v, std::string reason);

// Lowercase, space-separated hex of raw bytes ("0a 1b").
std::string hex_bytes(const uint8_t* data, std::size_t size);

const char* kind_name(ValueKind kind);  // the JSON `kind` tag
inline constexpr ValueKind kAllValueKinds[] = {
    ValueKind::Int,     ValueKind::Uint, ValueKind::Bool,  ValueKind::Char,      ValueKind::Float,
    ValueKind::Enum,    ValueKind::Struct, ValueKind::Array, ValueKind::CpuList, ValueKind::Ptr,
    ValueKind::Bytes,   ValueKind::Truncated, ValueKind::Unsupported};
std::optional<ValueKind> kind_from_name(std::string_view name);  // kind_name's inverse

bool operator==(const RenderedValue& a, const RenderedValue& b);
inline bool operator==(const RenderedMember& a, const RenderedMember& b) {
  return a.name == b.name && a.value == b.value;
}

}  // namespace ktest
