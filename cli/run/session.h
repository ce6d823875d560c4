// One scenario, one guest: boot, drive, capture, evaluate.
//
// Contract: run_scenario() never throws and always returns a complete
// ScenarioResult: steps the guest never reached are Skipped; a guest that
// panics, hangs past the scenario's timeout, or whose agent dies ends the
// run within seconds with the console tail in `error` and the console log
// path set. Each captured snapshot is written atomically to
// <scenario_dir>/snapshots/<name>.json as soon as the run ends, also when
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
