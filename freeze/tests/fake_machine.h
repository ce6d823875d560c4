// A kvm::Machine over a synthetic guest's RAM, for the tests that drive
// the freeze coordinator, the error trigger or the session's event loop:
// counts pauses and resumes, arms up to `slots` watchpoints (ids are never
// reused), records the ones cleared and the doorbell replies, and hands out
// queued events.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "freeze/tests/synthetic_memory.h"
#include "kvm/machine.h"

namespace ktest::freeze::testing {

class FakeMachine final : public kvm::Machine {
 public:
  struct Watch {
    kvm::WatchpointId id = -1;
    uint64_t gva = 0;
    uint32_t len = 0;
    kvm::WatchKind kind = kvm::WatchKind::Write;
  };

  explicit FakeMachine(Ram& ram, uint32_t vcpus = 1) : ram_(ram), vcpus_(vcpus) {}
  Status boot(const kvm::MachineConfig&) override { return {}; }
  Status pause_all() override {
    ++pauses;
    if (!pause_error.empty()) return fail(pause_error);
    paused = !pause_is_lost;
    return {};
  }
  Status resume() override {
    ++resumes;
    paused = false;
    return {};
  }
  Result<bool> is_paused() override { return paused; }
  uint64_t ram_size() const override { return ram_.size(); }
  Result<std::vector<uint8_t>> read_physical(uint64_t gpa, uint64_t len) override {
    std::vector<uint8_t> out(len);
    KTEST_TRY(ram_.read(gpa, out.data(), len));
    return out;
  }
  Status read_physical_into(uint64_t gpa, uint8_t* out, uint64_t len) override {
    // A reader that must pause first (the BPF-global resolver) is caught here.
    if (!paused && reads_need_pause) return fail("read while running");
    return ram_.read(gpa, out, len);
  }
  uint32_t vcpu_count() const override { return vcpus_; }
  kvm::MachineInfo info() const override { return {"fake", "fake", "fake"}; }
  // Where each vCPU stopped.
  Result<kvm::VcpuRegisters> read_registers(uint32_t cpu) override {
    kvm::VcpuRegisters r;
    r.rip = 0xffffffff81000000 + cpu * 0x100;
    r.rsp = 0xffffc90000000000 + cpu * 0x4000;
    ++register_reads;
    return r;
  }
  // As the engine does: the pause is confirmed in the same call.
  Result<std::vector<kvm::VcpuRegisters>> read_all_registers() override {
    ++all_register_reads;
    if (!paused) return fail("the machine reports running: reading every vCPU's registers needs it paused");
    std::vector<kvm::VcpuRegisters> all;
    for (uint32_t cpu = 0; cpu < vcpus_; ++cpu) {
      KTEST_ASSIGN(kvm::VcpuRegisters regs, read_registers(cpu));
      all.push_back(regs);
    }
    return all;
  }
  // Each part counts as its own call, as a test expects of pause_all(),
  // read_all_registers() and resume().
  kvm::PausedReadingRegisters pause_reading_registers() override {
    ++rendezvous;
    Status paused_now = pause_all();
    if (!paused_now) return {std::move(paused_now), fail("the vCPUs were not paused")};
    return {{}, read_all_registers()};
  }
  kvm::ResumedAfterHold resume_confirming_hold() override {
    ++rendezvous;
    Status held;
    if (!paused) held = fail("the machine reports running before the resume");
    else if (ran_while_paused) held = fail("the machine resumed 1 time(s) since the pause");
    return {std::move(held), resume()};
  }
  Result<kvm::WatchpointId> set_watchpoint(uint64_t gva, uint32_t len, kvm::WatchKind kind) override {
    ++arms;
    if (armed.size() >= slots) return fail(fmt::format("gdbstub refused the watchpoint at {:#x} ('E22')", gva));
    armed.push_back(Watch{next_id_++, gva, len, kind});
    return armed.back().id;
  }
  Status clear_watchpoint(kvm::WatchpointId id) override {
    auto it = std::find_if(armed.begin(), armed.end(), [&](const Watch& w) { return w.id == id; });
    if (it == armed.end()) return fail(fmt::format("no watchpoint {} is armed", id));
    armed.erase(it);
    cleared.push_back(id);
    return {};
  }
  // Hands out `events` in order (running `before_event` first, if set, with
  // the event about to be delivered); then nothing.
  Result<std::optional<kvm::MachineEvent>> wait_event(kvm::Millis) override {
    if (events.empty()) return std::optional<kvm::MachineEvent>();
    kvm::MachineEvent next = std::move(events.front());
    events.pop_front();
    if (before_event) before_event(next);
    return std::optional<kvm::MachineEvent>(std::move(next));
  }
  Status reply_doorbell(uint64_t serial, doorbell::ReplyStatus status, const std::vector<uint8_t>& payload) override {
    last_status = status;
    last_reply.assign(payload.begin(), payload.end());
    replies.emplace_back(serial, status);
    return {};
  }
  int control_channel() const override { return control_fd; }
  int terminal_channel() const override { return terminal_fd; }
  std::vector<std::string> console_tail() const override { return {}; }
  std::string run_dir() const override { return {}; }
  kvm::ExitEvent kill() override {
    ++kills;
    return kvm::ExitEvent{kvm::ExitReason::Killed, -1, "killed", {}};
  }

  // Watchpoint `id` fires on `cpu`: the guest stops, as the engine leaves it.
  kvm::WatchpointHit hit(kvm::WatchpointId id, int cpu = 0) {
    paused = true;
    auto it = std::find_if(armed.begin(), armed.end(), [&](const Watch& w) { return w.id == id; });
    return kvm::WatchpointHit{id, cpu, it == armed.end() ? 0 : it->gva};
  }

  int pauses = 0, resumes = 0;
  bool paused = false;
  bool reads_need_pause = true;  // false: reads while running succeed (racy in a real guest)
  std::string pause_error;       // set: pause_all() fails with it (a failed rendezvous)
  bool ran_while_paused = false; // set: the machine ran (and stopped again) during a capture
  bool pause_is_lost = false;    // set: pause_all() succeeds, but the machine reports running
  uint64_t register_reads = 0;      // vCPU register sets read, one per vCPU per read_all_registers()
  int all_register_reads = 0;       // read_all_registers() calls
  int rendezvous = 0;               // pause_reading_registers() and resume_reading_registers() calls
  std::size_t slots = 4;
  int arms = 0;                  // set_watchpoint() calls, refused ones included
  std::vector<Watch> armed;      // armed now, in arming order
  std::vector<kvm::WatchpointId> cleared;
  doorbell::ReplyStatus last_status = doorbell::ReplyStatus::Ok;
  int terminal_fd = -1;  // a person's terminal (MachineConfig::terminal); -1: none
  std::string last_reply;
  std::vector<std::pair<uint64_t, doorbell::ReplyStatus>> replies;  // serial, status
  std::deque<kvm::MachineEvent> events;
  std::function<void(const kvm::MachineEvent&)> before_event;
  int control_fd = -1;  // the agent's control channel (the test writes the other end)
  int kills = 0;

 private:
  Ram& ram_;
  uint32_t vcpus_;
  kvm::WatchpointId next_id_ = 1;
};

}  // namespace ktest::freeze::testing
