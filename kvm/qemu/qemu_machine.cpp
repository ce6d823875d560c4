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

#include "kvm/qemu/info_registers.h"
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

Result<std::vector<nlohmann::json>> QemuMachine::qmp_pipelined(std::initializer_list<QmpCommand> commands) {
  uint64_t first_id;
  {
    std::lock_guard lk(mu_);
    KTEST_TRY(ensure_alive());
    if (!qmp_ready_) return fail("QMP is not connected");
    first_id = next_qmp_id_;
    next_qmp_id_ += commands.size();
  }
  const uint64_t end_id = first_id + commands.size();
  std::string lines;
  uint64_t id = first_id;
  for (const QmpCommand& c : commands) lines += qmp::encode_qmp_command(c.name, c.args, id++);
  {
    std::lock_guard wl(qmp_write_mu_);
    if (auto st = write_all(qmp_fd_.get(), lines); !st) {
      std::string names;
      for (const QmpCommand& c : commands) names += fmt::format("{}{}", names.empty() ? "" : " + ", c.name);
      return std::move(st).context(fmt::format("QMP {}", names));
    }
  }
  std::unique_lock lk(mu_);
  auto all_answered = [&] {
    for (uint64_t i = first_id; i < end_id; ++i)
      if (!qmp_replies_.contains(i)) return false;
    return true;
  };
  cv_.wait_for(lk, config_.command_timeout, [&] { return all_answered() || exit_.has_value(); });
  // Every reply that came is taken out, so a failed batch leaves none behind.
  std::vector<std::optional<qmp::Message>> replies;
  for (uint64_t i = first_id; i < end_id; ++i) {
    auto it = qmp_replies_.find(i);
    replies.emplace_back();
    if (it == qmp_replies_.end()) continue;
    replies.back() = std::move(it->second);
    qmp_replies_.erase(it);
  }
  std::vector<nlohmann::json> out;
  auto command = commands.begin();
  for (auto& msg : replies) {
    if (!msg) {
      if (exit_) return fail(exited_error());
      return fail(fmt::format("QMP {} got no reply within {} ms", command->name, config_.command_timeout.count()));
    }
    if (msg->type == qmp::MessageType::Error)
      return fail(fmt::format("QMP {} failed: {} ({})", command->name, msg->error_desc, msg->error_class));
    out.push_back(std::move(msg->data));
    ++command;
  }
  return out;
}

Result<nlohmann::json> QemuMachine::qmp(std::string_view command, const nlohmann::json& args) {
  KTEST_ASSIGN(std::vector<nlohmann::json> replies, qmp_pipelined({{command, args}}));
  return std::move(replies.front());
}

namespace {

// The "running" field of a query-status reply.
Result<bool> running_in(const nlohmann::json& status) {
  if (!status.is_object() || !status.contains("running") || !status["running"].is_boolean())
    return fail("QMP query-status returned no 'running' field");
  return status["running"].get<bool>();
}

}  // namespace

Result<bool> QemuMachine::running_now() {
  KTEST_ASSIGN(nlohmann::json status, qmp("query-status"));
  return running_in(status);
}

Status QemuMachine::pause_all() {
  std::lock_guard run(run_mu_);
  // No query-status after it: QMP stop answers only once vm_stop() ->
  // pause_all_vcpus() has waited for every vCPU to stop.
  KTEST_TRY(qmp("stop"));
  held_paused_ = true;
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

Result<VcpuRegisters> QemuMachine::read_registers(uint32_t cpu) {
  if (cpu >= config_.cpus)
    return fail(fmt::format("vCPU {} does not exist (the guest has {})", cpu, config_.cpus));
  std::lock_guard run(run_mu_);
  if (!held_paused_) {
    KTEST_ASSIGN(bool running, running_now());
    if (running) return fail("read_registers needs the machine paused", "", "call pause_all() first");
  }
  KTEST_ASSIGN(nlohmann::json text,
               qmp("human-monitor-command", {{"command-line", "info registers"}, {"cpu-index", cpu}}));
  if (!text.is_string()) return fail("QMP info registers returned no text");
  auto regs = parse_info_registers(text.get<std::string>());
  if (!regs) return std::move(regs).context(fmt::format("vCPU {}", cpu));
  return regs;
}

Result<std::vector<VcpuRegisters>> QemuMachine::read_all_registers() {
  std::lock_guard run(run_mu_);
  // The pause is confirmed in the same round trip as the dump: QMP answers
  // in order, and nothing resumes the guest in between (run_mu_).
  KTEST_ASSIGN(std::vector<nlohmann::json> replies,
               qmp_pipelined({{"query-status"}, {"human-monitor-command", {{"command-line", "info registers -a"}}}}));
  KTEST_ASSIGN(bool running, running_in(replies[0]));
  if (running) return fail("the machine reports running: reading every vCPU's registers needs it paused", "",
                           "call pause_all() first");
  if (!replies[1].is_string()) return fail("QMP info registers -a returned no text");
  return parse_all_info_registers(replies[1].get_ref<const std::string&>(), config_.cpus);
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

Result<std::string> QemuMachine::gdb_command(const std::string& payload) {
  {
    std::lock_guard lk(mu_);
    KTEST_TRY(ensure_alive());
    gdb_replies_.clear();
  }
  {
    std::lock_guard wl(gdb_write_mu_);
    KTEST_TRY(write_all(gdb_fd_.get(), gdb::encode_gdb_packet(payload)));
  }
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, config_.command_timeout, [&] { return !gdb_replies_.empty() || exit_.has_value(); });
  if (gdb_replies_.empty()) {
    if (exit_) return fail(exited_error());
    return fail(fmt::format("gdbstub did not answer '{}'", payload));
  }
  std::string reply = std::move(gdb_replies_.front());
  gdb_replies_.pop_front();
  return reply;
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
