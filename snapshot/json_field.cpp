// JsonField: the SnapshotField vocabulary over plain JSON (scheduler stats).
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "snapshot/json_read.h"
#include "snapshot/snapshot.h"

namespace ktest {

using nlohmann::json;

namespace {

std::string short_text(const json& j) { return cut_key_text(json_read::safe_dump(j)); }

std::string json_kind(const json& j) { return json_read::type_word(j); }

std::vector<std::string> keys_of(const json& j) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  return keys;
}

}  // namespace

JsonField::JsonField(std::shared_ptr<const nlohmann::json> root)
    : root_(root ? std::move(root) : std::make_shared<const json>()), node_(root_.get()) {}

JsonField JsonField::missing(SnapshotError error) {
  JsonField f;
  f.path_ = error.path;
  f.error_ = std::make_shared<const SnapshotError>(std::move(error));
  return f;
}

const SnapshotError* JsonField::error() const { return node_ ? nullptr : error_.get(); }

JsonField JsonField::member(std::string_view key) const {
  if (!ok()) return *this;
  std::string at = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (!node_->is_object()) return missing(SnapshotError::not_a_struct(key, at, json_kind(*node_)));
  auto it = node_->find(key);
  if (it == node_->end()) {
    return missing(SnapshotError::missing_member(key, at, "JSON object", keys_of(*node_)));
  }
  JsonField f = *this;
  f.node_ = &*it;
  f.path_ = std::move(at);
  return f;
}

JsonField JsonField::index(std::size_t i) const {
  if (!ok()) return *this;
  std::string at = fmt::format("{}[{}]", path_, i);
  if (!node_->is_array()) {
    return missing(SnapshotError::not_an_array(std::to_string(i), at, json_kind(*node_)));
  }
  if (i >= node_->size()) {
    return missing(SnapshotError::index_out_of_range(i, at, node_->size(), node_->size()));
  }
  JsonField f = *this;
  f.node_ = &(*node_)[i];
  f.path_ = std::move(at);
  return f;
}

JsonField JsonField::get(std::string_view dotted_path) const {
  if (!ok() || dotted_path.empty()) return *this;
  if (auto bad = empty_component_position(dotted_path)) {
    std::string full =
        path_.empty() ? std::string(dotted_path) : path_ + "." + std::string(dotted_path);
    return missing(SnapshotError::empty_path_component(full, *bad));
  }
  JsonField cur = *this;
  std::size_t pos = 0;
  while (cur.ok()) {
    std::size_t dot = dotted_path.find('.', pos);
    std::string_view comp =
        dotted_path.substr(pos, dot == std::string_view::npos ? dotted_path.npos : dot - pos);
    std::size_t idx = 0;
    auto [p, ec] = std::from_chars(comp.data(), comp.data() + comp.size(), idx);
    bool numeric = ec == std::errc() && p == comp.data() + comp.size();
    cur = numeric && cur.node_->is_array() ? cur.index(idx) : cur.member(comp);
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  return cur;
}

Result<uint64_t> JsonField::as_u64() const {
  if (!ok()) return fail(*error_);
  if (node_->is_number_unsigned()) return node_->get<uint64_t>();
  if (node_->is_number_integer()) {
    int64_t v = node_->get<int64_t>();
    if (v < 0) return fail(SnapshotError::out_of_range(path_, "u64", std::to_string(v)));
    return static_cast<uint64_t>(v);
  }
  if (node_->is_number_float()) {
    double d = node_->get<double>();
    if (std::floor(d) == d && d >= 0 && d < 18446744073709551616.0) return static_cast<uint64_t>(d);
    return fail(SnapshotError::out_of_range(path_, "u64", short_text(*node_)));
  }
  return fail(SnapshotError::type_mismatch(path_, "an unsigned integer", json_kind(*node_),
                                           short_text(*node_)));
}

Result<int64_t> JsonField::as_i64() const {
  if (!ok()) return fail(*error_);
  if (node_->is_number_integer() && !node_->is_number_unsigned()) return node_->get<int64_t>();
  if (node_->is_number_unsigned()) {
    uint64_t v = node_->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fail(SnapshotError::out_of_range(path_, "i64", std::to_string(v)));
    }
    return static_cast<int64_t>(v);
  }
  if (node_->is_number_float()) {
    double d = node_->get<double>();
    if (std::floor(d) == d && std::fabs(d) < 9223372036854775808.0) return static_cast<int64_t>(d);
    return fail(SnapshotError::out_of_range(path_, "i64", short_text(*node_)));
  }
  return fail(SnapshotError::type_mismatch(path_, "a signed integer", json_kind(*node_),
                                           short_text(*node_)));
}

Result<double> JsonField::as_f64() const {
  if (!ok()) return fail(*error_);
  if (node_->is_number()) return node_->get<double>();
  return fail(SnapshotError::type_mismatch(path_, "a number", json_kind(*node_), short_text(*node_)));
}

Result<bool> JsonField::as_bool() const {
  if (!ok()) return fail(*error_);
  if (node_->is_boolean()) return node_->get<bool>();
  return fail(SnapshotError::type_mismatch(path_, "a boolean", json_kind(*node_), short_text(*node_)));
}

Result<std::string> JsonField::as_str() const {
  if (!ok()) return fail(*error_);
  if (node_->is_string()) return node_->get<std::string>();
  return fail(SnapshotError::type_mismatch(path_, "a string", json_kind(*node_), short_text(*node_)));
}

namespace {

template <typename T, typename Fn>
Result<std::vector<T>> json_array(const JsonField& f, const json& node, Fn element) {
  if (!node.is_array()) {
    return fail(SnapshotError::type_mismatch(f.path(), "an array", json_kind(node), short_text(node)));
  }
  std::vector<T> out;
  out.reserve(node.size());
  for (std::size_t i = 0; i < node.size(); ++i) {
    KTEST_ASSIGN(T v, element(f.index(i)));
    out.push_back(v);
  }
  return out;
}

}  // namespace

Result<std::vector<uint64_t>> JsonField::as_u64_array() const {
  if (!ok()) return fail(*error_);
  return json_array<uint64_t>(*this, *node_, [](const JsonField& e) { return e.as_u64(); });
}

Result<std::vector<uint32_t>> JsonField::as_u32_array() const {
  if (!ok()) return fail(*error_);
  return json_array<uint32_t>(*this, *node_, [](const JsonField& e) -> Result<uint32_t> {
    KTEST_ASSIGN(uint64_t v, e.as_u64());
    if (v > std::numeric_limits<uint32_t>::max()) {
      return fail(SnapshotError::out_of_range(e.path(), "u32", std::to_string(v)));
    }
    return static_cast<uint32_t>(v);
  });
}

Result<std::vector<int64_t>> JsonField::as_i64_array() const {
  if (!ok()) return fail(*error_);
  return json_array<int64_t>(*this, *node_, [](const JsonField& e) { return e.as_i64(); });
}

Result<std::vector<double>> JsonField::as_f64_array() const {
  if (!ok()) return fail(*error_);
  return json_array<double>(*this, *node_, [](const JsonField& e) { return e.as_f64(); });
}

Result<std::vector<bool>> JsonField::as_bool_array() const {
  if (!ok()) return fail(*error_);
  return json_array<bool>(*this, *node_, [](const JsonField& e) { return e.as_bool(); });
}

Result<const nlohmann::json*> JsonField::raw() const {
  if (!ok()) return fail(*error_);
  return node_;
}

}  // namespace ktest
