// `ktest snapshot dump|diff|query`: look at captured snapshots after a
// run, without a guest. Where REPORT and [RUN:]NAME point: cli/snapshot_source.h.
#include <iostream>

#include "cli/command.h"
#include "cli/config.h"
#include "cli/snapshot_source.h"
#include "dsl/expr.h"
#include "snapshot/diff.h"
#include "snapshot/dump.h"
#include "snapshot/report.h"

namespace ktest::cli {
namespace {

struct DumpArgs {
  std::string report;
  DumpOptions options;
  std::string changed_since;  // [RUN:]NAME
  bool all = false;
  CLI::Option* max_entries = nullptr;  // given or not
};

struct DiffArgs {
  std::string before, after;  // [RUN:]NAME
  std::string run;            // the REPORT of plain names
  DiffOptions options;
  bool json = false;
  bool all = false;
  CLI::Option* max_entries = nullptr;
};

// Short unless asked: --all lifts the limits that --max-entries does not set.
std::size_t listed_entries(const CLI::Option* given, std::size_t value, bool all, bool json) {
  if (given->count() != 0) return value;
  return all || json ? 0 : kDefaultListedEntries;
}

struct QueryArgs {
  std::string report;
  std::string expression;
  bool json = false;
};

void run_dump(const DumpArgs& args, CommandContext& ctx) {
  DumpOptions options = args.options;
  options.max_entries = listed_entries(args.max_entries, options.max_entries, args.all, options.json);
  options.show_constants = args.all;
  options.show_zero = options.show_zero || args.all;
  ReportCache cache(*ctx.config);
  auto reports = cache.reports(args.report);
  if (!reports) return ctx.print_error(reports.error(), ExitCode::Usage);
  Result<std::string> text = std::string();
  if (args.changed_since.empty()) {
    text = dump_reports(**reports, options);
  } else {
    auto base = cache.snapshot(parse_snapshot_ref(args.changed_since), args.report);
    if (!base) return ctx.print_error(std::move(base).error().with_context("--changed-since"), ExitCode::Usage);
    text = dump_changes(**reports, **base, options);
  }
  if (!text) return ctx.print_error(text.error(), ExitCode::Usage);
  std::cout << *text;
  if (!text->empty() && text->back() != '\n') std::cout << "\n";
  ctx.exit_code = ExitCode::Ok;
}

// Exit 0: the same, 1: different, 2: trouble (as diff(1)).
void run_diff(const DiffArgs& args, CommandContext& ctx) {
  ReportCache cache(*ctx.config);
  SnapshotRef refs[2] = {parse_snapshot_ref(args.before), parse_snapshot_ref(args.after)};
  const NamedReport* sides[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    auto nr = cache.snapshot(refs[i], args.run);
    if (!nr) return ctx.print_error(std::move(nr).error().with_context(i == 0 ? "A" : "B"), ExitCode::Usage);
    sides[i] = *nr;
  }
  DiffOptions options = args.options;
  options.max_entries = listed_entries(args.max_entries, options.max_entries, args.all, args.json);
  options.show_constants = args.all;
  options.show_unchanged = args.all;
  auto diff = diff_snapshots(*sides[0], *sides[1], options);
  if (!diff) return ctx.print_error(diff.error(), ExitCode::Usage);
  // Snapshots of two runs are labelled as the user named them.
  if (cache.path_of(refs[0], args.run) != cache.path_of(refs[1], args.run)) {
    diff->before = refs[0].text;
    diff->after = refs[1].text;
  }
  if (args.json) {
    std::cout << diff_json(*diff).dump(2) << "\n";
  } else {
    std::cout << diff_text(*diff);
  }
  ctx.exit_code = diff->differs() ? ExitCode::AssertionFailed : ExitCode::Ok;
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
  auto reports = load_reports_for(args.report, *ctx.config);
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
                       "Report file (.json, .json.zst) or run directory (default: the latest run)");
  dump_cmd->add_option("--snapshot", dump->options.snapshot, "Only this snapshot")
      ->option_text("NAME");
  dump_cmd->add_option("--map", dump->options.map, "Only this BPF map")->option_text("MAP");
  dump_cmd->add_option("--path", dump->options.path,
                       "Dotted path inside the map value, or a global variable without --map")
      ->option_text("PATH");
  dump_cmd->add_flag("--json", dump->options.json, "Print JSON instead of text");
  dump_cmd->add_flag("--show-zero", dump->options.show_zero, "Also print all-zero members");
  dump_cmd->add_flag("--hex", dump->options.show_hex, "Also print raw key/value bytes");
  dump->max_entries = dump_cmd->add_option("--max-entries", dump->options.max_entries,
                                            "At most N entries per map (default 20; 0: all)")
      ->option_text("N");
  dump_cmd->add_flag("--all", dump->all,
                     "Hide nothing: constant sections, every entry, all-zero members");
  dump_cmd->add_option("--changed-since", dump->changed_since,
                       "Only what changed since snapshot [RUN:]NAME, as 'snapshot diff' prints it")
      ->option_text("[RUN:]NAME");
  dump_cmd->callback([&ctx, dump] { run_dump(*dump, ctx); });

  auto diff = std::make_shared<DiffArgs>();
  CLI::App* diff_cmd = cmd->add_subcommand("diff", "Show what changed between two snapshots");
  diff_cmd->add_option("A", diff->before, "The earlier snapshot: NAME, or RUN:NAME of another run")
      ->required();
  diff_cmd->add_option("B", diff->after, "The later snapshot: NAME, or RUN:NAME")->required();
  diff_cmd->add_option("--run", diff->run,
                       "Report file or run directory of a plain NAME (default: the latest run)")
      ->option_text("RUN");
  diff_cmd->add_option("--map", diff->options.maps, "Only this BPF map (repeatable)")
      ->option_text("MAP")->allow_extra_args(false);
  diff_cmd->add_option("--var", diff->options.vars, "Only this global variable or path (repeatable)")
      ->option_text("VAR")->allow_extra_args(false);
  diff_cmd->add_option("--ignore", diff->options.ignore,
                       "Leave out this map, or the fields at or below this path (repeatable)")
      ->option_text("PATH")->allow_extra_args(false);
  diff_cmd->add_flag("--json", diff->json, "Print JSON instead of text");
  diff_cmd->add_flag("--all", diff->all, "Also constant sections and unchanged maps and entries");
  diff->max_entries = diff_cmd->add_option("--max-entries", diff->options.max_entries,
                                            "At most N entries listed per map (default 20; 0: all)")
      ->option_text("N");
  diff_cmd->footer("Exit status: 0 the same, 1 different, 2 a snapshot, map or variable that\n"
                   "does not exist, or an unreadable report.");
  diff_cmd->callback([&ctx, diff] { run_diff(*diff, ctx); });

  auto query = std::make_shared<QueryArgs>();
  CLI::App* query_cmd = cmd->add_subcommand(
      "query", "Evaluate an assertion expression against captured snapshots");
  query_cmd->add_option("REPORT", query->report, "Report file (.json, .json.zst) or run directory")->required();
  query_cmd->add_option("EXPR", query->expression, "Expression, as in a scenario's assertions")
      ->required();
  query_cmd->add_flag("--json", query->json, "Print the value as JSON");
  query_cmd->footer("Exit status: 0 true (or a non-boolean value), 1 false, 2 invalid expression,\n"
                    "unreadable report, or a name/field the report does not have.");
  query_cmd->callback([&ctx, query] { run_query(*query, ctx); });
}

}  // namespace ktest::cli
