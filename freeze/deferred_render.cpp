#include "freeze/deferred_render.h"

#include <fmt/format.h>

namespace ktest::freeze {
namespace {

// A reason the renderer never gives: only placeholders carry it.
constexpr std::string_view kPlaceholder = "\x01" "deferred";

bool is_placeholder(const RenderedValue& v) {
  return v.kind == ValueKind::Unsupported && v.reason == kPlaceholder;
}

}  // namespace

RenderedValue DeferredRenders::render(const std::shared_ptr<const btf::Btf>& btf, uint32_t type,
                                      std::span<const uint8_t> bytes, const btf::RenderOptions& options) {
  auto [known, fresh] = reads_memory_.try_emplace({btf.get(), type}, false);
  if (fresh) known->second = btf::reads_memory(*btf, type, options);
  if (known->second) return btf::render(*btf, type, bytes, options);
  if (btfs_.empty() || btfs_.back() != btf) btfs_.push_back(btf);
  Pending p;
  p.btf = btf.get();
  p.type = type;
  p.offset = bytes_.size();
  p.size = bytes.size();
  p.options = options;
  p.options.reader = nullptr;  // it would never be asked (reads_memory)
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
  RenderedValue placeholder;
  placeholder.reason = kPlaceholder;
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
  if (value.deref) place_in(*value.deref, placed);
  if (value.partial) place_in(*value.partial, placed);
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
  clear();
  if (placed != queued)
    return fail(fmt::format("internal error: {} of {} values rendered after the capture found no place in the "
                            "report",
                            queued - placed, queued),
                "", "please report this as a ktest bug; the values concerned show as unsupported");
  return {};
}

void DeferredRenders::clear() {
  pending_.clear();
  bytes_.clear();
  btfs_.clear();
  reads_memory_.clear();
}

}  // namespace ktest::freeze
