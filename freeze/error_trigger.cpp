#include "freeze/error_trigger.h"

#include <fmt/format.h>

#include <algorithm>

#include "snapshot/scx_state.h"

namespace ktest::freeze {

namespace {

constexpr std::size_t kMaxProblems = 20;
constexpr std::size_t kMaxExits = 256;

}  // namespace

bool is_death(const SchedulerExit& exit) {
  // Below UNREG: NONE/DONE, i.e. no error path wrote a kind.
  return exit.kind_value > kScxExitUnreg;
}

const char* trigger_state_name(TriggerState state) {
  switch (state) {
    case TriggerState::Idle: return "idle";
    case TriggerState::TookEarly: return "took-early";
    case TriggerState::Done: return "done";
  }
  return "idle";
}

std::string FailureDump::schema() const {
  if (!late) return std::string(kSchemaDegraded);
  return std::string(early ? kSchemaDual : kSchemaSingle);
}

nlohmann::json FailureDump::to_json() const {
  if (late && !early) return report_to_json(*late);
  nlohmann::json j = nlohmann::json::object();
  j["schema"] = schema();
  if (early) j["early"] = report_to_json(*early);
  if (late) j["late"] = report_to_json(*late);
  if (early) {
    j["early_max_age_jiffies"] = early_max_age_jiffies;
    j["early_threshold_jiffies"] = early_threshold_jiffies;
  }
  if (!late) {
    // ktstr's degraded form: a report of its own with the reason.
    Report degraded = early ? *early : Report{};
    degraded.snapshot_name = std::string(kExitSnapshotName);
    degraded.schema = std::string(kSchemaDegraded);
    degraded.degraded = DegradedInfo{};
    degraded.degraded->reason = degraded_reason;
    degraded.degraded->watchpoint_hit = true;
    return report_to_json(degraded);
  }
  return j;
}

ErrorTrigger::ErrorTrigger(kvm::Machine& machine, std::shared_ptr<const Vmlinux> vmlinux,
                           std::string unavailable, std::shared_ptr<const SharedSymbols> symbols,
                           std::function<void(const std::string&)> progress)
    : machine_(machine),
      vmlinux_(std::move(vmlinux)),
      symbols_(std::move(symbols)),
      progress_(std::move(progress)) {
  if (!vmlinux_) {
    unavailable_ = std::move(unavailable);
  } else if (!vmlinux_->scx) {
    unavailable_ = vmlinux_->scx_unavailable;
  } else {
    layout_ = &*vmlinux_->scx;
  }
}

void ErrorTrigger::problem(std::string text) {
  // A problem met on every poll is noted once.
  if (std::find(problems_.begin(), problems_.end(), text) != problems_.end()) return;
  if (problems_.size() < kMaxProblems) problems_.push_back(std::move(text));
}

bool ErrorTrigger::ready() {
  if (!layout_ || !unavailable_.empty()) return false;
  if (kernel_) return true;
  auto symbols = symbols_ ? symbols_->get() : nullptr;
  if (!symbols) return false;  // kallsyms not here yet: try again later
  memory_ = std::make_unique<MachineMemory>(machine_);
  // The kernel's own page table (init_top_pgt) serves; no registers needed.
  auto kernel = GuestKernel::open(*memory_, *symbols, 0, 0);
  if (!kernel) {
    unavailable_ = kernel.error().to_string();
    problem("scheduler exits are not watched: " + unavailable_);
    return false;
  }
  kernel_ = std::move(*kernel);
  if (auto offsets = kernel_->per_cpu_offsets(machine_.vcpu_count())) {
    per_cpu_offsets_ = std::move(*offsets);
  } else {
    problem("stalls are not watched: " + offsets.error().to_string());
  }
  return true;
}

void ErrorTrigger::poll(FreezeCoordinator& coordinator, Clock::time_point now) {
  if (now >= next_root_poll_) {
    next_root_poll_ = now + kRootPollInterval;
    if (!ready()) return;
    if (pending_exit_ && now - exits_[*pending_exit_].seen_at > kDoneWait) {
      capture_late(coordinator, fmt::format("exit_kind did not reach DONE within {} ms of the exit",
                                            kDoneWait.count()));
      disarm();  // handled: a DONE write after this would be recorded as a second exit
    }
    track_root(coordinator, now);
  }
  if (now >= next_stall_poll_) {
    next_stall_poll_ = now + kStallPollInterval;
    if (state_ == TriggerState::Idle && root_ != 0 && !per_cpu_offsets_.empty()) check_stall(coordinator);
  }
}

void ErrorTrigger::settle(FreezeCoordinator& coordinator, Clock::time_point now) {
  if (!ready()) return;
  if (pending_exit_) {
    capture_late(coordinator, polled_pending_ ? "the exit watch had not fired when the run ended: the exit was "
                                                "seen by polling exit_kind"
                                              : "the run ended before exit_kind reached DONE");
    disarm();
    return;
  }
  if (!watch_) return;
  auto kind = read_exit_kind(*kernel_, root_, *layout_);
  if (kind && *kind != layout_->exit_none)
    capture_polled_exit(coordinator, *kind, now,
                        "the exit watch had not fired when the run ended: the exit was seen by reading exit_kind");
}

void ErrorTrigger::disarm() {
  if (watch_) {
    if (Status s = machine_.clear_watchpoint(*watch_); !s) problem("clearing the exit watch: " + s.error().to_string());
    retired_watch_ = watch_;
  }
  watch_.reset();
  polled_pending_ = false;
  // scx_root keeps pointing at a scheduler until its disable work ends:
  // one whose exit was seen is not armed again.
  if (root_ != 0) finished_root_ = root_;
  root_ = 0;
  root_name_.clear();
}

void ErrorTrigger::track_root(FreezeCoordinator& coordinator, Clock::time_point now) {
  auto root = read_scx_root(*kernel_);
  if (!root) {
    // Torn or wild: polled again; noted once, as every poll would meet it.
    if (!root_unreadable_noted_) problem("reading scx_root: " + root.error().to_string());
    root_unreadable_noted_ = true;
    return;
  }
  if (*root == root_ && *root != 0) {
    poll_unfired_watch(coordinator, now);
    return;
  }
  if (pending_exit_) {
    if (!polled_pending_) return;  // the dying scheduler's watch must see DONE first
    capture_late(coordinator, "the exit watch did not fire, and the scheduler was going away: the exit was "
                              "seen by polling exit_kind");
  }
  disarm();
  if (*root == 0) {
    finished_root_ = 0;  // gone: a new scheduler may be allocated where it was
    return;
  }
  if (*root == finished_root_ || now < next_arm_try_) return;
  auto id = machine_.set_watchpoint(exit_kind_address(*root, *layout_), 4, kvm::WatchKind::Write);
  if (!id) {
    // Each try pauses the guest: retried (a WatchSnapshot slot may free up), but seldom.
    next_arm_try_ = now + kArmRetryInterval;
    problem("cannot watch the scheduler's exit_kind (its exit is not captured until it can): " +
            id.error().to_string());
    return;
  }
  watch_ = *id;
  root_ = *root;
  root_name_ = read_ops_name(*kernel_, *root, *layout_).value_or("");
  // The exit may have been claimed before the watch was armed.
  auto kind = read_exit_kind(*kernel_, *root, *layout_);
  if (kind && *kind != layout_->exit_none)
    capture_polled_exit(coordinator, *kind, now, "the scheduler was already exiting when ktest armed its watch");
}

void ErrorTrigger::poll_unfired_watch(FreezeCoordinator& coordinator, Clock::time_point now) {
  if (!watch_) return;
  if (pending_exit_) {
    if (!polled_pending_) return;  // the watch works: its DONE hit captures
    auto kind = read_exit_kind(*kernel_, root_, *layout_);
    if (kind && *kind == layout_->exit_done) {
      capture_late(coordinator, "the exit watch did not fire: the exit was seen by polling exit_kind, "
                                "captured when it reached DONE");
      disarm();
    } else if (now - exits_[*pending_exit_].seen_at >= kUnfiredWatchGrace) {
      capture_late(coordinator, fmt::format("the exit watch did not fire: the exit was seen by polling "
                                            "exit_kind, {} ms or more after it",
                                            kUnfiredWatchGrace.count()));
      disarm();  // handled: its DONE write would be recorded as a second exit
    }
    return;
  }
  auto kind = read_exit_kind(*kernel_, root_, *layout_);
  if (!kind || *kind == layout_->exit_none || exits_.size() >= kMaxExits) return;
  record_exit(*kind, now);
  polled_pending_ = true;
}

void ErrorTrigger::record_exit(int64_t kind, Clock::time_point now) {
  exits_.push_back({root_name_, layout_->exit_kind_name(kind), kind, "", "", now, false});
  pending_exit_ = exits_.size() - 1;
  if (!progress_) return;
  // A poll can first see exit_kind when the disable has already finished:
  // DONE says that it ended, not why (the exit info, read at the capture, does).
  if (kind == layout_->exit_done)
    progress_(fmt::format("scheduler {} has exited (exit_kind already reads {})", root_name_, exits_.back().kind));
  else
    progress_(fmt::format("scheduler {} is exiting ({})", root_name_, exits_.back().kind));
}

void ErrorTrigger::capture_polled_exit(FreezeCoordinator& coordinator, int64_t kind, Clock::time_point now,
                                       const std::string& why) {
  record_exit(kind, now);
  capture_late(coordinator, why);
  disarm();  // handled: its DONE write would be recorded as a second exit
}

void ErrorTrigger::check_stall(FreezeCoordinator& coordinator) {
  auto wait = longest_runnable_wait(*kernel_, *layout_, per_cpu_offsets_);
  if (!wait || wait->watchdog_timeout_jiffies == 0) return;
  if (wait->longest_wait_jiffies * 2 <= wait->watchdog_timeout_jiffies) return;
  if (progress_) {
    progress_(fmt::format("{}[{}] waited {} of {} watchdog jiffies: early capture", wait->comm, wait->pid,
                          wait->longest_wait_jiffies, wait->watchdog_timeout_jiffies));
  }
  auto report = coordinator.take(std::string(kEarlySnapshotName), Trigger::Stall);
  if (!report) {
    problem("early capture: " + report.error().to_string());
    return;
  }
  dump_.early = std::move(*report);
  dump_.early_max_age_jiffies = wait->longest_wait_jiffies;
  dump_.early_threshold_jiffies = wait->watchdog_timeout_jiffies / 2;
  state_ = TriggerState::TookEarly;
}

bool ErrorTrigger::on_watchpoint(FreezeCoordinator& coordinator, const kvm::WatchpointHit& hit,
                                 Clock::time_point now) {
  if (retired_watch_ && hit.id == *retired_watch_ && (!watch_ || hit.id != *watch_)) {
    // Cleared after the poll handled its exit; this hit was already on its way.
    if (Status s = machine_.resume(); !s) problem("resuming after the exit watch: " + s.error().to_string());
    return true;
  }
  if (!watch_ || hit.id != *watch_) return false;
  auto kind = read_exit_kind(*kernel_, root_, *layout_);
  if (!kind) {
    problem("reading exit_kind at its watch hit: " + kind.error().to_string());
    if (Status s = machine_.resume(); !s) problem("resuming after the exit watch: " + s.error().to_string());
    return true;
  }
  if (*kind == layout_->exit_done) {
    // The disable work has begun: exit info and dump are written, maps intact.
    if (!pending_exit_) {
      exits_.push_back({root_name_, "", 0, "", "", now, false});
      pending_exit_ = exits_.size() - 1;
    }
    capture_late(coordinator, "");
    disarm();
    if (Status s = machine_.resume(); !s) problem("resuming after the exit watch: " + s.error().to_string());
    return true;
  }
  polled_pending_ = false;  // the watch works: DONE is waited for as usual
  if (*kind != layout_->exit_none && !pending_exit_ && exits_.size() < kMaxExits) record_exit(*kind, now);
  if (Status s = machine_.resume(); !s) problem("resuming after the exit watch: " + s.error().to_string());
  return true;
}

void ErrorTrigger::capture_late(FreezeCoordinator& coordinator, const std::string& why) {
  if (!pending_exit_) return;
  SchedulerExit& exit = exits_[*pending_exit_];
  pending_exit_.reset();
  // A userspace unload is no death; only the first death is captured.
  if (exit.kind_value == kScxExitUnreg || state_ == TriggerState::Done) return;
  const TriggerState before = state_;
  auto report = coordinator.take(std::string(kExitSnapshotName), Trigger::SchedulerExit);
  state_ = TriggerState::Done;
  if (!report) {
    dump_.degraded_reason = report.error().to_string();
    problem("late capture: " + dump_.degraded_reason);
    return;
  }
  if (report->schema == kSchemaDegraded) {
    dump_.degraded_reason = report->degraded ? report->degraded->reason : "degraded";
    return;
  }
  if (!why.empty()) report->extra["trigger_note"] = why;
  if (report->scx && report->scx->exit) {
    const ScxExit& info = *report->scx->exit;
    // DONE means exit_info->kind was not written yet (an exit claimed
    // without scx_vexit(), e.g. SysRq: the disable work writes it just
    // after DONE): the kind of the first write stands.
    if (info.kind_value != layout_->exit_done) {
      exit.kind = info.kind;
      exit.kind_value = info.kind_value;
    }
    exit.reason = info.reason;
    exit.msg = info.msg;
  }
  if (!is_death(exit)) {
    // Seen only at DONE, with no kind an error path writes: an unload.
    state_ = before;
    return;
  }
  exit.captured = true;
  dump_.late = std::move(*report);
  if (progress_) progress_(fmt::format("captured {} ({} {})", kExitSnapshotName, exit.kind, exit.msg));
}

}  // namespace ktest::freeze
