// Local-storage maps (TASK, CGRP, INODE and SK storage): the
// bpf_local_storage_map's bucket chains, each element keyed by the object
// that owns its storage (bpf_local_storage.owner): a task by pid, a cgroup
// by id and path, an inode by i_ino, a socket by its cookie.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "freeze/map_types.h"

namespace ktest::freeze {
namespace {

template <typename T>
T load(const std::vector<uint8_t>& bytes, uint64_t offset) {
  T v{};
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

Result<uint64_t> read_u64(btf::MemoryReader& memory, uint64_t kva) {
  KTEST_ASSIGN(auto raw, memory.read(kva, 8));
  return load<uint64_t>(raw, 0);
}

// Empty: the element has no owner any more (its storage is being freed).
using MaybeElement = std::optional<LocalStorageElement>;
Result<MaybeElement> read_element(btf::MemoryReader& memory, uint64_t elem, uint64_t map_kva,
                                  uint32_t value_size, const KernelLayout::LocalStorage& l) {
  uint64_t len = std::max({l.elem_storage + 8, l.elem_smap + 8, l.elem_data + value_size});
  KTEST_ASSIGN(auto raw, memory.read(elem, len));
  // A node of another map's chain means the walk left this map.
  if (uint64_t smap = load<uint64_t>(raw, l.elem_smap); smap != map_kva) {
    return fail(fmt::format("its sdata.smap is {:#x}, not this map", smap));
  }
  uint64_t storage = load<uint64_t>(raw, l.elem_storage);
  if (storage == 0) return MaybeElement();
  auto owner = read_u64(memory, storage + l.storage_owner);
  if (!owner) return std::move(owner).context(fmt::format("its storage {:#x}", storage));
  if (*owner == 0) return MaybeElement();
  LocalStorageElement out;
  out.kva = elem;
  out.owner = *owner;
  out.value.assign(raw.begin() + static_cast<std::ptrdiff_t>(l.elem_data),
                   raw.begin() + static_cast<std::ptrdiff_t>(l.elem_data + value_size));
  return MaybeElement(std::move(out));
}

// A NUL-terminated kernel string of at most `max` bytes, read page by page
// so a short string near the end of a mapping still reads.
Result<std::string> read_cstring(btf::MemoryReader& memory, uint64_t kva, std::size_t max) {
  std::string out;
  while (out.size() < max) {
    std::size_t chunk = std::min<std::size_t>(max - out.size(), 4096 - ((kva + out.size()) & 4095));
    KTEST_ASSIGN(auto raw, memory.read(kva + out.size(), chunk));
    auto nul = std::find(raw.begin(), raw.end(), uint8_t{0});
    out.append(raw.begin(), nul);
    if (nul != raw.end()) return out;
  }
  return fail(fmt::format("the string at {:#x} is longer than {} bytes", kva, max));
}

// The cgroup's id and path ("/" for the root), from its kernfs node up.
Result<RenderedValue> cgroup_key(btf::MemoryReader& memory, uint64_t cgroup,
                                 const KernelLayout::CgroupOwner& c, uint64_t& id) {
  KTEST_ASSIGN(uint64_t kn, read_u64(memory, cgroup + c.kn));
  if (kn == 0) return fail(fmt::format("cgroup {:#x} has no kernfs node", cgroup));
  KTEST_ASSIGN(id, read_u64(memory, kn + c.kn_id));
  std::vector<std::string> names;
  for (uint64_t node = kn;;) {
    KTEST_ASSIGN(uint64_t parent, read_u64(memory, node + c.kn_parent));
    if (parent == 0) break;  // the hierarchy's root: its name is not in paths
    if (names.size() >= kMaxCgroupDepth) {
      return fail(fmt::format("cgroup {:#x} is nested deeper than {} (a cycle?)", cgroup, kMaxCgroupDepth));
    }
    KTEST_ASSIGN(uint64_t name, read_u64(memory, node + c.kn_name));
    KTEST_ASSIGN(auto text, read_cstring(memory, name, kMaxCgroupName));
    names.push_back(std::move(text));
    node = parent;
  }
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) path += "/" + *it;
  if (path.empty()) path = "/";
  RenderedValue ref = object_ref("cgroup", 0, path, cgroup);
  // {id (u64, the kernfs node id = the cgroup id), path, kva}
  ref.members[0].value = make_uint(64, id);
  ref.members[1].name = "path";
  return ref;
}

struct OwnerKey {
  RenderedValue key;
  std::string key_hex;
  int128_t order = 0;  // entries are sorted by it
};

std::string hex_of(const void* p, std::size_t n) { return hex_bytes(static_cast<const uint8_t*>(p), n); }

Result<OwnerKey> owner_key(MapFill& f, StorageOwner kind, uint64_t owner) {
  const KernelLayout& l = f.layout;
  switch (kind) {
    case StorageOwner::Task: {
      auto pid = f.kernel.read(owner + l.local_storage->task_pid, 4);
      if (!pid) return std::move(pid).context(fmt::format("its owner task {:#x}", owner));
      int32_t v = load<int32_t>(*pid, 0);
      return OwnerKey{make_int(32, v), hex_of(&v, 4), v};
    }
    case StorageOwner::Cgroup: {
      uint64_t id = 0;
      auto key = cgroup_key(f.kernel, owner, *l.cgroup_owner, id);
      if (!key) return std::move(key).context(fmt::format("its owner cgroup {:#x}", owner));
      return OwnerKey{std::move(*key), hex_of(&id, 8), id};
    }
    case StorageOwner::Inode: {
      auto ino = f.kernel.read_u64(owner + *l.inode_ino);
      if (!ino) return std::move(ino).context(fmt::format("its owner inode {:#x}", owner));
      return OwnerKey{make_uint(64, *ino), hex_of(&*ino, 8), *ino};
    }
    case StorageOwner::Socket: {
      auto cookie = f.kernel.read_u64(owner + *l.sock_cookie);
      if (!cookie) return std::move(cookie).context(fmt::format("its owner socket {:#x}", owner));
      return OwnerKey{make_uint(64, *cookie), hex_of(&*cookie, 8), *cookie};
    }
  }
  return fail("unknown storage owner kind");
}

// Why `kind` cannot be keyed on this kernel ("" when it can).
std::string owner_unavailable(const KernelLayout& l, StorageOwner kind) {
  switch (kind) {
    case StorageOwner::Task: return "";
    case StorageOwner::Cgroup: return l.cgroup_owner ? "" : l.cgroup_owner_unavailable;
    case StorageOwner::Inode: return l.inode_ino ? "" : l.inode_ino_unavailable;
    case StorageOwner::Socket: return l.sock_cookie ? "" : l.sock_cookie_unavailable;
  }
  return "unknown storage owner kind";
}

}  // namespace

Status collect_local_storage(btf::MemoryReader& memory, uint64_t map_kva, uint32_t value_size,
                             const KernelLayout::LocalStorage& l, std::size_t max_elements,
                             std::vector<LocalStorageElement>& out) {
  KTEST_ASSIGN(uint64_t buckets, read_u64(memory, map_kva + l.map_buckets));
  KTEST_ASSIGN(auto log_raw, memory.read(map_kva + l.map_bucket_log, 4));
  auto bucket_log = load<uint32_t>(log_raw, 0);
  if (bucket_log > kMaxLocalStorageBucketLog) {
    return fail(fmt::format("bucket_log {} is outside 0..{}", bucket_log, kMaxLocalStorageBucketLog));
  }
  HlistBuckets heads{buckets, 1U << bucket_log, l.bucket_size, l.bucket_head};
  bool more = false;
  KTEST_ASSIGN(auto elems,
               collect_hlist_elements(memory, heads, l.elem_next, ChainEnd::Null, max_elements, &more));
  std::string first_bad;
  std::size_t bad = 0;
  for (uint64_t elem : elems) {
    auto element = read_element(memory, elem, map_kva, value_size, l);
    if (!element) {
      if (bad == 0) first_bad = fmt::format("element {:#x}: {}", elem, element.error().to_string());
      ++bad;
    } else if (*element) {
      out.push_back(std::move(**element));
    }
  }
  const std::string left_out = more ? first_elements_only(max_elements) : "";
  if (bad > 0) {
    return fail(fmt::format("{}{} of {} elements unreadable; the first: {}", left_out.empty() ? "" : left_out + "; ",
                            bad, elems.size(), first_bad));
  }
  if (!left_out.empty()) return fail(left_out);
  return {};
}

// Keyed by the owner: the map's own key type is the fd userspace passes,
// which means nothing in a snapshot.
Status read_local_storage(MapFill& f, MapDump& d, StorageOwner kind) {
  const auto& layout = f.layout.local_storage;
  std::string why = layout ? owner_unavailable(f.layout, kind) : f.layout.local_storage_unavailable;
  if (!why.empty()) return fail(fmt::format("{} cannot be read on this kernel: {}", d.type_name, why));
  KTEST_TRY(f.check_sizes());
  std::vector<LocalStorageElement> elems;
  Status status = collect_local_storage(f.kernel, f.h.kva, f.h.value_size, *layout, kMaxHashEntries, elems);
  std::vector<std::pair<OwnerKey, const LocalStorageElement*>> keyed;
  std::string first_bad;
  std::size_t bad = 0;
  for (const auto& e : elems) {
    auto key = owner_key(f, kind, e.owner);
    if (!key) {
      if (bad++ == 0) first_bad = fmt::format("element {:#x}: {}", e.kva, key.error().to_string());
      continue;
    }
    keyed.emplace_back(std::move(*key), &e);
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first.order < b.first.order; });
  for (auto& [key, e] : keyed) {
    d.entries.push_back({std::move(key.key), std::move(key.key_hex), f.render(f.h.value_type, e->value),
                         hex_bytes(e->value.data(), e->value.size()), std::nullopt});
  }
  if (!status) return status;
  if (bad > 0) {
    return fail(fmt::format("{} of {} elements unreadable; the first: {}", bad, elems.size(), first_bad));
  }
  return {};
}

}  // namespace ktest::freeze
