// What `ktest run` and `ktest shell` share around their sessions: the run
// directory, the session options the configuration decides, the exit code
// the sessions add up to, and results.json.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/config.h"
#include "cli/report/results.h"
#include "cli/run/session.h"
#include "dsl/scenario.h"
#include "util/result.h"

namespace ktest::cli {

// The current UTC time by strftime(format).
std::string utc_stamp(const char* format);

// <output_root>/<UTC time>-<pid>, created, with the `latest` symlink beside
// it pointing at it (replaced atomically): set before the first guest boots,
// so `ktest snapshot` finds a run that is still going.
Result<std::string> make_run_dir(const std::string& output_root);

// <run_dir>/<NN>-<scenario name made safe for a path>, NN counting from 1.
std::string scenario_dir(const std::string& run_dir, std::size_t index, const std::string& scenario_name);

// The options every scenario of a run shares: the kernel, the guest's shape
// (flags, then the scenario, then ktest.toml: cli/run/vm_shape.h), the
// accelerator, timeouts, BPF object directories (extra ones first, then
// the shipped ones) and the agent. `config` has the flags applied already.
SessionOptions shared_session_options(const Config& config, const ConfigFlags& flags,
                                      const std::vector<std::string>& object_path);

// The run's exit code: invalid input, then internal errors, then an
// unavailable guest, then a scenario that did not pass.
ExitCode exit_code_for(const std::vector<SessionResult>& sessions);

// Progress lines to stderr, one at a time from any session's thread.
std::function<void(const std::string&)> stderr_progress();

struct RunPlan {
  std::vector<dsl::Scenario> scenarios;  // validated
  SessionOptions shared;                 // scenario_dir is set per scenario
  unsigned jobs = 1;                     // parallel guests (clamped to 1..scenarios)
  std::string run_dir;                   // make_run_dir()'s
  std::string ktest_version;             // for results.json
  std::string junit;                     // also write JUnit XML here; "" none
  OutputFormat format = OutputFormat::Text;  // coloured when text and ctx.color
};

// Runs every scenario, writes <run_dir>/results.json (and the JUnit file)
// atomically, prints the report in `format` and sets ctx.exit_code: the
// sessions' exit_code_for(), outranked by an interrupt (SIGINT, SIGTERM:
// util/interrupt.h; the running guests are torn down, scenarios not
// started are skipped, 130) and by a results file that could not be
// written (a CI job must not pass on results nobody can read).
void run_and_report(const RunPlan& plan, CommandContext& ctx);

}  // namespace ktest::cli
