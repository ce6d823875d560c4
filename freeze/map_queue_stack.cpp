// QUEUE and STACK maps: struct bpf_queue_stack's ring of `size` =
// max_entries + 1 slots, value_size bytes apart (not rounded). Push writes
// at head and advances it; a queue pops at tail, a stack at head - 1; the
// ring is empty when head == tail. Entries come out in pop order.
#include <algorithm>
#include <cstring>

#include <bpf/btf.h>
#include <fmt/format.h>

#include "freeze/map_arena.h"
#include "freeze/map_types.h"

namespace ktest::freeze {
namespace {

// libbpf creates queue and stack maps without a BTF value type; the
// object's BTF still has it: the `value` member of the map's definition
// (a VAR named as the map; kernel names are cut at 15 characters).
uint32_t value_type_from_definition(const btf::Btf& btf, std::string_view map_name) {
  const struct ::btf* b = btf.get();
  for (uint32_t id = 1; id < btf__type_cnt(b); ++id) {
    const struct btf_type* t = btf__type_by_id(b, id);
    if (t == nullptr || !btf_is_var(t)) continue;
    const char* name = btf__name_by_offset(b, t->name_off);
    std::string_view var = name ? name : "";
    if (var != map_name && !(map_name.size() == 15 && var.substr(0, 15) == map_name)) continue;
    int def = btf__resolve_type(b, t->type);
    const struct btf_type* dt = def > 0 ? btf__type_by_id(b, static_cast<uint32_t>(def)) : nullptr;
    if (dt == nullptr || !btf_is_struct(dt)) continue;
    const struct btf_member* m = btf_members(dt);
    for (uint16_t i = 0; i < btf_vlen(dt); ++i, ++m) {
      const char* member = btf__name_by_offset(b, m->name_off);
      const struct btf_type* pt = btf__type_by_id(b, m->type);
      if (member && std::string_view(member) == "value" && pt && btf_is_ptr(pt)) return pt->type;
    }
  }
  return 0;
}

}  // namespace

Status read_queue_stack(MapFill& f, MapDump& d, PopOrder order) {
  const MapHeader& h = f.h;
  if (!f.layout.queue_stack) {
    return fail(fmt::format("{} cannot be read on this kernel: {}", d.type_name,
                            f.layout.queue_stack_unavailable));
  }
  KTEST_TRY(f.check_sizes());
  const auto& l = *f.layout.queue_stack;
  KTEST_ASSIGN(uint32_t head, f.kernel.read_u32(h.kva + l.head));
  KTEST_ASSIGN(uint32_t tail, f.kernel.read_u32(h.kva + l.tail));
  KTEST_ASSIGN(uint32_t size, f.kernel.read_u32(h.kva + l.size));
  // The kernel allocates max_entries + 1 slots; anything else is garbage.
  if (uint64_t{size} != uint64_t{h.max_entries} + 1) {
    return fail(fmt::format("ring size {} is not max_entries + 1 ({})", size,
                            uint64_t{h.max_entries} + 1));
  }
  if (head >= size || tail >= size) {
    return fail(fmt::format("head {} or tail {} is outside the ring of {} slots", head, tail, size));
  }
  uint32_t count = head >= tail ? head - tail : size - tail + head;
  uint32_t shown = static_cast<uint32_t>(std::min<std::size_t>(count, kMaxHashEntries));
  uint64_t elements = h.kva + l.elements;
  // Without BTF of its own (libbpf creates queues and stacks without), the
  // map borrows its object's, as arenas and ring buffers do.
  const btf::Btf* btf = f.btf.get();
  std::optional<btf::Btf> object;
  if (btf == nullptr) {
    if (auto found = object_btf_of_map(f)) {
      object = std::move(*found);
      btf = &*object;
    }
  }
  uint32_t value_type = btf == f.btf.get() ? h.value_type : 0;
  if (value_type == 0 && btf != nullptr) value_type = value_type_from_definition(*btf, h.name);
  for (uint32_t pos = 0; pos < shown; ++pos) {
    // Queue: tail, tail+1, ...; stack: head-1, head-2, ... (both mod size).
    uint64_t slot = order == PopOrder::Fifo ? (uint64_t{tail} + pos) % size
                                            : (uint64_t{head} + size - 1 - pos) % size;
    KTEST_ASSIGN(auto value, f.kernel.read(elements + slot * h.value_size, h.value_size));
    uint8_t key[4];
    std::memcpy(key, &pos, sizeof key);
    std::optional<RenderedValue> rendered;
    if (btf != nullptr && value_type != 0) rendered = btf::render(*btf, value_type, value, f.options);
    d.entries.push_back({make_uint(32, pos), hex_bytes(key, sizeof key), std::move(rendered),
                         hex_bytes(value.data(), value.size()), std::nullopt});
  }
  if (shown < count) return fail(fmt::format("showing the first {} of {} elements", shown, count));
  return {};
}

}  // namespace ktest::freeze
