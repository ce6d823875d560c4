// How subcommands plug into the `ktest` binary.
//
// Contract: each subcommand lives in its own cli/cmd_<name>.cpp and exports
// one add_<name>_command() that registers a CLI11 subcommand on `app`.
// Its callback does the work and stores the process exit code in
// ctx.exit_code (see ExitCode); it reports errors itself on stderr
// through ctx.print_error(). main() loads the configuration into ctx
// before callbacks run, maps CLI11 parse errors to ExitCode::Usage, and
// returns ctx.exit_code.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "util/result.h"

namespace ktest::cli {

// Documented in ktest(1), EXIT STATUS.
enum class ExitCode : int {
  Ok = 0,                // everything passed
  AssertionFailed = 1,   // an assertion (or query) evaluated to false
  Usage = 2,             // usage error, invalid scenario / report / config
  VmUnavailable = 69,    // guest or VM unavailable or failed to boot (EX_UNAVAILABLE)
  Internal = 70,         // internal error (EX_SOFTWARE)
  Interrupted = 130,     // SIGINT or SIGTERM: guests torn down, partial results written (128 + SIGINT)
};

struct Config;  // cli/config.h

struct CommandContext {
  const Config* config = nullptr;  // loaded before any callback runs
  bool color = false;              // resolved from --color, NO_COLOR, isatty
  ExitCode exit_code = ExitCode::Ok;

  // "ktest: error: <what> ..." on stderr (with colour when enabled), and
  // sets exit_code.
  void print_error(const Error& error, ExitCode code);
};

void add_run_command(CLI::App& app, CommandContext& ctx);       // cli/cmd_run.cpp
void add_shell_command(CLI::App& app, CommandContext& ctx);     // cli/cmd_shell.cpp
void add_validate_command(CLI::App& app, CommandContext& ctx);  // cli/cmd_validate.cpp
void add_snapshot_command(CLI::App& app, CommandContext& ctx);  // cli/cmd_snapshot.cpp
void add_kernel_command(CLI::App& app, CommandContext& ctx);    // cli/cmd_kernel.cpp
void add_btf_command(CLI::App& app, CommandContext& ctx);       // cli/cmd_btf.cpp
void add_version_command(CLI::App& app, CommandContext& ctx);   // cli/cmd_version.cpp
void add_doctor_command(CLI::App& app, CommandContext& ctx);    // cli/cmd_doctor.cpp
void add_report_command(CLI::App& app, CommandContext& ctx);    // cli/cmd_report.cpp

}  // namespace ktest::cli
