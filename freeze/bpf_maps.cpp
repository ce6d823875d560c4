// Kernel layouts from BTF and the bounded xarray / hash-chain walkers.
#include "freeze/bpf_maps.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <span>
#include <unordered_set>

#include <bpf/btf.h>
#include <fmt/format.h>

namespace ktest::freeze {
namespace {

constexpr int kMaxMemberDepth = 8;
// An unsigned long has 64 bits and each xa_node level indexes 6 of them.
constexpr uint32_t kMaxXarrayDepth = 12;
constexpr std::size_t kMaxXarrayNodes = 65536;

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

Result<uint32_t> find_struct(const btf::Btf& btf, std::string_view name) {
  int id = btf__find_by_name_kind(btf.get(), std::string(name).c_str(), BTF_KIND_STRUCT);
  if (id <= 0) return fail(fmt::format("{}: no struct '{}'", btf.origin(), name));
  return static_cast<uint32_t>(id);
}

// Finds member `name` in composite `id`, descending into anonymous members.
bool find_member(const struct ::btf* btf, uint32_t id, std::string_view name, int depth,
                 MemberInfo& out) {
  if (depth > kMaxMemberDepth) return false;
  int resolved = btf__resolve_type(btf, id);
  if (resolved <= 0) return false;
  const struct btf_type* t = btf__type_by_id(btf, static_cast<uint32_t>(resolved));
  if (!t || !(btf_is_struct(t) || btf_is_union(t))) return false;
  const struct btf_member* m = btf_members(t);
  for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
    uint64_t offset = btf_member_bit_offset(t, i) / 8;
    const char* member_name = btf__name_by_offset(btf, m->name_off);
    if (member_name && name == member_name) {
      out = {offset, m->type};
      return true;
    }
    if (member_name && *member_name == '\0') {
      MemberInfo inner;
      if (find_member(btf, m->type, name, depth + 1, inner)) {
        out = {offset + inner.offset, inner.type_id};
        return true;
      }
    }
  }
  return false;
}

}  // namespace

Result<MemberInfo> member_info(const btf::Btf& btf, std::string_view struct_name,
                               std::string_view path) {
  KTEST_ASSIGN(uint32_t id, find_struct(btf, struct_name));
  MemberInfo total{0, id};
  std::string_view rest = path;
  while (!rest.empty()) {
    auto dot = rest.find('.');
    std::string_view part = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
    MemberInfo step;
    if (!find_member(btf.get(), total.type_id, part, 0, step)) {
      return fail(fmt::format("{}: struct {} has no member '{}'", btf.origin(), struct_name, path));
    }
    total = {total.offset + step.offset, step.type_id};
  }
  return total;
}

Result<uint64_t> struct_size(const btf::Btf& btf, std::string_view struct_name) {
  KTEST_ASSIGN(uint32_t id, find_struct(btf, struct_name));
  return btf::type_size(btf.get(), id);
}

Result<KernelLayout> KernelLayout::from_btf(const btf::Btf& v) {
  KernelLayout l;
  auto off = [&](std::string_view s, std::string_view path) -> Result<uint64_t> {
    KTEST_ASSIGN(MemberInfo m, member_info(v, s, path));
    return m.offset;
  };
  KTEST_ASSIGN(l.idr_xarray, off("idr", "idr_rt"));
  KTEST_ASSIGN(l.xarray.head, off("xarray", "xa_head"));
  KTEST_ASSIGN(l.xarray.node_shift, off("xa_node", "shift"));
  KTEST_ASSIGN(MemberInfo slots, member_info(v, "xa_node", "slots"));
  l.xarray.node_slots = slots.offset;
  const struct btf_type* slots_type = btf__type_by_id(v.get(), slots.type_id);
  if (!slots_type || !btf_is_array(slots_type) || btf_array(slots_type)->nelems == 0 ||
      btf_array(slots_type)->nelems > 256) {
    return fail(fmt::format("{}: xa_node.slots is not a plausible array", v.origin()));
  }
  l.xarray.slot_count = btf_array(slots_type)->nelems;
  KTEST_ASSIGN(l.map_name, off("bpf_map", "name"));
  KTEST_ASSIGN(l.map_type, off("bpf_map", "map_type"));
  KTEST_ASSIGN(l.map_key_size, off("bpf_map", "key_size"));
  KTEST_ASSIGN(l.map_value_size, off("bpf_map", "value_size"));
  KTEST_ASSIGN(l.map_max_entries, off("bpf_map", "max_entries"));
  KTEST_ASSIGN(l.map_btf, off("bpf_map", "btf"));
  KTEST_ASSIGN(l.map_btf_key_type, off("bpf_map", "btf_key_type_id"));
  KTEST_ASSIGN(l.map_btf_value_type, off("bpf_map", "btf_value_type_id"));
  KTEST_ASSIGN(l.array_value, off("bpf_array", "value"));
  KTEST_ASSIGN(l.htab_buckets, off("bpf_htab", "buckets"));
  KTEST_ASSIGN(l.htab_n_buckets, off("bpf_htab", "n_buckets"));
  KTEST_ASSIGN(l.bucket_size, struct_size(v, "bucket"));
  KTEST_ASSIGN(l.bucket_head, off("bucket", "head.first"));
  KTEST_ASSIGN(l.elem_next, off("htab_elem", "hash_node.next"));
  KTEST_ASSIGN(l.elem_key, off("htab_elem", "key"));
  KTEST_ASSIGN(l.btf_data, off("btf", "data"));
  KTEST_ASSIGN(l.btf_data_size, off("btf", "data_size"));
  KTEST_ASSIGN(l.btf_base, off("btf", "base_btf"));
  if (l.bucket_size == 0 || l.bucket_size > 4096) {
    return fail(fmt::format("{}: struct bucket has an implausible size", v.origin()));
  }
  auto links = [&]() -> Result<Links> {
    Links k;
    KTEST_ASSIGN(k.link_type, off("bpf_link", "type"));
    KTEST_ASSIGN(k.struct_ops_map, off("bpf_struct_ops_link", "map"));
    KTEST_ASSIGN(k.sched_ext_value_type, find_struct(v, "bpf_struct_ops_sched_ext_ops"));
    return k;
  }();
  if (links) l.links = *links;
  else l.links_unavailable = links.error().message;
  auto storage = [&]() -> Result<LocalStorage> {
    LocalStorage k;
    KTEST_ASSIGN(k.map_buckets, off("bpf_local_storage_map", "buckets"));
    KTEST_ASSIGN(k.map_bucket_log, off("bpf_local_storage_map", "bucket_log"));
    KTEST_ASSIGN(k.bucket_size, struct_size(v, "bpf_local_storage_map_bucket"));
    KTEST_ASSIGN(k.bucket_head, off("bpf_local_storage_map_bucket", "list.first"));
    KTEST_ASSIGN(k.elem_next, off("bpf_local_storage_elem", "map_node.next"));
    KTEST_ASSIGN(k.elem_storage, off("bpf_local_storage_elem", "local_storage"));
    KTEST_ASSIGN(k.elem_smap, off("bpf_local_storage_elem", "sdata.smap"));
    KTEST_ASSIGN(k.elem_data, off("bpf_local_storage_elem", "sdata.data"));
    KTEST_ASSIGN(k.storage_owner, off("bpf_local_storage", "owner"));
    KTEST_ASSIGN(k.task_pid, off("task_struct", "pid"));
    if (k.bucket_size == 0 || k.bucket_size > 4096) {
      return fail(fmt::format("{}: struct bpf_local_storage_map_bucket has an implausible size",
                              v.origin()));
    }
    return k;
  }();
  if (storage) l.local_storage = *storage;
  else l.local_storage_unavailable = storage.error().message;
  auto cgroup = [&]() -> Result<CgroupOwner> {
    CgroupOwner c;
    KTEST_ASSIGN(c.kn, off("cgroup", "kn"));
    KTEST_ASSIGN(c.kn_id, off("kernfs_node", "id"));
    // Renamed __parent when it became RCU-protected (6.15).
    auto parent = off("kernfs_node", "__parent");
    if (!parent) parent = off("kernfs_node", "parent");
    KTEST_ASSIGN(c.kn_parent, parent);
    KTEST_ASSIGN(c.kn_name, off("kernfs_node", "name"));
    return c;
  }();
  if (cgroup) l.cgroup_owner = *cgroup;
  else l.cgroup_owner_unavailable = cgroup.error().message;
  if (auto ino = off("inode", "i_ino")) l.inode_ino = *ino;
  else l.inode_ino_unavailable = ino.error().message;
  if (auto cookie = off("sock", "__sk_common.skc_cookie")) l.sock_cookie = *cookie;
  else l.sock_cookie_unavailable = cookie.error().message;
  auto queue = [&]() -> Result<QueueStack> {
    QueueStack q;
    KTEST_ASSIGN(q.head, off("bpf_queue_stack", "head"));
    KTEST_ASSIGN(q.tail, off("bpf_queue_stack", "tail"));
    KTEST_ASSIGN(q.size, off("bpf_queue_stack", "size"));
    KTEST_ASSIGN(q.elements, off("bpf_queue_stack", "elements"));
    return q;
  }();
  if (queue) l.queue_stack = *queue;
  else l.queue_stack_unavailable = queue.error().message;
  KTEST_ASSIGN(l.map_id, off("bpf_map", "id"));
  KTEST_ASSIGN(l.map_vmlinux_value_type, off("bpf_map", "btf_vmlinux_value_type_id"));
  auto ops = [&]() -> Result<StructOps> {
    StructOps o;
    KTEST_ASSIGN(o.uvalue, off("bpf_struct_ops_map", "uvalue"));
    KTEST_ASSIGN(o.kvalue, off("bpf_struct_ops_map", "kvalue"));
    KTEST_ASSIGN(o.prog_aux, off("bpf_prog", "aux"));
    KTEST_ASSIGN(o.aux_id, off("bpf_prog_aux", "id"));
    KTEST_ASSIGN(MemberInfo name, member_info(v, "bpf_prog_aux", "name"));
    o.aux_name = name.offset;
    const struct btf_type* t = btf__type_by_id(v.get(), btf__resolve_type(v.get(), name.type_id));
    if (!t || !btf_is_array(t) || btf_array(t)->nelems == 0 || btf_array(t)->nelems > 256) {
      return fail(fmt::format("{}: bpf_prog_aux.name is not a plausible char array", v.origin()));
    }
    o.aux_name_len = btf_array(t)->nelems;
    return o;
  }();
  if (ops) l.struct_ops = *ops;
  else l.struct_ops_unavailable = ops.error().message;
  return l;
}

namespace {

struct XarrayWalk {
  btf::MemoryReader& memory;
  const XarrayLayout& layout;
  std::size_t max_entries;
  std::vector<uint64_t> out;
  std::unordered_set<uint64_t> nodes;
  bool more = false;  // an entry past max_entries was met; the walk stopped

  bool is_node(uint64_t entry) const { return (entry & 3) == 2 && entry > 4096; }

  Status visit(uint64_t entry, uint32_t depth) {
    if (more || entry == 0) return {};
    if (is_node(entry)) return walk_node(entry - 2, depth);
    if ((entry & 3) != 0) return {};  // value or internal (retry, sibling, zero) entry
    if (out.size() >= max_entries) {
      more = true;
      return {};
    }
    out.push_back(entry);
    return {};
  }

  Status walk_node(uint64_t node, uint32_t depth) {
    if (depth >= kMaxXarrayDepth) return fail("the xarray is deeper than 64 bits of index allow");
    if (!nodes.insert(node).second) return fail(fmt::format("xa_node {:#x} is reached twice", node));
    if (nodes.size() > kMaxXarrayNodes) return fail("the xarray has too many nodes");
    KTEST_ASSIGN(auto shift, memory.read(node + layout.node_shift, 1));
    KTEST_ASSIGN(auto slots, memory.read(node + layout.node_slots, layout.slot_count * 8ULL));
    bool leaf = shift[0] == 0;
    for (uint32_t i = 0; i < layout.slot_count; ++i) {
      uint64_t entry = load_u64(slots.data() + i * 8ULL);
      // Sibling/retry entries are internal; in a leaf a node pointer is garbage.
      if (leaf && is_node(entry)) return fail(fmt::format("leaf xa_node {:#x} points to a node", node));
      KTEST_TRY(visit(entry, depth + 1));
      if (more) break;
    }
    return {};
  }
};

}  // namespace

Result<XarrayPrefix> collect_xarray_prefix(btf::MemoryReader& memory, uint64_t xarray_kva,
                                           const XarrayLayout& layout, std::size_t max_entries) {
  XarrayWalk walk{memory, layout, max_entries, {}, {}};
  KTEST_ASSIGN(auto head, memory.read(xarray_kva + layout.head, 8));
  KTEST_TRY(walk.visit(load_u64(head.data()), 0));
  return XarrayPrefix{std::move(walk.out), walk.more};
}

Result<std::vector<uint64_t>> collect_xarray_entries(btf::MemoryReader& memory,
                                                     uint64_t xarray_kva,
                                                     const XarrayLayout& layout,
                                                     std::size_t max_entries) {
  KTEST_ASSIGN(auto prefix, collect_xarray_prefix(memory, xarray_kva, layout, max_entries));
  if (prefix.more) return fail(fmt::format("the xarray holds more than {} entries", max_entries));
  return std::move(prefix.entries);
}

namespace {

// A chain that loops, or two chains that meet, reach some element twice;
// the walk is bounded by max_elements, so this check after it is enough.
// An open-addressing table at most half full: no allocation per element
// (std::unordered_set makes one), inside the freeze.
Status check_each_reached_once(const std::vector<uint64_t>& elements) {
  std::size_t slots = std::bit_ceil(std::max<std::size_t>(16, elements.size() * 2));
  const int shift = 64 - std::countr_zero(slots);
  std::vector<uint64_t> table(slots, 0);  // 0 marks a free slot: no element was read at address 0
  for (uint64_t elem : elements) {
    if (elem == 0) continue;
    std::size_t slot = static_cast<std::size_t>((elem * 0x9e3779b97f4a7c15ULL) >> shift);  // Fibonacci hashing
    while (table[slot] != 0 && table[slot] != elem) slot = (slot + 1) & (slots - 1);
    if (table[slot] == elem) return fail(fmt::format("element {:#x} is reached twice (a cycle)", elem));
    table[slot] = elem;
  }
  return {};
}

}  // namespace

Result<std::vector<uint64_t>> collect_hlist_elements(btf::MemoryReader& memory,
                                                     const HlistBuckets& buckets,
                                                     uint64_t node_offset, ChainEnd end,
                                                     std::size_t max_elements, bool* more,
                                                     ElementCopies* copies) {
  if (more) *more = false;
  if (buckets.count == 0 || buckets.count > kMaxHashBuckets) {
    return fail(fmt::format("{} buckets is outside 1..{}", buckets.count, kMaxHashBuckets));
  }
  if (buckets.stride < buckets.head + 8) return fail("the bucket layout is implausible");
  if (copies && copies->len < node_offset + 8) return fail("an element copy must hold the node's next pointer");
  KTEST_ASSIGN(auto heads, memory.read(buckets.kva, buckets.count * buckets.stride));
  std::vector<uint64_t> out;
  for (uint32_t b = 0; b < buckets.count; ++b) {
    uint64_t node = load_u64(heads.data() + b * buckets.stride + buckets.head);
    while (node != 0) {
      if ((node & 1) != 0) {
        if (end == ChainEnd::NullsMarker) break;
        return fail(fmt::format("bucket {}: node pointer {:#x} is misaligned", b, node));
      }
      uint64_t elem = node - node_offset;
      if (out.size() >= max_elements) {
        KTEST_TRY(check_each_reached_once(out));
        if (more == nullptr) return fail(fmt::format("the map holds more than {} elements", max_elements));
        *more = true;
        return out;
      }
      out.push_back(elem);
      if (copies) {
        std::size_t at = copies->bytes.size();
        copies->bytes.resize(at + copies->len);
        std::span<uint8_t> copy(copies->bytes.data() + at, copies->len);
        KTEST_TRY(memory.read_into(elem, copy));
        node = load_u64(copy.data() + node_offset);
      } else {
        uint8_t next[8];
        KTEST_TRY(memory.read_into(node, next));
        node = load_u64(next);
      }
    }
  }
  KTEST_TRY(check_each_reached_once(out));
  return out;
}

std::string first_elements_only(std::size_t max_elements) {
  return fmt::format("showing the first {} elements; the map holds more", max_elements);
}

Result<std::vector<uint64_t>> collect_hash_elements(btf::MemoryReader& memory,
                                                    uint64_t buckets_kva, uint32_t n_buckets,
                                                    const KernelLayout& layout,
                                                    std::size_t max_elements, bool* more,
                                                    ElementCopies* copies) {
  return collect_hlist_elements(memory, {buckets_kva, n_buckets, layout.bucket_size, layout.bucket_head},
                                layout.elem_next, ChainEnd::NullsMarker, max_elements, more, copies);
}

void SharedSymbols::set(std::shared_ptr<const kvm::control::SymbolTable> table) {
  std::lock_guard lock(mu_);
  table_ = std::move(table);
}

std::shared_ptr<const kvm::control::SymbolTable> SharedSymbols::get() const {
  std::lock_guard lock(mu_);
  return table_;
}

}  // namespace ktest::freeze
