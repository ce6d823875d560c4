// A synthetic guest running a sched_ext scheduler, for the scx reader
// tests: 8 MiB of RAM laid out with the offsets of a ScxLayout (the
// fetched kernel's vmlinux BTF when there is one, else a hand-made one).
//
// Guest-physical map: symbols at 0x2000.., run queues at 0x100000 (CPU 1
// at +kCpu1Offset), scx_sched at kSch, its per-CPU part at kPcpu, pnode
// array at kPnode, DSQ hash table at kTbl, user DSQs at kDsqA/kDsqB, exit
// info at kEi.., tasks from kTasks, kTaskStride apart.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "freeze/scx_state.h"
#include "freeze/vmlinux.h"
#include "freeze/tests/synthetic_guest.h"

namespace ktest::freeze::testing {

inline constexpr uint64_t kImage = kKernelImageBase;  // image VA of gpa 0 (phys_base 0)
inline constexpr uint64_t kRootSym = 0x2000, kStateSym = 0x2010, kJiffiesSym = 0x2020,
                          kNodesSym = 0x2030, kExtClass = 0x2040, kFairClass = 0x2080;
inline constexpr uint64_t kRunqueues = 0x100000, kCpu1Offset = 0x100000;
inline constexpr uint64_t kSch = 0x300000, kPcpu = 0x310000, kPnode = 0x320000,
                          kPnode0 = 0x321000, kTbl = 0x330000, kDsqA = 0x340000, kDsqB = 0x341000;
inline constexpr uint64_t kEi = 0x350000, kReason = 0x351000, kMsg = 0x352000, kDump = 0x353000,
                          kBt = 0x358000;
inline constexpr uint64_t kTasks = 0x500000, kTaskStride = 0x4000;
inline constexpr uint64_t kJiffies = 1000000;
inline constexpr uint64_t kWatchdog = 7500;  // 30 s at HZ=250

inline uint64_t dm(uint64_t gpa) { return kPob + gpa; }  // direct-map VA

// Hand-made offsets (as if from BTF) for when no kernel is fetched.
inline ScxLayout synthetic_scx_layout() {
  ScxLayout l;
  l.sched_size = 0x400;
  l.sched_ops_name = 0x100, l.ops_name_len = 128, l.sched_ops_flags = 0x08;
  l.sched_ops_timeout_ms = 0x10, l.sched_ops_exit_dump_len = 0x14;
  l.sched_watchdog_timeout = 0x200, l.sched_bypass_depth = 0x208, l.sched_exit_kind = 0x20c;
  l.sched_exit_info = 0x210, l.sched_dsq_hash = 0x240, l.sched_pnode = 0x300, l.sched_pcpu = 0x308;
  l.pcpu_bypass_dsq = 0x40, l.pnode_global_dsq = 0;
  l.ei_size = 64, l.ei_kind = 0, l.ei_exit_code = 8, l.ei_reason = 24, l.ei_bt = 32;
  l.ei_bt_len = 40, l.ei_msg = 48, l.ei_dump = 56;
  l.rq_size = 0x400, l.rq_curr = 0x10, l.rq_local_dsq = 0x100, l.rq_runnable_list = 0x168;
  l.rq_nr_running = 0x180, l.rq_flags = 0x188;
  l.dsq_list = 0x10, l.dsq_nr = 0x30, l.dsq_id = 0x38, l.dsq_hash_node = 0x40;
  l.task_pid = 0x500, l.task_comm = 0x600, l.comm_len = 16, l.task_sched_class = 0x100;
  l.task_dsq = 0x108, l.task_dsq_list_node = 0x128, l.task_runnable_node = 0x200;
  l.task_runnable_at = 0x210, l.lnode_flags = 16;
  l.rht_tbl = 0, l.tbl_size = 0, l.tbl_nest = 4, l.tbl_future_tbl = 0x28, l.tbl_buckets = 0x40;
  l.exit_kinds = {{0, "SCX_EXIT_NONE"},       {1, "SCX_EXIT_DONE"},        {64, "SCX_EXIT_UNREG"},
                  {65, "SCX_EXIT_UNREG_BPF"}, {66, "SCX_EXIT_UNREG_KERN"}, {67, "SCX_EXIT_SYSRQ"},
                  {68, "SCX_EXIT_PARENT"},    {1024, "SCX_EXIT_ERROR"},    {1025, "SCX_EXIT_ERROR_BPF"},
                  {1026, "SCX_EXIT_ERROR_STALL"}};
  l.enable_states = {{0, "SCX_ENABLING"}, {1, "SCX_ENABLED"}, {2, "SCX_DISABLING"},
                     {3, "SCX_DISABLED"}};
  l.exit_none = 0, l.exit_done = 1;
  l.dsq_global = (1ULL << 63) | 1, l.dsq_local = (1ULL << 63) | 2, l.dsq_bypass = (1ULL << 63) | 3;
  return l;
}

// The fetched kernel's vmlinux BTF (parsed once), or nullptr.
inline const btf::Btf* fetched_vmlinux() {
  static const std::optional<btf::Btf> vmlinux = []() -> std::optional<btf::Btf> {
    std::string path = std::string(KTEST_KERNEL_DIR) + "/vmlinux";
    if (std::string(KTEST_KERNEL_DIR).empty() || !std::filesystem::exists(path)) return std::nullopt;
    auto btf = btf::Btf::from_elf(path);
    REQUIRE_MESSAGE(btf, btf.error().to_string());
    return std::move(*btf);
  }();
  return vmlinux ? &*vmlinux : nullptr;
}

// The layout the tests lay their guest out with.
inline const ScxLayout& scx_test_layout() {
  static const ScxLayout layout = [] {
    if (const btf::Btf* vmlinux = fetched_vmlinux()) {
      auto l = ScxLayout::from_btf(*vmlinux);
      REQUIRE_MESSAGE(l, l.error().to_string());
      return *l;
    }
    return synthetic_scx_layout();
  }();
  if (!fetched_vmlinux()) {
    MESSAGE("no fetched kernel (configure with -Dkernel_dir=DIR holding vmlinux): the scx tests "
            "use hand-made offsets, not the kernel's BTF");
  }
  return layout;
}

// A Vmlinux as the session shares it, holding `scx` (by default the test
// layout) and the fetched kernel's BTF or an empty one. `maps` is left
// default: the sched_ext readers never use it.
inline std::shared_ptr<const Vmlinux> scx_test_vmlinux(std::optional<ScxLayout> scx = scx_test_layout(),
                                                       std::string scx_unavailable = "") {
  std::optional<btf::Btf> btf;
  if (const btf::Btf* fetched = fetched_vmlinux()) {
    btf = *fetched;
  } else {
    auto empty = btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty vmlinux");
    REQUIRE(empty);
    btf = std::move(*empty);
  }
  return std::make_shared<const Vmlinux>(
      Vmlinux{std::move(*btf), KernelLayout{}, std::move(scx), std::move(scx_unavailable)});
}

struct ScxGuest {
  const ScxLayout& l = scx_test_layout();
  Ram ram{8 << 20};
  kvm::control::SymbolTable symbols = guest_symbols(ram, sym_lines());
  kvm::control::SymbolTable ksyms = kallsyms();
  std::unique_ptr<GuestKernel> kernel;

  static std::string sym_lines() {
    auto line = [](uint64_t gpa, const char* type, const char* name) {
      return fmt::format("{:016x} {} {}\n", kImage + gpa, type, name);
    };
    return line(kRootSym, "b", "scx_root") + line(kStateSym, "d", "scx_enable_state_var") +
           line(kJiffiesSym, "D", "jiffies_64") + line(kNodesSym, "D", "nr_node_ids") +
           line(kExtClass, "D", "ext_sched_class") + line(kFairClass, "D", "fair_sched_class") +
           line(kRunqueues, "D", "runqueues");
  }
  // Text symbols the backtrace resolves against.
  static kvm::control::SymbolTable kallsyms() {
    auto t = kvm::control::SymbolTable::parse(
        "ffffffff81100000 T scx_bpf_error_bstr\nffffffff811000a0 T bpf_prog_run\n"
        "ffffffff81100200 T next_fn\n");
    REQUIRE(t);
    return std::move(*t);
  }

  void put_str(uint64_t gpa, std::string_view s) {
    std::memcpy(ram.bytes.data() + gpa, s.data(), s.size());
    ram.bytes[gpa + s.size()] = 0;
  }
  uint64_t task(int i) const { return kTasks + static_cast<uint64_t>(i) * kTaskStride; }
  uint64_t rq(int cpu) const { return kRunqueues + (cpu == 0 ? 0 : kCpu1Offset); }
  void put_dsq(uint64_t gpa, uint64_t id, uint32_t nr) {
    ram.put64(gpa + l.dsq_id, id);
    ram.put32(gpa + l.dsq_nr, nr);
  }
  void put_task(int i, int32_t pid, std::string_view comm, uint64_t runnable_at, uint64_t dsq) {
    uint64_t t = task(i);
    ram.put32(t + l.task_pid, static_cast<uint32_t>(pid));
    put_str(t + l.task_comm, comm);
    ram.put64(t + l.task_sched_class, kImage + kExtClass);
    ram.put64(t + l.task_dsq, dsq);
    ram.put64(t + l.task_runnable_at, runnable_at);
  }
  // Links tasks (by index) into `cpu`'s runnable list, in order. The
  // kernel reaches the head as runqueues + __per_cpu_offset[cpu] (here an
  // image VA), the tasks through the direct map.
  void put_runnable(int cpu, std::vector<int> tasks) {
    uint64_t head = rq(cpu) + l.rq_runnable_list;
    auto va = [&](uint64_t gpa) { return gpa == head ? kImage + gpa : dm(gpa); };
    uint64_t prev = head;
    for (int i : tasks) {
      uint64_t node = task(i) + l.task_runnable_node;
      ram.put64(prev, va(node));
      ram.put64(node + 8, va(prev));
      prev = node;
    }
    ram.put64(prev, va(head));
    ram.put64(head + 8, va(prev));
  }

  // CPU 0 runs pid 300 and has 100, 101 runnable (on user DSQ 0x10);
  // CPU 1 idles with 200 runnable on its local DSQ.
  ScxGuest() {
    ram.put64(kRootSym, dm(kSch));
    ram.put32(kStateSym, 1);  // SCX_ENABLED
    ram.put64(kJiffiesSym, kJiffies);
    ram.put32(kNodesSym, 1);
    put_str(kSch + l.sched_ops_name, "ktest_sched");
    ram.put64(kSch + l.sched_ops_flags, 0x44);
    ram.put32(kSch + l.sched_ops_timeout_ms, 5000);
    ram.put64(kSch + l.sched_watchdog_timeout, kWatchdog);
    ram.put32(kSch + l.sched_bypass_depth, 0);
    ram.put64(kSch + l.sched_pnode, dm(kPnode));
    ram.put64(kSch + l.sched_pcpu, dm(kPcpu));
    ram.put64(kPnode, dm(kPnode0));
    put_dsq(kPnode0 + l.pnode_global_dsq, l.dsq_global, 3);
    put_dsq(kPcpu + l.pcpu_bypass_dsq, l.dsq_bypass, 0);
    put_dsq(kPcpu + kCpu1Offset + l.pcpu_bypass_dsq, l.dsq_bypass, 0);
    // dsq_hash: 4 buckets; bucket 1 (locked) chains A → B → nulls; bucket 3 locked and empty.
    ram.put64(kSch + l.sched_dsq_hash + l.rht_tbl, dm(kTbl));
    ram.put32(kTbl + l.tbl_size, 4);
    ram.put64(kTbl + l.tbl_buckets + 8, dm(kDsqA + l.dsq_hash_node) | 1);
    ram.put64(kTbl + l.tbl_buckets + 24, 1);
    ram.put64(kDsqA + l.dsq_hash_node, dm(kDsqB + l.dsq_hash_node));
    ram.put64(kDsqB + l.dsq_hash_node, ((kTbl + 8) << 1) | 1);
    put_dsq(kDsqA, 0x20, 0);  // found first, sorted after
    put_dsq(kDsqB, 0x10, 2);
    for (int cpu : {0, 1}) {
      ram.put32(rq(cpu) + l.rq_nr_running, cpu == 0 ? 3 : 1);
      ram.put32(rq(cpu) + l.rq_flags, 1);
      put_dsq(rq(cpu) + l.rq_local_dsq, l.dsq_local, cpu == 0 ? 0 : 1);
    }
    put_task(0, 100, "worker-a", kJiffies - 500, dm(kDsqB));
    put_task(1, 101, "worker-b", kJiffies - 100, dm(kDsqB));
    put_task(2, 200, "hog", kJiffies - 1000, dm(rq(1) + l.rq_local_dsq));
    put_task(3, 300, "runner", kJiffies, 0);
    put_task(4, 0, "swapper/1", 0, 0);
    ram.put64(task(4) + l.task_sched_class, kImage + kFairClass);
    ram.put64(rq(0) + l.rq_curr, dm(task(3)));
    ram.put64(rq(1) + l.rq_curr, dm(task(4)));
    put_runnable(0, {0, 1});
    put_runnable(1, {2});
    auto k = GuestKernel::open(ram, symbols, 0, 0);
    REQUIRE_MESSAGE(k, k.error().to_string());
    kernel = std::move(*k);
  }

  // The scheduler exiting with `kind`: exit info with reason, msg, dump, backtrace.
  void put_exit(int64_t exit_kind, int32_t ei_kind) {
    ram.put32(kSch + l.sched_exit_kind, static_cast<uint32_t>(exit_kind));
    ram.put64(kSch + l.sched_exit_info, dm(kEi));
    ram.put32(kEi + l.ei_kind, static_cast<uint32_t>(ei_kind));
    ram.put64(kEi + l.ei_exit_code, static_cast<uint64_t>(-22));
    ram.put64(kEi + l.ei_reason, dm(kReason));
    put_str(kReason, "scx_bpf_error");
    ram.put64(kEi + l.ei_msg, dm(kMsg));
    put_str(kMsg, "task 100 dispatched to a bad DSQ");
    ram.put64(kEi + l.ei_dump, dm(kDump));
    put_str(kDump, "ktest_sched[1]: error\n  CPU 0: nr_run=3\n");
    ram.put32(kSch + l.sched_ops_exit_dump_len, 0x4000);
    ram.put64(kEi + l.ei_bt, dm(kBt));
    ram.put32(kEi + l.ei_bt_len, 3);
    ram.put64(kBt, 0xffffffff8110006bULL);
    ram.put64(kBt + 8, 0xffffffff811000b0ULL);
    ram.put64(kBt + 16, 0xffffffff90000000ULL);  // resolves to nothing
  }

  ScxState read(uint32_t hz = 250) {
    ScxReadContext ctx;
    ctx.per_cpu_offsets = {0, kCpu1Offset};
    ctx.hz = hz;
    ctx.symbols = &ksyms;
    return read_scx_state(*kernel, l, ctx);
  }
};

}  // namespace ktest::freeze::testing
