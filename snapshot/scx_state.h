// The kernel's sched_ext state at one capture: the `scx` section of a report.
//
// Contract:
// - ScxState is what freeze/scx_state.h reads out of the frozen guest
//   (every offset from vmlinux BTF); this header only models it. A field
//   the reader could not fill stays at its default and the reason is in
//   `errors` (a partial read is still a state).
// - JSON (scx_to_json / scx_from_json) is the report's "scx" object:
//   {"state": "enabled", "state_value", "ops": {"name", "flags", "timeout_ms"},
//    "exit": {"kind", "kind_value", "exit_code", "reason", "msg", "backtrace", "dump"},
//    "watchdog_timeout_ms", "bypass_depth", "hz", "jiffies", "cpus": [...],
//    "dsqs": [...], "runnable": [...], "longest_wait_ms", "errors": [...]}.
//   Reading is total: malformed input gives an Error naming the JSON path;
//   unknown keys are ignored (newer writers), absent ones take defaults;
//   list lengths and string sizes are bounded (8192 CPUs, ...), and a
//   section past a bound is rejected as corrupt.
// - scx_to_rendered() gives the assertion language one value tree with the
//   same member names as the JSON, so `scx().exit.kind`, `scx().dsqs`,
//   `scx().cpus` walk it like any BTF-rendered value. Enums (state,
//   exit.kind) render as enum nodes: they compare equal to their name
//   ("enabled", "SCX_EXIT_ERROR") and to their number. Strings are char
//   arrays with their text (as BTF renders char[]); `ops`, `exit` and a
//   task's `dsq_id` are absent members when unset. The root struct is typed
//   kScxTypeName; the list elements scx_cpu, scx_dsq and scx_task.
// - scx_to_text() is the `snapshot dump` form: a few header lines, then
//   the CPUs, DSQs and runnable tasks, then the exit info with its
//   backtrace and the debug dump verbatim. Empty local/bypass DSQs and the
//   runnable tasks after the 10 longest waits are counted, not listed; guest
//   control bytes (other than newline and tab in msg/dump) print as \xNN.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/rendered_value.h"
#include "util/result.h"

namespace ktest {

// The exit of the root scheduler (scx_exit_info), set once exit_kind left NONE.
struct ScxExit {
  std::string kind;        // enum scx_exit_kind variant name, e.g. "SCX_EXIT_ERROR"
  int64_t kind_value = 0;  // its number (1024)
  int64_t exit_code = 0;
  std::string reason;      // ei->reason, e.g. "runtime error"
  std::string msg;         // ei->msg
  std::vector<std::string> backtrace;  // symbolised: "scx_bpf_error_bstr+0x6b/0xa0"
  std::string dump;        // ei->dump, the debug dump text ("" before it is written)
};

// One CPU's sched_ext run queue (struct scx_rq) and what it runs.
struct ScxCpu {
  uint32_t cpu = 0;
  uint32_t nr_running = 0;   // scx_rq.nr_running
  uint32_t local_dsq_nr = 0; // scx_rq.local_dsq.nr
  uint64_t flags = 0;        // scx_rq.flags
  int32_t curr_pid = 0;      // rq->curr
  std::string curr_comm;
  bool curr_is_scx = false;  // rq->curr->sched_class is ext_sched_class
};

// One dispatch queue with its depth.
struct ScxDsq {
  uint64_t id = 0;       // SCX_DSQ_* for built-in ones, the user's id otherwise
  std::string kind;      // "global", "local", "bypass" or "user"
  int32_t cpu = -1;      // local/bypass: the CPU; -1 otherwise
  int32_t node = -1;     // global DSQs per NUMA node: the node; -1 otherwise
  uint32_t nr = 0;       // scx_dispatch_q.nr
};

// One runnable sched_ext task (on a CPU's runnable_list).
struct ScxTask {
  int32_t pid = 0;
  std::string comm;
  uint32_t cpu = 0;                   // the run queue it is on
  std::optional<uint64_t> dsq_id;     // p->scx.dsq->id; nullopt when on none
  uint64_t runnable_at = 0;           // p->scx.runnable_at (jiffies)
  uint64_t wait_ms = 0;               // (jiffies - runnable_at) in ms
};

struct ScxState {
  std::string state;           // scx_enable_state: "enabling", "enabled", "disabling", "disabled"
  int64_t state_value = 0;
  // The root scheduler (scx_root); absent when none is attached.
  struct Ops {
    std::string name;
    uint64_t flags = 0;
    uint32_t timeout_ms = 0;
  };
  std::optional<Ops> ops;
  std::optional<ScxExit> exit;     // when the root scheduler's exit_kind is not NONE
  uint64_t watchdog_timeout_ms = 0;
  int64_t bypass_depth = 0;
  uint32_t hz = 0;                 // CONFIG_HZ used for the ms conversions
  uint64_t jiffies = 0;
  std::vector<ScxCpu> cpus;
  std::vector<ScxDsq> dsqs;        // global first, then per CPU, then user DSQs by id
  std::vector<ScxTask> runnable;   // longest wait first
  uint64_t longest_wait_ms = 0;    // runnable[0].wait_ms, 0 when none
  std::vector<std::string> errors; // what could not be read, and why
};

// Type name of scx_to_rendered()'s root struct.
inline constexpr std::string_view kScxTypeName = "scx_state";

nlohmann::json scx_to_json(const ScxState& s);
// `where` prefixes error messages (the JSON path of `j`).
Result<ScxState> scx_from_json(const nlohmann::json& j, std::string_view where = "scx");
RenderedValue scx_to_rendered(const ScxState& s);
std::string scx_to_text(const ScxState& s);

// The error-trigger captures' names (freeze/error_trigger.h): the early
// report of a stall and the late one taken as the scheduler exits. The '@'
// keeps them apart from the names a step can capture under.
inline constexpr std::string_view kEarlySnapshotName = "@early";
inline constexpr std::string_view kExitSnapshotName = "@exit";

// Exit kinds at or above this are errors (enum scx_exit_kind).
inline constexpr int64_t kScxExitErrorFloor = 1024;
// A userspace unload (link destroyed, loader gone): not a death.
inline constexpr int64_t kScxExitUnreg = 64;
inline bool scx_exit_is_error(const ScxExit& e) { return e.kind_value >= kScxExitErrorFloor; }

// The exit kinds a scenario may name in expect_scheduler_exit (enum
// scx_exit_kind of Linux 7.2, the values the kernel's BTF gives). The
// reader takes names and values from the guest's BTF; this table only
// lets `ktest validate` check a scenario without a kernel.
struct ScxExitKindName {
  std::string_view name;
  int64_t value;
};
inline constexpr ScxExitKindName kScxExitKinds[] = {
    {"SCX_EXIT_UNREG", 64},      {"SCX_EXIT_UNREG_BPF", 65},    {"SCX_EXIT_UNREG_KERN", 66},
    {"SCX_EXIT_SYSRQ", 67},      {"SCX_EXIT_PARENT", 68},       {"SCX_EXIT_ERROR", 1024},
    {"SCX_EXIT_ERROR_BPF", 1025}, {"SCX_EXIT_ERROR_STALL", 1026}};

}  // namespace ktest
