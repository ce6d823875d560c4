// `ktest report [RUN_DIR]`: the HTML report of a run directory, without a
// guest (cli/html/html_report.h); the latest run when none is named.
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/config.h"
#include "cli/html/html_report.h"

namespace ktest::cli {
namespace {

struct ReportFlags {
  std::string run_dir, output;
};

void report_command(const ReportFlags& flags, CommandContext& ctx) {
  HtmlReportOptions options;
  options.run_dir = flags.run_dir;
  options.output = flags.output;
  if (options.run_dir.empty()) {
    std::filesystem::path latest = std::filesystem::path(ctx.config->output_dir) / "latest";
    std::error_code ec;
    if (!std::filesystem::exists(latest, ec))
      return ctx.print_error(Error("no run found: " + latest.string() + " does not exist", "",
                                   "run 'ktest run SCENARIO' first, or name a run directory"),
                             ExitCode::Usage);
    options.run_dir = latest.string();
  }
  auto written = write_html_report(options);
  if (!written) return ctx.print_error(written.error(), ExitCode::Usage);
  std::cout << *written << '\n';
}

}  // namespace

void add_report_command(CLI::App& app, CommandContext& ctx) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand("report", "Write a run's self-contained HTML report");
  cmd->add_option("run_dir", flags->run_dir, "Run directory (default: the latest run)")->type_name("RUN_DIR");
  cmd->add_option("--output,-o", flags->output, "Write the page to FILE instead of RUN_DIR/report.html")
      ->type_name("FILE");
  cmd->callback([flags, &ctx] { report_command(*flags, ctx); });
}

}  // namespace ktest::cli
