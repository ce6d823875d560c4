// The result model of a `ktest run`: what happened to each scenario.
//
// Contract: `ktest run` fills a RunResult as it goes; reporters (report.h)
// only read it. Outcome semantics: Passed/Failed are verdicts (a step's
// expectation or an assertion evaluated true/false); Error means the
// thing could not be carried out or evaluated (guest died, field missing,
// report unreadable); Skipped means it was never reached. Strings that are
// "" mean "not applicable"; reporters omit them (text, TAP) or write null
// (JSON). Text may hold anything the guest printed: reporters escape it.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <map>
#include <string>
#include <vector>

namespace ktest::cli {

enum class Outcome { Passed, Failed, Error, Skipped };

const char* outcome_name(Outcome outcome);  // "passed", "failed", "error", "skipped"

struct StepResult {
  std::string op;           // "Spawn", "CaptureSnapshot", ... (dsl::step_op_name)
  std::string description;  // the step's subject: workload, snapshot, command
  int line = 0;             // in the scenario file; 0 when unknown
  Outcome outcome = Outcome::Skipped;
  std::chrono::nanoseconds duration{0};
  std::string error;        // why it failed / errored
  std::string output_file;  // Run: its saved stdout+stderr (<output_dir>/output/step-N.log)
  std::string summary;      // what the guest reports it did (LoadBpf: programs attached and run)
};

struct CaptureResult {
  std::string name;         // snapshot name
  std::string report_path;  // the report JSON written for it; "" when none
  std::size_t maps = 0;     // maps in the report
  bool degraded = false;    // schema "degraded": partial capture
  std::chrono::nanoseconds duration{0};  // freeze to thaw
  std::string error;        // capture failed: why
  std::map<std::string, uint64_t> accel_counters;  // KVM's exit counters while frozen; empty under TCG
  // Parts of the capture that failed ("bpf_maps" → why): the rest was
  // captured; assertions on the missing part fail with this reason.
  std::map<std::string, std::string> section_errors;
  std::chrono::nanoseconds at{0};  // the freeze began, since the scenario's session started
};

struct AssertionResult {
  std::string name;        // as in the scenario (defaults to the expression)
  std::string expression;  // the text as written
  int line = 0;            // in the scenario file; 0 when unknown
  Outcome outcome = Outcome::Skipped;  // Error: could not be evaluated
  std::string expected;    // for comparisons: the right-hand value as evaluated
  std::string actual;      // for comparisons: the left-hand value as evaluated
  std::string message;     // the scenario's message, shown when it fails
  std::string error;       // evaluation error (missing field, with alternatives)
};

// An exit of the sched_ext scheduler during the run (freeze/error_trigger.h).
// An unexpected one fails the scenario; `expected` says the scenario's
// expect_scheduler_exit named its kind.
struct SchedulerExitResult {
  std::string scheduler;    // ops name
  std::string kind;         // "SCX_EXIT_ERROR_BPF"
  std::string reason;       // the kernel's reason ("scx_bpf_error")
  std::string message;      // the exit message
  bool expected = false;
  // The scenario expected an exit (`kind` holds the kinds) that never came.
  bool missing = false;
  std::string report_path;  // the failure dump (@early/@exit reports); "" when not captured
  std::string dump_file;    // the kernel's debug dump text; "" when none
  // One line: SCX_EXIT_ERROR_BPF (scx_bpf_error): <message>
  std::string summary() const;
  // Whether it makes the scenario fail: unexpected, or expected and missing.
  bool fails() const { return missing || !expected; }
};

// The guest machine as the engine booted it (cli/run/vm_shape.h decides it).
struct VmResult {
  std::string accel;             // "kvm" | "tcg"
  std::string cpu_model;         // the -cpu value QEMU got
  std::string cpu_model_source;  // "--cpu-model", "vm.cpu_model", "config file", "engine default"
  std::string machine;           // "microvm" | "q35"
  uint32_t cpus = 0;
  uint32_t memory_mib = 0;
  std::string topology;          // "2 sockets x 2 cores x 2 threads"; "" when none was asked
  std::size_t numa_nodes = 0;    // 0: one node, no SRAT
  std::optional<std::chrono::milliseconds> ready;  // QEMU's launch → the agent's hello; none if it never came
};

struct ScenarioResult {
  std::string name;
  std::string file;         // scenario file as given
  Outcome outcome = Outcome::Skipped;
  std::chrono::nanoseconds duration{0};
  std::string error;        // scenario-level failure (boot, timeout, ...)
  // What the run met that did not decide its verdict (a watch that could
  // not be armed, output dropped): shown by every format, never an error.
  std::vector<std::string> notes;
  std::string output_dir;   // this scenario's run directory
  std::string console_log;  // guest console log; shown on failure
  std::vector<StepResult> steps;
  std::vector<CaptureResult> captures;
  std::vector<AssertionResult> assertions;
  std::vector<SchedulerExitResult> scheduler_exits;
  std::optional<VmResult> vm;  // set once the guest booted
};

struct RunResult {
  std::string ktest_version;
  std::string started_at;   // ISO-8601 UTC
  std::chrono::nanoseconds duration{0};
  std::string output_dir;   // the run's directory
  std::vector<ScenarioResult> scenarios;
};

struct RunSummary {
  std::size_t passed = 0, failed = 0, errors = 0, skipped = 0;
  std::size_t total() const { return passed + failed + errors + skipped; }
};
RunSummary summarize(const RunResult& run);  // counts scenarios by outcome

// The one verdict rule, used by the session, every reporter and the exit
// code. run_outcome: the scenario's own error and its steps, captures and
// scheduler exits — Error if any errored (a capture that failed is an
// error), else Failed if any failed, else Passed (Skipped when no step
// ran). derive_outcome: the worse of that and the assertions'. Notes and
// section errors never change it.
Outcome run_outcome(const ScenarioResult& scenario);
Outcome derive_outcome(const ScenarioResult& scenario);

}  // namespace ktest::cli
