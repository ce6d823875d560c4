// SnapshotField: a present node or a Missing error; typed terminal accessors.
#include <limits>

#include <fmt/format.h>

#include "snapshot/dump.h"
#include "snapshot/json_read.h"
#include "snapshot/snapshot.h"

namespace ktest {

namespace {

constexpr int128_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int128_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr uint128_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint128_t kI128Max = ~static_cast<uint128_t>(0) >> 1;

// Why a scalar cannot be read from `v`, or "" when it can.
std::string unavailable_reason(const RenderedValue& v) {
  switch (v.kind) {
    case ValueKind::Truncated:
      return fmt::format("truncated at capture (needed {} bytes, had {})", v.detail().needed, v.detail().had);
    case ValueKind::Unsupported: return fmt::format("not decodable at capture: {}", v.detail().reason);
    case ValueKind::Bytes: return fmt::format("captured as raw bytes only ({})", v.detail().hex.str().substr(0, 48));
    default: return "";
  }
}

bool is_byte_like(const RenderedValue& e) {
  return e.kind == ValueKind::Char ||
         ((e.kind == ValueKind::Int || e.kind == ValueKind::Uint) && e.bits == 8);
}

}  // namespace

// Shared by SnapshotField and the aggregate helpers: integer view of a node.
struct IntegerView {
  bool is_unsigned = false;
  int128_t s = 0;
  uint128_t u = 0;
};

static Result<IntegerView> integer_of(const RenderedValue& v, const std::string& at,
                                      std::string_view wanted) {
  IntegerView out;
  switch (v.kind) {
    case ValueKind::Uint:
    case ValueKind::Bool:
    case ValueKind::Char:
    case ValueKind::Ptr:
      out.is_unsigned = true;
      out.u = v.uint_value;
      return out;
    case ValueKind::Int:
    case ValueKind::Enum:
      out.s = v.int_value;
      return out;
    default: break;
  }
  std::string why = unavailable_reason(v);
  if (!why.empty()) return fail(SnapshotError::value_unavailable(at, why));
  return fail(SnapshotError::type_mismatch(at, wanted, kind_name(v.kind), render_value_inline(v)));
}

SnapshotField::SnapshotField(std::shared_ptr<const void> owner, const RenderedValue* node,
                             std::string path)
    : owner_(std::move(owner)), node_(node), path_(std::move(path)) {
  if (node_ == nullptr) {
    error_ = std::make_shared<const SnapshotError>(
        SnapshotError::value_unavailable(path_, "no value was captured"));
  }
}

SnapshotField SnapshotField::missing(SnapshotError error) {
  SnapshotField f;
  f.path_ = error.path;
  f.error_ = std::make_shared<const SnapshotError>(std::move(error));
  return f;
}

const SnapshotError* SnapshotField::error() const { return node_ ? nullptr : error_.get(); }

SnapshotField SnapshotField::get(std::string_view dotted_path) const {
  if (!ok()) return *this;
  WalkResult r = walk_dotted_path(*node_, dotted_path, path_);
  if (auto* err = std::get_if<SnapshotError>(&r)) return missing(std::move(*err));
  std::string p = path_;
  if (!dotted_path.empty()) {
    if (!p.empty() && dotted_path.front() != '[') p += ".";
    p += dotted_path;
  }
  return SnapshotField(owner_, std::get<const RenderedValue*>(r), std::move(p));
}

SnapshotField SnapshotField::member(std::string_view name) const {
  if (!ok()) return *this;
  if (name.empty() || name.find_first_of(".[") != std::string_view::npos) {
    std::string at = path_.empty() ? std::string(name) : path_ + "." + std::string(name);
    const RenderedValue* n = follow_pointers(*node_);
    std::vector<std::string> names;
    for (const auto& m : n->members) names.push_back(m.name);
    return missing(SnapshotError::missing_member(name, at, n->type_name.value_or(""), names));
  }
  return get(name);
}

SnapshotField SnapshotField::index(std::size_t i) const {
  if (!ok()) return *this;
  return get(fmt::format("[{}]", i));
}

Result<int128_t> SnapshotField::as_i128() const {
  if (!ok()) return fail(*error_);
  KTEST_ASSIGN(IntegerView iv, integer_of(*node_, path_, "an integer"));
  if (!iv.is_unsigned) return iv.s;
  if (iv.u > kI128Max) {
    return fail(SnapshotError::out_of_range(path_, "a signed 128-bit integer",
                                            json_read::u128_text(iv.u)));
  }
  return static_cast<int128_t>(iv.u);
}

Result<uint64_t> SnapshotField::as_u64() const {
  if (!ok()) return fail(*error_);
  KTEST_ASSIGN(IntegerView iv, integer_of(*node_, path_, "an unsigned integer"));
  if (iv.is_unsigned) {
    if (iv.u > kU64Max) {
      return fail(SnapshotError::out_of_range(path_, "u64", json_read::u128_text(iv.u)));
    }
    return static_cast<uint64_t>(iv.u);
  }
  if (iv.s < 0 || static_cast<uint128_t>(iv.s) > kU64Max) {
    return fail(SnapshotError::out_of_range(path_, "u64", json_read::i128_text(iv.s)));
  }
  return static_cast<uint64_t>(iv.s);
}

Result<int64_t> SnapshotField::as_i64() const {
  if (!ok()) return fail(*error_);
  KTEST_ASSIGN(IntegerView iv, integer_of(*node_, path_, "a signed integer"));
  if (iv.is_unsigned) {
    if (iv.u > static_cast<uint128_t>(kI64Max)) {
      return fail(SnapshotError::out_of_range(path_, "i64", json_read::u128_text(iv.u)));
    }
    return static_cast<int64_t>(iv.u);
  }
  if (iv.s < kI64Min || iv.s > kI64Max) {
    return fail(SnapshotError::out_of_range(path_, "i64", json_read::i128_text(iv.s)));
  }
  return static_cast<int64_t>(iv.s);
}

Result<double> SnapshotField::as_f64() const {
  if (!ok()) return fail(*error_);
  const RenderedValue* n = follow_pointers(*node_);
  if (n->kind == ValueKind::Float) return n->float_value;
  KTEST_ASSIGN(IntegerView iv, integer_of(*n, path_, "a number"));
  return iv.is_unsigned ? static_cast<double>(iv.u) : static_cast<double>(iv.s);
}

Result<bool> SnapshotField::as_bool() const {
  if (!ok()) return fail(*error_);
  const RenderedValue* n = follow_pointers(*node_);
  if (n->kind == ValueKind::Ptr || n->kind == ValueKind::Float) {
    return fail(SnapshotError::type_mismatch(path_, "a boolean", kind_name(n->kind),
                                             render_value_inline(*n)));
  }
  KTEST_ASSIGN(IntegerView iv, integer_of(*n, path_, "a boolean"));
  return iv.is_unsigned ? iv.u != 0 : iv.s != 0;
}

Result<std::string> SnapshotField::as_str() const {
  if (!ok()) return fail(*error_);
  const RenderedValue* n = follow_pointers(*node_);
  if (n->kind == ValueKind::Enum && n->variant) return *n->variant;
  if (n->kind == ValueKind::CpuList) return n->detail().cpus.str();
  if (n->kind == ValueKind::Array) {
    if (n->text) return *n->text;
    bool bytes = true;
    for (const auto& e : n->elements) bytes = bytes && is_byte_like(e);
    if (bytes) {
      std::string out;
      for (const auto& e : n->elements) {
        auto c = static_cast<char>(e.kind == ValueKind::Int ? static_cast<uint8_t>(e.int_value)
                                                            : static_cast<uint8_t>(e.uint_value));
        if (c == '\0') break;
        out.push_back(c);
      }
      return out;
    }
  }
  std::string why = unavailable_reason(*n);
  if (!why.empty()) return fail(SnapshotError::value_unavailable(path_, why));
  return fail(SnapshotError::type_mismatch(path_, "a string (enum variant, char array or cpu list)",
                                           kind_name(n->kind), render_value_inline(*n)));
}

namespace {

template <typename T, typename Fn>
Result<std::vector<T>> array_of(const SnapshotField& f, const RenderedValue* node, Fn element) {
  const RenderedValue* n = follow_pointers(*node);
  if (n->kind != ValueKind::Array) {
    std::string why = unavailable_reason(*n);
    if (!why.empty()) return fail(SnapshotError::value_unavailable(f.path(), why));
    return fail(SnapshotError::type_mismatch(f.path(), "an array", kind_name(n->kind),
                                             render_value_inline(*n)));
  }
  std::vector<T> out;
  out.reserve(n->elements.size());
  for (std::size_t i = 0; i < n->elements.size(); ++i) {
    KTEST_ASSIGN(T v, element(f.index(i)));
    out.push_back(v);
  }
  return out;
}

}  // namespace

Result<std::vector<uint64_t>> SnapshotField::as_u64_array() const {
  if (!ok()) return fail(*error_);
  return array_of<uint64_t>(*this, node_, [](const SnapshotField& e) { return e.as_u64(); });
}

Result<std::vector<uint32_t>> SnapshotField::as_u32_array() const {
  if (!ok()) return fail(*error_);
  return array_of<uint32_t>(*this, node_, [](const SnapshotField& e) -> Result<uint32_t> {
    KTEST_ASSIGN(uint64_t v, e.as_u64());
    if (v > std::numeric_limits<uint32_t>::max()) {
      return fail(SnapshotError::out_of_range(e.path(), "u32", std::to_string(v)));
    }
    return static_cast<uint32_t>(v);
  });
}

Result<std::vector<int64_t>> SnapshotField::as_i64_array() const {
  if (!ok()) return fail(*error_);
  return array_of<int64_t>(*this, node_, [](const SnapshotField& e) { return e.as_i64(); });
}

Result<std::vector<double>> SnapshotField::as_f64_array() const {
  if (!ok()) return fail(*error_);
  return array_of<double>(*this, node_, [](const SnapshotField& e) { return e.as_f64(); });
}

Result<std::vector<bool>> SnapshotField::as_bool_array() const {
  if (!ok()) return fail(*error_);
  return array_of<bool>(*this, node_, [](const SnapshotField& e) { return e.as_bool(); });
}

Result<const RenderedValue*> SnapshotField::raw() const {
  if (!ok()) return fail(*error_);
  return node_;
}

std::optional<ValueKind> SnapshotField::kind() const {
  if (!ok()) return std::nullopt;
  return node_->kind;
}

std::vector<std::string> SnapshotField::member_names() const {
  std::vector<std::string> names;
  if (!ok()) return names;
  const RenderedValue* n = follow_pointers(*node_);
  if (n->kind != ValueKind::Struct) return names;
  for (const auto& m : n->members) names.push_back(m.name);
  return names;
}

std::string SnapshotField::render() const {
  if (!ok()) return fmt::format("<missing: {}>", error_ ? error_->message : "unknown");
  return render_value_inline(*node_);
}

}  // namespace ktest
