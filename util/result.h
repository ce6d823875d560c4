// ktest's error-as-value type, used across every layer.
//
// Contract: a fallible function returns Result<T>. An Error carries a
// message ("what"), an optional location ("where", e.g. file:line:col),
// an optional hint ("how to fix it"), and a chain of context frames added
// on the way up ("pause failed: vCPU 1: ..."). Exceptions are only used at
// library boundaries and converted to Error right there.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ktest {

struct Error {
  std::string message;
  std::string location;             // "" when not tied to a place
  std::string hint;                 // "" when there is nothing to suggest
  std::vector<std::string> context;  // outermost first

  Error() = default;
  explicit Error(std::string msg, std::string loc = {}, std::string hnt = {})
      : message(std::move(msg)), location(std::move(loc)), hint(std::move(hnt)) {}

  // Adds an outer context frame: "while X: <message>".
  Error& with_context(std::string frame) {
    context.insert(context.begin(), std::move(frame));
    return *this;
  }
  // "location: ctx1: ctx2: message (hint: ...)" on one line.
  std::string to_string() const;
};

// Tag to construct a failed Result from an Error.
struct Unexpected {
  Error error;
};
inline Unexpected fail(std::string msg, std::string loc = {}, std::string hint = {}) {
  return Unexpected{Error(std::move(msg), std::move(loc), std::move(hint))};
}
inline Unexpected fail(Error e) { return Unexpected{std::move(e)}; }

// Minimal expected<T, Error>: std::expected is C++23 and g++ 12 lacks it.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  Error& error() & { return std::get<1>(v_); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

  // Returns a failed Result with an added context frame, for propagation.
  Unexpected context(std::string frame) && {
    Error e = std::move(error());
    e.with_context(std::move(frame));
    return Unexpected{std::move(e)};
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : err_(std::move(u.error)) {}  // NOLINT
  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  Error& error() & { return *err_; }
  const Error& error() const& { return *err_; }
  Unexpected context(std::string frame) && {
    Error e = std::move(*err_);
    e.with_context(std::move(frame));
    return Unexpected{std::move(e)};
  }

 private:
  std::optional<Error> err_;
};

using Status = Result<void>;

}  // namespace ktest

// Propagates a failed Result from the enclosing function.
#define KTEST_TRY(expr)                                       \
  do {                                                        \
    auto&& ktest_try_r_ = (expr);                             \
    if (!ktest_try_r_) return ::ktest::fail(std::move(ktest_try_r_.error())); \
  } while (0)

#define KTEST_CONCAT_INNER_(a, b) a##b
#define KTEST_CONCAT_(a, b) KTEST_CONCAT_INNER_(a, b)
// KTEST_ASSIGN(auto x, expr): binds the value or returns the error.
#define KTEST_ASSIGN(decl, expr) KTEST_ASSIGN_IMPL_(KTEST_CONCAT_(ktest_r_, __LINE__), decl, expr)
#define KTEST_ASSIGN_IMPL_(tmp, decl, expr)                   \
  auto tmp = (expr);                                          \
  if (!tmp) return ::ktest::fail(std::move(tmp.error()));     \
  decl = std::move(tmp.value())
