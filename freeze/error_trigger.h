// The error-trigger pipeline: captures the guest when its sched_ext
// scheduler dies, unasked (design: "On-demand vs error-trigger captures").
//
// Contract:
// - State machine Idle → TookEarly → Done, separate from on-demand
//   captures (which the coordinator still serves after Done; one capture
//   is in flight at a time because both go through FreezeCoordinator).
// - Late capture (kExitSnapshotName): a write watchpoint on the root
//   scheduler's exit_kind, armed whenever scx_root points at a new
//   scheduler (poll() reads scx_root at most every kRootPollInterval) and
//   cleared when it goes away. The kernel writes exit_kind twice: NONE →
//   kind when the exit is claimed (msg, backtrace written just after),
//   then kind → DONE when the disable work starts, after the debug dump
//   and before any task is moved, ops.exit() runs or the BPF maps can be
//   freed. The second write is the capture point: the report holds the
//   dying scheduler's maps and the complete exit info. Should the second
//   write not come within kDoneWait, the capture is taken anyway.
//   An SCX_EXIT_UNREG exit (a userspace unload) is recorded, not captured.
//   Should the poll see exit_kind move before any hit, the exit is
//   recorded at once and, without hits (seen under nested KVM: README,
//   "The nested-KVM lane"), captured when the poll sees DONE (the watch's
//   own capture point, up to kRootPollInterval late), when the scheduler
//   goes, or after kUnfiredWatchGrace, with a trigger_note saying so. A
//   hit that was merely on its way meanwhile is swallowed.
// - settle(), when the run is about to end (the agent's goodbye), takes
//   at once what a watch or a grace would have delivered later: an exit
//   waiting for its DONE write, or an exit_kind that moved unreported.
//   Otherwise a death just before the end would go uncaptured.
// - Early capture (kEarlySnapshotName): once, when a runnable sched_ext
//   task has waited longer than half the watchdog timeout (checked every
//   kStallPollInterval from racy reads of the running guest); a stall
//   then yields an early and a late report (FailureDump "dual").
// - Only the first death is captured (Done); every exit is recorded.
// - Guest memory read while the guest runs is racy and hostile: a failed
//   or implausible read is skipped (and noted once), never fatal.
// - The ScxLayout comes from the run's shared Vmlinux (freeze/vmlinux.h:
//   loaded once by the session). Without one (nullptr), or on a kernel
//   without sched_ext, nothing is watched (the reason is kept, not noted).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "freeze/bpf_maps.h"
#include "freeze/coordinator.h"
#include "freeze/scx_state.h"
#include "freeze/vmlinux.h"
#include "kvm/machine.h"
#include "snapshot/report.h"

namespace ktest::freeze {

inline constexpr std::chrono::milliseconds kRootPollInterval{10};
inline constexpr std::chrono::milliseconds kStallPollInterval{100};
inline constexpr std::chrono::milliseconds kDoneWait{2000};
inline constexpr std::chrono::milliseconds kArmRetryInterval{1000};
// Longer than any hit takes to reach the trigger once the guest stopped at the write.
inline constexpr std::chrono::milliseconds kUnfiredWatchGrace{250};

enum class TriggerState { Idle, TookEarly, Done };
const char* trigger_state_name(TriggerState state);

// One exit of a root scheduler, as the watch saw it.
struct SchedulerExit {
  std::string ops_name;
  std::string kind;         // "SCX_EXIT_ERROR_BPF"
  int64_t kind_value = 0;
  std::string reason, msg;  // from the capture's exit info ("" when not captured)
  std::chrono::steady_clock::time_point seen_at;  // the first exit_kind write
  bool captured = false;    // the late report holds it
};

// Whether the exit is a death (fails a scenario unless expected): every
// kind above SCX_EXIT_UNREG. A userspace unload is not, nor an exit seen
// only after the fact with no kind written (SCX_EXIT_DONE).
bool is_death(const SchedulerExit& exit);

// The reports of the first death: ktstr's FailureDumpReport shapes.
struct FailureDump {
  std::optional<Report> early;
  std::optional<Report> late;
  std::string degraded_reason;  // set when the late capture could not be taken
  uint64_t early_max_age_jiffies = 0;
  uint64_t early_threshold_jiffies = 0;

  bool empty() const { return !early && !late && degraded_reason.empty(); }
  // "dual" (early and late), "single" (late only) or "degraded".
  std::string schema() const;
  // {"schema": "dual", "early": {...}, "late": {...}, ...}, or the late
  // report itself for "single"; a degraded dump keeps what was taken.
  nlohmann::json to_json() const;
};

class ErrorTrigger {
 public:
  using Clock = std::chrono::steady_clock;
  // `unavailable`: why there is no `vmlinux` (used only when it is nullptr).
  ErrorTrigger(kvm::Machine& machine, std::shared_ptr<const Vmlinux> vmlinux, std::string unavailable,
               std::shared_ptr<const SharedSymbols> symbols,
               std::function<void(const std::string&)> progress);
  ErrorTrigger(const ErrorTrigger&) = delete;
  ErrorTrigger& operator=(const ErrorTrigger&) = delete;

  // From the session loop while the guest runs: re-arms the exit watch for
  // a new scheduler, checks for a stall, finishes a late capture whose
  // DONE write did not come.
  void poll(FreezeCoordinator& coordinator, Clock::time_point now);
  // The run is ending while the guest still runs: a death not yet captured
  // (waiting for DONE, or unreported by the watch) is captured now.
  void settle(FreezeCoordinator& coordinator, Clock::time_point now);
  // True when the hit was the exit watch (handled, guest resumed). `now`
  // stamps the exit (poll() measures kDoneWait from it).
  bool on_watchpoint(FreezeCoordinator& coordinator, const kvm::WatchpointHit& hit,
                     Clock::time_point now = Clock::now());

  TriggerState state() const { return state_; }
  const std::vector<SchedulerExit>& exits() const { return exits_; }
  const FailureDump& failure_dump() const { return dump_; }
  // Problems met (a failed watch arm, unreadable scx state); for notes.
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  bool ready();  // BTF layout and the guest kernel view, built once
  void track_root(FreezeCoordinator& coordinator, Clock::time_point now);
  void check_stall(FreezeCoordinator& coordinator);
  void capture_late(FreezeCoordinator& coordinator, const std::string& why);
  // An exit found by reading exit_kind, not by the watch: recorded and captured now.
  void capture_polled_exit(FreezeCoordinator& coordinator, int64_t kind, Clock::time_point now,
                           const std::string& why);
  void poll_unfired_watch(FreezeCoordinator& coordinator, Clock::time_point now);
  void record_exit(int64_t kind, Clock::time_point now);  // exits_ and pending_exit_
  void disarm();
  void problem(std::string text);

  kvm::Machine& machine_;
  std::shared_ptr<const Vmlinux> vmlinux_;
  std::shared_ptr<const SharedSymbols> symbols_;
  std::function<void(const std::string&)> progress_;
  const ScxLayout* layout_ = nullptr;  // vmlinux_->scx; nullptr when unavailable_
  std::unique_ptr<MachineMemory> memory_;
  std::unique_ptr<GuestKernel> kernel_;
  std::vector<uint64_t> per_cpu_offsets_;
  std::string unavailable_;  // why the trigger cannot work ("" = fine)

  TriggerState state_ = TriggerState::Idle;
  uint64_t root_ = 0;  // the scheduler whose exit_kind is watched
  uint64_t finished_root_ = 0;  // the last one whose exit was handled
  Clock::time_point next_arm_try_{};  // after the engine refused a watch (no free slot)
  std::string root_name_;
  bool root_unreadable_noted_ = false;
  std::optional<kvm::WatchpointId> watch_;
  // The exit watch last cleared: a hit of it already on its way is swallowed.
  std::optional<kvm::WatchpointId> retired_watch_;
  std::optional<std::size_t> pending_exit_;  // exits_ index awaiting DONE
  // pending_exit_ was seen by polling exit_kind, not by the watch: captured
  // once kUnfiredWatchGrace passes without a hit, or the scheduler goes.
  bool polled_pending_ = false;
  Clock::time_point next_root_poll_{}, next_stall_poll_{};
  std::vector<SchedulerExit> exits_;
  FailureDump dump_;
  std::vector<std::string> problems_;
};

}  // namespace ktest::freeze
