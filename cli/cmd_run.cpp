// `ktest run SCENARIO...`: boot a guest per scenario, run it, report.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/build_info.h"
#include "cli/command.h"
#include "cli/config.h"
#include "cli/html/html_report.h"
#include "cli/report/report.h"
#include "cli/run/session.h"
#include "cli/run/shipped_files.h"
#include "dsl/scenario.h"
#include "util/atomic_file.h"

namespace ktest::cli {

namespace fs = std::filesystem;

namespace {

struct RunFlags {
  std::vector<std::string> scenarios;
  ConfigFlags config;  // --kernel --cpus --memory --accel --format ... (cli/config.h)
  std::string junit, shard;
  std::vector<std::string> object_path;
  unsigned jobs = 1;
  bool json = false, tap = false, quiet = false, html = false;
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

std::string utc_stamp(const char* format) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// <output_dir>/<UTC time>-<pid>, plus the `latest` symlink next to it.
Result<std::string> make_run_dir(const std::string& output_root) {
  std::string name = fmt::format("{}-{}", utc_stamp("%Y%m%dT%H%M%SZ"), ::getpid());
  std::error_code ec;
  fs::path dir = fs::absolute(fs::path(output_root) / name, ec);
  fs::create_directories(dir, ec);
  if (ec) {
    return fail(fmt::format("cannot create the run directory {}: {}", dir.string(), ec.message()), "",
                "set a writable output directory with --output-dir or [output] dir in ktest.toml");
  }
  fs::path latest = fs::path(output_root) / "latest";
  fs::path tmp = fs::path(output_root) / fmt::format(".latest.{}", ::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(name, tmp, ec);
  if (!ec) fs::rename(tmp, latest, ec);
  return dir.string();
}

std::string safe_component(const std::string& name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out.empty() ? "scenario" : out;
}

ExitCode exit_code_for(const std::vector<SessionResult>& sessions) {
  auto any = [&](auto pred) { return std::any_of(sessions.begin(), sessions.end(), pred); };
  if (any([](const SessionResult& s) { return s.failure == SessionFailure::InvalidInput; }))
    return ExitCode::Usage;
  if (any([](const SessionResult& s) { return s.failure == SessionFailure::Internal; }))
    return ExitCode::Internal;
  if (any([](const SessionResult& s) { return s.failure == SessionFailure::VmUnavailable; }))
    return ExitCode::VmUnavailable;
  if (any([](const SessionResult& s) { return s.result.outcome != Outcome::Passed; }))
    return ExitCode::AssertionFailed;
  return ExitCode::Ok;
}

void run_command(const RunFlags& flags, CommandContext& ctx) {
  auto configured = apply_config_flags(*ctx.config, flags.config);
  if (!configured) return ctx.print_error(configured.error(), ExitCode::Usage);
  Config config = std::move(*configured);
  if (flags.json) config.format = OutputFormat::Json;
  if (flags.tap) config.format = OutputFormat::Tap;

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

  RunResult run;
  run.ktest_version = KTEST_VERSION;
  run.started_at = utc_stamp("%Y-%m-%dT%H:%M:%SZ");
  run.output_dir = *run_dir;
  auto start = std::chrono::steady_clock::now();

  const bool show_progress = !flags.quiet && ::isatty(STDERR_FILENO);
  std::mutex progress_mu;
  auto progress = [&](const std::string& line) {
    std::lock_guard lock(progress_mu);
    std::cerr << line << '\n';
  };

  // What every scenario shares, looked up once (the agent and objects by path checks).
  SessionOptions shared;
  shared.kernel = config.kernel;
  // Flags, then the scenario, then ktest.toml (cli/run/vm_shape.h).
  shared.vm.cpus = flags.config.cpus;
  shared.vm.memory_bytes = flags.config.memory.empty() ? 0 : config.memory_bytes;
  shared.vm.config_cpus = config.cpus;
  shared.vm.config_memory_bytes = config.memory_bytes;
  shared.vm.cpu_model = flags.config.cpu_model;
  shared.vm.config_cpu_model = config.cpu_model;
  shared.accel = config.accel;
  shared.timeouts = config.timeouts;
  shared.object_path = flags.object_path;
  shared.object_path.push_back(default_object_dir());
  shared.agent_binary = default_agent_binary();
  if (show_progress) shared.progress = progress;

  std::vector<SessionResult> sessions(scenarios.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < scenarios.size(); i = next++) {
      SessionOptions options = shared;
      options.scenario_dir = (fs::path(*run_dir) / fmt::format("{:02}-{}", i + 1,
                                                               safe_component(scenarios[i].name)))
                                 .string();
      // run_scenario returns its errors as values; this only keeps a
      // library's stray exception (std::filesystem, std::bad_alloc) from
      // ending every other scenario's thread with std::terminate.
      try {
        sessions[i] = run_scenario(scenarios[i], options);
      } catch (const std::exception& e) {
        sessions[i].failure = SessionFailure::Internal;
        sessions[i].result.name = scenarios[i].name;
        sessions[i].result.file = scenarios[i].file;
        sessions[i].result.outcome = Outcome::Error;
        sessions[i].result.error = fmt::format("internal error: {}", e.what());
      }
    }
  };
  unsigned jobs = std::clamp<unsigned>(flags.jobs, 1, std::max<std::size_t>(1, scenarios.size()));
  std::vector<std::thread> pool;
  for (unsigned j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  for (auto& s : sessions) run.scenarios.push_back(s.result);
  run.duration = std::chrono::steady_clock::now() - start;

  ctx.exit_code = exit_code_for(sessions);
  // A results file that could not be written outranks the verdict: a CI
  // job must not pass on results nobody can read.
  std::string results_path = (fs::path(*run_dir) / "results.json").string();
  if (Status s = write_file_atomic(results_path, render_report(run, OutputFormat::Json)); !s) {
    ctx.print_error(s.error(), ExitCode::Internal);
  }
  if (!flags.junit.empty()) {
    if (Status s = write_file_atomic(flags.junit, render_report(run, OutputFormat::Junit)); !s) {
      ctx.print_error(s.error(), ExitCode::Usage);
    }
  }
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
  std::cout << render_report(run, config.format, ctx.color && config.format == OutputFormat::Text);
  std::cout.flush();
  if (config.format != OutputFormat::Text) std::cerr << "ktest: results in " << *run_dir << '\n';
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
  cmd->callback([flags, &ctx] { run_command(*flags, ctx); });
}

}  // namespace ktest::cli
