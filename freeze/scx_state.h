// The kernel's sched_ext state, read from guest memory: the `scx` section
// of a report, and the light probes the error-trigger monitor polls.
//
// Contract:
// - Every offset, enum value and limit comes from the guest kernel's
//   vmlinux BTF (ScxLayout::from_btf); a kernel without sched_ext is an
//   Error saying so. The session builds the layout once, with the rest of
//   the run's shared Vmlinux (freeze/vmlinux.h); the section reuses it.
// - read_scx_state() fills every field of ScxState it can and records in
//   `errors` what it could not, and why; it never aborts on guest data.
//   Every walk is bounded: list and hash chains cut cycles and stop after
//   kMaxScxTasks / kMaxUserDsqs elements, node and CPU counts are capped,
//   strings are cut at their kernel buffer sizes (the dump at
//   kMaxExitDumpBytes, the backtrace at kMaxBacktrace entries).
// - Where things are: scx_root (NULL: no scheduler) and
//   scx_enable_state_var in kallsyms; the run queues at &runqueues plus
//   each CPU's __per_cpu_offset; the global DSQ of NUMA node n at
//   scx_root->pnode[n]->global_dsq (n < nr_node_ids, at most kMaxScxNodes);
//   the bypass DSQ of a CPU in scx_root->pcpu (a __percpu pointer); user
//   DSQs in scx_root->dsq_hash (an rhashtable: buckets hold a lock bit in
//   bit 0, chains end at an odd "nulls" marker; a table being resized is
//   walked with its future_tbl, elements deduplicated).
// - The exit kind reported is exit_kind, unless that is SCX_EXIT_DONE (the
//   disable work ran): then it is exit_info->kind.
// - Waits: jiffies - runnable_at (0 when runnable_at is ahead), converted
//   with ScxReadContext::hz; with hz 0 the "_ms" fields hold jiffies and
//   `errors` says so.
// - The monitor probes (read_scx_root, read_exit_kind,
//   longest_runnable_wait) run while the guest runs: reads may be torn.
//   They are bounded like the full reader and return an Error for
//   anything implausible; the caller polls again.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "btf/btf.h"
#include "freeze/bpf_maps.h"
#include "freeze/coordinator.h"
#include "freeze/guest_kernel.h"
#include "kvm/control_protocol.h"
#include "snapshot/scx_state.h"
#include "util/result.h"

namespace ktest::freeze {

inline constexpr std::size_t kMaxScxTasks = 65536;       // runnable tasks, all CPUs
inline constexpr std::size_t kMaxUserDsqs = 65536;
inline constexpr uint32_t kMaxScxCpus = kMaxPercpuCpus;
inline constexpr uint32_t kMaxScxNodes = 64;
inline constexpr uint32_t kMaxDsqHashBuckets = 1U << 20;
inline constexpr uint32_t kMaxDsqHashTables = 4;         // tbl and its future_tbl chain
inline constexpr uint64_t kMaxExitDumpBytes = 256 * 1024;
inline constexpr uint32_t kMaxBacktrace = 64;
inline constexpr uint64_t kMaxExitReasonBytes = 256;
inline constexpr uint64_t kMaxScxStructBytes = 64 * 1024;  // a struct read in one go

struct ScxEnumValue {
  int64_t value = 0;
  std::string name;
};

// The name of `value` in `values` ("" when none has it).
std::string scx_enum_name(const std::vector<ScxEnumValue>& values, int64_t value);

// Kernel struct offsets (bytes from the struct's start) and constants
// sched_ext reading needs, from vmlinux BTF.
struct ScxLayout {
  // struct scx_sched (ops is sched_ext_ops, in an anonymous union)
  uint64_t sched_size = 0;
  uint64_t sched_ops_name = 0, ops_name_len = 0, sched_ops_flags = 0, sched_ops_timeout_ms = 0,
           sched_ops_exit_dump_len = 0;
  uint64_t sched_watchdog_timeout = 0, sched_bypass_depth = 0, sched_exit_kind = 0,
           sched_exit_info = 0, sched_dsq_hash = 0, sched_pnode = 0, sched_pcpu = 0;
  uint64_t pcpu_bypass_dsq = 0;    // scx_sched_pcpu.bypass_dsq
  uint64_t pnode_global_dsq = 0;   // scx_sched_pnode.global_dsq
  // struct scx_exit_info
  uint64_t ei_size = 0;
  uint64_t ei_kind = 0, ei_exit_code = 0, ei_reason = 0, ei_bt = 0, ei_bt_len = 0, ei_msg = 0,
           ei_dump = 0;
  // struct rq (rq.scx is struct scx_rq)
  uint64_t rq_size = 0;
  uint64_t rq_curr = 0, rq_local_dsq = 0, rq_runnable_list = 0, rq_nr_running = 0, rq_flags = 0;
  // struct scx_dispatch_q
  uint64_t dsq_list = 0, dsq_nr = 0, dsq_id = 0, dsq_hash_node = 0;
  // struct task_struct (scx is struct sched_ext_entity)
  uint64_t task_pid = 0, task_comm = 0, comm_len = 16, task_sched_class = 0, task_dsq = 0,
           task_runnable_node = 0, task_runnable_at = 0, task_dsq_list_node = 0;
  uint64_t lnode_flags = 0;  // scx_dsq_list_node.flags, from its node
  // struct rhashtable / bucket_table
  uint64_t rht_tbl = 0;
  uint64_t tbl_size = 0, tbl_nest = 0, tbl_future_tbl = 0, tbl_buckets = 0;
  // Enums and constants.
  std::vector<ScxEnumValue> exit_kinds;     // enum scx_exit_kind
  std::vector<ScxEnumValue> enable_states;  // enum scx_enable_state
  int64_t exit_none = 0, exit_done = 1;
  uint64_t dsq_global = 0, dsq_local = 0, dsq_bypass = 0;  // SCX_DSQ_*
  uint32_t lnode_iter_cursor = 1;          // SCX_DSQ_LNODE_ITER_CURSOR
  uint32_t exit_bt_len = 64;               // SCX_EXIT_BT_LEN
  uint32_t exit_msg_len = 1024;            // SCX_EXIT_MSG_LEN
  uint32_t exit_dump_default_len = 32768;  // SCX_EXIT_DUMP_DFL_LEN

  static Result<ScxLayout> from_btf(const btf::Btf& vmlinux);
  // "SCX_EXIT_ERROR_BPF" for 1025; "" for a value enum scx_exit_kind lacks.
  std::string exit_kind_name(int64_t value) const { return scx_enum_name(exit_kinds, value); }
};

struct ScxReadContext {
  std::vector<uint64_t> per_cpu_offsets;  // __per_cpu_offset[cpu], one per possible CPU
  uint32_t hz = 0;                        // CONFIG_HZ; 0: unknown, waits stay in jiffies
  const kvm::control::SymbolTable* symbols = nullptr;  // symbolises the backtrace
};

ScxState read_scx_state(GuestKernel& kernel, const ScxLayout& layout, const ScxReadContext& ctx);

// ---- light probes for the monitor (the guest may be running) ----

// scx_root: 0 when no scheduler is attached; an Error when unreadable or
// not a plausible kernel pointer (e.g. a torn read).
Result<uint64_t> read_scx_root(GuestKernel& kernel);
// Where root->exit_kind lives (for a write watchpoint).
uint64_t exit_kind_address(uint64_t root, const ScxLayout& layout);
Result<int64_t> read_exit_kind(GuestKernel& kernel, uint64_t root, const ScxLayout& layout);
// root->ops.name (bounded by the array's size).
Result<std::string> read_ops_name(GuestKernel& kernel, uint64_t root, const ScxLayout& layout);

struct WaitCheck {
  uint64_t longest_wait_jiffies = 0;      // 0 when no task is runnable
  uint64_t watchdog_timeout_jiffies = 0;  // scx_root->watchdog_timeout; 0 without a root
  int32_t pid = 0;                        // the task that waited longest
  std::string comm;
};
// Walks only the CPUs' runnable lists (bounded as the full reader).
Result<WaitCheck> longest_runnable_wait(GuestKernel& kernel, const ScxLayout& layout,
                                        const std::vector<uint64_t>& per_cpu_offsets);

// ---- bounded walkers (shared by the reader and the probes) ----

// The nodes of the circular list headed at `head` (head excluded), in
// order. Stops with an Error on a node seen twice that is not the head
// (a cycle), on a NULL or misaligned next, or past `max_nodes`; `out`
// keeps the nodes read before that.
Status collect_list_nodes(btf::MemoryReader& memory, uint64_t head, std::size_t max_nodes,
                          std::vector<uint64_t>& out);

// The objects of the rhashtable at `ht` whose rhash_head sits at
// `node_offset` in them (deduplicated, in walk order). Partial results
// stay in `out` when an Error is returned.
Status collect_rhashtable_objects(btf::MemoryReader& memory, uint64_t ht, const ScxLayout& layout,
                                  uint64_t node_offset, std::size_t max_objects,
                                  std::vector<uint64_t>& out);

// The NUL-terminated string at `va`, at most `max` bytes. Pages that
// cannot be read end it: what came before is kept and `*error` set.
std::string read_guest_cstring(btf::MemoryReader& memory, uint64_t va, uint64_t max,
                               std::string* error);

struct Vmlinux;  // freeze/vmlinux.h

// The report section that fills report.scx. `hz` is the guest's CONFIG_HZ
// (0: unknown). The layout is `vmlinux->scx`; every fill fails with
// `unavailable` when `vmlinux` is nullptr, with `vmlinux->scx_unavailable`
// when the kernel has no sched_ext.
std::unique_ptr<ReportSection> make_scx_section(std::shared_ptr<const Vmlinux> vmlinux,
                                                std::string unavailable,
                                                std::shared_ptr<const SharedSymbols> symbols,
                                                uint32_t hz);

}  // namespace ktest::freeze
