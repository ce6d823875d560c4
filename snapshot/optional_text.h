// OptionalText: an optional string held in one pointer. Text: a string
// held in one pointer, empty when it holds none.
//
// Contract: reads like std::optional<std::string> (has_value, *, ->,
// value_or, comparison with strings and std::nullopt, conversion both
// ways) but is 8 bytes, not 40. The text cannot be changed in place
// (assign a new one), so copies share it. A rendered value tree has a node
// per scalar and every node carries three such texts, nearly always empty
// (a type name, an enum variant, a char array's text), and a 16000-entry
// report is hundreds of thousands of nodes.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace ktest {

class OptionalText {
 public:
  OptionalText() noexcept = default;
  OptionalText(std::nullopt_t) noexcept {}  // NOLINT: implicit, as optional's
  OptionalText(std::string text) : shared_(new Shared{{1}, std::move(text)}) {}
  OptionalText(const char* text) : OptionalText(std::string(text)) {}
  OptionalText(std::optional<std::string> text) {
    if (text) shared_ = new Shared{{1}, std::move(*text)};
  }
  OptionalText(const OptionalText& other) noexcept : shared_(other.shared_) {
    if (shared_ != nullptr) shared_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  OptionalText(OptionalText&& other) noexcept : shared_(std::exchange(other.shared_, nullptr)) {}
  OptionalText& operator=(OptionalText other) noexcept {
    std::swap(shared_, other.shared_);
    return *this;
  }
  ~OptionalText() { reset(); }

  bool has_value() const noexcept { return shared_ != nullptr; }
  explicit operator bool() const noexcept { return has_value(); }
  // Like optional's: only valid when has_value().
  const std::string& operator*() const noexcept { return shared_->text; }
  const std::string* operator->() const noexcept { return &shared_->text; }
  std::string value_or(std::string fallback) const { return shared_ ? shared_->text : std::move(fallback); }
  void reset() noexcept {
    if (shared_ != nullptr && shared_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete shared_;
    shared_ = nullptr;
  }

  operator std::optional<std::string>() const {  // NOLINT: implicit, for APIs taking an optional
    return shared_ ? std::optional<std::string>(shared_->text) : std::nullopt;
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
  // Immutable and shared: a copy (a plan's type name into every node
  // rendered from it) is a count, not an allocation. std::shared_ptr would
  // do the same in 16 bytes; this is 8.
  struct Shared {
    std::atomic<uint32_t> refs;
    const std::string text;
  };
  Shared* shared_ = nullptr;
};

// Contract: reads like a const std::string (str(), implicit conversion,
// empty, size, comparison) in 8 bytes instead of 32; assigned, never
// changed in place. For a node's texts that only some kinds of node have.
class Text {
 public:
  Text() noexcept = default;
  Text(std::string text) {  // NOLINT: implicit, as a string's
    if (!text.empty()) held_ = OptionalText(std::move(text));
  }
  Text(const char* text) : Text(std::string(text)) {}  // NOLINT: implicit
  const std::string& str() const noexcept { return held_ ? *held_ : empty_string(); }
  operator const std::string&() const noexcept { return str(); }  // NOLINT: implicit
  operator std::string_view() const noexcept { return str(); }  // NOLINT: implicit
  bool empty() const noexcept { return !held_; }
  std::size_t size() const noexcept { return str().size(); }
  const char* c_str() const noexcept { return str().c_str(); }
  friend bool operator==(const Text& a, const Text& b) { return a.str() == b.str(); }
  friend bool operator==(const Text& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const Text& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const Text& a, const char* b) { return a.str() == b; }

 private:
  static const std::string& empty_string() noexcept {
    static const std::string empty;
    return empty;
  }
  OptionalText held_;
};

}  // namespace ktest
