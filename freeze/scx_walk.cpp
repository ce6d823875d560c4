// Bounded walkers over sched_ext's guest structures (lists, the DSQ
// rhashtable, C strings) and the monitor's light probes.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>

#include "freeze/scx_internal.h"

namespace ktest::freeze {
namespace {

using scx_detail::is_kernel_pointer;

Result<uint64_t> load_u64(btf::MemoryReader& memory, uint64_t va) {
  KTEST_ASSIGN(auto raw, memory.read(va, 8));
  uint64_t v = 0;
  std::memcpy(&v, raw.data(), sizeof v);
  return v;
}

Result<uint32_t> load_u32(btf::MemoryReader& memory, uint64_t va) {
  KTEST_ASSIGN(auto raw, memory.read(va, 4));
  uint32_t v = 0;
  std::memcpy(&v, raw.data(), sizeof v);
  return v;
}

// One bucket_table of the rhashtable walk.
Status walk_bucket_table(btf::MemoryReader& memory, uint64_t tbl, const ScxLayout& l,
                         uint64_t node_offset, std::size_t max_objects,
                         std::unordered_set<uint64_t>& objects, std::vector<uint64_t>& out) {
  KTEST_ASSIGN(uint32_t size, load_u32(memory, tbl + l.tbl_size));
  KTEST_ASSIGN(uint32_t nest, load_u32(memory, tbl + l.tbl_nest));
  if (size == 0 || size > kMaxDsqHashBuckets || (size & (size - 1)) != 0) {
    return fail(fmt::format("bucket_table {:#x}: size {} is not a power of two in 1..{}", tbl,
                            size, kMaxDsqHashBuckets));
  }
  if (nest != 0) {
    return fail(fmt::format("bucket_table {:#x} is nested (nest {}); ktest reads flat tables only",
                            tbl, nest));
  }
  KTEST_ASSIGN(auto heads, memory.read(tbl + l.tbl_buckets, size * 8ULL));
  std::unordered_set<uint64_t> nodes;
  for (uint32_t b = 0; b < size; ++b) {
    uint64_t node = 0;
    std::memcpy(&node, heads.data() + b * 8ULL, 8);
    node &= ~1ULL;  // bit 0 of a bucket is its lock
    // A chain ends at NULL (an empty bucket) or at an odd nulls marker.
    while (node != 0 && (node & 1) == 0) {
      if ((node & 7) != 0) return fail(fmt::format("bucket {}: node {:#x} is misaligned", b, node));
      if (!nodes.insert(node).second) {
        return fail(fmt::format("bucket {}: node {:#x} is reached twice (a cycle)", b, node));
      }
      if (nodes.size() > max_objects) {
        return fail(fmt::format("the hash table holds more than {} elements", max_objects));
      }
      KTEST_ASSIGN(uint64_t next, load_u64(memory, node));
      if (objects.insert(node - node_offset).second) out.push_back(node - node_offset);
      node = next;
    }
  }
  return {};
}

}  // namespace

Status collect_list_nodes(btf::MemoryReader& memory, uint64_t head, std::size_t max_nodes,
                          std::vector<uint64_t>& out) {
  KTEST_ASSIGN(uint64_t node, load_u64(memory, head));
  std::unordered_set<uint64_t> seen;
  std::size_t count = 0;
  while (node != head) {
    if (node == 0) return fail(fmt::format("a NULL next pointer after {} nodes", count));
    if ((node & 7) != 0) {
      return fail(fmt::format("node {:#x} after {} nodes is misaligned", node, count));
    }
    if (!seen.insert(node).second) {
      return fail(fmt::format("node {:#x} is reached twice (a cycle) after {} nodes", node, count));
    }
    if (count >= max_nodes) return fail(fmt::format("the list is longer than {} nodes", max_nodes));
    auto next = load_u64(memory, node);
    if (!next) return std::move(next).context(fmt::format("node {:#x} after {} nodes", node, count));
    out.push_back(node);
    ++count;
    node = *next;
  }
  return {};
}

Status collect_rhashtable_objects(btf::MemoryReader& memory, uint64_t ht, const ScxLayout& l,
                                  uint64_t node_offset, std::size_t max_objects,
                                  std::vector<uint64_t>& out) {
  KTEST_ASSIGN(uint64_t tbl, load_u64(memory, ht + l.rht_tbl));
  std::unordered_set<uint64_t> objects, tables;
  // While the table is resized, elements move from tbl to its future_tbl.
  for (uint32_t i = 0; tbl != 0; ++i) {
    if (i >= kMaxDsqHashTables) {
      return fail(fmt::format("more than {} chained bucket tables", kMaxDsqHashTables));
    }
    if (!tables.insert(tbl).second) break;  // a future_tbl loop: every table walked
    KTEST_TRY(walk_bucket_table(memory, tbl, l, node_offset, max_objects, objects, out));
    KTEST_ASSIGN(tbl, load_u64(memory, tbl + l.tbl_future_tbl));
  }
  return {};
}

std::string read_guest_cstring(btf::MemoryReader& memory, uint64_t va, uint64_t max,
                               std::string* error) {
  std::string out;
  while (out.size() < max) {
    uint64_t at = va + out.size();
    if (at < va) {
      if (error) *error = fmt::format("the string at {:#x} wraps around", va);
      break;
    }
    uint64_t chunk = std::min<uint64_t>(max - out.size(), kPageSize - (at & (kPageSize - 1)));
    auto bytes = memory.read(at, chunk);
    if (!bytes) {
      if (error) *error = fmt::format("reading the string at {:#x} (+{}): {}", va, out.size(),
                                      bytes.error().to_string());
      break;
    }
    const auto* text = reinterpret_cast<const char*>(bytes->data());
    std::size_t len = strnlen(text, chunk);
    out.append(text, len);
    if (len < chunk) break;
  }
  return out;
}

namespace scx_detail {

Result<uint64_t> read_jiffies(GuestKernel& kernel) {
  auto at = kernel.symbol("jiffies_64");
  if (!at) at = kernel.symbol("jiffies");
  if (!at) return fail(at.error());
  return kernel.read_u64(*at);
}

Result<TaskIdentity> read_task_identity(GuestKernel& kernel, uint64_t task, const ScxLayout& l) {
  KTEST_ASSIGN(uint32_t pid, kernel.read_u32(task + l.task_pid));
  KTEST_ASSIGN(auto comm, kernel.read(task + l.task_comm, l.comm_len));
  TaskIdentity out;
  out.pid = static_cast<int32_t>(pid);
  const auto* text = reinterpret_cast<const char*>(comm.data());
  out.comm.assign(text, strnlen(text, comm.size()));
  return out;
}

}  // namespace scx_detail

Result<uint64_t> read_scx_root(GuestKernel& kernel) {
  KTEST_ASSIGN(uint64_t at, kernel.symbol("scx_root"));
  KTEST_ASSIGN(uint64_t root, kernel.read_u64(at));
  if (root != 0 && !is_kernel_pointer(root)) {
    return fail(fmt::format("scx_root holds {:#x}, not a kernel pointer", root));
  }
  return root;
}

uint64_t exit_kind_address(uint64_t root, const ScxLayout& layout) {
  return root + layout.sched_exit_kind;
}

Result<int64_t> read_exit_kind(GuestKernel& kernel, uint64_t root, const ScxLayout& layout) {
  if (!is_kernel_pointer(root)) return fail(fmt::format("{:#x} is not a scheduler", root));
  KTEST_ASSIGN(uint32_t raw, kernel.read_u32(exit_kind_address(root, layout)));
  return static_cast<int64_t>(static_cast<int32_t>(raw));  // atomic_t
}

Result<std::string> read_ops_name(GuestKernel& kernel, uint64_t root, const ScxLayout& layout) {
  if (!is_kernel_pointer(root)) return fail(fmt::format("{:#x} is not a scheduler", root));
  KTEST_ASSIGN(auto raw, kernel.read(root + layout.sched_ops_name, layout.ops_name_len));
  const auto* text = reinterpret_cast<const char*>(raw.data());
  return std::string(text, strnlen(text, raw.size()));
}

Result<WaitCheck> longest_runnable_wait(GuestKernel& kernel, const ScxLayout& l,
                                        const std::vector<uint64_t>& per_cpu_offsets) {
  KTEST_ASSIGN(uint64_t now, scx_detail::read_jiffies(kernel));
  KTEST_ASSIGN(uint64_t root, read_scx_root(kernel));
  WaitCheck out;
  if (root != 0) {
    KTEST_ASSIGN(out.watchdog_timeout_jiffies, kernel.read_u64(root + l.sched_watchdog_timeout));
  }
  KTEST_ASSIGN(uint64_t runqueues, kernel.symbol("runqueues"));
  std::size_t cpus = std::min<std::size_t>(per_cpu_offsets.size(), kMaxScxCpus);
  std::size_t budget = kMaxScxTasks;
  uint64_t longest_task = 0;
  for (std::size_t cpu = 0; cpu < cpus; ++cpu) {
    std::vector<uint64_t> nodes;
    uint64_t head = runqueues + per_cpu_offsets[cpu] + l.rq_runnable_list;
    if (Status s = collect_list_nodes(kernel, head, budget, nodes); !s) {
      return std::move(s).context(fmt::format("CPU {}'s runnable list", cpu));
    }
    budget -= nodes.size();
    for (uint64_t node : nodes) {
      uint64_t task = node - l.task_runnable_node;
      KTEST_ASSIGN(uint64_t runnable_at, kernel.read_u64(task + l.task_runnable_at));
      uint64_t wait = scx_detail::wait_jiffies(now, runnable_at);
      if (longest_task == 0 || wait > out.longest_wait_jiffies) {
        longest_task = task;
        out.longest_wait_jiffies = wait;
      }
    }
  }
  if (longest_task != 0) {
    KTEST_ASSIGN(auto who, scx_detail::read_task_identity(kernel, longest_task, l));
    out.pid = who.pid;
    out.comm = std::move(who.comm);
  }
  return out;
}

}  // namespace ktest::freeze
