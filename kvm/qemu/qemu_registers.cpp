// QemuMachine: reading vCPU registers, through the gdbstub (see
// kvm/qemu/gdb_registers.h for why not HMP "info registers").
#include <fmt/format.h>

#include "kvm/qemu/gdb_registers.h"
#include "kvm/qemu/qemu_machine.h"

namespace ktest::kvm {

namespace {
constexpr const char* kNeedsPause = "call pause_all() first";
}  // namespace

Result<std::string> QemuMachine::gdb_feature_document(std::string_view annex) {
  std::string document;
  for (;;) {  // each chunk but the last adds bytes, and the document is bounded
    KTEST_ASSIGN(std::string reply, gdb_command(gdb::feature_read_packet(annex, document.size())));
    KTEST_ASSIGN(bool complete, gdb::append_feature_chunk(reply, document));
    if (complete) return document;
  }
}

Status QemuMachine::prepare_register_reads() {
  KTEST_TRY(connect_gdb());
  if (gdb_layout_) return {};
  KTEST_ASSIGN(std::string target, gdb_feature_document("target.xml"));
  auto described =
      gdb::parse_register_layout(target, [&](std::string_view href) { return gdb_feature_document(href); });
  if (!described) return std::move(described).context("reading the gdbstub's register layout");
  KTEST_ASSIGN(std::vector<std::string> sample, gdb_batch({"Hg1", "g"}));
  auto layout = gdb::fit_layout(*described, sample[1].size());
  if (!layout) return std::move(layout).context("reading the gdbstub's register layout");
  gdb_layout_ = std::move(*layout);
  return {};
}

Result<std::vector<VcpuRegisters>> QemuMachine::gdb_registers(uint32_t first, uint32_t count) {
  std::lock_guard gdb_lock(gdb_mu_);
  KTEST_TRY(prepare_register_reads());
  std::vector<std::string> packets;
  for (uint32_t cpu = first; cpu < first + count; ++cpu) {
    packets.push_back(fmt::format("Hg{:x}", cpu + 1));  // gdb thread ids are vCPU index + 1
    packets.emplace_back("g");
  }
  KTEST_ASSIGN(std::vector<std::string> replies, gdb_batch(packets));
  std::vector<VcpuRegisters> out;
  for (uint32_t i = 0; i < count; ++i) {
    if (replies[2 * i] != "OK")
      return fail(fmt::format("the gdbstub did not select vCPU {} ('{}')", first + i, replies[2 * i].substr(0, 40)));
    auto regs = gdb::parse_g_reply(replies[2 * i + 1], *gdb_layout_);
    if (!regs) return std::move(regs).context(fmt::format("vCPU {}", first + i));
    out.push_back(*regs);
  }
  return out;
}

Status QemuMachine::check_paused_for(std::string_view what) {
  if (held_paused_) return {};
  KTEST_ASSIGN(bool running, running_now());
  if (running) return fail(fmt::format("the machine reports running: {} needs it paused", what), "", kNeedsPause);
  return {};
}

Result<VcpuRegisters> QemuMachine::read_registers(uint32_t cpu) {
  if (cpu >= config_.cpus)
    return fail(fmt::format("vCPU {} does not exist (the guest has {})", cpu, config_.cpus));
  std::lock_guard run(run_mu_);
  KTEST_TRY(check_paused_for("reading a vCPU's registers"));
  KTEST_ASSIGN(std::vector<VcpuRegisters> one, gdb_registers(cpu, 1));
  return one.front();
}

Result<std::vector<VcpuRegisters>> QemuMachine::read_all_registers() {
  std::lock_guard run(run_mu_);
  // Nothing resumes the guest between the check and the read (run_mu_).
  KTEST_TRY(check_paused_for("reading every vCPU's registers"));
  return gdb_registers(0, config_.cpus);
}

PausedReadingRegisters QemuMachine::pause_reading_registers() {
  std::lock_guard run(run_mu_);
  // QMP stop answers once every vCPU has stopped.
  QmpReply stopped = qmp_exchange("stop");
  if (!stopped.value) return {Status(fail(std::move(stopped.value).error())), fail("the vCPUs were not paused")};
  held_paused_ = true;
  vm_resumes_at_pause_ = stopped.vm_resumes;
  return {{}, gdb_registers(0, config_.cpus)};
}

}  // namespace ktest::kvm
