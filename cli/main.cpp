// The `ktest` binary: global options, subcommand registration, exit codes.
// Each subcommand lives in cli/cmd_<name>.cpp (see cli/command.h).
#include <exception>
#include <iostream>

#include "cli/command.h"
#include "cli/config.h"
#include "cli/term.h"
#include "util/edit_distance.h"

using namespace ktest;
using namespace ktest::cli;

namespace {

// Thrown from the parse-complete callback to stop before any subcommand runs.
struct StopBeforeCommands {};

std::vector<std::string> command_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  return names;
}

// CLI11's message, in ktest's error format, exit status 2.
int usage_error(const CLI::App& app, const CLI::ParseError& e, CommandContext& ctx) {
  Error error(e.what());
  const CLI::App* active = &app;
  while (!active->get_subcommands().empty()) active = active->get_subcommands().front();
  std::string help_cmd = active == &app ? "ktest --help" : "ktest " + active->get_name() + " --help";
  error.hint = "see '" + help_cmd + "'";
  // A word where a command was due is an unknown command, whatever CLI11
  // complains about (a missing subcommand, or an extra argument).
  bool wants_command = active->get_subcommands().empty() &&
                       !active->get_subcommands([](const CLI::App*) { return true; }).empty();
  if (wants_command) {
    for (const std::string& word : app.remaining(true)) {
      if (word.empty() || word[0] == '-') continue;
      std::string prefix = active == &app ? "" : active->get_name() + " ";
      error.message = "unknown command '" + prefix + word + "'";
      auto near = nearest(word, command_names(*active));
      error.hint = near ? "did you mean '" + prefix + *near + "'? (see '" + help_cmd + "')"
                        : "the commands are listed by '" + help_cmd + "'";
      break;
    }
  }
  ctx.print_error(error, ExitCode::Usage);
  return static_cast<int>(ExitCode::Usage);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ktest: boot a guest kernel, run a sched_ext/BPF scenario, check its captured state",
               "ktest"};
  app.footer(
      "Exit status: 0 passed, 1 assertion failed, 2 usage error or invalid input,\n"
      "69 guest/VM unavailable, 70 internal error. See ktest(1).");
  app.require_subcommand(1);
  app.fallthrough();

  CommandContext ctx;
  Config config;
  ctx.config = &config;
  std::string color_text = "auto";
  std::string config_path;
  app.add_option("--color", color_text, "Colour output: auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->option_text("WHEN");
  app.add_option("--config", config_path, "Configuration file (default: discovered, see ktest.toml(5))")
      ->option_text("FILE");

  // Colour is known early so that parse errors are coloured too.
  ctx.color = resolve_color(ColorMode::Auto, ColorEnv::from_process());
  app.parse_complete_callback([&] {
    ctx.color = resolve_color(parse_color_mode(color_text).value_or(ColorMode::Auto),
                              ColorEnv::from_process());
    auto loaded = load_config(ConfigSearch::from_process(), config_path);
    if (!loaded) {
      ctx.print_error(loaded.error(), ExitCode::Usage);
      throw StopBeforeCommands{};
    }
    config = std::move(*loaded);
  });

  add_run_command(app, ctx);
  add_shell_command(app, ctx);
  add_report_command(app, ctx);
  add_validate_command(app, ctx);
  add_snapshot_command(app, ctx);
  add_kernel_command(app, ctx);
  add_doctor_command(app, ctx);
  add_btf_command(app, ctx);
  add_version_command(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // --color may have been read before the error: honour it.
    ctx.color = resolve_color(parse_color_mode(color_text).value_or(ColorMode::Auto),
                              ColorEnv::from_process());
    return usage_error(app, e, ctx);
  } catch (const StopBeforeCommands&) {
    return static_cast<int>(ctx.exit_code);
  } catch (const std::exception& e) {
    ctx.print_error(Error(std::string("internal error: ") + e.what(), {},
                          "this is a bug in ktest; please report it with the command line"),
                    ExitCode::Internal);
  }
  return static_cast<int>(ctx.exit_code);
}
