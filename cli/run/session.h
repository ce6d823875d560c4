// One scenario, one guest: boot, drive, capture, evaluate.
//
// Contract: run_scenario() never throws and always returns a complete
// ScenarioResult: steps the guest never reached are Skipped; a guest that
// panics, hangs past the scenario's timeout, or whose agent dies ends the
// run within seconds with the console tail in `error` and the console log
// path set. Each captured snapshot is written atomically to
// <scenario_dir>/snapshots/<name>.json as soon as it is taken (so `ktest
// snapshot` reads a live run), and all again when the run ends, also when
// the run failed (partial results are kept). Assertions are evaluated only
// when the guest finished its plan; otherwise they are Skipped.
// Progress lines ("booting", "step 2/5 Spawn worker", "capture early") go
// to `progress` when it is set.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cli/config.h"
#include "cli/report/results.h"
#include "cli/run/vm_shape.h"
#include "dsl/scenario.h"

namespace ktest::cli {

// A person's shell in the guest (ktest shell, ktest run --shell-on-fail;
// ktest-shell(1)): the guest gets a terminal port, and once the steps
// ended (all, or at the failed one), before any cleanup, the person's
// terminal is joined to a shell in it: Always, or OnFailure of a step or an
// assertion (evaluated then, on the captures the steps took). Progress
// lines pause while it is open; the scenario's timeout stops counting.
// Captures taken from the shell are saved but take no part in the
// assertions; a name the scenario's captures used is refused.
enum class ShellMode { Never, Always, OnFailure };

struct SessionOptions {
  std::string kernel;  // path or version; "" = newest fetched (Config::kernel)
  // --cpus, --memory, --cpu-model and ktest.toml's cpu_model; the session
  // decides the guest's shape from them and the scenario (vm_shape.h).
  VmOverrides vm;
  Accel accel = Accel::Auto;
  Timeouts timeouts;
  std::string scenario_dir;  // output directory of this scenario (created)
  std::vector<std::string> object_path;  // extra BPF object directories
  std::string agent_binary;  // the static guest agent
  std::function<void(const std::string&)> progress;  // nullptr: quiet
  ShellMode shell = ShellMode::Never;
};

// Exit status class of a scenario that could not run at all.
enum class SessionFailure { None, InvalidInput, VmUnavailable, Internal };

struct SessionResult {
  ScenarioResult result;
  SessionFailure failure = SessionFailure::None;
};

SessionResult run_scenario(const dsl::Scenario& scenario, const SessionOptions& options);

// The same from the event loop on, on a machine the caller booted and keeps
// (no kernel, initramfs or BTF here: maps are not captured): how the loop
// is unit-tested with a fake machine (cli/run/tests/session_loop_test.cpp).
SessionResult run_scenario_on(const dsl::Scenario& scenario, const SessionOptions& options,
                              kvm::Machine& booted);

}  // namespace ktest::cli
