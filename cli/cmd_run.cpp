// `ktest run SCENARIO...`: boot a guest per scenario, run it, report.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli/build_info.h"
#include "cli/command.h"
#include "cli/config.h"
#include "cli/run/run_setup.h"
#include "cli/html/html_report.h"
#include "dsl/scenario.h"

namespace ktest::cli {

namespace fs = std::filesystem;

namespace {

struct RunFlags {
  std::vector<std::string> scenarios;
  ConfigFlags config;  // --kernel --cpus --memory --accel --format ... (cli/config.h)
  std::string junit, shard;
  std::vector<std::string> object_path;
  unsigned jobs = 1;
  bool json = false, tap = false, quiet = false, shell_on_fail = false, html = false;
};

// "I/N" with 1 <= I <= N.
Result<std::pair<unsigned, unsigned>> parse_shard(const std::string& text) {
  unsigned index = 0, count = 0;
  char slash = 0, extra = 0;
  if (std::sscanf(text.c_str(), "%u%c%u%c", &index, &slash, &count, &extra) != 3 || slash != '/' ||
      count == 0 || index == 0 || index > count) {
    return fail(fmt::format("invalid --shard '{}'", text), "", "write I/N with 1 <= I <= N, e.g. 2/4");
  }
  return std::pair{index, count};
}

// Scenario files from the arguments: files as given, directories expanded
// to their *.yaml / *.yml files; sorted so shards are deterministic.
Result<std::vector<std::string>> expand_scenarios(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  for (const auto& arg : args) {
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      for (const auto& entry : fs::directory_iterator(arg, ec)) {
        auto ext = entry.path().extension();
        if (entry.is_regular_file(ec) && (ext == ".yaml" || ext == ".yml")) {
          files.push_back(entry.path().string());
        }
      }
    } else if (fs::exists(arg, ec)) {
      files.push_back(arg);
    } else {
      return fail(fmt::format("scenario '{}' does not exist", arg), "", "check the path");
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void run_command(const RunFlags& flags, CommandContext& ctx) {
  auto configured = apply_config_flags(*ctx.config, flags.config);
  if (!configured) return ctx.print_error(configured.error(), ExitCode::Usage);
  Config config = std::move(*configured);
  if (flags.json) config.format = OutputFormat::Json;
  if (flags.tap) config.format = OutputFormat::Tap;

  // A shell needs the person's terminal, and one guest at a time to give it to.
  if (flags.shell_on_fail && flags.jobs > 1)
    return ctx.print_error(Error("--shell-on-fail runs one guest at a time", "--jobs",
                                 "drop --jobs, or use --jobs 1"),
                           ExitCode::Usage);
  if (flags.shell_on_fail && !::isatty(STDIN_FILENO))
    return ctx.print_error(Error("--shell-on-fail needs a terminal on standard input", "--shell-on-fail",
                                 "run it from an interactive terminal (or tmux), not from a pipe or CI job"),
                           ExitCode::Usage);

  auto files = expand_scenarios(flags.scenarios);
  if (!files) return ctx.print_error(files.error(), ExitCode::Usage);
  if (!flags.shard.empty()) {
    auto shard = parse_shard(flags.shard);
    if (!shard) return ctx.print_error(shard.error(), ExitCode::Usage);
    std::vector<std::string> mine;
    for (std::size_t i = 0; i < files->size(); ++i) {
      if (i % shard->second == shard->first - 1) mine.push_back((*files)[i]);
    }
    if (mine.empty() && !files->empty())
      return ctx.print_error(
          Error(fmt::format("shard {} holds no scenario: there are {} in all", flags.shard, files->size()), "",
                fmt::format("use at most {} shards", files->size())),
          ExitCode::Usage);
    *files = std::move(mine);
  }
  if (files->empty())
    return ctx.print_error(Error("no scenarios to run: the directories given hold no *.yaml or *.yml files", "",
                                 "name scenario files, or a directory that holds some"),
                           ExitCode::Usage);

  // Every scenario is validated before any guest boots.
  std::vector<dsl::Scenario> scenarios;
  bool invalid = false;
  for (const auto& file : *files) {
    auto load = dsl::load_scenario_file(file);
    std::cerr << dsl::format_diagnostics(load.diagnostics);
    if (!load.ok()) {
      invalid = true;
      continue;
    }
    scenarios.push_back(std::move(*load.scenario));
  }
  if (invalid) {
    ctx.exit_code = ExitCode::Usage;
    return;
  }

  auto run_dir = make_run_dir(config.output_dir);
  if (!run_dir) return ctx.print_error(run_dir.error(), ExitCode::Usage);

  const bool show_progress = !flags.quiet && ::isatty(STDERR_FILENO);
  RunPlan plan;
  plan.scenarios = std::move(scenarios);
  // What every scenario shares, looked up once (the agent and objects by path checks).
  plan.shared = shared_session_options(config, flags.config, flags.object_path);
  if (show_progress) plan.shared.progress = stderr_progress();
  if (flags.shell_on_fail) plan.shared.shell = ShellMode::OnFailure;
  plan.jobs = flags.jobs;
  plan.run_dir = *run_dir;
  plan.ktest_version = KTEST_VERSION;
  plan.junit = flags.junit;
  plan.format = config.format;
  run_and_report(plan, ctx);
  // After results.json, from it (one code path with `ktest report`); a
  // failed run gets its page too.
  if (flags.html) {
    HtmlReportOptions html;
    html.run_dir = *run_dir;
    if (auto page = write_html_report(html); page) {
      std::cerr << "ktest: HTML report: " << *page << '\n';
    } else {
      ctx.print_error(page.error(), ExitCode::Internal);
    }
  }
}

}  // namespace

void add_run_command(CLI::App& app, CommandContext& ctx) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* cmd = app.add_subcommand("run", "Boot a guest per scenario, run its steps, check its assertions");
  cmd->add_option("scenarios", flags->scenarios, "Scenario files or directories of *.yaml")
      ->required()
      ->type_name("SCENARIO");
  add_config_flags(*cmd, flags->config);
  // One directory per --object-path (repeat it for more): a greedy list
  // would swallow the scenario paths that follow it.
  cmd->add_option("--object-path", flags->object_path, "Extra directory to find BPF objects in (repeatable)")
      ->type_name("DIR")
      ->allow_extra_args(false);
  cmd->add_flag("--json", flags->json, "Print results as JSON (same as --format json)");
  cmd->add_flag("--tap", flags->tap, "Print results as TAP version 13 (same as --format tap)");
  cmd->add_option("--junit", flags->junit, "Also write JUnit XML to FILE")->type_name("FILE");
  cmd->add_flag("--html", flags->html, "Also write the run's HTML report (RUN_DIR/report.html)");
  cmd->add_option("--jobs,-j", flags->jobs, "Scenarios run in parallel guests")->check(CLI::Range(1, 64));
  cmd->add_option("--shard", flags->shard, "Run the I-th of N deterministic shares, e.g. 1/4")->type_name("I/N");
  cmd->add_flag("--quiet,-q", flags->quiet, "No progress lines");
  cmd->add_flag("--shell-on-fail", flags->shell_on_fail,
                "When a step or an assertion fails, open a shell in the still-running guest (needs a terminal)");
  cmd->callback([flags, &ctx] { run_command(*flags, ctx); });
}

}  // namespace ktest::cli
