// sched_ext state: a FreezeCoordinator capture with the scx section
// (read_scx_state: scx_root, exit info, global/bypass/local/user DSQs,
// each CPU's rq and runnable list, the DSQ rhashtable) over a mutated image
// laid out for the mini kernel's compact ScxLayout; then the monitor's
// light probes over the same guest.
//   arg 0  vCPUs (1..8)
//   arg 1  CONFIG_HZ (mod 1001; 0: unknown)
#include "freeze/scx_state.h"
#include "fuzz/capture.h"
#include "fuzz/mini_kernel.h"

namespace ktest::fuzz {
namespace {

constexpr uint64_t kSched = 0x2000, kTable = 0x2400, kDsqA = 0x2600, kDsqB = 0x2680,
                   kPnodes = 0x2700, kPnode0 = 0x2740, kPcpu = 0x2800, kTasks = 0x4000,
                   kTaskStride = 0x100, kExitInfo = 0x5000, kTexts = 0x5100, kCpu1 = 0x3000;

// A scheduler attached on 2 CPUs: 3 runnable tasks, two user DSQs in the
// hash table; with `exiting`, an error exit with its info filled in.
Seed scheduler_image(bool exiting) {
  const auto& l = *mini_vmlinux()->scx;
  ImageWriter w;
  w.arg(0, 2);
  w.arg(1, 250);
  w.put64(kPerCpuOffset, 0);
  w.put64(kPerCpuOffset + 8, kCpu1);
  w.put64(kScxRoot, dm(kSched));
  w.put32(kScxEnableState, 1);
  w.put64(kJiffies, 1000000);
  w.put32(kNrNodeIds, 1);
  w.put_text(kSched + l.sched_ops_name, "fuzz_sched");
  w.put64(kSched + l.sched_ops_flags, 4);
  w.put32(kSched + l.sched_ops_timeout_ms, 30000);
  w.put64(kSched + l.sched_watchdog_timeout, 7500);
  w.put64(kSched + l.sched_dsq_hash + l.rht_tbl, dm(kTable));
  w.put64(kSched + l.sched_pnode, dm(kPnodes));
  w.put64(kSched + l.sched_pcpu, dm(kPcpu));
  // The global DSQ of node 0 and each CPU's bypass DSQ.
  w.put64(kPnodes, dm(kPnode0));
  w.put32(kPnode0 + l.pnode_global_dsq + l.dsq_nr, 1);
  w.put64(kPnode0 + l.pnode_global_dsq + l.dsq_id, l.dsq_global);
  for (uint64_t off : {uint64_t{0}, kCpu1}) w.put64(kPcpu + off + l.pcpu_bypass_dsq + l.dsq_id, l.dsq_bypass);
  // User DSQs 0x10 and 0x20: bucket 1 chains both (its lock bit set), the
  // others are empty (NULL); the chain ends at an odd nulls marker.
  w.put32(kTable + l.tbl_size, 4);
  w.put64(kTable + l.tbl_buckets + 8, dm(kDsqA + l.dsq_hash_node) | 1);
  w.put64(kDsqA + l.dsq_hash_node, dm(kDsqB + l.dsq_hash_node));
  w.put64(kDsqB + l.dsq_hash_node, 3);
  w.put64(kDsqA + l.dsq_id, 0x10);
  w.put32(kDsqA + l.dsq_nr, 1);
  w.put64(kDsqB + l.dsq_id, 0x20);
  // Tasks: 0 and 1 runnable on CPU 0 (task 0 is rq->curr), 2 on CPU 1.
  auto task = [&](int i, int32_t pid, const char* comm, uint64_t runnable_at, uint64_t dsq) {
    uint64_t t = kTasks + kTaskStride * static_cast<uint64_t>(i);
    w.put32(t + l.task_pid, static_cast<uint32_t>(pid));
    w.put_text(t + l.task_comm, comm);
    w.put64(t + l.task_sched_class, image_va(kExtSchedClass));
    w.put64(t + l.task_runnable_at, runnable_at);
    w.put64(t + l.task_dsq, dsq);
    return t;
  };
  uint64_t t0 = task(0, 100, "worker-0", 999000, dm(kDsqA));
  uint64_t t1 = task(1, 101, "worker-1", 998000, 0);
  uint64_t t2 = task(2, 102, "worker-2", 1000500, dm(kPnode0));
  auto rq = [&](uint64_t off, uint64_t curr, std::vector<uint64_t> runnable) {
    uint64_t r = kRunqueues + off, head = image_va(r + l.rq_runnable_list);
    w.put64(r + l.rq_curr, curr == 0 ? 0 : dm(curr));
    w.put32(r + l.rq_nr_running, static_cast<uint32_t>(runnable.size()));
    w.put64(r + l.rq_local_dsq + l.dsq_id, l.dsq_local);
    uint64_t prev = r + l.rq_runnable_list;
    for (uint64_t t : runnable) {
      w.put64(prev, dm(t + l.task_runnable_node));
      prev = t + l.task_runnable_node;
    }
    w.put64(prev, head);
  };
  rq(0, t0, {t0, t1});
  rq(kCpu1, 0, {t2});
  if (exiting) {
    w.put32(kSched + l.sched_exit_kind, 1025);
    w.put32(kSched + l.sched_ops_exit_dump_len, 64);
    w.put64(kSched + l.sched_exit_info, dm(kExitInfo));
    w.put32(kExitInfo + l.ei_kind, 1025);
    w.put64(kExitInfo + l.ei_exit_code, 0xdead);
    w.put64(kExitInfo + l.ei_reason, dm(kTexts));
    w.put_text(kTexts, "runtime error");
    w.put64(kExitInfo + l.ei_msg, dm(kTexts + 0x40));
    w.put_text(kTexts + 0x40, "scx_bpf_error called");
    w.put64(kExitInfo + l.ei_dump, dm(kTexts + 0x80));
    w.put_text(kTexts + 0x80, "dump: CPU 0 rq ...");
    w.put64(kExitInfo + l.ei_bt, dm(kTexts + 0xc0));
    w.put32(kExitInfo + l.ei_bt_len, 2);
    w.put64(kTexts + 0xc0, image_va(kScxRoot) + 4);
    w.put64(kTexts + 0xc8, freeze::kNoKaslrText + 0x10);
  }
  return w.seed(exiting ? "exiting" : "running");
}

std::vector<Seed> scx_seeds() { return {scheduler_image(false), scheduler_image(true)}; }

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest;
using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(scx, scx_seeds) {
  auto guest = open_image(data);
  auto vmlinux = mini_vmlinux();
  const auto& layout = *vmlinux->scx;
  std::vector<std::unique_ptr<freeze::ReportSection>> sections;
  sections.push_back(freeze::make_scx_section(vmlinux, "", image_shared_symbols(), guest->arg32(1) % 1001));
  Report report = capture_image(*guest, guest->arg32(0), std::move(sections));
  if (report.scx) {
    fuzz_check(report.scx->runnable.size() <= freeze::kMaxScxTasks, "the task bound holds");
    for (const auto& e : report.scx->errors) fuzz_check(!e.empty(), "an error line says something");
  }
  check_report(report);

  if (!guest->kernel) return;
  auto& kernel = *guest->kernel;
  if (auto root = freeze::read_scx_root(kernel); root && *root != 0) {
    (void)freeze::read_exit_kind(kernel, *root, layout);
    auto name = freeze::read_ops_name(kernel, *root, layout);
    fuzz_check(!name || name->size() <= layout.ops_name_len, "ops.name stays in its array");
  }
  auto wait = freeze::longest_runnable_wait(kernel, layout, guest->per_cpu_offsets(guest->arg(0)));
  fuzz_check(wait.ok() || !wait.error().message.empty(), "a failed probe says why");
}
