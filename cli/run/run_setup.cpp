#include "cli/run/run_setup.h"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/report/report.h"
#include "cli/run/shipped_files.h"
#include "util/atomic_file.h"
#include "util/interrupt.h"

namespace ktest::cli {

namespace fs = std::filesystem;

std::string utc_stamp(const char* format) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

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

std::string scenario_dir(const std::string& run_dir, std::size_t index, const std::string& scenario_name) {
  std::string safe;
  for (char c : scenario_name)
    safe += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  if (safe.empty()) safe = "scenario";
  return (fs::path(run_dir) / fmt::format("{:02}-{}", index + 1, safe)).string();
}

SessionOptions shared_session_options(const Config& config, const ConfigFlags& flags,
                                      const std::vector<std::string>& object_path) {
  SessionOptions shared;
  shared.kernel = config.kernel;
  shared.vm.cpus = flags.cpus;
  shared.vm.memory_bytes = flags.memory.empty() ? 0 : config.memory_bytes;
  shared.vm.config_cpus = config.cpus;
  shared.vm.config_memory_bytes = config.memory_bytes;
  shared.vm.cpu_model = flags.cpu_model;
  shared.vm.config_cpu_model = config.cpu_model;
  shared.accel = config.accel;
  shared.timeouts = config.timeouts;
  shared.object_path = object_path;
  shared.object_path.push_back(default_object_dir());
  shared.agent_binary = default_agent_binary();
  return shared;
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

std::function<void(const std::string&)> stderr_progress() {
  auto mu = std::make_shared<std::mutex>();
  return [mu](const std::string& line) {
    std::lock_guard lock(*mu);
    std::cerr << line << '\n';
  };
}

void run_and_report(const RunPlan& plan, CommandContext& ctx) {
  RunResult run;
  run.ktest_version = plan.ktest_version;
  run.started_at = utc_stamp("%Y-%m-%dT%H:%M:%SZ");
  run.output_dir = plan.run_dir;
  auto start = std::chrono::steady_clock::now();

  const auto& scenarios = plan.scenarios;
  InterruptScope interrupts;  // Ctrl-C: tear the guests down, write what was done
  std::vector<SessionResult> sessions(scenarios.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < scenarios.size(); i = next++) {
      if (interrupt_requested()) {  // not started: said so, not run
        sessions[i].result.name = scenarios[i].name;
        sessions[i].result.file = scenarios[i].file;
        sessions[i].result.outcome = Outcome::Skipped;
        sessions[i].result.error = fmt::format("not run: ktest was interrupted ({})", interrupt_signal_name());
        continue;
      }
      SessionOptions options = plan.shared;
      options.scenario_dir = scenario_dir(plan.run_dir, i, scenarios[i].name);
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
  unsigned jobs = std::clamp<unsigned>(plan.jobs, 1, std::max<std::size_t>(1, scenarios.size()));
  std::vector<std::thread> pool;
  for (unsigned j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  for (auto& s : sessions) run.scenarios.push_back(s.result);
  run.duration = std::chrono::steady_clock::now() - start;

  ctx.exit_code = interrupt_requested() ? ExitCode::Interrupted : exit_code_for(sessions);
  std::string results_path = (fs::path(plan.run_dir) / "results.json").string();
  if (Status s = write_file_atomic(results_path, render_report(run, OutputFormat::Json)); !s)
    ctx.print_error(s.error(), ExitCode::Internal);
  if (!plan.junit.empty()) {
    if (Status s = write_file_atomic(plan.junit, render_report(run, OutputFormat::Junit)); !s)
      ctx.print_error(s.error(), ExitCode::Usage);
  }
  std::cout << render_report(run, plan.format, ctx.color && plan.format == OutputFormat::Text);
  std::cout.flush();
  if (plan.format != OutputFormat::Text) std::cerr << "ktest: results in " << plan.run_dir << '\n';
}

}  // namespace ktest::cli
