// The guest plan: what the in-guest agent executes, step by step.
//
// Contract: the host (from a user's YAML scenario) builds a Plan and writes
// to_json(plan) into the initramfs as /ktest/plan.json; the agent reads it
// with plan_from_json(). Parsing is total: every malformed, missing or
// unknown field yields an Error naming its JSON path ("steps[2].argv") and,
// for misspelled keys or ops, a "did you mean" hint. from(to(p)) == p.
//
// Step semantics (executed in order, one at a time):
//   AttachScheduler  open + load `object` (a BPF ELF path inside the guest),
//                    attach the struct_ops map `ops` (all struct_ops maps when
//                    absent); `name` labels it in reports. Fails when a
//                    scheduler is already attached (one that exited is
//                    released instead), and at once when the new one exits
//                    while enabling; failures quote the kernel's
//                    "sched_ext:" log lines.
//                    With `command` instead of `object` (the loader form:
//                    {"command": [argv], "ops"?, "name", "timeout_ms"}) the
//                    agent runs the program, which loads and attaches its
//                    scheduler itself: in its own process group, stdin
//                    /dev/null, stdout+stderr kept (the first
//                    kMaxRunOutputBytes). The step succeeds once
//                    /sys/kernel/sched_ext/enable_seq has grown since the
//                    start and the state is "enabled" (and root/ops equals
//                    `ops`, when given); it fails with the exit status (or
//                    signal), the output tail and the kernel's sched_ext
//                    lines when the program exits first or `timeout_ms`
//                    passes (the program is then killed). A loader's output
//                    goes to the host with the step that ends it (Detach,
//                    Replace, or the failed attach), as step_output with
//                    details.output_name "scheduler-<name>".
//   ReplaceScheduler detach the current scheduler (if any), then attach.
//   DetachScheduler  destroy the links of the current scheduler; a loader
//                    gets SIGINT on its process group, SIGKILL after
//                    kLoaderGraceMs, and is waited for; then the state must
//                    reach "disabled".
//   Spawn            start `count` copies of `argv` (argv[0] "@spin", "@yield"
//                    or "@sleep" selects a built-in workload; otherwise argv
//                    is exec'd, a one-element argv runs via `busybox sh -c`),
//                    pinned to `cpus` (all CPUs when empty) at `nice`. They
//                    run until the plan ends.
//   Run              run `argv` the same way to completion; fails when it
//                    does not exit with `expect_exit` within `timeout_ms`
//                    (exit 127, "command not found", adds a vm.tools hint).
//                    Its stdout+stderr (first kMaxRunOutputBytes) goes to the
//                    host as step_output messages (kvm/control_protocol.h).
//                    Spawn and Run fail at once, naming the program and the
//                    errno, when the program cannot be executed.
//   LoadBpf          open + load `object` (a BPF ELF path inside the guest)
//                    with libbpf; on failure the libbpf/verifier log goes to
//                    the step details as for AttachScheduler. Then attach
//                    every loaded program not named in `run` that libbpf can
//                    auto-attach (one whose section has none, e.g.
//                    SEC("syscall"), stays loaded and unattached; any other
//                    attach error fails the step, naming the program).
//                    struct_ops maps are created but never attached (that is
//                    AttachScheduler's job). Then run each `run` program once,
//                    in order, with BPF_PROG_TEST_RUN and no context (a `run`
//                    program loads even from a "?" no-autoload section); the step
//                    fails when one is missing from the object (the error
//                    lists the object's programs), when the run fails, or
//                    when it returns non-zero. The object and its links stay
//                    until power-off: maps keep their contents for later
//                    captures and commands. `name` labels it in reports.
//   Kill             send `signal` to every process of workload `name`
//                    (their process groups); fails for an unknown name.
//   Sleep            wait `ms` (ends early when the scheduler exits, below).
//   CaptureSnapshot  ring the doorbell with RequestKind::Capture and `name`.
//                    With `count` > 1, a series: the step starts it and
//                    returns; `count` captures named series_member(name, k)
//                    (k = 1..count) follow every `every_ms` in the
//                    background while later steps run, one capture in
//                    flight (a late capture delays the next, none is
//                    skipped). After the last step the agent waits for the
//                    series to finish; a plan stopped by a failure cancels
//                    what is left. A failed capture of a series fails the run.
//   WatchSnapshot    ring the doorbell with RequestKind::RegisterWatch and
//                    {"name","symbol","access","len"}.
// Settings: `step_timeout_ms` bounds every step (Run: the smaller of the
// two); `on_failure` is Stop (default: report, clean up, power off) or
// Continue; `send_kallsyms` (default true) ships /proc/kallsyms at start
// (the host says false when it keeps them: cli/run/kallsyms_cache.h);
// `offer_shell` (default false): after the last step (or the failed one
// that stopped the plan), before cleanup, ask the host whether to open an
// interactive shell (doorbell RequestKind::Shell).
// `scheduler_exit_expected` (default false): an attached scheduler that
// leaves sched_ext state "enabled" without a Detach/ReplaceScheduler step
// (scx_bpf_error, the watchdog, sysrq-S) fails the step in progress at once
// (the agent looks after every step and every ~20 ms of a Sleep or Run,
// which it then kills) with "the scheduler \"<ops>\" exited: <the kernel's
// sched_ext log lines>"; when true the agent only logs that and goes on.
// Either way a later Detach/ReplaceScheduler or AttachScheduler, and the
// cleanup after the last step, treat the dead scheduler as gone. A loader
// that exits while its scheduler is attached counts as such an exit (its
// exit status and output tail in the text), and so does its scheduler
// leaving "enabled" while the loader still runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/result.h"

namespace ktest::kvm {

inline constexpr std::string_view kPlanGuestPath = "/ktest/plan.json";
// The guest kernel's config, when the host has it; the agent links
// /boot/config-$(uname -r) to it, where libbpf looks for __kconfig values
// (Debian kernels have no /proc/config.gz).
inline constexpr std::string_view kKernelConfigGuestPath = "/ktest/kernel.config";
inline constexpr uint32_t kPlanVersion = 1;

inline constexpr uint32_t kDefaultLoaderTimeoutMs = 30000;

// What AttachScheduler and ReplaceScheduler attach: exactly one of `object`
// (a BPF ELF the agent loads) and `command` (a loader program's argv).
struct SchedulerSpec {
  std::string object;              // "" for a loader
  std::optional<std::string> ops;
  std::string name;
  std::vector<std::string> command{};  // empty for an object
  uint32_t timeout_ms = kDefaultLoaderTimeoutMs;  // loader: how long enabling may take
  bool loader() const { return !command.empty(); }
  bool operator==(const SchedulerSpec&) const = default;
};
struct AttachScheduler : SchedulerSpec {
  bool operator==(const AttachScheduler&) const = default;
};
struct ReplaceScheduler : SchedulerSpec {
  bool operator==(const ReplaceScheduler&) const = default;
};
struct DetachScheduler {
  bool operator==(const DetachScheduler&) const = default;
};
struct Spawn {
  std::string name;
  std::vector<std::string> argv;
  uint32_t count = 1;
  std::vector<uint32_t> cpus;  // empty: no affinity change
  int32_t nice = 0;
  bool operator==(const Spawn&) const = default;
};
struct Run {
  std::vector<std::string> argv;
  int32_t expect_exit = 0;
  uint32_t timeout_ms = 10000;
  bool operator==(const Run&) const = default;
};
struct Sleep {
  uint32_t ms = 0;
  bool operator==(const Sleep&) const = default;
};
struct CaptureSnapshot {
  std::string name;
  uint32_t every_ms = 0;  // a series' period (count > 1)
  uint32_t count = 1;     // 1: one capture, now
  bool series() const { return count > 1; }
  bool operator==(const CaptureSnapshot&) const = default;
};
struct WatchSnapshot {
  std::string name;
  std::string symbol;
  std::string access = "w";  // "r", "w" or "rw"
  uint32_t len = 8;          // 1, 2, 4 or 8 bytes
  bool operator==(const WatchSnapshot&) const = default;
};

struct Kill {
  std::string name;
  int32_t signal = 15;  // SIGTERM
  bool operator==(const Kill&) const = default;
};

struct LoadBpf {
  std::string object;
  std::string name;
  std::vector<std::string> run;  // SEC("syscall") programs, run in order after the load
  bool operator==(const LoadBpf&) const = default;
};

using Step = std::variant<AttachScheduler, ReplaceScheduler, DetachScheduler, Spawn, Run,
                          Sleep, CaptureSnapshot, WatchSnapshot, Kill, LoadBpf>;

// The op name as written in JSON ("AttachScheduler", ...).
std::string_view step_op(const Step& step);

enum class OnFailure { Stop, Continue };

struct PlanSettings {
  uint32_t step_timeout_ms = 60000;
  OnFailure on_failure = OnFailure::Stop;
  bool send_kallsyms = true;
  bool scheduler_exit_expected = false;
  bool offer_shell = false;
  bool operator==(const PlanSettings&) const = default;
};

struct Plan {
  PlanSettings settings;
  // Kernel modules (guest paths, .ko or compressed .ko.xz/.ko.zst/.ko.gz) the
  // agent loads in this order before the first step (at most kMaxArgvLength);
  // a failure ends the run.
  std::vector<std::string> modules;
  std::vector<Step> steps;
  bool operator==(const Plan&) const = default;
};

// Limits that keep a hostile or broken plan from exhausting the guest.
inline constexpr std::size_t kMaxPlanSteps = 4096;
inline constexpr uint32_t kMaxSpawnCount = 1024;  // Spawn count: scenario (dsl/) and plan alike
inline constexpr std::size_t kMaxArgvLength = 256;
inline constexpr uint32_t kLoaderGraceMs = 5000;
// A series' shortest period: a capture under TCG freezes the guest for
// tens of milliseconds, and a period under that only queues captures.
inline constexpr uint32_t kMinSeriesPeriodMs = 50;
// Captures one scenario may take (its CaptureSnapshot / WatchSnapshot
// names, each member of a series one): the host keeps every one in memory
// until the assertions are evaluated. Checked by dsl/; a series' count.
inline constexpr std::size_t kMaxCaptures = 64;
// The k-th capture (from 1) of series `series`: "tick.3". Scenario
// checks, the agent and the expression language's series() agree on it.
inline std::string series_member(std::string_view series, uint32_t k) {
  return std::string(series) + "." + std::to_string(k);
}
// The guest's commands for a person at a shell (kvm/agent/guest_commands.cpp):
// the agent binary under these names in /usr/bin (the host links them).
inline constexpr std::string_view kGuestCommands[] = {"ktest-capture", "ktest-watch", "ktest-attach",
                                                      "ktest-detach"};
// The index an agent gives a step that is not the plan's (a ktest-* command in a shell).
inline constexpr uint32_t kNoStepIndex = UINT32_MAX;  // SIGINT → SIGKILL for a loader

std::string plan_to_json(const Plan& plan);  // pretty-printed, stable key order
Result<Plan> plan_from_json(std::string_view text);
// One step object, by the rules of a plan's steps[i] (the guest's ktest-*
// commands send their request as one).
Result<Step> step_from_json(std::string_view text);

}  // namespace ktest::kvm
