// Helpers shared by the sched_ext reader (scx_state.cpp) and the monitor
// probes (scx_walk.cpp); not part of the freeze module's interface.
#pragma once

#include <cstdint>
#include <string>

#include "freeze/scx_state.h"

namespace ktest::freeze::scx_detail {

// A canonical kernel-half address, 8-byte aligned.
inline bool is_kernel_pointer(uint64_t v) { return v >= 0xffff800000000000ULL && (v & 7) == 0; }

// jiffies_64 (or jiffies) from kallsyms.
Result<uint64_t> read_jiffies(GuestKernel& kernel);

// now - then in jiffies, as time_after() sees it; 0 when `then` is ahead.
inline uint64_t wait_jiffies(uint64_t now, uint64_t then) {
  auto diff = static_cast<int64_t>(now - then);
  return diff > 0 ? static_cast<uint64_t>(diff) : 0;
}

struct TaskIdentity {
  int32_t pid = 0;
  std::string comm;
};
Result<TaskIdentity> read_task_identity(GuestKernel& kernel, uint64_t task, const ScxLayout& layout);

}  // namespace ktest::freeze::scx_detail
