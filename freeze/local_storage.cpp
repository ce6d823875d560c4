// TASK_STORAGE maps: the bpf_local_storage_map's bucket chains, each
// element keyed by the pid of the task that owns its storage.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "freeze/bpf_maps.h"

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
using MaybeElement = std::optional<TaskStorageElement>;
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
  auto pid = memory.read(*owner + l.task_pid, 4);
  if (!pid) return std::move(pid).context(fmt::format("its owner task {:#x}", *owner));
  TaskStorageElement out;
  out.kva = elem;
  out.pid = load<int32_t>(*pid, 0);
  out.value.assign(raw.begin() + static_cast<std::ptrdiff_t>(l.elem_data),
                   raw.begin() + static_cast<std::ptrdiff_t>(l.elem_data + value_size));
  return MaybeElement(std::move(out));
}

}  // namespace

Status collect_task_storage(btf::MemoryReader& memory, uint64_t map_kva, uint32_t value_size,
                            const KernelLayout::LocalStorage& l, std::size_t max_elements,
                            std::vector<TaskStorageElement>& out) {
  KTEST_ASSIGN(uint64_t buckets, read_u64(memory, map_kva + l.map_buckets));
  KTEST_ASSIGN(auto log_raw, memory.read(map_kva + l.map_bucket_log, 4));
  auto bucket_log = load<uint32_t>(log_raw, 0);
  if (bucket_log > kMaxLocalStorageBucketLog) {
    return fail(fmt::format("bucket_log {} is outside 0..{}", bucket_log, kMaxLocalStorageBucketLog));
  }
  HlistBuckets heads{buckets, 1U << bucket_log, l.bucket_size, l.bucket_head};
  KTEST_ASSIGN(auto elems,
               collect_hlist_elements(memory, heads, l.elem_next, ChainEnd::Null, max_elements));
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
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
  if (bad > 0) {
    return fail(fmt::format("{} of {} elements unreadable; the first: {}", bad, elems.size(),
                            first_bad));
  }
  return {};
}

}  // namespace ktest::freeze
