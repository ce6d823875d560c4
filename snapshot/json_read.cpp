// Total JSON field readers: every failure is an Error naming the JSON path.
#include "snapshot/json_read.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace ktest::json_read {

using nlohmann::json;

const char* type_word(const json& j) {
  switch (j.type()) {
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number";
    case json::value_t::null: return "null";
    default: return "unknown";
  }
}

std::string field_path(std::string_view where, std::string_view key) {
  if (where.empty()) return std::string(key);
  return fmt::format("{}.{}", where, key);
}

std::string index_path(std::string_view where, std::size_t i) {
  return fmt::format("{}[{}]", where, i);
}

Unexpected type_error(std::string_view where, std::string_view expected, const json& got) {
  return fail(fmt::format("{}: expected {}, got {}", where, expected, type_word(got)));
}

std::string u128_text(uint128_t v) {
  if (v == 0) return "0";
  std::string out;
  while (v != 0) {
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return out;
}

std::string i128_text(int128_t v) {
  if (v >= 0) return u128_text(static_cast<uint128_t>(v));
  // Negate in unsigned space so INT128_MIN does not overflow.
  return "-" + u128_text(static_cast<uint128_t>(0) - static_cast<uint128_t>(v));
}

namespace {

constexpr uint128_t kU128Max = ~static_cast<uint128_t>(0);
constexpr uint128_t kI128MaxMagnitude = kU128Max >> 1;  // |INT128_MAX|

// Parses "[-]digits"; magnitude and sign separately so both readers share it.
bool parse_decimal(std::string_view s, bool& negative, uint128_t& magnitude) {
  negative = false;
  magnitude = 0;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 40) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint128_t digit = static_cast<uint128_t>(c - '0');
    if (magnitude > (kU128Max - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  return true;
}

// Sign + magnitude of any accepted integer form.
Result<std::pair<bool, uint128_t>> integer_parts(const json& j, std::string_view where) {
  switch (j.type()) {
    case json::value_t::number_unsigned:
      return std::pair<bool, uint128_t>{false, j.get<uint64_t>()};
    case json::value_t::number_integer: {
      int64_t v = j.get<int64_t>();
      if (v >= 0) return std::pair<bool, uint128_t>{false, static_cast<uint64_t>(v)};
      return std::pair<bool, uint128_t>{
          true, static_cast<uint128_t>(0) - static_cast<uint128_t>(static_cast<int128_t>(v))};
    }
    case json::value_t::number_float: {
      double d = j.get<double>();
      // 2^64 bounds keep the conversion defined; wider values use strings.
      if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) >= 18446744073709551616.0) {
        return fail(fmt::format("{}: expected an integer, got {}", where, d));
      }
      return std::pair<bool, uint128_t>{d < 0, static_cast<uint64_t>(std::fabs(d))};
    }
    case json::value_t::string: {
      bool neg = false;
      uint128_t mag = 0;
      const auto& s = j.get_ref<const std::string&>();
      if (!parse_decimal(s, neg, mag)) {
        return fail(fmt::format("{}: expected a decimal integer, got \"{}\"", where,
                                s.substr(0, 48)));
      }
      return std::pair<bool, uint128_t>{neg && mag != 0, mag};
    }
    default: return type_error(where, "an integer", j);
  }
}

}  // namespace

Result<int128_t> to_i128(const json& j, std::string_view where) {
  KTEST_ASSIGN(auto parts, integer_parts(j, where));
  auto [neg, mag] = parts;
  if (!neg && mag > kI128MaxMagnitude) {
    return fail(fmt::format("{}: {} does not fit a signed 128-bit integer", where,
                            u128_text(mag)));
  }
  if (neg && mag > kI128MaxMagnitude + 1) {
    return fail(fmt::format("{}: -{} does not fit a signed 128-bit integer", where,
                            u128_text(mag)));
  }
  if (!neg) return static_cast<int128_t>(mag);
  return static_cast<int128_t>(static_cast<uint128_t>(0) - mag);
}

Result<uint128_t> to_u128(const json& j, std::string_view where) {
  KTEST_ASSIGN(auto parts, integer_parts(j, where));
  if (parts.first) {
    return fail(fmt::format("{}: expected an unsigned integer, got -{}", where,
                            u128_text(parts.second)));
  }
  return parts.second;
}

Result<uint64_t> to_u64(const json& j, std::string_view where) {
  KTEST_ASSIGN(uint128_t v, to_u128(j, where));
  if (v > std::numeric_limits<uint64_t>::max()) {
    return fail(fmt::format("{}: {} does not fit 64 bits", where, u128_text(v)));
  }
  return static_cast<uint64_t>(v);
}

Result<uint32_t> to_u32(const json& j, std::string_view where) {
  KTEST_ASSIGN(uint64_t v, to_u64(j, where));
  if (v > std::numeric_limits<uint32_t>::max()) {
    return fail(fmt::format("{}: {} does not fit 32 bits", where, v));
  }
  return static_cast<uint32_t>(v);
}

const json* find(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<uint64_t> req_u64(const json& obj, std::string_view where, std::string_view key) {
  const json* f = find(obj, key);
  if (f == nullptr) return fail(fmt::format("{}: \"{}\" missing", where, key));
  return to_u64(*f, field_path(where, key));
}

Result<uint64_t> opt_u64(const json& obj, std::string_view where, std::string_view key,
                         uint64_t fallback) {
  const json* f = find(obj, key);
  if (f == nullptr) return fallback;
  return to_u64(*f, field_path(where, key));
}

Result<uint32_t> opt_u32(const json& obj, std::string_view where, std::string_view key,
                         uint32_t fallback) {
  const json* f = find(obj, key);
  if (f == nullptr) return fallback;
  return to_u32(*f, field_path(where, key));
}

Result<int64_t> opt_i64(const json& obj, std::string_view where, std::string_view key,
                        int64_t fallback) {
  const json* f = find(obj, key);
  if (f == nullptr) return fallback;
  const std::string at = field_path(where, key);
  KTEST_ASSIGN(int128_t v, to_i128(*f, at));
  if (v < std::numeric_limits<int64_t>::min() || v > std::numeric_limits<int64_t>::max()) {
    return fail(fmt::format("{}: {} does not fit a signed 64-bit integer", at, i128_text(v)));
  }
  return static_cast<int64_t>(v);
}

Result<int32_t> opt_i32(const json& obj, std::string_view where, std::string_view key,
                        int32_t fallback) {
  KTEST_ASSIGN(int64_t v, opt_i64(obj, where, key, fallback));
  if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
    return fail(fmt::format("{}: {} does not fit a signed 32-bit integer", field_path(where, key), v));
  }
  return static_cast<int32_t>(v);
}

Result<std::string> req_str(const json& obj, std::string_view where, std::string_view key) {
  const json* f = find(obj, key);
  if (f == nullptr) return fail(fmt::format("{}: \"{}\" missing", where, key));
  if (!f->is_string()) return type_error(field_path(where, key), "a string", *f);
  return f->get<std::string>();
}

Result<std::optional<std::string>> opt_str(const json& obj, std::string_view where,
                                           std::string_view key) {
  const json* f = find(obj, key);
  if (f == nullptr) return std::optional<std::string>{};
  if (!f->is_string()) return type_error(field_path(where, key), "a string", *f);
  return std::optional<std::string>{f->get<std::string>()};
}

Result<bool> opt_bool(const json& obj, std::string_view where, std::string_view key,
                      bool fallback) {
  const json* f = find(obj, key);
  if (f == nullptr) return fallback;
  if (!f->is_boolean()) return type_error(field_path(where, key), "a boolean", *f);
  return f->get<bool>();
}

json i128_json(int128_t v) {
  if (v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max()) {
    return json(static_cast<int64_t>(v));
  }
  if (v > 0 && v <= static_cast<int128_t>(std::numeric_limits<uint64_t>::max())) {
    return json(static_cast<uint64_t>(v));
  }
  return json(i128_text(v));
}

json u128_json(uint128_t v) {
  if (v <= std::numeric_limits<uint64_t>::max()) return json(static_cast<uint64_t>(v));
  return json(u128_text(v));
}

std::string safe_dump(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace ktest::json_read
