// RenderedValue <-> JSON in ktstr's serde shape ({"kind": ..., ...}).
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "snapshot/json_read.h"
#include "snapshot/report.h"

namespace ktest {

using nlohmann::json;
using namespace json_read;

json value_to_json(const RenderedValue& v) {
  json j = json::object();
  j["kind"] = kind_name(v.kind);
  switch (v.kind) {
    case ValueKind::Int:
      j["bits"] = v.bits;
      j["value"] = i128_json(v.int_value);
      break;
    case ValueKind::Uint:
      j["bits"] = v.bits;
      j["value"] = u128_json(v.uint_value);
      break;
    case ValueKind::Bool: j["value"] = v.uint_value != 0; break;
    case ValueKind::Char: j["value"] = static_cast<unsigned>(v.uint_value & 0xff); break;
    case ValueKind::Float:
      j["bits"] = v.bits;
      // serde_json writes non-finite floats as null; so do we.
      j["value"] = std::isfinite(v.float_value) ? json(v.float_value) : json(nullptr);
      break;
    case ValueKind::Enum:
      j["bits"] = v.bits;
      j["value"] = i128_json(v.int_value);
      j["variant"] = v.variant ? json(*v.variant) : json(nullptr);
      j["is_signed"] = v.is_signed;
      break;
    case ValueKind::Struct: {
      j["type_name"] = v.type_name ? json(*v.type_name) : json(nullptr);
      json members = json::array();
      for (const auto& m : v.members) {
        members.push_back(json{{"name", m.name}, {"value", value_to_json(m.value)}});
      }
      j["members"] = std::move(members);
      break;
    }
    case ValueKind::Array: {
      j["len"] = v.len;
      json elements = json::array();
      for (const auto& e : v.elements) elements.push_back(value_to_json(e));
      j["elements"] = std::move(elements);
      if (v.text) j["text"] = *v.text;
      break;
    }
    case ValueKind::CpuList: j["cpus"] = v.detail().cpus; break;
    case ValueKind::Ptr: {
      const RenderedDetail& d = v.detail();
      j["value"] = u128_json(v.uint_value);
      if (d.deref) j["deref"] = value_to_json(*d.deref);
      if (d.deref_skipped_reason) j["deref_skipped_reason"] = *d.deref_skipped_reason;
      if (d.cast_annotation) j["cast_annotation"] = *d.cast_annotation;
      break;
    }
    case ValueKind::Bytes: j["hex"] = v.detail().hex; break;
    case ValueKind::Truncated: {
      const RenderedDetail& d = v.detail();
      j["needed"] = d.needed;
      j["had"] = d.had;
      j["partial"] = d.partial ? value_to_json(*d.partial) : json(nullptr);
      break;
    }
    case ValueKind::Unsupported: j["reason"] = v.detail().reason; break;
  }
  return j;
}

namespace {

std::string kind_list() {
  std::string out;
  for (ValueKind k : kAllValueKinds) {
    if (!out.empty()) out += ", ";
    out += kind_name(k);
  }
  return out;
}

// Where a value lies in the document, or nowhere: a value is read first
// without path texts (one string per node cost as much as the node on a big
// report), and only when that read fails is it read again naming paths, to
// word the error. Reading is pure, so the second read fails where the first did.
class Where {
 public:
  static Where nowhere() { return Where(); }
  explicit Where(std::string_view path) : path_(std::string(path)) {}
  Where field(std::string_view key) const { return path_ ? Where(field_path(*path_, key)) : Where(); }
  Where index(std::size_t i) const { return path_ ? Where(index_path(*path_, i)) : Where(); }
  operator std::string_view() const { return path_ ? std::string_view(*path_) : std::string_view(); }

 private:
  Where() = default;
  std::optional<std::string> path_;
};

Result<RenderedValue> read_value(const json& j, const Where& where, std::size_t depth);

Result<uint32_t> read_bits(const json& j, const Where& where) {
  KTEST_ASSIGN(uint32_t bits, opt_u32(j, where, "bits", 0));
  if (bits > 128) return fail(fmt::format("{}.bits: {} is wider than 128", std::string_view(where), bits));
  return bits;
}

const json* req(const json& j, const Where& where, std::string_view key, Error& err) {
  const json* f = find(j, key);
  if (f == nullptr) err = Error(fmt::format("{}: \"{}\" missing", std::string_view(where), key));
  return f;
}

Result<RenderedValue> read_struct(const json& j, const Where& where, std::size_t depth) {
  KTEST_ASSIGN(auto type_name, opt_str(j, where, "type_name"));
  std::vector<RenderedMember> members;
  if (const json* ms = find(j, "members")) {
    Where mwhere = where.field("members");
    if (!ms->is_array()) return type_error(mwhere, "an array", *ms);
    members.reserve(ms->size());
    for (std::size_t i = 0; i < ms->size(); ++i) {
      const json& m = (*ms)[i];
      Where at = mwhere.index(i);
      if (!m.is_object()) return type_error(at, "an object", m);
      KTEST_ASSIGN(auto name, opt_str(m, at, "name"));
      const json* mv = find(m, "value");
      if (mv == nullptr) return fail(fmt::format("{}: \"value\" missing", std::string_view(at)));
      KTEST_ASSIGN(RenderedValue value, read_value(*mv, at.field("value"), depth + 1));
      members.push_back(RenderedMember{name.value_or(""), std::move(value)});
    }
  }
  return make_struct(std::move(type_name), std::move(members));
}

Result<RenderedValue> read_array(const json& j, const Where& where, std::size_t depth) {
  std::vector<RenderedValue> elements;
  if (const json* es = find(j, "elements")) {
    Where ewhere = where.field("elements");
    if (!es->is_array()) return type_error(ewhere, "an array", *es);
    elements.reserve(es->size());
    for (std::size_t i = 0; i < es->size(); ++i) {
      KTEST_ASSIGN(RenderedValue e, read_value((*es)[i], ewhere.index(i), depth + 1));
      elements.push_back(std::move(e));
    }
  }
  KTEST_ASSIGN(uint64_t len, opt_u64(j, where, "len", elements.size()));
  RenderedValue v = make_array(len, std::move(elements));
  KTEST_ASSIGN(v.text, opt_str(j, where, "text"));
  return v;
}

Result<RenderedValue> read_kind(ValueKind kind, const json& j, const Where& where,
                                std::size_t depth) {
  Error err;
  switch (kind) {
    case ValueKind::Int: {
      KTEST_ASSIGN(uint32_t bits, read_bits(j, where));
      const json* f = req(j, where, "value", err);
      if (f == nullptr) return fail(err);
      KTEST_ASSIGN(int128_t value, to_i128(*f, where.field("value")));
      return make_int(bits, value);
    }
    case ValueKind::Uint: {
      KTEST_ASSIGN(uint32_t bits, read_bits(j, where));
      const json* f = req(j, where, "value", err);
      if (f == nullptr) return fail(err);
      KTEST_ASSIGN(uint128_t value, to_u128(*f, where.field("value")));
      return make_uint(bits, value);
    }
    case ValueKind::Bool: {
      const json* f = req(j, where, "value", err);
      if (f == nullptr) return fail(err);
      if (f->is_boolean()) return make_bool(f->get<bool>());
      KTEST_ASSIGN(uint64_t value, to_u64(*f, where.field("value")));
      return make_bool(value != 0);
    }
    case ValueKind::Char: {
      const json* f = req(j, where, "value", err);
      if (f == nullptr) return fail(err);
      KTEST_ASSIGN(uint64_t value, to_u64(*f, where.field("value")));
      if (value > 0xff) return fail(fmt::format("{}.value: {} is not a byte", std::string_view(where), value));
      return make_char(static_cast<uint8_t>(value));
    }
    case ValueKind::Float: {
      KTEST_ASSIGN(uint32_t bits, read_bits(j, where));
      const json* f = find(j, "value");
      if (f == nullptr) return make_float(bits, std::numeric_limits<double>::quiet_NaN());
      if (!f->is_number()) return type_error(where.field("value"), "a number", *f);
      return make_float(bits, f->get<double>());
    }
    case ValueKind::Enum: {
      KTEST_ASSIGN(uint32_t bits, read_bits(j, where));
      const json* f = req(j, where, "value", err);
      if (f == nullptr) return fail(err);
      KTEST_ASSIGN(int128_t value, to_i128(*f, where.field("value")));
      KTEST_ASSIGN(auto variant, opt_str(j, where, "variant"));
      KTEST_ASSIGN(bool is_signed, opt_bool(j, where, "is_signed", false));
      return make_enum(bits, value, std::move(variant), is_signed);
    }
    case ValueKind::Struct: return read_struct(j, where, depth);
    case ValueKind::Array: return read_array(j, where, depth);
    case ValueKind::CpuList: {
      KTEST_ASSIGN(std::string cpus, req_str(j, where, "cpus"));
      return make_cpu_list(std::move(cpus));
    }
    case ValueKind::Ptr: {
      const json* f = req(j, where, "value", err);
      if (f == nullptr) return fail(err);
      KTEST_ASSIGN(uint64_t address, to_u64(*f, where.field("value")));
      std::shared_ptr<RenderedValue> deref;
      if (const json* d = find(j, "deref")) {
        KTEST_ASSIGN(RenderedValue target, read_value(*d, where.field("deref"), depth + 1));
        deref = std::make_shared<RenderedValue>(std::move(target));
      }
      KTEST_ASSIGN(auto reason, opt_str(j, where, "deref_skipped_reason"));
      RenderedValue v = make_ptr(address, std::move(deref), std::move(reason));
      KTEST_ASSIGN(auto annotation, opt_str(j, where, "cast_annotation"));
      if (annotation) v.mutable_detail().cast_annotation = std::move(annotation);
      return v;
    }
    case ValueKind::Bytes: {
      KTEST_ASSIGN(std::string hex, req_str(j, where, "hex"));
      return make_bytes(std::move(hex));
    }
    case ValueKind::Truncated: {
      KTEST_ASSIGN(uint64_t needed, opt_u64(j, where, "needed", 0));
      KTEST_ASSIGN(uint64_t had, opt_u64(j, where, "had", 0));
      RenderedValue partial = make_bytes("");
      if (const json* p = find(j, "partial")) {
        KTEST_ASSIGN(partial, read_value(*p, where.field("partial"), depth + 1));
      }
      return make_truncated(needed, had, std::move(partial));
    }
    case ValueKind::Unsupported: {
      KTEST_ASSIGN(auto reason, opt_str(j, where, "reason"));
      return make_unsupported(reason.value_or(""));
    }
  }
  return fail(fmt::format("{}: unhandled kind", std::string_view(where)));
}

Result<RenderedValue> read_value(const json& j, const Where& where, std::size_t depth) {
  if (depth > kMaxJsonDepth) {
    return fail(fmt::format("{}: nested deeper than {} levels", std::string_view(where), kMaxJsonDepth));
  }
  if (!j.is_object()) return type_error(where, "an object with a \"kind\"", j);
  const json* k = find(j, "kind");
  if (k == nullptr) return fail(fmt::format("{}: \"kind\" missing", std::string_view(where)));
  if (!k->is_string()) return type_error(field_path(where, "kind"), "a string", *k);
  const auto& name = k->get_ref<const std::string&>();
  std::optional<ValueKind> kind = kind_from_name(name);
  if (!kind) {
    return fail(fmt::format("{}.kind: unknown kind \"{}\"", std::string_view(where), name.substr(0, 40)), "",
                "expected one of " + kind_list());
  }
  return read_kind(*kind, j, where, depth);
}

}  // namespace

Result<RenderedValue> value_from_json(const json& j, std::string_view where) {
  auto value = read_value(j, Where::nowhere(), 0);
  if (value) return value;
  return read_value(j, Where(where), 0);
}

}  // namespace ktest
