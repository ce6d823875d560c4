// Internal to dsl/: the values an expression evaluates to, their text and
// JSON forms, and the scalar conversions comparisons and arithmetic use.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsl/expr.h"
#include "snapshot/snapshot.h"
#include "util/result.h"

namespace ktest::dsl {

struct Value;
using ValueList = std::vector<Value>;

struct Value {
  std::variant<expr_int_t, double, bool, std::string, ValueList, Snapshot, SnapshotMap, SnapshotEntry,
               SnapshotField, JsonField>
      v;
};

// A comparable leaf: what fields and literals reduce to.
using Scalar = std::variant<expr_int_t, double, bool, std::string>;

const char* value_kind(const Value& value);  // "a number", "a map entry", ...
std::string render_value(const Value& value);
nlohmann::json value_json(const Value& value);
std::string int_to_string(expr_int_t v);

// A value's scalar form. Fields convert by their rendered kind (enums and
// char arrays to text when `prefer_string`, else enums to their number).
// Errors carry the snapshot layer's message and hint.
Result<Scalar> to_scalar(const Value& value, bool prefer_string);

// `l op r` for the comparison operators (not `in`).
Result<bool> compare_scalars(Op op, const Scalar& l, const Scalar& r);
// `l op r` for + - * / %.
Result<Scalar> arithmetic(Op op, const Scalar& l, const Scalar& r);

}  // namespace ktest::dsl
