// The Machine: one guest VM that ktest boots, freezes, inspects and tears down.
//
// Contract (what every engine promises; make_machine("qemu") is the one engine):
// - boot() starts the guest and returns once the engine is connected to it
//   (monitor, doorbell, control channel); the guest kernel is then running.
// - pause_all() returns only when every vCPU is stopped (QEMU: QMP stop
//   answers once vm_stop() has paused every vCPU). resume() undoes it.
//   Both are idempotent. A WatchpointHit also leaves the machine paused.
// - read_physical() copies guest RAM; [gpa, gpa+len) must lie inside guest
//   RAM (the engine maps it read-only: file offset == guest physical address,
//   RAM is one contiguous block at GPA 0, memory_mib <= kMaxMemoryMiB). Reads
//   while running are allowed but racy; pause first for a consistent view.
// - read_registers(cpu) and read_all_registers() need the machine paused:
//   a machine that reports running fails them, with an error that says
//   "reports running". read_all_registers() reads every vCPU in one
//   exchange with the hypervisor, and nothing resumes the machine between
//   that check and the read.
// - A capture's two rendezvous: pause_reading_registers() is pause_all()
//   then read_all_registers() (not read when the pause failed; the pause
//   needs no second check); resume_confirming_hold() is resume() in one
//   exchange that also says whether the machine stayed paused since the
//   last pause (it never ran in between, not even briefly). It resumes
//   whatever the check found.
// - Events arrive in the order the engine observed them through wait_event().
//   Doorbell payloads are copied out of shared memory and clamped to
//   kPayloadMax (the guest is hostile input). Exited is the last event; after
//   it every other call fails with the exit as the error.
// - The console goes to <run_dir>/console.log; console_tail() keeps the last
//   lines for error messages (QEMU: kvm/qemu/guest_input.h bounds them).
//   Exited carries that tail.
// - Every call is bounded by a timeout: a hung QEMU or guest never hangs the
//   caller. All methods are thread-safe (one internal lock per channel), so a
//   freeze coordinator may wait_event() on one thread and reply on another.
// - Destroying the Machine kills QEMU (SIGTERM, then SIGKILL) and removes
//   every temporary file it created; run_dir and its logs stay.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kvm/doorbell_abi.h"
#include "util/result.h"

namespace ktest::kvm {

using Millis = std::chrono::milliseconds;

enum class Accel { Auto, Kvm, Tcg };

// The guest sizes every engine accepts: the one set of limits that scenario
// validation (dsl/), ktest.toml, the command line and the engine all use.
inline constexpr uint32_t kMinCpus = 1;
inline constexpr uint32_t kMaxCpus = 64;
inline constexpr uint32_t kMinMemoryMiB = 64;     // below it the kernel cannot unpack the initramfs
inline constexpr uint32_t kMaxMemoryMiB = 2048;   // below the 32-bit PCI hole

// Whether a guest of `bytes` RAM is within [kMinMemoryMiB, kMaxMemoryMiB];
// the error says which bound and how to fix it (callers add where).
inline Status check_guest_memory(uint64_t bytes) {
  const std::string range = "use " + std::to_string(kMinMemoryMiB) + "M to " + std::to_string(kMaxMemoryMiB) + "M";
  if (bytes < uint64_t{kMinMemoryMiB} << 20)
    return fail("below the " + std::to_string(kMinMemoryMiB) + " MiB a guest needs", "", range);
  if (bytes > uint64_t{kMaxMemoryMiB} << 20)
    return fail("above the " + std::to_string(kMaxMemoryMiB) + " MiB ktest gives a guest (RAM stays below the "
                "32-bit PCI hole)", "", range);
  return {};
}

// sockets * cores * threads == cpus; cpus are numbered socket-major
// (cpu = (socket * cores + core) * threads + thread), as QEMU enumerates them.
struct CpuTopology {
  uint32_t sockets = 1, cores = 1, threads = 1;
};

// One NUMA node: its cpus and its share of guest RAM. Nodes are laid out in
// order from GPA 0 (node 0 first), so RAM stays one contiguous block.
struct NumaNode {
  std::vector<uint32_t> cpus;  // sorted, disjoint across nodes, together 0..cpus-1
  uint32_t memory_mib = 0;     // the nodes sum to memory_mib
};

// A QEMU -cpu value of the safe form: a model name ([A-Za-z0-9][A-Za-z0-9._-]*)
// and optional features, each ",+feat", ",-feat", ",feat" or ",feat=value"
// (same characters); at most 128 bytes. Whether QEMU knows the model is
// QEMU's to say (qemu.log), not this check's.
inline bool valid_cpu_model(std::string_view text) {
  auto word_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  };
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  // A word: an alphanumeric, then word characters; returns the end or npos.
  auto word = [&](std::size_t i) -> std::size_t {
    if (i >= text.size() || !alnum(text[i])) return std::string_view::npos;
    while (i < text.size() && word_char(text[i])) ++i;
    return i;
  };
  if (text.empty() || text.size() > 128) return false;
  std::size_t i = word(0);
  while (i != std::string_view::npos && i < text.size()) {
    if (text[i] != ',') return false;
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    i = word(i);
    if (i != std::string_view::npos && i < text.size() && text[i] == '=') i = word(i + 1);
  }
  return i == text.size();
}

struct MachineConfig {
  std::string kernel_image;   // uncompressed vmlinux with a PVH note
  std::string initrd;         // cpio archive ("" = none)
  std::string extra_cmdline;  // appended to the engine's own cmdline
  uint32_t cpus = 2;
  uint32_t memory_mib = 512;
  std::optional<CpuTopology> topology;  // none: `cpus` sockets of one core
  std::vector<NumaNode> numa;           // empty: one node (no SRAT)
  std::string cpu_model;      // QEMU -cpu value; "" = the engine default (below)
  Accel accel = Accel::Auto;
  std::string run_dir;        // created if missing; console.log etc. live here
  Millis boot_timeout{60'000};      // QEMU start until monitor + doorbell ready
  Millis run_timeout{600'000};      // whole-run watchdog: guest killed after it
  Millis command_timeout{10'000};   // one monitor/gdbstub command
  std::string qemu_binary = "qemu-system-x86_64";
  // A second console for a person: a virtio console port (the guest's
  // /dev/hvc0, a real tty) whose bytes are terminal_channel(). Only when
  // asked for: an interactive session (ktest shell, --shell-on-fail).
  bool terminal = false;
};

// Register state of one vCPU (x86-64), as QEMU's "info registers" shows it.
// gs_base is the *current* GS base: the per-CPU area only while the vCPU runs
// in the kernel (cpl == 0); in user mode the kernel's base sits in the
// KERNEL_GS_BASE MSR, which QEMU does not print. Use __per_cpu_offset from
// guest memory when the per-CPU base of a CPU in user mode is needed.
struct VcpuRegisters {
  uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rbp = 0, rsp = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
  uint64_t rip = 0, rflags = 0;
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, efer = 0;
  uint64_t fs_base = 0, gs_base = 0;
  uint32_t cpl = 0;    // current privilege level: 0 kernel, 3 user

  bool operator==(const VcpuRegisters&) const = default;
};

enum class WatchKind { Write, Read, Access };
using WatchpointId = int;

// The guest rang the doorbell; answer with reply_doorbell(serial, ...).
struct DoorbellEvent {
  uint64_t serial = 0;
  uint32_t kind = 0;  // doorbell::RequestKind, raw (guest-chosen, unvalidated)
  std::vector<uint8_t> payload;
};

// A watchpoint fired; the machine is paused until resume().
struct WatchpointHit {
  WatchpointId id = -1;  // -1 when the address matched no armed watchpoint
  int cpu = -1;
  uint64_t addr = 0;
};

enum class ExitReason { Poweroff, Panic, Crashed, Timeout, Killed };
std::string_view to_string(ExitReason reason);

struct ExitEvent {
  ExitReason reason = ExitReason::Crashed;
  int exit_status = -1;  // QEMU's wait status decoded: exit code, or 128+signal
  std::string detail;    // one line, e.g. the "Kernel panic - ..." line
  std::vector<std::string> console_tail;
};

using MachineEvent = std::variant<DoorbellEvent, WatchpointHit, ExitEvent>;

// What the engine made of a MachineConfig, for reports: the accelerator it
// runs on, the CPU model and the machine type. Engine default CPU model:
// "host" under KVM, "qemu64" under TCG. The machine type is QEMU's microvm
// unless NUMA nodes are asked for: microvm has no ACPI SRAT, so those boot
// on q35 (slower firmware, same devices: PCIe ivshmem, virtio-serial).
struct MachineInfo {
  std::string accel;      // "kvm" | "tcg"
  std::string cpu_model;  // "host", "qemu64", or MachineConfig::cpu_model
  std::string machine;    // "microvm" | "q35"
};

using AccelCounters = std::map<std::string, uint64_t>;

// The results of a capture's two rendezvous (see the contract above);
// registers: index = vCPU id.
struct PausedReadingRegisters {
  Status paused;
  Result<std::vector<VcpuRegisters>> registers;
};
struct ResumedAfterHold {
  Status held;  // fails saying how the pause did not hold
  Status resumed;
};

class Machine {
 public:
  virtual ~Machine() = default;

  virtual Status boot(const MachineConfig& config) = 0;

  virtual Status pause_all() = 0;
  virtual Status resume() = 0;
  virtual Result<bool> is_paused() = 0;

  virtual uint64_t ram_size() const = 0;
  virtual Result<std::vector<uint8_t>> read_physical(uint64_t gpa, uint64_t len) = 0;
  // Same as above into caller storage (no allocation), for hot paths.
  virtual Status read_physical_into(uint64_t gpa, uint8_t* out, uint64_t len) = 0;

  virtual uint32_t vcpu_count() const = 0;
  // Valid once boot() returned.
  virtual MachineInfo info() const = 0;
  virtual Result<VcpuRegisters> read_registers(uint32_t cpu) = 0;
  // Every vCPU's registers, index = vCPU id (see the contract above).
  virtual Result<std::vector<VcpuRegisters>> read_all_registers() = 0;
  virtual PausedReadingRegisters pause_reading_registers() = 0;
  virtual ResumedAfterHold resume_confirming_hold() = 0;

  // Watch [gva, gva+len) (len 1, 2, 4 or 8, aligned) in guest-virtual space
  // (any address space: kernel addresses, or a user address of whatever
  // process runs). Arming while running pauses briefly and resumes. A hit
  // is reported after the access; the watchpoint stays armed across resume.
  // KVM allows 4 at a time (debug registers); TCG has no fixed limit.
  // Ids are never reused within one machine: a hit that arrives after its
  // watch was cleared still names that watch alone.
  virtual Result<WatchpointId> set_watchpoint(uint64_t gva, uint32_t len, WatchKind kind) = 0;
  virtual Status clear_watchpoint(WatchpointId id) = 0;

  // Waits up to `timeout` for the next event; nullopt when none arrived.
  virtual Result<std::optional<MachineEvent>> wait_event(Millis timeout) = 0;
  // Writes the reply into the doorbell page; payload longer than kPayloadMax fails.
  virtual Status reply_doorbell(uint64_t serial, doorbell::ReplyStatus status,
                                const std::vector<uint8_t>& payload) = 0;

  // The guest agent's byte stream (virtio-serial port "ktest.ctl"): a
  // connected socket fd owned by the Machine; -1 before boot.
  virtual int control_channel() const = 0;
  // The interactive terminal (MachineConfig::terminal): a connected socket
  // fd owned by the Machine, carrying the guest tty's raw bytes both ways;
  // -1 before boot or when no terminal was asked for.
  virtual int terminal_channel() const { return -1; }

  // The accelerator's exit counters while paused, each summed over the
  // vCPUs: KVM's "exits", "mmio_exits" (exits to QEMU for MMIO; a doorbell
  // served by its ioeventfd adds none), "io_exits", ... Empty under TCG,
  // which keeps none, and for engines without them.
  virtual Result<AccelCounters> accel_counters() { return AccelCounters{}; }

  virtual std::vector<std::string> console_tail() const = 0;
  virtual std::string run_dir() const = 0;

  // Stops the guest now (SIGTERM, then SIGKILL) and returns its exit.
  virtual ExitEvent kill() = 0;
};

// "qemu" is the only engine; anything else fails with the list of engines.
Result<std::unique_ptr<Machine>> make_machine(std::string_view engine);

}  // namespace ktest::kvm
