// OptionalText: an optional string held in one pointer.
//
// Contract: reads like std::optional<std::string> (has_value, *, ->,
// value_or, comparison with strings and std::nullopt, conversion both
// ways) but is 8 bytes, not 40, and the text cannot be changed in place
// (assign a new one). A rendered value tree has a node per scalar and every
// node carries five such texts, nearly always empty: at 40 bytes each they
// were a third of a node, and a 16000-entry report is millions of nodes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ktest {

class OptionalText {
 public:
  OptionalText() noexcept = default;
  OptionalText(std::nullopt_t) noexcept {}  // NOLINT: implicit, as optional's
  OptionalText(std::string text) : text_(std::make_unique<const std::string>(std::move(text))) {}
  OptionalText(const char* text) : text_(std::make_unique<const std::string>(text)) {}
  OptionalText(std::optional<std::string> text) {
    if (text) text_ = std::make_unique<const std::string>(std::move(*text));
  }
  OptionalText(const OptionalText& other)
      : text_(other.text_ ? std::make_unique<const std::string>(*other.text_) : nullptr) {}
  OptionalText(OptionalText&&) noexcept = default;
  OptionalText& operator=(const OptionalText& other) {
    if (this != &other) *this = OptionalText(other);
    return *this;
  }
  OptionalText& operator=(OptionalText&&) noexcept = default;

  bool has_value() const noexcept { return text_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  // Like optional's: only valid when has_value().
  const std::string& operator*() const noexcept { return *text_; }
  const std::string* operator->() const noexcept { return text_.get(); }
  std::string value_or(std::string fallback) const { return text_ ? *text_ : std::move(fallback); }
  void reset() noexcept { text_.reset(); }

  operator std::optional<std::string>() const {  // NOLINT: implicit, for APIs taking an optional
    return text_ ? std::optional<std::string>(*text_) : std::nullopt;
  }

  friend bool operator==(const OptionalText& a, const OptionalText& b) {
    return a.has_value() == b.has_value() && (!a.has_value() || *a == *b);
  }
  friend bool operator==(const OptionalText& a, std::nullopt_t) noexcept { return !a.has_value(); }
  friend bool operator==(const OptionalText& a, const std::optional<std::string>& b) {
    return a.has_value() == b.has_value() && (!a.has_value() || *a == *b);
  }
  friend bool operator==(const OptionalText& a, std::string_view b) { return a.has_value() && *a == b; }
  friend bool operator==(const OptionalText& a, const std::string& b) { return a.has_value() && *a == b; }
  friend bool operator==(const OptionalText& a, const char* b) { return a.has_value() && *a == b; }

 private:
  std::unique_ptr<const std::string> text_;
};

}  // namespace ktest
