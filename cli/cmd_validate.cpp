// `ktest validate FILE...`: load each scenario without running it and print
// every diagnostic the way a compiler does. Exit 0 when all load, else 2.
#include <cstdio>
#include <iostream>

#include "cli/command.h"
#include "cli/term.h"
#include "dsl/scenario.h"

namespace ktest::cli {
namespace {

// dsl prints plain text; colour only the severity word of the first line.
std::string colorize(std::string text, dsl::Severity severity, const Style& style) {
  if (!style.enabled) return text;
  std::string word = std::string(": ") + dsl::severity_name(severity) + ":";
  auto at = text.find(word);
  if (at == std::string::npos || at > text.find('\n')) return text;
  std::string painted = severity == dsl::Severity::Error     ? style.red(word.substr(2))
                        : severity == dsl::Severity::Warning ? style.yellow(word.substr(2))
                                                             : style.cyan(word.substr(2));
  return text.replace(at + 2, word.size() - 2, painted);
}

}  // namespace

void add_validate_command(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "validate", "Check scenario files (YAML, steps, assertions) without running them");
  auto files = std::make_shared<std::vector<std::string>>();
  cmd->add_option("FILE", *files, "Scenario files")->required();
  cmd->callback([&ctx, files] {
    Style style{ctx.color};
    std::size_t bad = 0;
    for (const auto& file : *files) {
      dsl::ScenarioLoad load = dsl::load_scenario_file(file);
      for (const auto& d : load.diagnostics)
        std::cerr << colorize(dsl::format_diagnostic(d), d.severity, style);
      if (!load.ok()) {
        ++bad;
        std::size_t errors = 0;
        for (const auto& d : load.diagnostics) errors += d.severity == dsl::Severity::Error;
        std::cerr << file << ": " << errors << (errors == 1 ? " error" : " errors") << "\n";
        continue;
      }
      const dsl::Scenario& s = *load.scenario;
      std::cout << file << ": " << style.green("ok") << " (scenario '" << s.name << "', "
                << s.steps.size() << (s.steps.size() == 1 ? " step, " : " steps, ")
                << s.assertions.size() << (s.assertions.size() == 1 ? " assertion)" : " assertions)")
                << "\n";
    }
    ctx.exit_code = bad ? ExitCode::Usage : ExitCode::Ok;
  });
}

}  // namespace ktest::cli
