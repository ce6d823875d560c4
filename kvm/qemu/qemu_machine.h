// The QEMU engine behind make_machine("qemu") (engine-internal).
//
// How the pieces fit (the contract is kvm/machine.h):
// - QEMU starts paused (-S). Before it runs, the engine owns: memfds for
//   guest RAM (one per NUMA node, mapped read-only back to back here, so
//   offset == GPA), a memfd for the ivshmem shared page
//   (mapped read-write, DoorbellPage header written), an ivshmem server
//   with the host peer's eventfd, and a socket dir for QMP, gdbstub and
//   the control channel. Nothing is left on disk when the Machine dies.
// - One monitor thread polls everything QEMU can say: console (stdout →
//   console.log + tail ring), stderr (→ qemu.log), QMP replies/events, gdb
//   stop replies, the doorbell eventfd, the ivshmem listen socket and the
//   child's pidfd; it also enforces the run timeout and the panic grace.
//   Callers send commands and wait on a condition variable for the reply.
// - Run control belongs to QMP (stop/cont). The gdbstub is connected before
//   the guest first runs (connecting stops the VM, and a byte that is not an
//   awaited ack stops a running VM), and gdb packets are only ever sent
//   while the VM is paused,
//   and the monitor acks ('+') each packet as soon as it decodes it, before
//   anyone can resume: an ack QEMU is waiting for never stops the VM. The
//   gdbstub then reports watchpoint hits as stop replies, and answers the
//   register reads ('g' per vCPU, pipelined: qemu_registers.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "kvm/machine.h"
#include "kvm/qemu/gdb_registers.h"
#include "kvm/qemu/gdb_remote.h"
#include "kvm/qemu/guest_input.h"
#include "kvm/qemu/bounded_log.h"
#include "kvm/qemu/ivshmem_server.h"
#include "kvm/qemu/qmp_protocol.h"
#include "kvm/qemu/unique_fd.h"

namespace ktest::kvm {

class QemuMachine final : public Machine {
 public:
  QemuMachine() = default;
  ~QemuMachine() override;

  Status boot(const MachineConfig& config) override;
  Status pause_all() override;
  Status resume() override;
  Result<bool> is_paused() override;
  uint64_t ram_size() const override { return ram_size_; }
  Result<std::vector<uint8_t>> read_physical(uint64_t gpa, uint64_t len) override;
  Status read_physical_into(uint64_t gpa, uint8_t* out, uint64_t len) override;
  uint32_t vcpu_count() const override { return config_.cpus; }
  MachineInfo info() const override;
  Result<VcpuRegisters> read_registers(uint32_t cpu) override;
  Result<std::vector<VcpuRegisters>> read_all_registers() override;
  PausedReadingRegisters pause_reading_registers() override;
  ResumedAfterHold resume_confirming_hold() override;
  Result<WatchpointId> set_watchpoint(uint64_t gva, uint32_t len, WatchKind kind) override;
  Status clear_watchpoint(WatchpointId id) override;
  Result<std::optional<MachineEvent>> wait_event(Millis timeout) override;
  Status reply_doorbell(uint64_t serial, doorbell::ReplyStatus status,
                        const std::vector<uint8_t>& payload) override;
  int control_channel() const override { return ctl_fd_.get(); }
  int terminal_channel() const override { return term_fd_.get(); }
  Result<AccelCounters> accel_counters() override;
  std::vector<std::string> console_tail() const override;
  std::string run_dir() const override { return config_.run_dir; }
  ExitEvent kill() override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Watch {
    uint64_t addr;
    uint32_t len;
    WatchKind kind;
  };

  Status validate(const MachineConfig& config) const;
  Status create_resources();
  Status spawn(const std::vector<std::string>& args);
  Status connect_qmp(Clock::time_point deadline);
  // Connects to one of QEMU's server sockets in socket_dir_ by the deadline.
  Result<UniqueFd> connect_chardev(const char* name, Clock::time_point deadline);
  Status connect_gdb();
  Status ensure_alive() const;  // caller holds mu_
  Error exited_error() const;   // caller holds mu_
  Error boot_failure(std::string what);

  struct QmpReply {
    QmpReply(Result<nlohmann::json> v, uint64_t resumes = 0) : value(std::move(v)), vm_resumes(resumes) {}
    Result<nlohmann::json> value;
    uint64_t vm_resumes;  // RESUME events QEMU had sent before this reply
  };
  // One command and its reply, with the RESUME events counted before it.
  QmpReply qmp_exchange(std::string_view command, const nlohmann::json& args = nullptr);
  Result<nlohmann::json> qmp(std::string_view command, const nlohmann::json& args = nullptr);
  // Sends every packet at once and waits for as many replies (the gdbstub
  // answers in order); caller holds gdb_mu_.
  Result<std::vector<std::string>> gdb_batch(const std::vector<std::string>& payloads);
  Result<std::string> gdb_command(const std::string& payload);  // caller holds gdb_mu_
  // A target-description document, all its qXfer chunks; caller holds gdb_mu_.
  Result<std::string> gdb_feature_document(std::string_view annex);
  // Connects the gdbstub and learns its register layout, once; caller holds
  // gdb_mu_ with the machine paused.
  Status prepare_register_reads();
  // Registers of vCPUs [first, first+count) through 'g' packets, all in one
  // round trip; caller holds run_mu_ with the machine paused.
  Result<std::vector<VcpuRegisters>> gdb_registers(uint32_t first, uint32_t count);
  // Fails unless the machine is paused (held, or QEMU says so); caller holds run_mu_.
  Status check_paused_for(std::string_view what);
  Result<bool> running_now();

  void monitor_loop();
  void handle_console(int fd);
  void handle_stderr(int fd);
  void handle_qmp(int fd);
  void handle_gdb(int fd);
  void handle_doorbell();
  void check_deadlines();
  void reap_if_exited();
  void finalize_exit(int wait_status);
  void send_signal(int sig);

  MachineConfig config_;
  bool use_kvm_ = false;
  uint64_t ram_size_ = 0;
  std::string socket_dir_;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  std::vector<UniqueFd> ram_fds_;  // one per NUMA node (or one), back to back from GPA 0
  UniqueFd shm_fd_;
  const uint8_t* ram_ = nullptr;
  uint8_t* shm_ = nullptr;
  std::optional<IvshmemServer> ivshmem_;
  UniqueFd console_fd_, stderr_fd_, qemu_log_, wake_fd_;
  BoundedLog console_log_;  // console.log, within kMaxConsoleLogBytes
  UniqueFd qmp_fd_, gdb_fd_, ctl_fd_, term_fd_;
  std::thread monitor_;
  std::atomic<bool> stop_monitor_{false};

  // Serialises run-control sequences (pause, resume, watchpoints, registers).
  std::mutex run_mu_;
  // pause_all() stopped the guest, and resume() has not run
  // since (guarded by run_mu_): what a capture reads in between needs no
  // query-status round trip per register read.
  bool held_paused_ = false;
  uint64_t vm_resumes_at_pause_ = 0;  // vm_resumes_ as of that pause's stop reply (run_mu_)
  std::mutex gdb_mu_;
  std::optional<gdb::RegisterLayout> gdb_layout_;  // read once, at the first register read (gdb_mu_)
  std::mutex qmp_write_mu_;
  std::mutex gdb_write_mu_;

  mutable std::mutex mu_;  // everything below
  std::condition_variable cv_;
  std::deque<MachineEvent> events_;
  // Each reply with the RESUME events counted before it (QMP sends events
  // and replies in one ordered stream): whether the guest ran between two
  // replies, however briefly.
  std::map<uint64_t, std::pair<qmp::Message, uint64_t>> qmp_replies_;
  uint64_t vm_resumes_ = 0;
  uint64_t next_qmp_id_ = 1;
  bool qmp_ready_ = false, gdb_ready_ = false;
  std::deque<std::string> gdb_replies_;
  ConsoleTail console_tail_;
  std::string qmp_partial_, stderr_tail_;
  gdb::GdbPacketDecoder gdb_decoder_;
  std::map<WatchpointId, Watch> watches_;
  WatchpointId next_watch_id_ = 1;
  uint64_t last_doorbell_serial_ = 0;
  std::string panic_line_, shutdown_reason_;
  std::optional<ExitReason> forced_reason_;
  std::optional<Clock::time_point> run_deadline_, panic_deadline_, kill_deadline_;
  std::optional<ExitEvent> exit_;
  bool exit_delivered_ = false;
  bool reaped_ = false;
};

}  // namespace ktest::kvm
