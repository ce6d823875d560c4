#include "dsl/expr_value.h"

#include <fmt/format.h>

#include <cmath>

namespace ktest::dsl {
namespace {

constexpr std::size_t kMaxRenderedItems = 16;

template <class... Fs>
struct Overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overload(Fs...) -> Overload<Fs...>;

std::string quote(const std::string& s) { return "\"" + s + "\""; }

double as_double(const Scalar& s) {
  if (const auto* i = std::get_if<expr_int_t>(&s)) return static_cast<double>(*i);
  return std::get<double>(s);
}

const char* scalar_kind(const Scalar& s) {
  switch (s.index()) {
    case 0: case 1: return "a number";
    case 2: return "a boolean";
    default: return "a string";
  }
}

std::string scalar_text(const Scalar& s) {
  return std::visit(Overload{[](expr_int_t i) { return int_to_string(i); },
                             [](double d) { return fmt::format("{}", d); },
                             [](bool b) { return std::string(b ? "true" : "false"); },
                             [](const std::string& str) { return quote(str); }},
                    s);
}

Result<Scalar> field_scalar(const SnapshotField& field, bool prefer_string) {
  if (!field.ok()) return fail(*field.error());
  const ValueKind kind = *field.kind();
  auto wrap = [](auto r) -> Result<Scalar> {
    if (!r) return fail(std::move(r.error()));
    return Scalar(*r);
  };
  switch (kind) {
    case ValueKind::Bool: return wrap(field.as_bool());
    case ValueKind::Float: return wrap(field.as_f64());
    case ValueKind::CpuList: return wrap(field.as_str());
    case ValueKind::Enum:
      if (prefer_string) return wrap(field.as_str());
      return wrap(field.as_i128());
    case ValueKind::Array:
      if (prefer_string) return wrap(field.as_str());
      return fail(fmt::format("'{}' is an array of {} elements, not a single value", field.path(),
                              (*field.raw())->len),
                  "", "pick an element with .index(i), or use .len(), .sum(), .max(), .min()");
    case ValueKind::Struct: {
      std::string members;
      for (const auto& m : field.member_names()) members += (members.empty() ? "" : ", ") + m;
      return fail(fmt::format("'{}' is a struct, not a single value", field.path()), "",
                  fmt::format("pick a member: {}", members.empty() ? "(none)" : members));
    }
    default: return wrap(field.as_i128());
  }
}

// A JSON value's text, shortened like other rendered values.
std::string json_text(const JsonField& j) {
  auto raw = j.raw();
  if (!raw) return "<missing>";
  std::string text = (*raw)->dump();
  constexpr std::size_t kMaxChars = 200;
  return text.size() > kMaxChars ? text.substr(0, kMaxChars) + "..." : text;
}

Result<Scalar> json_scalar(const JsonField& j) {
  if (!j.ok()) return fail(*j.error());
  const nlohmann::json& n = **j.raw();
  const std::string where = j.path().empty() ? "the document" : "'" + j.path() + "'";
  if (n.is_number_unsigned()) return Scalar(static_cast<expr_int_t>(n.get<uint64_t>()));
  if (n.is_number_integer()) return Scalar(static_cast<expr_int_t>(n.get<int64_t>()));
  if (n.is_number_float()) return Scalar(n.get<double>());
  if (n.is_boolean()) return Scalar(n.get<bool>());
  if (n.is_string()) return Scalar(n.get<std::string>());
  if (n.is_array())
    return fail(fmt::format("{} is a JSON array of {} elements, not a single value", where, n.size()), "",
                "pick an element with .index(i), or use .len(), .sum(), .max(), .min()");
  if (n.is_object()) {
    std::string keys;
    for (const auto& [k, v] : n.items()) keys += (keys.empty() ? "" : ", ") + k;
    return fail(fmt::format("{} is a JSON object, not a single value", where), "",
                fmt::format("pick a key: {}", keys.empty() ? "(none)" : keys));
  }
  return fail(fmt::format("{} is null", where));
}

}  // namespace

std::string int_to_string(expr_int_t v) {
  if (v < 0) return "-" + int_to_string(-v);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v != 0);
  return digits;
}

const char* value_kind(const Value& value) {
  switch (value.v.index()) {
    case 0: case 1: return "a number";
    case 2: return "a boolean";
    case 3: return "a string";
    case 4: return "a list";
    case 5: return "a snapshot";
    case 6: return "a map";
    case 7: return "a map entry";
    case 9: return "a JSON value";
    default: return "a field";
  }
}

std::string render_value(const Value& value) {
  return std::visit(
      Overload{[](expr_int_t i) { return int_to_string(i); },
               [](double d) { return fmt::format("{}", d); },
               [](bool b) { return std::string(b ? "true" : "false"); },
               [](const std::string& s) { return quote(s); },
               [](const ValueList& list) {
                 std::string out = "[";
                 for (std::size_t i = 0; i < list.size() && i < kMaxRenderedItems; ++i)
                   out += (i ? ", " : "") + render_value(list[i]);
                 if (list.size() > kMaxRenderedItems)
                   out += fmt::format(", ... (+{} more)", list.size() - kMaxRenderedItems);
                 return out + "]";
               },
               [](const Snapshot& s) { return fmt::format("snapshot \"{}\"", s.name()); },
               [](const SnapshotMap& m) { return fmt::format("map \"{}\" ({} entries)", m.name(), m.size()); },
               [](const SnapshotEntry& e) {
                 const SnapshotField v = e.value();
                 return fmt::format("{{key: {}, value: {}}}", e.key_text(),
                                    v.ok() ? v.render() : std::string("<per-CPU>"));
               },
               [](const SnapshotField& f) { return f.render(); },
               [](const JsonField& j) { return json_text(j); }},
      value.v);
}

nlohmann::json value_json(const Value& value) {
  auto int_json = [](expr_int_t i) -> nlohmann::json {
    if (i >= INT64_MIN && i <= INT64_MAX) return static_cast<int64_t>(i);
    if (i >= 0 && i <= static_cast<expr_int_t>(UINT64_MAX)) return static_cast<uint64_t>(i);
    return int_to_string(i);
  };
  auto field_json = [](const SnapshotField& f) -> nlohmann::json {
    auto raw = f.raw();
    if (!raw) return nullptr;
    return value_to_json(**raw);
  };
  return std::visit(
      Overload{int_json, [](double d) -> nlohmann::json { return d; },
               [](bool b) -> nlohmann::json { return b; },
               [](const std::string& s) -> nlohmann::json { return s; },
               [](const ValueList& list) -> nlohmann::json {
                 nlohmann::json out = nlohmann::json::array();
                 for (const auto& item : list) out.push_back(value_json(item));
                 return out;
               },
               [](const Snapshot& s) -> nlohmann::json { return {{"snapshot", s.name()}}; },
               [](const SnapshotMap& m) -> nlohmann::json {
                 return {{"map", m.name()}, {"entries", m.size()}};
               },
               [&field_json](const SnapshotEntry& e) -> nlohmann::json {
                 return {{"key", e.key_text()}, {"value", field_json(e.value())}};
               },
               field_json,
               [](const JsonField& j) -> nlohmann::json {
                 auto raw = j.raw();
                 return raw ? **raw : nlohmann::json(nullptr);
               }},
      value.v);
}

Result<Scalar> to_scalar(const Value& value, bool prefer_string) {
  switch (value.v.index()) {
    case 0: return Scalar(std::get<expr_int_t>(value.v));
    case 1: return Scalar(std::get<double>(value.v));
    case 2: return Scalar(std::get<bool>(value.v));
    case 3: return Scalar(std::get<std::string>(value.v));
    case 7: return field_scalar(std::get<SnapshotEntry>(value.v).value(), prefer_string);
    case 8: return field_scalar(std::get<SnapshotField>(value.v), prefer_string);
    case 9: return json_scalar(std::get<JsonField>(value.v));
    case 6:
      return fail(fmt::format("map \"{}\" is not a single value", std::get<SnapshotMap>(value.v).name()), "",
                  "pick an entry with .find(...), .at(i), or count them with .len()");
    default:
      return fail(fmt::format("{} is not a single value", value_kind(value)), "",
                  value.v.index() == 4 ? "use .len(), .at(i), .sum(), or `x in list`" : "");
  }
}

Result<bool> compare_scalars(Op op, const Scalar& l, const Scalar& r) {
  const bool numeric = l.index() <= 1 && r.index() <= 1;
  int cmp = 0;
  if (numeric && l.index() == 0 && r.index() == 0) {
    const expr_int_t a = std::get<expr_int_t>(l), b = std::get<expr_int_t>(r);
    cmp = a < b ? -1 : a > b ? 1 : 0;
  } else if (numeric) {
    const double a = as_double(l), b = as_double(r);
    if (std::isnan(a) || std::isnan(b)) return op == Op::Ne;
    cmp = a < b ? -1 : a > b ? 1 : 0;
  } else if (l.index() == 3 && r.index() == 3) {
    const int c = std::get<std::string>(l).compare(std::get<std::string>(r));
    cmp = c < 0 ? -1 : c > 0 ? 1 : 0;
  } else if (l.index() == 2 && r.index() == 2 && (op == Op::Eq || op == Op::Ne)) {
    cmp = std::get<bool>(l) == std::get<bool>(r) ? 0 : 1;
  } else {
    return fail(fmt::format("cannot compare {} ({}) with {} ({}) using '{}'", scalar_kind(l), scalar_text(l),
                            scalar_kind(r), scalar_text(r), op_text(op)),
                "", l.index() == 2 || r.index() == 2 ? "booleans only compare with == and !=" : "");
  }
  switch (op) {
    case Op::Eq: return cmp == 0;
    case Op::Ne: return cmp != 0;
    case Op::Lt: return cmp < 0;
    case Op::Le: return cmp <= 0;
    case Op::Gt: return cmp > 0;
    case Op::Ge: return cmp >= 0;
    default: return fail(fmt::format("'{}' is not a comparison", op_text(op)));
  }
}

Result<Scalar> arithmetic(Op op, const Scalar& l, const Scalar& r) {
  if (l.index() > 1 || r.index() > 1)
    return fail(fmt::format("'{}' needs numbers, got {} and {}", op_text(op), scalar_kind(l), scalar_kind(r)));
  if (l.index() == 0 && r.index() == 0) {
    const expr_int_t a = std::get<expr_int_t>(l), b = std::get<expr_int_t>(r);
    expr_int_t out = 0;
    bool overflow = false;
    switch (op) {
      case Op::Add: overflow = __builtin_add_overflow(a, b, &out); break;
      case Op::Sub: overflow = __builtin_sub_overflow(a, b, &out); break;
      case Op::Mul: overflow = __builtin_mul_overflow(a, b, &out); break;
      case Op::Div:
      case Op::Mod:
        if (b == 0) return fail("division by zero");
        out = op == Op::Div ? a / b : a % b;
        break;
      default: return fail(fmt::format("'{}' is not arithmetic", op_text(op)));
    }
    if (overflow) return fail(fmt::format("'{}' overflows 128 bits", op_text(op)));
    return Scalar(out);
  }
  const double a = as_double(l), b = as_double(r);
  switch (op) {
    case Op::Add: return Scalar(a + b);
    case Op::Sub: return Scalar(a - b);
    case Op::Mul: return Scalar(a * b);
    case Op::Div: return Scalar(a / b);
    case Op::Mod: return Scalar(std::fmod(a, b));
    default: return fail(fmt::format("'{}' is not arithmetic", op_text(op)));
  }
}

}  // namespace ktest::dsl
