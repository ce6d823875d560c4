// The freeze coordinator: turns guest requests into frozen-guest captures.
//
// Contract:
// - on_doorbell() services one doorbell request end to end and always
//   replies to the guest (the agent blocks until it does):
//     Capture       pause every vCPU → build the report → resume →
//                   store it in the bridge under the requested name → reply Ok
//                   ("captured NAME: M maps, E entries, frozen F ms")
//                   (Degraded when the rendezvous failed; Error when the
//                   request itself was invalid, e.g. a bad name).
//     RegisterWatch resolve the symbol (kallsyms from the agent, or a BPF
//                   global through set_bpf_globals(); precedence and
//                   errors in freeze/bpf_globals.h), arm a watchpoint,
//                   reply Ok with "<symbol> at 0x<addr>" (a BPF global's
//                   followed by ": " and what it is); the first hit
//                   captures under the watch's name, then the watchpoint
//                   is cleared (one-shot).
//     Ping          reply Ok at once (the session first reads what the
//                   guest sent before it: the agent's wait for the host).
//   Anything else is answered with Error and a reason.
// - One capture is in flight at a time; a capture never returns with the
//   guest left paused, unless the machine has exited.
// - The rendezvous is bounded: when the pause fails (timeout, QEMU gone)
//   the report is stored with schema "degraded" and the reason.
// - The pause also reads every vCPU's registers into the report's
//   vcpu_regs (a failed read is the section error "vcpu registers"); the
//   resume is one exchange that also confirms the pause held
//   (Machine::pause_reading_registers(), resume_confirming_hold()).
// - Sections (ReportSection) read the guest while it is frozen (fill), and
//   may complete their part once it runs again from what they copied
//   (finish: rendering that needs no guest memory), so the freeze window is
//   the reading; their failures are recorded in the report and never abort
//   the capture. The report's extra "freeze_window_us" is pause → resume,
//   "freeze_phase_us" the two rendezvous in it, "section_us" each
//   section's time in the pause, "after_resume_us" the finishing.
// - The freeze is verified: the report's extra "freeze_verified" says
//   whether the machine stayed paused from the pause to the resume, and
//   when it did not, the section error "freeze" says how (the capture may
//   be torn).
// - Guest-supplied names and payloads are validated (length, charset, JSON).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvm/control_protocol.h"
#include "kvm/machine.h"
#include "snapshot/bridge.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest::freeze {

inline constexpr std::size_t kMaxSnapshotNameBytes = 128;

class BpfGlobalResolver;  // freeze/bpf_globals.h

// Adds one part of a report: fill() while every vCPU is stopped, then
// finish() once they run again, which must not read the guest.
class ReportSection {
 public:
  virtual ~ReportSection() = default;
  virtual std::string_view name() const = 0;
  virtual Status fill(kvm::Machine& machine, Report& report) = 0;
  // Called after every fill() of a capture whose pause held, also when
  // fill() failed.
  virtual Status finish(Report&) { return {}; }
};

// What asked for a capture: a CaptureSnapshot doorbell, a WatchSnapshot
// hit, or the error-trigger pipeline (freeze/error_trigger.h).
enum class Trigger { Doorbell, Watchpoint, SchedulerExit, Stall };
const char* trigger_name(Trigger trigger);  // "doorbell", "watchpoint", "scheduler-exit", "stall"

struct CaptureStats {
  std::string name;
  Trigger trigger = Trigger::Doorbell;
  bool degraded = false;
  std::string degraded_reason;
  std::chrono::steady_clock::time_point frozen_at{};  // when pause_all() began
  std::chrono::microseconds freeze_window{0};  // pause_all() start → resume() done
  kvm::AccelCounters accel_counters;  // while frozen (Machine::accel_counters()); empty under TCG
  // A section that failed ("bpf_maps" → why): the report lacks its part,
  // the rest stands (also in the report's extra "section_errors").
  std::map<std::string, std::string> section_errors;
};

struct FreezeOptions {
  std::string kernel_version;
};

class FreezeCoordinator {
 public:
  FreezeCoordinator(kvm::Machine& machine, SnapshotBridge& bridge, FreezeOptions options);
  FreezeCoordinator(const FreezeCoordinator&) = delete;
  FreezeCoordinator& operator=(const FreezeCoordinator&) = delete;
  ~FreezeCoordinator();

  void add_section(std::unique_ptr<ReportSection> section);
  // Symbols for RegisterWatch; without them watch registration fails.
  void set_symbols(std::shared_ptr<const kvm::control::SymbolTable> symbols);
  // Lets RegisterWatch resolve BPF global variables; without it only
  // kallsyms names resolve.
  void set_bpf_globals(std::unique_ptr<BpfGlobalResolver> resolver);

  // Services the request and replies to the guest; the Result says whether
  // the reply could be delivered (the request's own failure is in the reply).
  Status on_doorbell(const kvm::DoorbellEvent& event);
  // Captures for the watchpoint that fired (the machine is paused).
  Status on_watchpoint(const kvm::WatchpointHit& hit);

  // Freezes, builds and stores a report named `name` in the bridge.
  Result<Report> capture(const std::string& name, Trigger trigger);
  // The same without storing it (the error-trigger pipeline keeps its own).
  Result<Report> take(const std::string& name, Trigger trigger);

  const std::vector<CaptureStats>& stats() const { return stats_; }

 private:
  struct Reply {
    doorbell::ReplyStatus status;
    std::string text;
  };
  Reply handle_capture(const std::vector<uint8_t>& payload);
  Reply handle_register_watch(const std::vector<uint8_t>& payload);
  Report build_report(const std::string& name, Trigger trigger, const kvm::PausedReadingRegisters& pause);
  struct Frozen {
    Report report;
    Status resumed;
  };
  Frozen freeze_and_build(const std::string& name, Trigger trigger);
  void finish_sections(Report& report);

  kvm::Machine& machine_;
  SnapshotBridge& bridge_;
  FreezeOptions options_;
  std::vector<std::unique_ptr<ReportSection>> sections_;
  std::shared_ptr<const kvm::control::SymbolTable> symbols_;
  std::unique_ptr<BpfGlobalResolver> bpf_globals_;
  std::map<kvm::WatchpointId, std::string> watches_;  // armed: id → snapshot name
  std::vector<CaptureStats> stats_;
  std::mutex capture_mu_;
};

// Validates a guest-supplied snapshot name: 1..kMaxSnapshotNameBytes of
// [A-Za-z0-9_.:-], returned as a string.
Result<std::string> validate_snapshot_name(std::string_view raw);

}  // namespace ktest::freeze
