// `ktest snapshot dump|query`: look at captured snapshots after a run,
// without a guest. REPORT is a report JSON file, or a run output directory
// (its snapshots/ folder is used when it has one); without REPORT, or
// with the word `latest`, the latest run: <output dir>/latest, which a
// running `ktest run` or `ktest shell` points at from its start.
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "cli/config.h"
#include "dsl/expr.h"
#include "snapshot/dump.h"
#include "snapshot/report.h"

namespace ktest::cli {
namespace fs = std::filesystem;
namespace {

bool has_json_files(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".json" && entry.is_regular_file(ec)) return true;
  return false;
}

// The file or directory holding the reports the user means.
Result<std::string> resolve_reports_path(const std::string& given, const Config& config) {
  std::error_code ec;
  fs::path path = given;
  // "latest" names the newest run (also one still going) unless a file by that name is here.
  if (given.empty() || (given == "latest" && !fs::exists(path, ec))) {
    path = fs::path(config.output_dir) / "latest";
    if (!fs::exists(path, ec))
      return fail("no run found: " + path.string() + " does not exist", {},
                  "run 'ktest run SCENARIO' first, or name a report file or run directory");
  } else if (!fs::exists(path, ec)) {
    return fail("'" + given + "' does not exist", {},
                "name a report JSON file or a run output directory");
  }
  if (!fs::is_directory(path, ec)) return path.string();
  if (fs::is_directory(path / "snapshots", ec)) return (path / "snapshots").string();
  // A run directory: <run>/<scenario>/snapshots (its results.json is no report).
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(path, ec))
    if (entry.is_directory(ec) && fs::is_directory(entry.path() / "snapshots", ec))
      found.push_back(entry.path() / "snapshots");
  if (found.size() == 1) return found.front().string();
  if (found.empty() && has_json_files(path)) return path.string();
  if (found.empty())
    return fail("no snapshot reports in " + path.string(), {},
                "the run captured no snapshot; add a CaptureSnapshot step");
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f.parent_path().filename().string();
  return fail("run directory " + path.string() + " holds several scenarios: " + list, {},
              "name one of them: " + (found.front().parent_path()).string());
}

Result<std::vector<NamedReport>> load_for(const std::string& given, const Config& config) {
  KTEST_ASSIGN(std::string path, resolve_reports_path(given, config));
  auto reports = load_reports(path);
  if (!reports) return std::move(reports).context("reading " + path);
  if (reports->empty())
    return fail("no snapshot reports in " + path, {}, "the run captured no snapshot");
  return reports;
}

struct DumpArgs {
  std::string report;
  DumpOptions options;
};

struct QueryArgs {
  std::string report;
  std::string expression;
  bool json = false;
};

void run_dump(const DumpArgs& args, CommandContext& ctx) {
  auto reports = load_for(args.report, *ctx.config);
  if (!reports) return ctx.print_error(reports.error(), ExitCode::Usage);
  auto text = dump_reports(*reports, args.options);
  if (!text) return ctx.print_error(text.error(), ExitCode::Usage);
  std::cout << *text;
  if (!text->empty() && text->back() != '\n') std::cout << "\n";
  ctx.exit_code = ExitCode::Ok;
}

// Exit 0: true or a value; 1: false; 2: the expression or report is invalid,
// including a path that names a field, map or variable the report lacks.
void run_query(const QueryArgs& args, CommandContext& ctx) {
  auto parsed = dsl::parse_expr_located(args.expression);
  if (auto* err = std::get_if<dsl::ExprError>(&parsed)) {
    std::string caret(err->span.offset, ' ');
    caret += "^" + std::string(err->span.length > 1 ? err->span.length - 1 : 0, '~');
    Error e(err->message + "\n    " + args.expression + "\n    " + caret,
            "expression:1:" + std::to_string(err->span.offset + 1), err->hint);
    return ctx.print_error(e, ExitCode::Usage);
  }
  const dsl::ExprPtr& expr = std::get<dsl::ExprPtr>(parsed);
  auto reports = load_for(args.report, *ctx.config);
  if (!reports) return ctx.print_error(reports.error(), ExitCode::Usage);
  dsl::EvalContext eval = dsl::EvalContext::from_reports(std::move(*reports));
  dsl::EvalOutcome outcome = dsl::query(*expr, args.expression, eval);
  if (outcome.verdict == dsl::Verdict::Error) {
    std::cerr << dsl::explain(outcome, args.expression);
    if (outcome.error && !outcome.error->available.empty()) {
      std::cerr << "available:";
      for (const auto& name : outcome.error->available) std::cerr << " " << name;
      std::cerr << "\n";
    }
    ctx.exit_code = ExitCode::Usage;
    return;
  }
  if (args.json) std::cout << outcome.value_json.dump(2) << "\n";
  else std::cout << outcome.value_text << "\n";
  if (outcome.value_json.is_boolean() && !outcome.value_json.get<bool>()) {
    // Say why it is false: the comparisons with both sides' values.
    std::cerr << dsl::explain(dsl::evaluate(*expr, args.expression, eval), args.expression);
    ctx.exit_code = ExitCode::AssertionFailed;
    return;
  }
  ctx.exit_code = ExitCode::Ok;
}

}  // namespace

void add_snapshot_command(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand("snapshot", "Inspect captured snapshots offline");
  cmd->require_subcommand(1);

  auto dump = std::make_shared<DumpArgs>();
  CLI::App* dump_cmd = cmd->add_subcommand("dump", "Print captured snapshots as text or JSON");
  dump_cmd->add_option("REPORT", dump->report,
                       "Report JSON file or run directory (default: the latest run)");
  dump_cmd->add_option("--snapshot", dump->options.snapshot, "Only this snapshot")
      ->option_text("NAME");
  dump_cmd->add_option("--map", dump->options.map, "Only this BPF map")->option_text("MAP");
  dump_cmd->add_option("--path", dump->options.path,
                       "Dotted path inside the map value, or a global variable without --map")
      ->option_text("PATH");
  dump_cmd->add_flag("--json", dump->options.json, "Print JSON instead of text");
  dump_cmd->add_flag("--show-zero", dump->options.show_zero, "Also print all-zero members");
  dump_cmd->add_flag("--hex", dump->options.show_hex, "Also print raw key/value bytes");
  dump_cmd->add_option("--max-entries", dump->options.max_entries,
                       "At most N entries per map (0: all)")
      ->option_text("N");
  dump_cmd->callback([&ctx, dump] { run_dump(*dump, ctx); });

  auto query = std::make_shared<QueryArgs>();
  CLI::App* query_cmd = cmd->add_subcommand(
      "query", "Evaluate an assertion expression against captured snapshots");
  query_cmd->add_option("REPORT", query->report, "Report JSON file or run directory")->required();
  query_cmd->add_option("EXPR", query->expression, "Expression, as in a scenario's assertions")
      ->required();
  query_cmd->add_flag("--json", query->json, "Print the value as JSON");
  query_cmd->footer("Exit status: 0 true (or a non-boolean value), 1 false, 2 invalid expression,\n"
                    "unreadable report, or a name/field the report does not have.");
  query_cmd->callback([&ctx, query] { run_query(*query, ctx); });
}

}  // namespace ktest::cli
