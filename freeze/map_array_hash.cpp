// ARRAY / PERCPU_ARRAY and HASH / LRU_HASH / PERCPU_HASH / LRU_PERCPU_HASH:
// the bpf_array value area and the bpf_htab bucket chains.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "freeze/map_types.h"

namespace ktest::freeze {
namespace {

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint64_t round8(uint64_t n) { return (n + 7) & ~7ULL; }

}  // namespace

Status read_array(MapFill& f, MapDump& d, bool percpu) {
  KTEST_TRY(f.check_sizes());
  const MapHeader& h = f.h;
  uint32_t shown = std::min(h.max_entries, kMaxArrayEntries);
  uint64_t base = h.kva + f.layout.array_value;
  uint64_t stride = percpu ? 8 : round8(h.value_size);
  if (shown * stride > kMaxGuestRead) return fail("the array is too large to read");
  KTEST_ASSIGN(auto raw, f.kernel.read(base, shown * stride));
  EntryCopies* copies = percpu || h.max_entries <= 1 ? nullptr : f.copy_entries(4);
  for (uint32_t i = 0; i < shown; ++i) {
    const uint8_t* slot = raw.data() + i * stride;
    if (percpu) {
      d.percpu_entries.push_back({i, f.percpu_values(load_u64(slot))});
      continue;
    }
    std::span<const uint8_t> value(slot, h.value_size);
    if (i == 0) d.value = f.render(h.value_type, value);
    if (h.max_entries > 1) {
      uint8_t key[4];
      std::memcpy(key, &i, sizeof key);
      if (copies != nullptr) {
        copies->add(key, value);
        continue;
      }
      d.entries.push_back({f.render(h.key_type, key), hex_bytes(key, 4), f.render(h.value_type, value),
                           hex_bytes(value.data(), value.size()), std::nullopt});
    }
  }
  if (shown < h.max_entries) {
    return fail(fmt::format("showing the first {} of {} elements", shown, h.max_entries));
  }
  return {};
}

Status read_hash(MapFill& f, MapDump& d, bool percpu) {
  KTEST_TRY(f.check_sizes());
  const MapHeader& h = f.h;
  const KernelLayout& l = f.layout;
  KTEST_ASSIGN(uint64_t buckets, f.kernel.read_u64(h.kva + l.htab_buckets));
  KTEST_ASSIGN(uint32_t n_buckets, f.kernel.read_u32(h.kva + l.htab_n_buckets));
  std::size_t limit = std::min<std::size_t>(uint64_t{h.max_entries} + 64, kMaxHashEntries);
  uint64_t value_at = l.elem_key + round8(h.key_size);
  // Each element is read once, in the walk (its next pointer comes first).
  ElementCopies elements{std::max<std::size_t>(value_at + (percpu ? 8 : h.value_size), l.elem_next + 8), {}};
  bool more = false;
  KTEST_ASSIGN(auto elems, collect_hash_elements(f.kernel, buckets, n_buckets, l, limit, &more, &elements));
  EntryCopies* copies = percpu ? nullptr : f.copy_entries(h.key_size);
  for (std::size_t i = 0; i < elems.size(); ++i) {
    std::span<const uint8_t> raw = elements.at(i);
    std::span<const uint8_t> key(raw.data() + l.elem_key, h.key_size);
    std::span<const uint8_t> value(raw.data() + value_at, percpu ? 0 : h.value_size);
    if (copies != nullptr) {
      copies->add(key, value);
      continue;
    }
    std::string key_hex = hex_bytes(key.data(), key.size());
    if (percpu) {
      d.percpu_hash_entries.push_back(
          {f.render(h.key_type, key), key_hex, f.percpu_values(load_u64(raw.data() + value_at))});
      continue;
    }
    d.entries.push_back({f.render(h.key_type, key), std::move(key_hex), f.render(h.value_type, value),
                         hex_bytes(value.data(), value.size()), std::nullopt});
  }
  if (more) return fail(first_elements_only(limit));
  return {};
}

}  // namespace ktest::freeze
