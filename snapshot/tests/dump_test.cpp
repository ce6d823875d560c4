#include <doctest/doctest.h>

#include "snapshot/dump.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using namespace ktest::testing;
using nlohmann::json;

namespace {

std::vector<NamedReport> run_reports() {
  return {{"after_spawn", fixture_report("scx_basic.json")},
          {"before_exit", fixture_report("scx_later.json")}};
}

std::string dump(const DumpOptions& o) {
  auto r = dump_reports(run_reports(), o);
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
  return *r;
}

DumpOptions opts(std::string snapshot, std::string map = "", std::string path = "") {
  DumpOptions o;
  o.snapshot = std::move(snapshot);
  o.map = std::move(map);
  o.path = std::move(path);
  return o;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("inline rendering is compact and bounded") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  CHECK(render_value_inline(*s.var("stats").raw().value()) ==
        "scx_stats{nr_local=7, nr_global=0, __pad=[0, 0, 0, 0, 0, 0, 0, 0]}");
  CHECK(render_value_inline(*s.var("sched_name").raw().value()) == "\"scx_simple\"");
  CHECK(render_value_inline(*s.var("root_task").raw().value()) ==
        "0xffff888004a16500 -> task_ctx_ref{tid=101}");
  CHECK(render_value_inline(*s.var("exit_kind").raw().value()) == "SCX_EXIT_NONE (0)");
  CHECK(render_value_inline(make_char('\n')) == "0x0a");
  CHECK(render_value_inline(make_cpu_list("0-3")) == "cpus={0-3}");
  std::vector<RenderedValue> many(5000, make_uint(64, 123456789));
  CHECK(render_value_inline(make_array(5000, many)).size() < 2100);
}

TEST_CASE("text dump of a whole report: header, maps, zero noise hidden") {
  std::string out = dump(opts("after_spawn"));
  CHECK(out.rfind("snapshot after_spawn\n  captured_at: 2026-11-26T07:00:01Z\n", 0) == 0);
  CHECK(has_line(out, "  active scheduler: scx_simpl"));
  CHECK(has_line(out, "  vcpu0: ip=0xffffffff81e3c0a2 sp=0xffffc90000013e80 pt_root=0x2a0c000"));
  CHECK(has_line(out, "map scx_simpl.bss (array, value, value_size 200, max_entries 1)"));
  CHECK(has_line(out, "  nr_cpus_onln = 4"));
  CHECK(has_line(out, "  nr_enqueued = 1234"));
  CHECK(has_line(out, "  stats: {scx_stats}"));
  CHECK(has_line(out, "    nr_local = 7"));
  CHECK(has_line(out, "    (2 zero members hidden)"));
  CHECK(has_line(out, "  dsq_ids = [9223372036854775810, 1024, 0, 0]"));
  CHECK(has_line(out, "  sched_name = \"scx_simple\""));
  CHECK(has_line(out, "  root_task = 0xffff888004a16500 ->"));
  CHECK(has_line(out, "    *root_task: {task_ctx_ref}"));
  CHECK(has_line(out, "  total_weight = 340282366920938463463374607431768211455"));
  CHECK(has_line(out, "map scx_per_task (hash, 3 entries, value_size 64, max_entries 4096)"));
  CHECK(has_line(out, "  [0] key = 101"));
  CHECK(has_line(out, "    comm = \"worker\""));
  CHECK(has_line(out, "    ctx = 0xffff888004a16500 ->"));
  CHECK(has_line(out, "          value = 100"));
  CHECK(has_line(out, "    ctx = 0xffff888004a10100 [chase: cross-page read failed]"));
  CHECK(has_line(out, "  [1] key = 1"));  // per-CPU key
  CHECK(has_line(out, "    cpu2: <unreadable>"));
  CHECK(has_line(out, "    (1 all-zero CPU slot hidden)"));
  CHECK(has_line(out, "map scx_simpl_ops (struct_ops, 0 entries, value_size 256, max_entries 1)"));
  CHECK(has_line(out, "  error: struct_ops map values are not rendered"));
  CHECK(out.find("__pad") == std::string::npos);
  CHECK(out.find("uei_msg") == std::string::npos);  // all-zero char array

  // Constants are left out, and the dump says so.
  CHECK(out.find("map scx_simpl.rodata") == std::string::npos);
  CHECK(has_line(out, "(hidden: 1 constant section (scx_simpl.rodata); --all shows them)"));
  DumpOptions constants = opts("after_spawn");
  constants.show_constants = true;
  constants.max_entries = 2;
  std::string with_constants = dump(constants);
  CHECK(has_line(with_constants, "map scx_simpl.rodata (array, value, value_size 8, max_entries 1)"));
  CHECK(has_line(with_constants, "(hidden: 1 entry past --max-entries 2; --all shows them)"));
  CHECK(has_line(dump(opts("after_spawn", "rodata")), "map scx_simpl.rodata (array, value, value_size 8, max_entries 1)"));

  DumpOptions all_zero = opts("after_spawn");
  all_zero.show_zero = true;
  std::string verbose = dump(all_zero);
  CHECK(has_line(verbose, "  uei_msg = \"\""));
  CHECK(has_line(verbose, "    nr_global = 0"));
  CHECK(verbose.find("__pad") == std::string::npos);  // zero padding stays hidden
}

TEST_CASE("selecting a map, a path, or a global variable") {
  DumpOptions o;
  o.snapshot = "after_spawn";
  o.map = "scx_per_task";
  o.path = "ctx.weight.value";
  std::string out = dump(o);
  CHECK(out ==
        "snapshot after_spawn\n"
        "map scx_per_task path ctx.weight.value\n"
        "  [0] key = 101\n"
        "    ctx.weight.value = 100\n"
        "  [1] key = 102\n"
        "    ctx.weight.value = 200\n"
        "  [2] key = 1\n"
        "    ctx.weight.value: <missing: pointer at 'ctx.weight' (0xffff888004a10100) was not "
        "dereferenced at capture: cross-page read failed>\n");

  DumpOptions var = opts("after_spawn", "", "stats");
  CHECK(dump(var) == "snapshot after_spawn\nstats: {scx_stats}\n  nr_local = 7\n  (2 zero members hidden)\n");

  DumpOptions bss = opts("after_spawn", "bss", "nr_enqueued");
  CHECK(dump(bss) == "snapshot after_spawn\nnr_enqueued = 1234\n");

  DumpOptions both_runs = opts("", "", "nr_enqueued");
  CHECK(dump(both_runs) ==
        "snapshot after_spawn\nnr_enqueued = 1234\n\nsnapshot before_exit\nnr_enqueued = 5678\n");

  DumpOptions percpu = opts("after_spawn", "cpu_ctx_stor", "nr_dispatched");
  std::string pc = dump(percpu);
  CHECK(has_line(pc, "    cpu1.nr_dispatched = 20"));
  CHECK(has_line(pc, "    cpu2.nr_dispatched: <missing: CPU 2 slot of 'cpu_ctx_stor[1]' was not readable at capture>"));

  DumpOptions limited = opts("after_spawn", "scx_per_task");
  limited.max_entries = 1;
  std::string lim = dump(limited);
  CHECK(has_line(lim, "  (2 more entries; --max-entries 0 lists all)"));
  limited.show_hex = true;
  CHECK(has_line(dump(limited), "    key_hex = 65 00 00 00"));
}

TEST_CASE("bad selections fail with the snapshot layer's errors") {
  auto r = dump_reports(run_reports(), opts("after_spwan"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message ==
        "no snapshot 'after_spwan'; available: after_spawn, before_exit (did you mean "
        "'after_spawn'?)");
  auto m = dump_reports(run_reports(), opts("after_spawn", "scx_per_tsk"));
  CHECK(m.error().message.find("(did you mean 'scx_per_task'?)") != std::string::npos);
  auto p = dump_reports(run_reports(), opts("", "", "nr_enqeued"));
  CHECK(p.error().to_string().rfind("snapshot 'after_spawn': no global variable 'nr_enqeued'", 0) == 0);
  CHECK_FALSE(dump_reports({}, DumpOptions{}).ok());
}

TEST_CASE("JSON output of selected sub-trees") {
  DumpOptions o = opts("after_spawn", "", "stats");
  o.json = true;
  json stats = json::parse(dump(o));
  CHECK(stats["kind"] == "struct");
  CHECK(stats["type_name"] == "scx_stats");

  DumpOptions map = opts("after_spawn", "dsq_depth");
  map.json = true;
  json m = json::parse(dump(map));
  CHECK(m["name"] == "dsq_depth");
  CHECK(m["value"]["elements"].size() == 4);

  DumpOptions whole = opts("before_exit");
  whole.json = true;
  auto back = report_from_json(json::parse(dump(whole)));
  REQUIRE(back.ok());
  CHECK(back->snapshot_name == "before_exit");

  DumpOptions entries = opts("after_spawn", "scx_per_task", "tid");
  entries.json = true;
  json e = json::parse(dump(entries));
  REQUIRE(e.size() == 3);
  CHECK(e[1]["key"] == "102");
  CHECK(e[1]["value"]["value"] == 102);

  DumpOptions every = opts("", "", "nr_enqueued");
  every.json = true;
  json all = json::parse(dump(every));
  REQUIRE(all.size() == 2);
  CHECK(all[1]["snapshot"] == "before_exit");
  CHECK(all[1]["data"]["value"] == 5678);
}

TEST_CASE("render_value_text and render_map_text stand alone") {
  RenderedValue v = make_struct("pair", {{"a", make_uint(32, 1)}, {"b", make_uint(32, 0)}});
  CHECK(render_value_text(v, "p") == "p: {pair}\n  a = 1\n  (1 zero member hidden)\n");
  DumpOptions z;
  z.show_zero = true;
  CHECK(render_value_text(v, "p", z) == "p: {pair}\n  a = 1\n  b = 0\n");
  CHECK(render_value_text(make_uint(8, 0), "") == "value = 0\n");
  std::vector<RenderedValue> sparse(100, make_uint(32, 0));
  sparse[7] = make_uint(32, 9);
  CHECK(render_value_text(make_array(4096, sparse), "slots") ==
        "slots = [[7]=9, others zero (len 4096, 100 captured)]\n");
  Report r = fixture_report("degraded.json");
  std::string text = render_map_text(*r.find_map("scx_per_task"));
  CHECK(text.find("  [0] key = hex:65 00 00 00\n") != std::string::npos);
  NamedReport nr{"during_stall", r};
  std::string whole = render_report_text(nr);
  CHECK(whole.find("  degraded: vCPU rendezvous timed out") != std::string::npos);
  CHECK(whole.find("  vcpu1: <not parked>\n") != std::string::npos);
  NamedReport k{"k", fixture_report("ktstr_single.failure-dump.json")};
  CHECK(render_report_text(k).find("  other fields (see --json): per_cpu_time, "
                                   "prog_runtime_stats_unavailable\n") != std::string::npos);
}
