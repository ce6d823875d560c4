// QemuMachine: the caller-facing commands (run control, memory, registers,
// watchpoints, events, doorbell replies, kill). Startup is in
// qemu_boot.cpp, the monitor thread in qemu_monitor.cpp.
#include "kvm/qemu/qemu_machine.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>

#include <fmt/format.h>

#include "kvm/qemu/qemu_command_line.h"
#include "kvm/qemu/socket_io.h"

namespace ktest::kvm {

using doorbell::DoorbellPage;

std::string_view to_string(ExitReason reason) {
  switch (reason) {
    case ExitReason::Poweroff: return "poweroff";
    case ExitReason::Panic: return "panic";
    case ExitReason::Crashed: return "crashed";
    case ExitReason::Timeout: return "timeout";
    case ExitReason::Killed: return "killed";
  }
  return "unknown";
}

Result<std::unique_ptr<Machine>> make_machine(std::string_view engine) {
  if (engine == "qemu") return std::unique_ptr<Machine>(std::make_unique<QemuMachine>());
  return fail(fmt::format("unknown VM engine '{}'", engine), "", "the available engine is: qemu");
}

Status QemuMachine::ensure_alive() const {
  if (exit_) return fail(exited_error());
  return {};
}

Error QemuMachine::exited_error() const {
  Error e(fmt::format("the guest is gone ({}{}{})", to_string(exit_->reason),
                      exit_->detail.empty() ? "" : ": ", exit_->detail));
  e.hint = fmt::format("see {}/console.log", config_.run_dir);
  return e;
}

QemuMachine::QmpReply QemuMachine::qmp_exchange(std::string_view command, const nlohmann::json& args) {
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    if (exit_) return {fail(exited_error())};
    if (!qmp_ready_) return {fail("QMP is not connected")};
    id = next_qmp_id_++;
  }
  {
    std::lock_guard wl(qmp_write_mu_);
    if (auto st = write_all(qmp_fd_.get(), qmp::encode_qmp_command(command, args, id)); !st)
      return {std::move(st).context(fmt::format("QMP {}", command))};
  }
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, config_.command_timeout, [&] { return qmp_replies_.contains(id) || exit_.has_value(); });
  auto it = qmp_replies_.find(id);
  if (it == qmp_replies_.end()) {
    if (exit_) return {fail(exited_error())};
    return {fail(fmt::format("QMP {} got no reply within {} ms", command, config_.command_timeout.count()))};
  }
  auto [msg, vm_resumes] = std::move(it->second);
  qmp_replies_.erase(it);
  if (msg.type == qmp::MessageType::Error)
    return {fail(fmt::format("QMP {} failed: {} ({})", command, msg.error_desc, msg.error_class)), vm_resumes};
  return {std::move(msg.data), vm_resumes};
}

Result<nlohmann::json> QemuMachine::qmp(std::string_view command, const nlohmann::json& args) {
  return std::move(qmp_exchange(command, args).value);
}

Result<bool> QemuMachine::running_now() {
  KTEST_ASSIGN(nlohmann::json status, qmp("query-status"));
  if (!status.is_object() || !status.contains("running") || !status["running"].is_boolean())
    return fail("QMP query-status returned no 'running' field");
  return status["running"].get<bool>();
}

Status QemuMachine::pause_all() {
  std::lock_guard run(run_mu_);
  // No query-status after it: QMP stop answers only once vm_stop() ->
  // pause_all_vcpus() has waited for every vCPU to stop.
  QmpReply stopped = qmp_exchange("stop");
  if (!stopped.value) return fail(std::move(stopped.value).error());
  held_paused_ = true;
  vm_resumes_at_pause_ = stopped.vm_resumes;
  return {};
}

Status QemuMachine::resume() {
  std::lock_guard run(run_mu_);
  if (!held_paused_) {  // paused by something else (a watchpoint hit), or not at all
    KTEST_ASSIGN(bool running, running_now());
    if (running) return {};
  }
  held_paused_ = false;
  KTEST_TRY(qmp("cont"));
  return {};
}

Result<AccelCounters> QemuMachine::accel_counters() {
  if (!use_kvm_) return AccelCounters{};  // TCG keeps no exit counters
  const nlohmann::json args = {{"target", "vcpu"}, {"providers", {{{"provider", "kvm"}}}}};
  KTEST_ASSIGN(nlohmann::json reply, qmp("query-stats", args));
  return qmp::parse_kvm_vcpu_stats(reply);
}

Result<bool> QemuMachine::is_paused() {
  KTEST_ASSIGN(bool running, running_now());
  return !running;
}

Status QemuMachine::read_physical_into(uint64_t gpa, uint8_t* out, uint64_t len) {
  if (!ram_) return fail("guest RAM is not mapped (machine not booted)");
  if (gpa > ram_size_ || len > ram_size_ - gpa)
    return fail(fmt::format("guest physical range [{:#x}, {:#x}) is outside guest RAM (size {:#x})",
                            gpa, gpa + len, ram_size_));
  std::memcpy(out, ram_ + gpa, len);
  return {};
}

Result<std::vector<uint8_t>> QemuMachine::read_physical(uint64_t gpa, uint64_t len) {
  if (len > ram_size_) return fail(fmt::format("read of {} bytes exceeds guest RAM", len));
  std::vector<uint8_t> out(len);
  KTEST_TRY(read_physical_into(gpa, out.data(), len));
  return out;
}

ResumedAfterHold QemuMachine::resume_confirming_hold() {
  std::lock_guard run(run_mu_);
  QmpReply resumed = qmp_exchange("cont");
  ResumedAfterHold out;
  if (!resumed.value) {
    out.resumed = fail(std::move(resumed.value).error());
    out.held = fail("the machine could not be resumed, so whether the pause held is not known");
    return out;
  }
  const bool held_since_pause = held_paused_;
  held_paused_ = false;
  // QEMU sends RESUME whenever the guest starts running, before the reply
  // of the command that started it: exactly one, this cont's, came since
  // the pause if the pause held. None: the guest was already running.
  const uint64_t resumes = resumed.vm_resumes - vm_resumes_at_pause_;
  if (!held_since_pause)
    out.held = fail("the machine was not paused by pause_all()", "", "call pause_all() first");
  else if (resumes == 0)
    out.held = fail("the machine reports running before the resume (QEMU sent no RESUME for it)");
  else if (resumes > 1)
    out.held = fail(fmt::format("the machine resumed {} time(s) since the pause (QEMU sent RESUME)", resumes - 1));
  return out;
}

Status QemuMachine::connect_gdb() {
  if (gdb_fd_.valid()) return {};
  // Connecting stops the VM (it is paused already). QEMU 7.2 has no
  // QStartNoAckMode, so the monitor acks every packet as it decodes it.
  KTEST_ASSIGN(UniqueFd fd, connect_unix(socket_dir_ + "/" + kGdbSocket));
  ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  std::lock_guard lk(mu_);
  gdb_fd_ = std::move(fd);
  gdb_ready_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
  return {};
}

Result<std::vector<std::string>> QemuMachine::gdb_batch(const std::vector<std::string>& payloads) {
  {
    std::lock_guard lk(mu_);
    KTEST_TRY(ensure_alive());
    gdb_replies_.clear();
  }
  std::string packets;
  for (const std::string& payload : payloads) packets += gdb::encode_gdb_packet(payload);
  {
    std::lock_guard wl(gdb_write_mu_);
    KTEST_TRY(write_all(gdb_fd_.get(), packets));
  }
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, config_.command_timeout,
               [&] { return gdb_replies_.size() >= payloads.size() || exit_.has_value(); });
  if (gdb_replies_.size() < payloads.size()) {
    if (exit_) return fail(exited_error());
    return fail(fmt::format("gdbstub did not answer '{}'", payloads[gdb_replies_.size()]));
  }
  std::vector<std::string> replies(std::make_move_iterator(gdb_replies_.begin()),
                                   std::make_move_iterator(gdb_replies_.begin() + payloads.size()));
  gdb_replies_.erase(gdb_replies_.begin(), gdb_replies_.begin() + payloads.size());
  return replies;
}

Result<std::string> QemuMachine::gdb_command(const std::string& payload) {
  KTEST_ASSIGN(std::vector<std::string> replies, gdb_batch({payload}));
  return std::move(replies.front());
}

Result<WatchpointId> QemuMachine::set_watchpoint(uint64_t gva, uint32_t len, WatchKind kind) {
  if ((len != 1 && len != 2 && len != 4 && len != 8) || gva % len != 0)
    return fail(fmt::format("watchpoint at {:#x} len {} is not a naturally aligned 1/2/4/8-byte range", gva, len));
  std::lock_guard run(run_mu_);
  std::lock_guard gdb_lock(gdb_mu_);
  KTEST_ASSIGN(bool was_running, running_now());
  if (was_running) KTEST_TRY(qmp("stop"));
  auto armed = [&]() -> Result<WatchpointId> {
    KTEST_TRY(connect_gdb());
    KTEST_ASSIGN(std::string reply, gdb_command(gdb::watchpoint_packet(true, kind, gva, len)));
    if (reply != "OK")
      return fail(fmt::format("gdbstub refused the watchpoint at {:#x} ('{}')", gva, reply), "",
                  use_kvm_ ? "KVM has 4 hardware watchpoints; clear one first" : "");
    std::lock_guard lk(mu_);
    WatchpointId id = next_watch_id_++;
    watches_[id] = Watch{gva, len, kind};
    return id;
  }();
  if (was_running) KTEST_TRY(qmp("cont"));
  return armed;
}

Status QemuMachine::clear_watchpoint(WatchpointId id) {
  std::lock_guard run(run_mu_);
  std::lock_guard gdb_lock(gdb_mu_);
  Watch watch;
  {
    std::lock_guard lk(mu_);
    auto it = watches_.find(id);
    if (it == watches_.end()) return fail(fmt::format("no watchpoint with id {}", id));
    watch = it->second;
  }
  KTEST_ASSIGN(bool was_running, running_now());
  if (was_running) KTEST_TRY(qmp("stop"));
  auto reply = gdb_command(gdb::watchpoint_packet(false, watch.kind, watch.addr, watch.len));
  if (was_running) KTEST_TRY(qmp("cont"));
  if (!reply) return fail(std::move(reply).error());
  if (*reply != "OK") return fail(fmt::format("gdbstub refused to clear watchpoint {} ('{}')", id, *reply));
  std::lock_guard lk(mu_);
  watches_.erase(id);
  return {};
}

Result<std::optional<MachineEvent>> QemuMachine::wait_event(Millis timeout) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return !events_.empty() || (exit_ && exit_delivered_); });
  if (events_.empty() && exit_ && exit_delivered_) return fail(exited_error());
  std::optional<MachineEvent> out;
  if (!events_.empty()) {
    out.emplace(std::move(events_.front()));
    events_.pop_front();
    if (std::holds_alternative<ExitEvent>(*out)) exit_delivered_ = true;
  }
  return out;
}

Status QemuMachine::reply_doorbell(uint64_t serial, doorbell::ReplyStatus status,
                                   const std::vector<uint8_t>& payload) {
  if (!shm_) return fail("doorbell page is not mapped (machine not booted)");
  if (payload.size() > doorbell::kPayloadMax)
    return fail(fmt::format("doorbell reply of {} bytes exceeds the {}-byte limit", payload.size(),
                            doorbell::kPayloadMax));
  auto* page = reinterpret_cast<DoorbellPage*>(shm_);
  page->reply_status = static_cast<int32_t>(status);
  page->reply_length = static_cast<uint32_t>(payload.size());
  if (!payload.empty()) std::memcpy(page->reply_payload, payload.data(), payload.size());
  std::atomic_ref<uint64_t>(page->reply_serial).store(serial, std::memory_order_release);
  return {};
}

std::vector<std::string> QemuMachine::console_tail() const {
  std::lock_guard lk(mu_);
  return {console_tail_.lines().begin(), console_tail_.lines().end()};
}

void QemuMachine::send_signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

ExitEvent QemuMachine::kill() {
  std::unique_lock lk(mu_);
  if (pid_ <= 0) return ExitEvent{ExitReason::Killed, -1, "never started", {}};
  if (!exit_) {
    if (!forced_reason_) forced_reason_ = ExitReason::Killed;
    send_signal(SIGTERM);
    if (!cv_.wait_for(lk, std::chrono::seconds(3), [&] { return exit_.has_value(); })) {
      send_signal(SIGKILL);
      cv_.wait_for(lk, std::chrono::seconds(10), [&] { return exit_.has_value(); });
    }
  }
  if (!exit_) return ExitEvent{ExitReason::Killed, -1, "QEMU did not die after SIGKILL", {}};
  return *exit_;
}

}  // namespace ktest::kvm
