// Internal helpers for total (never-throwing) JSON reading with path-named
// errors. Not part of the public contract; used by json.cpp and report.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "snapshot/rendered_value.h"
#include "util/result.h"

namespace ktest::json_read {

// "object", "array", "string", "number", "boolean", "null".
const char* type_word(const nlohmann::json& j);

std::string field_path(std::string_view where, std::string_view key);  // where.key
std::string index_path(std::string_view where, std::size_t i);         // where[i]

Unexpected type_error(std::string_view where, std::string_view expected,
                      const nlohmann::json& got);

// Integer readers accept JSON integers, integral floats, and decimal strings.
Result<int128_t> to_i128(const nlohmann::json& j, std::string_view where);
Result<uint128_t> to_u128(const nlohmann::json& j, std::string_view where);
Result<uint64_t> to_u64(const nlohmann::json& j, std::string_view where);
Result<uint32_t> to_u32(const nlohmann::json& j, std::string_view where);

// Field accessors on an object `obj` located at `where`.
const nlohmann::json* find(const nlohmann::json& obj, std::string_view key);  // null -> absent
Result<uint64_t> req_u64(const nlohmann::json& obj, std::string_view where, std::string_view key);
Result<uint64_t> opt_u64(const nlohmann::json& obj, std::string_view where, std::string_view key,
                         uint64_t fallback);
Result<uint32_t> opt_u32(const nlohmann::json& obj, std::string_view where, std::string_view key,
                         uint32_t fallback);
Result<int64_t> opt_i64(const nlohmann::json& obj, std::string_view where, std::string_view key,
                        int64_t fallback);
Result<int32_t> opt_i32(const nlohmann::json& obj, std::string_view where, std::string_view key,
                        int32_t fallback);
Result<std::string> req_str(const nlohmann::json& obj, std::string_view where,
                            std::string_view key);
Result<std::optional<std::string>> opt_str(const nlohmann::json& obj, std::string_view where,
                                           std::string_view key);
Result<bool> opt_bool(const nlohmann::json& obj, std::string_view where, std::string_view key,
                      bool fallback);

// JSON number when the value fits 64 bits, else a decimal string.
nlohmann::json i128_json(int128_t v);
nlohmann::json u128_json(uint128_t v);
std::string i128_text(int128_t v);
std::string u128_text(uint128_t v);

// dump() that never throws on invalid UTF-8 (bytes are replaced).
std::string safe_dump(const nlohmann::json& j, int indent = -1);

}  // namespace ktest::json_read
