// `ktest shell [SCENARIO]`: boot a guest, run the scenario's steps (or the
// first N), skip its assertions, and join the person's terminal to a shell
// in the guest (the session's ShellMode::Always; ktest-shell(1)).
#include <unistd.h>

#include <fmt/format.h>

#include <iostream>

#include "cli/build_info.h"
#include "cli/command.h"
#include "cli/config.h"
#include "cli/run/run_setup.h"
#include "dsl/scenario.h"

namespace ktest::cli {
namespace {

struct ShellFlags {
  std::string scenario;
  ConfigFlags config;
  std::vector<std::string> object_path;
  int until = -1;  // -1: every step
  bool quiet = false;
};

// The guest of a bare `ktest shell`: ktest.toml's and the flags' shape, no steps.
constexpr const char* kBareScenario = "name: shell\ndescription: a guest to poke at\nsteps: []\n";

Result<dsl::Scenario> load_shell_scenario(const ShellFlags& flags) {
  auto load = flags.scenario.empty() ? dsl::load_scenario_text(kBareScenario, "<ktest shell>")
                                     : dsl::load_scenario_file(flags.scenario);
  std::cerr << dsl::format_diagnostics(load.diagnostics);
  if (!load.ok()) return fail(fmt::format("{} is not a valid scenario", flags.scenario), "",
                              "fix the errors above (ktest validate checks it alone)");
  dsl::Scenario scenario = std::move(*load.scenario);
  if (flags.until >= 0) {
    if (static_cast<std::size_t>(flags.until) > scenario.steps.size())
      return fail(fmt::format("--until {}: the scenario has {} steps", flags.until, scenario.steps.size()),
                  "--until", fmt::format("name a step from 0 (none) to {}", scenario.steps.size()));
    scenario.steps.resize(static_cast<std::size_t>(flags.until));
  }
  // A person looks instead: the scenario's assertions are not checked.
  scenario.assertions.clear();
  return scenario;
}

void run_shell(const ShellFlags& flags, CommandContext& ctx) {
  auto configured = apply_config_flags(*ctx.config, flags.config);
  if (!configured) return ctx.print_error(configured.error(), ExitCode::Usage);
  const Config& config = *configured;
  auto scenario = load_shell_scenario(flags);
  if (!scenario) return ctx.print_error(scenario.error(), ExitCode::Usage);
  auto run_dir = make_run_dir(config.output_dir);
  if (!run_dir) return ctx.print_error(run_dir.error(), ExitCode::Usage);

  RunPlan plan;
  plan.scenarios.push_back(std::move(*scenario));
  plan.shared = shared_session_options(config, flags.config, flags.object_path);
  plan.shared.shell = ShellMode::Always;
  if (!flags.quiet) plan.shared.progress = stderr_progress();
  plan.run_dir = *run_dir;
  plan.ktest_version = KTEST_VERSION;
  plan.format = config.format;
  run_and_report(plan, ctx);
}

}  // namespace

void add_shell_command(CLI::App& app, CommandContext& ctx) {
  auto flags = std::make_shared<ShellFlags>();
  CLI::App* cmd = app.add_subcommand(
      "shell", "Boot a guest, run a scenario's steps, and open a shell in it (captures on demand)");
  cmd->add_option("SCENARIO", flags->scenario, "Scenario whose vm: and steps to use (default: a bare guest)");
  add_config_flags(*cmd, flags->config);
  cmd->add_option("--until", flags->until, "Run only the first N steps (0: none), then open the shell")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--object-path", flags->object_path, "Extra directory to find BPF objects in (repeatable)")
      ->type_name("DIR")
      ->allow_extra_args(false);
  cmd->add_flag("--quiet,-q", flags->quiet, "No progress lines before the shell opens");
  cmd->footer(
      "In the guest: ktest-capture NAME, ktest-watch NAME SYMBOL [r|w|rw] [LEN],\n"
      "ktest-attach [OBJECT [OPS] | -- COMMAND...], ktest-detach. `exit` powers the guest off;\n"
      "Ctrl-] then q stops it at once. The run directory is kept; see ktest-shell(1).");
  cmd->callback([flags, &ctx] { run_shell(*flags, ctx); });
}

}  // namespace ktest::cli
