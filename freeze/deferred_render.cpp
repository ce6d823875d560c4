#include "freeze/deferred_render.h"

#include <algorithm>

#include <fmt/format.h>

namespace ktest::freeze {
namespace {

// Placeholders are `unsupported` nodes named this; the renderer never names
// that kind. A name, not a reason: it is shared, so marking a placeholder
// (inside the freeze window) allocates nothing.
constexpr std::string_view kPlaceholder = "\x01" "deferred";

bool is_placeholder(const RenderedValue& v) {
  return v.kind == ValueKind::Unsupported && v.type_name == kPlaceholder;
}

}  // namespace

bool DeferredRenders::renders_from_bytes(const std::shared_ptr<const btf::Btf>& btf, uint32_t type,
                                         const btf::RenderOptions& options) {
  if (!btf || type == 0) return true;  // not rendered at all
  auto [known, fresh] = reads_memory_.try_emplace({btf.get(), type}, false);
  if (fresh) known->second = btf::reads_memory(*btf, type, options);
  return !known->second;
}

void EntryCopies::add(std::span<const uint8_t> key, std::span<const uint8_t> value) {
  bytes_.insert(bytes_.end(), key.begin(), key.end());
  bytes_.insert(bytes_.end(), value.begin(), value.end());
}

EntryCopies* DeferredRenders::copy_entries(uint64_t map_kva, const std::shared_ptr<const btf::Btf>& btf,
                                           uint32_t key_type, uint32_t value_type, std::size_t key_size,
                                           std::size_t value_size, const btf::RenderOptions& options) {
  if (!renders_from_bytes(btf, key_type, options) || !renders_from_bytes(btf, value_type, options)) return nullptr;
  auto copies = std::make_unique<EntryCopies>();
  copies->map_kva_ = map_kva;
  copies->btf_ = btf;
  copies->key_type_ = key_type;
  copies->value_type_ = value_type;
  copies->key_size_ = key_size;
  copies->value_size_ = value_size;
  copies->options_ = options;
  copies->options_.reader = nullptr;
  entries_.push_back(std::move(copies));
  return entries_.back().get();
}

RenderedValue DeferredRenders::render(const std::shared_ptr<const btf::Btf>& btf, uint32_t type,
                                      std::span<const uint8_t> bytes, const btf::RenderOptions& options) {
  if (!renders_from_bytes(btf, type, options)) return btf::render(*btf, type, bytes, options);
  Pending p;
  p.btf = btf;
  p.type = type;
  p.offset = bytes_.size();
  p.size = bytes.size();
  p.options = options;
  p.options.reader = nullptr;  // it would never be asked (reads_memory)
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  RenderedValue placeholder;
  static const OptionalText placeholder_name(std::string{kPlaceholder});  // shared, not one per value
  placeholder.type_name = placeholder_name;
  placeholder.uint_value = pending_.size();
  pending_.push_back(p);
  return placeholder;
}

std::optional<RenderedValue> DeferredRenders::take(const RenderedValue& placeholder) {
  if (placeholder.uint_value >= pending_.size()) return std::nullopt;
  Pending& p = pending_[static_cast<std::size_t>(placeholder.uint_value)];
  if (p.placed) return std::nullopt;
  p.placed = true;
  std::span<const uint8_t> bytes(bytes_.data() + p.offset, p.size);
  return btf::render(*p.btf, p.type, bytes, p.options);
}

void DeferredRenders::place_in(RenderedValue& value, std::size_t& placed) {
  if (is_placeholder(value)) {
    if (auto rendered = take(value)) {
      value = std::move(*rendered);
      ++placed;
    }
    return;
  }
  for (auto& m : value.members) place_in(m.value, placed);
  for (auto& e : value.elements) place_in(e, placed);
  const RenderedDetail& d = value.detail();
  if (d.deref) place_in(*d.deref, placed);
  if (d.partial) place_in(*d.partial, placed);
}

void DeferredRenders::place_in(std::optional<RenderedValue>& value, std::size_t& placed) {
  if (value) place_in(*value, placed);
}

Status DeferredRenders::place(std::vector<MapDump>& maps) {
  std::size_t placed = 0;
  for (auto& m : maps) {
    place_in(m.value, placed);
    for (auto& e : m.entries) {
      place_in(e.key, placed);
      place_in(e.value, placed);
      place_in(e.payload, placed);
    }
    for (auto& e : m.percpu_entries)
      for (auto& v : e.per_cpu) place_in(v, placed);
    for (auto& e : m.percpu_hash_entries) {
      place_in(e.key, placed);
      for (auto& v : e.per_cpu) place_in(v, placed);
    }
  }
  const std::size_t queued = pending_.size();
  Status appended;
  for (const auto& copies : entries_)
    if (Status s = append(*copies, maps); !s && appended) appended = std::move(s);
  clear();
  if (!appended) return appended;
  if (placed != queued)
    return fail(fmt::format("internal error: {} of {} values rendered after the capture found no place in the "
                            "report",
                            queued - placed, queued),
                "", "please report this as a ktest bug; the values concerned show as unsupported");
  return {};
}

Status DeferredRenders::append(const EntryCopies& c, std::vector<MapDump>& maps) {
  auto map = std::find_if(maps.begin(), maps.end(), [&](const MapDump& m) { return m.map_kva == c.map_kva_; });
  if (map == maps.end())
    return fail(fmt::format("internal error: the entries copied from the map at {:#x} found no map in the report",
                            c.map_kva_),
                "", "please report this as a ktest bug");
  auto rendered = [&](uint32_t type, std::span<const uint8_t> bytes) -> std::optional<RenderedValue> {
    if (!c.btf_ || type == 0) return std::nullopt;
    return btf::render(*c.btf_, type, bytes, c.options_);
  };
  const std::size_t stride = c.key_size_ + c.value_size_;
  const std::size_t count = stride == 0 ? 0 : c.bytes_.size() / stride;
  map->entries.reserve(map->entries.size() + count);
  for (std::size_t i = 0; i < count; ++i) {
    std::span<const uint8_t> key(c.bytes_.data() + i * stride, c.key_size_);
    std::span<const uint8_t> value(key.data() + c.key_size_, c.value_size_);
    MapEntry& e = map->entries.emplace_back();
    e.key = rendered(c.key_type_, key);
    e.key_hex = hex_bytes(key.data(), key.size());
    e.value = rendered(c.value_type_, value);
    e.value_hex = hex_bytes(value.data(), value.size());
  }
  return {};
}

std::size_t DeferredRenders::queued() const {
  std::size_t n = pending_.size();
  for (const auto& c : entries_) {
    const std::size_t stride = c->key_size_ + c->value_size_;
    n += stride == 0 ? 0 : c->bytes_.size() / stride;
  }
  return n;
}

void DeferredRenders::clear() {
  entries_.clear();
  pending_.clear();
  bytes_.clear();
  reads_memory_.clear();
}

}  // namespace ktest::freeze
