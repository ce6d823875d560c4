// ktest's configuration file: where it is found, what it holds.
//
// Contract: discover_config_file() picks the first file that exists of
//   1. ktest.toml in the current directory or any parent directory,
//   2. $XDG_CONFIG_HOME/ktest/config.toml (XDG_CONFIG_HOME defaults to ~/.config),
//   3. /etc/ktest/config.toml,
// unless --config names a file (which must then exist). load_config()
// parses it into Config; every key is optional and falls back to the
// defaults below. Unknown keys and wrong types are errors located at
// file:line:col with a "did you mean" hint. Relative paths in a file
// (kernel path, output dir) are resolved against that file's directory.
// Command-line flags win over the file: commands copy *ctx.config and
// overwrite the fields their flags set. Documented in ktest.toml(5).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "util/result.h"

namespace ktest::cli {

enum class Accel { Auto, Kvm, Tcg };
enum class OutputFormat { Text, Json, Junit, Tap };

struct Timeouts {
  std::chrono::nanoseconds boot{std::chrono::seconds(120)};    // kernel up, agent ready
  std::chrono::nanoseconds step{std::chrono::seconds(60)};     // one scenario step
  std::chrono::nanoseconds capture{std::chrono::seconds(30)};  // one freeze + render
  std::chrono::nanoseconds run{std::chrono::minutes(30)};      // a whole scenario
};

struct Config {
  // [vm]
  std::string kernel;  // "" = the default fetched kernel; a path or a version
  // 0 = not set: a scenario's vm: decides, else its built-in default
  // (dsl::VmConfig). Set, they apply to scenarios that do not decide.
  unsigned cpus = 0;
  std::uint64_t memory_bytes = 0;
  Accel accel = Accel::Auto;
  // QEMU -cpu value; "" = the engine default (host under KVM, qemu64 under
  // TCG). A scenario's vm.cpu_model wins over the file, --cpu-model over both.
  std::string cpu_model;
  // [timeouts]
  Timeouts timeouts;
  // [output]
  OutputFormat format = OutputFormat::Text;
  std::string output_dir = "ktest-runs";  // runs go to <output_dir>/<run>, plus `latest`

  std::string source;  // the file loaded, "" when only defaults apply
};

// Where discovery looks; from_process() reads the real cwd and environment.
struct ConfigSearch {
  std::string cwd;
  std::string xdg_config_home;  // "" = unset
  std::string home;             // "" = unset
  std::string system_dir = "/etc/ktest";
  static ConfigSearch from_process();
};

// The file to load: `explicit_path` when given (must exist), else the first
// discovered one, else "" (defaults only).
Result<std::string> discover_config_file(const ConfigSearch& search,
                                         const std::string& explicit_path = {});

// Parses `path` over the defaults.
Result<Config> load_config_file(const std::string& path);
// Parses TOML text; `name` is used in locations and relative paths.
Result<Config> parse_config(std::string_view text, const std::string& name);
// discover_config_file() + load_config_file(), or defaults when none found.
Result<Config> load_config(const ConfigSearch& search, const std::string& explicit_path = {});

// Flags that override configuration keys, for commands that boot a guest
// (`ktest run`). Empty / zero means "not given": the file's value stays.
struct ConfigFlags {
  std::string kernel, memory, accel, format, output_dir, cpu_model;
  std::string boot_timeout, step_timeout, capture_timeout, run_timeout;
  unsigned cpus = 0;
};
// Registers --kernel --cpus --memory --accel --cpu-model --format/-f --output-dir and
// --boot-timeout --step-timeout --capture-timeout --run-timeout on `cmd`.
void add_config_flags(CLI::App& cmd, ConfigFlags& flags);
// `config` with the given flags written over it; bad values are errors
// located at the flag ("--memory: size '12' has no unit").
Result<Config> apply_config_flags(Config config, const ConfigFlags& flags);

// Spellings shared by the config file and command-line flags.
Result<Accel> parse_accel(std::string_view text);
Result<OutputFormat> parse_output_format(std::string_view text);
const char* accel_name(Accel accel);
const char* output_format_name(OutputFormat format);

}  // namespace ktest::cli
