// ARRAY_OF_MAPS and HASH_OF_MAPS: each slot holds a struct bpf_map pointer
// (bpf_array.ptrs[i]; in a htab_elem, the 8 bytes after the rounded key).
// The inner maps are in map_idr too, so each is captured on its own; an
// entry links to it as {id, name, kva}. value_hex is the id's 4 bytes, as a
// lookup from userspace returns it.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "freeze/map_types.h"

namespace ktest::freeze {

RenderedValue object_ref(std::string type_name, uint32_t id, const std::string& name, uint64_t kva) {
  std::vector<RenderedValue> chars;
  for (char c : name) chars.push_back(make_char(static_cast<uint8_t>(c)));
  uint64_t len = chars.size();  // before the move below
  RenderedValue text = make_array(len, std::move(chars));
  text.text = name;
  return make_struct(std::move(type_name), {{"id", make_uint(32, id)},
                                            {"name", std::move(text)},
                                            {"kva", make_uint(64, kva)}});
}

namespace {

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The entry for `inner` (a struct bpf_map pointer) under `key`.
Result<MapEntry> inner_entry(MapFill& f, std::span<const uint8_t> key,
                             std::optional<RenderedValue> rendered_key, uint64_t inner) {
  auto header = read_map_header(f.kernel, f.layout, inner);
  if (!header) return std::move(header).context(fmt::format("inner map {:#x}", inner));
  KTEST_ASSIGN(uint32_t id, f.kernel.read_u32(inner + f.layout.map_id));
  uint8_t id_bytes[4];
  std::memcpy(id_bytes, &id, sizeof id_bytes);
  return MapEntry{std::move(rendered_key), hex_bytes(key.data(), key.size()),
                  object_ref("bpf_map", id, header->name, inner), hex_bytes(id_bytes, sizeof id_bytes),
                  std::nullopt};
}

}  // namespace

Status read_array_of_maps(MapFill& f, MapDump& d) {
  const MapHeader& h = f.h;
  uint32_t shown = std::min(h.max_entries, kMaxArrayEntries);
  KTEST_ASSIGN(auto slots, f.kernel.read(h.kva + f.layout.array_value, uint64_t{shown} * 8));
  for (uint32_t i = 0; i < shown; ++i) {
    uint64_t inner = load_u64(slots.data() + uint64_t{i} * 8);
    if (inner == 0) continue;  // an empty slot: no entry, as bpftool shows it
    uint8_t key[4];
    std::memcpy(key, &i, sizeof key);
    auto rendered = f.render(h.key_type, key);
    KTEST_ASSIGN(auto entry, inner_entry(f, key, rendered ? rendered : make_uint(32, i), inner));
    d.entries.push_back(std::move(entry));
  }
  if (shown < h.max_entries) {
    return fail(fmt::format("showing the first {} of {} slots", shown, h.max_entries));
  }
  return {};
}

Status read_hash_of_maps(MapFill& f, MapDump& d) {
  const MapHeader& h = f.h;
  const KernelLayout& l = f.layout;
  if (h.key_size == 0 || h.key_size > 512) return fail(fmt::format("implausible key size {}", h.key_size));
  KTEST_ASSIGN(uint64_t buckets, f.kernel.read_u64(h.kva + l.htab_buckets));
  KTEST_ASSIGN(uint32_t n_buckets, f.kernel.read_u32(h.kva + l.htab_n_buckets));
  std::size_t limit = std::min<std::size_t>(uint64_t{h.max_entries} + 64, kMaxHashEntries);
  bool more = false;
  KTEST_ASSIGN(auto elems, collect_hash_elements(f.kernel, buckets, n_buckets, l, limit, &more));
  // The kernel widens the 4-byte fd value to the pointer it stores.
  uint64_t value_at = l.elem_key + ((uint64_t{h.key_size} + 7) & ~7ULL);
  for (uint64_t elem : elems) {
    KTEST_ASSIGN(auto raw, f.kernel.read(elem, value_at + 8));
    std::span<const uint8_t> key(raw.data() + l.elem_key, h.key_size);
    uint64_t inner = load_u64(raw.data() + value_at);
    if (inner == 0) continue;
    // libbpf creates maps of maps without BTF key types: a plain integer key
    // is shown as the unsigned number it is.
    auto rendered = f.render(h.key_type, key);
    if (!rendered && (h.key_size == 1 || h.key_size == 2 || h.key_size == 4 || h.key_size == 8)) {
      uint64_t number = 0;
      std::memcpy(&number, key.data(), h.key_size);
      rendered = make_uint(h.key_size * 8, number);
    }
    KTEST_ASSIGN(auto entry, inner_entry(f, key, std::move(rendered), inner));
    d.entries.push_back(std::move(entry));
  }
  if (more) return fail(first_elements_only(limit));
  return {};
}

}  // namespace ktest::freeze
