// Golden texts of every SnapshotError variant, produced by real traversals
// of the fixtures wherever one can trigger the variant.
#include <doctest/doctest.h>

#include "snapshot/bridge.h"
#include "snapshot/snapshot.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using namespace ktest::testing;

namespace {

std::string field_error(const SnapshotField& f) {
  REQUIRE_FALSE(f.ok());
  return f.error()->to_string();
}

EntryPredicate never() {
  return [](const SnapshotEntry&) -> Result<bool> { return false; };
}

}  // namespace

TEST_CASE("the constants are part of the contract") {
  CHECK(NO_MATCH_KEY_SAMPLE == 3);
  CHECK(NO_MATCH_KEY_CHAR_CAP == 80);
  CHECK(HEX_KEY_PREFIX == "hex:");
}

TEST_CASE("MissingMember names the component, the struct and the alternatives") {
  auto e = fixture_snapshot("scx_basic.json").map("scx_per_task")->at(0)->get("ctx.wieght");
  CHECK(field_error(e) ==
        "no member 'wieght' in struct sched_ctx at 'ctx.wieght'; available: weight, slice, dsq "
        "(did you mean 'weight'?)");
  CHECK(e.error()->kind == SnapshotErrorKind::MissingMember);
  CHECK(e.error()->available == std::vector<std::string>{"weight", "slice", "dsq"});
  CHECK(field_error(fixture_snapshot("scx_basic.json").var("stats.zzz")) ==
        "no member 'zzz' in struct scx_stats at 'stats.zzz'; available: nr_local, nr_global, "
        "__pad");
  // Errors surface unchanged through terminal accessors as ktest::Error.
  auto r = e.as_u64();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == e.error()->message);
}

TEST_CASE("NotAStruct / NotAnArray / IndexOutOfRange / EmptyPathComponent") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  CHECK(field_error(s.var("nr_enqueued.low")) ==
        "cannot take member 'low' at 'nr_enqueued.low': value is uint, not a struct");
  CHECK(field_error(s.var("nr_enqueued[0]")) ==
        "cannot index '0' at 'nr_enqueued[0]': value is uint, not an array");
  CHECK(field_error(s.var("dsq_ids[9]")) ==
        "index 9 out of range at 'dsq_ids[9]': array has 4 elements");
  CHECK(SnapshotError::index_out_of_range(3, "a[3]", 1, 5000).to_string() ==
        "index 3 out of range at 'a[3]': array has 1 elements rendered of 5000 declared "
        "(hint: the capture keeps at most the first 4096 elements of an array)");
  CHECK(field_error(s.var("stats..nr_local")) ==
        "empty component #2 in path 'stats..nr_local' (hint: separate components with single "
        "dots, e.g. 'ctx.weight.value')");
  CHECK(field_error(s.map("scx_per_task")->at(0)->get("ctx.")) ==
        "empty component #2 in path 'ctx.' (hint: separate components with single dots, e.g. "
        "'ctx.weight.value')");
}

TEST_CASE("PointerNotFollowed and DerefChainTooLong") {
  auto e = fixture_snapshot("scx_basic.json").map("scx_per_task")->at(2)->get("ctx.weight");
  CHECK(field_error(e) ==
        "pointer at 'ctx.weight' (0xffff888004a10100) was not dereferenced at capture: "
        "cross-page read failed");
  CHECK(SnapshotError::pointer_not_followed("p.x", 0, "").message ==
        "pointer at 'p.x' (0x0) was not dereferenced at capture: null pointer");
  CHECK(SnapshotError::deref_chain_too_long("p.x").message ==
        "more than 16 pointer dereferences in a row at 'p.x'");
}

TEST_CASE("ValueUnavailable / TypeMismatch / OutOfRange") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  CHECK(error_text(s.var("stats").as_u64()) ==
        "value at 'stats' is struct scx_stats{nr_local=7, nr_global=0, __pad=[0, 0, 0, 0, 0, 0, "
        "0, 0]}, not an unsigned integer");
  CHECK(error_text(s.var("nr_enqueued").as_str()) ==
        "value at 'nr_enqueued' is uint 1234, not a string (enum variant, char array or cpu list)");
  CHECK(error_text(s.var("load_avg").as_bool()) ==
        "value at 'load_avg' is float 0.75, not a boolean");
  RenderedValue t = make_truncated(8, 2, make_bytes("01 02"));
  auto owner = std::make_shared<const RenderedValue>(t);
  CHECK(error_text(SnapshotField(owner, owner.get(), "x").as_u64()) ==
        "value at 'x' is unavailable: truncated at capture (needed 8 bytes, had 2)");
  auto unsup = std::make_shared<const RenderedValue>(make_unsupported("BTF_KIND_FUNC"));
  CHECK(error_text(SnapshotField(unsup, unsup.get(), "f").as_i64()) ==
        "value at 'f' is unavailable: not decodable at capture: BTF_KIND_FUNC");
  CHECK(error_text(s.var("total_weight").as_i64()) ==
        "value at 'total_weight' is 340282366920938463463374607431768211455, which does not "
        "fit i64");
  auto degraded = fixture_snapshot("degraded.json").map("scx_per_task")->at(0);
  CHECK(field_error(degraded->key()) ==
        "value at 'scx_per_task[0].key' is unavailable: the key had no BTF type at capture; raw "
        "bytes: hex:65 00 00 00");
}

TEST_CASE("NoSuchMap / AmbiguousMap / NoSuchVar / AmbiguousVar / NoActiveScheduler") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  CHECK(error_text(s.map("scx_per_tsk")) ==
        "no map 'scx_per_tsk' in snapshot 'after_spawn'; available: scx_simpl.bss, "
        "scx_simpl.data, scx_simpl.rodata, scx_per_task, cpu_ctx_stor, dsq_depth, scx_simpl_ops "
        "(did you mean 'scx_per_task'?)");
  Snapshot two = fixture_snapshot("two_schedulers.json");
  CHECK(two.map("bss").error().to_string() ==
        "map name 'bss' is ambiguous; matches: scx_simpl.bss (kva 0xffff888003c10000), "
        "scx_lavd.bss (kva 0xffff888003d10000) (hint: use the full map name)");
  CHECK(field_error(s.var("nr_enqeued")).rfind(
            "no global variable 'nr_enqeued' in snapshot 'after_spawn'; available: ", 0) == 0);
  CHECK(field_error(s.var("nr_enqeued")).find("(did you mean 'nr_enqueued'?)") != std::string::npos);
  CHECK(field_error(two.var("nr_enqueued")) ==
        "global variable 'nr_enqueued' exists in several BPF objects: scx_simpl.bss (kva "
        "0xffff888003c10000), scx_lavd.bss (kva 0xffff888003d10000) (hint: use live_var() for "
        "the attached scheduler's copy, or vars() for every copy)");
  CHECK(field_error(two.live_var("nr_enqueued")) ==
        "cannot tell which scheduler is active: the report names no active_obj_name and several "
        "BPF objects have globals; observed objects: scx_lavd, scx_simpl (hint: use vars() to "
        "see every copy)");
  CHECK(error_text(Snapshot(Report{}).active()) ==
        "cannot tell which scheduler is active: the report has no global-section maps "
        "(.bss/.data/.rodata); observed objects: (none)");
}

TEST_CASE("NoMatch samples NO_MATCH_KEY_SAMPLE keys, cuts them, and hints at BTF for hex keys") {
  auto m = fixture_snapshot("scx_basic.json").map("scx_per_task").value();
  CHECK(m.find(never()).error().to_string() ==
        "no entry of map 'scx_per_task' matched the predicate (3 entries); sampled keys: 101, "
        "102, 1");

  auto hex = fixture_snapshot("degraded.json").map("scx_per_task").value();
  auto e = hex.find(never());
  CHECK(e.error().message ==
        "no entry of map 'scx_per_task' matched the predicate (4 entries); sampled keys: hex:65 "
        "00 00 00, hex:66 00 00 00, hex:67 00 00 00 (+1 more)");
  CHECK(e.error().hint ==
        "keys shown as 'hex:' had no BTF at capture; build the guest kernel with "
        "CONFIG_DEBUG_INFO_BTF=y and load the scheduler with its BTF");

  // Wide struct keys are cut at NO_MATCH_KEY_CHAR_CAP characters with "…".
  std::string wide(200, 'k');
  auto ne = SnapshotError::no_match("m", "the predicate", 5, {wide, "hex:00", "b", "c"});
  CHECK(ne.available.size() == 3);
  CHECK(ne.available[0] == std::string(80, 'k') + "…");
  CHECK(ne.hint.empty());  // not every sampled key is hex
  CHECK(cut_key_text(std::string(80, 'x')) == std::string(80, 'x'));
  CHECK(cut_key_text("é" + std::string(80, 'x')) == "é" + std::string(79, 'x') + "…");
  CHECK(SnapshotError::no_match("m", "the predicate", 0, {}).message ==
        "no entry of map 'm' matched the predicate (0 entries)");
  CHECK(m.max_by("nope").error().message.rfind(
            "no entry of map 'scx_per_task' matched a numeric value at 'nope' (3 entries)", 0) == 0);
}

TEST_CASE("EntryOutOfRange / NotPerCpu / CpuOutOfRange / PerCpuNeedsCpu / MapUnavailable") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  CHECK(error_text(s.map("scx_per_task")->at(7)) ==
        "entry 7 out of range in map 'scx_per_task': it has 3 entries");
  CHECK(error_text(s.map("scx_per_task")->cpu(0)) == "map 'scx_per_task' (hash) has no per-CPU values");
  CHECK(error_text(s.map("cpu_ctx_stor")->cpu(4)) ==
        "CPU 4 out of range for 'cpu_ctx_stor': 4 CPU slots captured");
  CHECK(field_error(s.map("cpu_ctx_stor")->at(0)->get("vtime_now")) ==
        "'cpu_ctx_stor[0]' holds one value per CPU (4 CPUs) (hint: select one with cpu(N), or "
        "aggregate with sum/max/min)");
  CHECK(error_text(s.map("cpu_ctx_stor")->max_by("vtime_now")) ==
        "'cpu_ctx_stor' holds one value per CPU (4 CPUs)");
  CHECK(error_text(fixture_snapshot("degraded.json").map("arena")->find(never())) ==
        "map 'arena' has no captured data: arena pages unreadable: page table walk failed at "
        "0x100000000");
}

TEST_CASE("NoSuchSnapshot and the error kind names") {
  SnapshotBridge bridge{64};
  bridge.insert("after_spawn", Report{});
  CHECK(bridge.get("after_spwan").error().to_string() ==
        "no snapshot 'after_spwan'; available: after_spawn (did you mean 'after_spawn'?) (hint: "
        "snapshots are named by the CaptureSnapshot step)");
  CHECK(std::string(snapshot_error_kind_name(SnapshotErrorKind::NoMatch)) == "NoMatch");
  CHECK(std::string(snapshot_error_kind_name(SnapshotErrorKind::NoSuchSnapshot)) == "NoSuchSnapshot");
  CHECK(SnapshotError::missing_member("x", "x", "", {}).message ==
        "no member 'x' in anonymous struct at 'x'; available: (none)");
  std::vector<std::string> many;
  for (int i = 0; i < 20; ++i) many.push_back("m" + std::to_string(i));
  CHECK(SnapshotError::no_such_map("q", "s", many).message.find("m11 (+8 more)") != std::string::npos);
}
