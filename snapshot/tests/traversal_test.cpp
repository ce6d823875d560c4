#include <doctest/doctest.h>

#include "snapshot/snapshot.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using namespace ktest::testing;

namespace {

// The design's query: map("scx_per_task").find(tid == pid).
EntryPredicate tid_is(int64_t pid) {
  return [pid](const SnapshotEntry& e) -> Result<bool> {
    KTEST_ASSIGN(int64_t tid, e.get("tid").as_i64());
    return tid == pid;
  };
}

}  // namespace

TEST_CASE("var() reads globals from the .bss/.data/.rodata sections") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  CHECK(s.name() == "after_spawn");
  CHECK(s.var("nr_cpus_onln").as_u64().value() == 4);
  CHECK(s.var("nr_enqueued").as_u64().value() == 1234);
  CHECK(s.var("slice_ns").as_u64().value() == 20000000);
  CHECK(s.var("nr_cpu_ids").as_u64().value() == 4);
  CHECK(s.var("switch_partial").as_bool().value());
  CHECK(s.var("stats.nr_local").as_u64().value() == 7);
  CHECK(s.var("dsq_ids[1]").as_u64().value() == 1024);
  CHECK(s.var("dsq_ids.1").as_u64().value() == 1024);
  CHECK(s.var("min_vtime").as_i64().value() == -42);
  CHECK(s.var("load_avg").as_f64().value() == doctest::Approx(0.75));
  CHECK(s.var("sched_name").as_str().value() == "scx_simple");
  CHECK(s.var("uei_msg").as_str().value().empty());
  CHECK(s.var("idle_cpus").as_str().value() == "1,3");
  CHECK(s.var("exit_kind").as_str().value() == "SCX_EXIT_NONE");
  CHECK(s.var("exit_kind").as_i64().value() == 0);
  CHECK(s.var("root_task.tid").as_i64().value() == 101);  // pointer followed
  CHECK(s.var("root_task").as_u64().value() == 0xffff888004a10000ULL + 101 * 0x100);
  auto names = s.var_names();
  CHECK(std::find(names.begin(), names.end(), "nr_enqueued") != names.end());
  CHECK(s.vars("nr_enqueued").size() == 1);
}

TEST_CASE("128-bit values are exact through as_i128 and bounded elsewhere") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  auto big = s.var("total_weight");
  CHECK_FALSE(big.as_u64().ok());
  CHECK(error_text(big.as_u64()) ==
        "value at 'total_weight' is 340282366920938463463374607431768211455, which does not "
        "fit u64");
  CHECK_FALSE(big.as_i128().ok());
  CHECK(s.var("min_vtime").as_i128().value() == -42);
  CHECK(error_text(s.var("min_vtime").as_u64()) ==
        "value at 'min_vtime' is -42, which does not fit u64");
}

TEST_CASE("the design's find-by-tid query and dotted paths through pointers") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  auto m = s.map("scx_per_task");
  REQUIRE(m.ok());
  CHECK(m->size() == 3);
  CHECK(m->map_type() == kMapTypeHash);
  auto e = m->find(tid_is(102));
  REQUIRE(e.ok());
  CHECK(e->index() == 1);
  CHECK(e->key().as_i64().value() == 102);
  CHECK(e->key_text() == "102");
  CHECK(e->key_hex() == "66 00 00 00");
  CHECK(e->get("ctx.weight.value").as_u64().value() == 200);
  CHECK(e->get("comm").as_str().value() == "worker2");
  CHECK(e->get("cpus").as_str().value() == "0-3");
  CHECK(e->value().get("ctx").get("weight").member("value").as_u64().value() == 200);
  CHECK(m->find(tid_is(101))->get("ctx.weight.value").as_u64().value() == 100);
}

TEST_CASE("find/filter/max_by/min_by/at over entries") {
  auto m = fixture_snapshot("scx_basic.json").map("scx_per_task").value();
  auto workers = m.filter([](const SnapshotEntry& e) -> Result<bool> {
    KTEST_ASSIGN(std::string comm, e.get("comm").as_str());
    return comm.rfind("worker", 0) == 0;
  });
  REQUIRE(workers.ok());
  CHECK(workers->size() == 2);
  CHECK(m.max_by("last_ran")->get("tid").as_i64().value() == 102);
  CHECK(m.min_by("last_ran")->get("tid").as_i64().value() == 1);
  // Entry 2's ctx pointer was not followed: max_by skips it.
  CHECK(m.max_by("ctx.weight.value")->get("tid").as_i64().value() == 102);
  CHECK(m.min_by("ctx.weight.value")->get("tid").as_i64().value() == 101);
  CHECK(m.at(2)->get("tid").as_i64().value() == 1);
  CHECK_FALSE(m.at(3).ok());
  auto predicate_error = m.find([](const SnapshotEntry& e) -> Result<bool> {
    KTEST_ASSIGN(uint64_t w, e.get("ctx.wieght").as_u64());
    return w > 0;
  });
  REQUIRE_FALSE(predicate_error.ok());
  CHECK(predicate_error.error().message.rfind("no member 'wieght' in struct sched_ctx", 0) == 0);
  CHECK(m.sum_u64("last_ran").value() == 12000);
}

TEST_CASE("map() matches exact names and unique <obj>.<section> suffixes") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  CHECK(s.map("scx_simpl.bss")->name() == "scx_simpl.bss");
  CHECK(s.map("bss")->name() == "scx_simpl.bss");
  CHECK(s.map("bss")->get("nr_enqueued").as_u64().value() == 1234);
  CHECK(s.map("dsq_depth")->value().as_u32_array().value() == std::vector<uint32_t>{3, 0, 5, 0});
  CHECK(s.map("dsq_depth")->get("[2]").as_u64().value() == 5);
  CHECK(s.map("dsq_depth")->at(0)->key().as_u64().value() == 0);
  CHECK(s.map_names().size() == 7);
  CHECK(s.maps().size() == 7);
  CHECK_FALSE(s.map("scx_per_tsk").ok());
  // The kernel keeps 15 characters of a name: the source's longer name finds it.
  Report truncated;
  MapDump slots;
  slots.name = "loader_task_slo";
  truncated.maps.push_back(slots);
  Snapshot t(truncated);
  CHECK(t.map("loader_task_slot")->name() == "loader_task_slo");
  CHECK(t.map("loader_task_slo")->name() == "loader_task_slo");
  CHECK_FALSE(t.map("loader_task_sl").ok());
  auto ops = s.map("scx_simpl_ops");
  REQUIRE(ops.ok());
  CHECK(error_text(ops->at(0)) ==
        "map 'scx_simpl_ops' has no captured data: struct_ops map values are not rendered");
}

TEST_CASE("array accessors") {
  Snapshot s = fixture_snapshot("scx_basic.json");
  CHECK(s.var("dsq_ids").as_u64_array().value() ==
        std::vector<uint64_t>{0x8000000000000002ULL, 1024, 0, 0});
  CHECK(s.var("dsq_ids").as_f64_array().value().size() == 4);
  CHECK(error_text(s.var("dsq_ids").as_i64_array()) ==
        "value at 'dsq_ids[0]' is 9223372036854775810, which does not fit i64");
  CHECK(s.var("dsq_ids").as_u32_array().ok() == false);
  CHECK(s.var("stats.__pad").as_bool_array().value() == std::vector<bool>(8, false));
  CHECK(s.var("nr_cpus_onln").as_u64_array().ok() == false);
}

TEST_CASE("per-CPU maps: cpu(n), aggregates, unreadable slots") {
  auto m = fixture_snapshot("scx_basic.json").map("cpu_ctx_stor").value();
  CHECK(m.is_per_cpu());
  CHECK(m.nr_cpus() == 4);
  auto e0 = m.at(0).value();
  CHECK(e0.is_per_cpu());
  CHECK(e0.nr_cpus() == 4);
  CHECK(e0.key().as_u64().value() == 0);
  CHECK(e0.sum_u64("nr_dispatched").value() == 60);
  CHECK(e0.max_u64("vtime_now").value() == 3000);
  CHECK(e0.min_u64("vtime_now").value() == 0);
  CHECK(e0.sum_i64("nr_dispatched").value() == 60);
  CHECK(e0.max_i64("nr_dispatched").value() == 30);
  CHECK(e0.min_i64("nr_dispatched").value() == 0);
  CHECK(e0.cpu(2)->get("nr_dispatched").as_u64().value() == 30);
  CHECK(e0.per_cpu_values("running").size() == 4);
  auto e1 = m.at(1).value();
  CHECK(e1.sum_u64("nr_dispatched").value() == 7);  // CPU 2 unreadable, skipped
  CHECK(e1.per_cpu_values("nr_dispatched").size() == 3);
  CHECK(error_text(e1.cpu(2)->get("nr_dispatched").as_u64()) ==
        "CPU 2 slot of 'cpu_ctx_stor[1]' was not readable at capture");
  CHECK(m.sum_u64("nr_dispatched").value() == 67);
  CHECK(m.max_u64("vtime_now").value() == 3000);
  CHECK(m.min_u64("vtime_now").value() == 0);
  CHECK(m.sum_i64("nr_dispatched").value() == 67);
  CHECK(m.max_i64("nr_dispatched").value() == 30);
  CHECK(m.min_i64("nr_dispatched").value() == 0);
  auto cpu1 = m.cpu(1);
  REQUIRE(cpu1.ok());
  CHECK_FALSE(cpu1->is_per_cpu());
  CHECK(cpu1->selected_cpu() == std::optional<std::size_t>(1));
  CHECK(cpu1->at(0)->get("nr_dispatched").as_u64().value() == 20);
  CHECK(cpu1->max_by("nr_dispatched")->index() == 0);
  CHECK(cpu1->sum_u64("nr_dispatched").value() == 22);
  CHECK(m.cpu(4).ok() == false);
  CHECK(e0.cpu(9).ok() == false);
}

TEST_CASE("per-CPU aggregates saturate instead of wrapping") {
  Report r;
  MapDump m;
  m.name = "big";
  m.map_type = kMapTypePercpuArray;
  uint64_t max = std::numeric_limits<uint64_t>::max();
  m.percpu_entries.push_back(PercpuEntry{0, {make_uint(64, max), make_uint(64, 5)}});
  r.maps.push_back(m);
  Snapshot s(r);
  CHECK(s.map("big")->sum_u64().value() == max);
  CHECK(error_text(s.map("big")->sum_i64()) ==
        "value at '' is 18446744073709551615, which does not fit i64");
}

TEST_CASE("active() projects to the attached scheduler; vars() sees every copy") {
  Snapshot basic = fixture_snapshot("scx_basic.json");
  auto active = basic.active();
  REQUIRE(active.ok());
  CHECK(active->maps().size() == 7);
  CHECK(basic.live_var("nr_enqueued").as_u64().value() == 1234);

  Snapshot two = fixture_snapshot("two_schedulers.json");
  CHECK(two.vars("nr_enqueued").size() == 2);
  CHECK(two.vars("nr_enqueued")[1].as_u64().value() == 222);
  CHECK(two.var("nr_enqueued").error()->kind == SnapshotErrorKind::AmbiguousVar);
  CHECK(two.live_var("nr_enqueued").error()->kind == SnapshotErrorKind::NoActiveScheduler);
  CHECK(two.active().ok() == false);

  Report tagged = fixture_report("two_schedulers.json");
  tagged.active_obj_name = "scx_lavd";
  Snapshot lavd(tagged);
  CHECK(lavd.live_var("nr_enqueued").as_u64().value() == 222);
  auto projected = lavd.active();
  REQUIRE(projected.ok());
  CHECK(projected->map_names() ==
        std::vector<std::string>{"scx_lavd.bss", "scx_lavd.data", "lavd_task_ctx"});

  tagged.active_obj_name.reset();
  tagged.maps.erase(tagged.maps.begin(), tagged.maps.begin() + 2);  // only scx_lavd globals left
  CHECK(Snapshot(tagged).live_var("nr_enqueued").as_u64().value() == 222);
}

TEST_CASE("active() uses active_map_kvas to pick one of two same-name copies") {
  Report r = fixture_report("scx_basic.json");
  MapDump copy = r.maps[0];
  copy.map_kva = 0xffff888009990000ULL;
  copy.value->members[1].value = make_uint(64, 42);
  r.maps.push_back(copy);
  r.active_obj_name.reset();
  CHECK(Snapshot(r).live_var("nr_enqueued").error()->kind == SnapshotErrorKind::NoActiveScheduler);
  r.active_obj_name = "scx_simpl";
  r.active_map_kvas = {0xffff888009990000ULL, 0xffff888003c11000ULL};
  CHECK(Snapshot(r).live_var("nr_enqueued").as_u64().value() == 42);
}

TEST_CASE("degraded report: hex-only keys and values still traverse") {
  Snapshot s = fixture_snapshot("degraded.json");
  auto m = s.map("scx_per_task").value();
  auto e = m.at(0).value();
  CHECK_FALSE(e.key().ok());
  CHECK(e.key_text() == "hex:65 00 00 00");
  CHECK(e.get("ctx.weight.value").as_u64().value() == 100);
  CHECK(s.map("arena")->at(0).ok() == false);
}

TEST_CASE("walk_dotted_path: root, steps, bounded deref chains") {
  RenderedValue leaf = make_uint(32, 9);
  RenderedValue root = make_struct("s", {{"a", make_array(2, {leaf, leaf})}});
  auto r = walk_dotted_path(root, "");
  CHECK(std::get<const RenderedValue*>(r) == &root);
  CHECK(std::get<const RenderedValue*>(walk_dotted_path(root, "a[1]"))->uint_value == 9);
  CHECK(std::holds_alternative<SnapshotError>(walk_dotted_path(root, "a..b")));

  // A pointer chain longer than MAX_DEREF_CHAIN stops with an error.
  auto chain = std::make_shared<RenderedValue>(make_struct("t", {{"x", leaf}}));
  for (std::size_t i = 0; i < MAX_DEREF_CHAIN + 2; ++i) {
    chain = std::make_shared<RenderedValue>(make_ptr(0x1000 + i, chain));
  }
  RenderedValue holder = make_struct("h", {{"p", *chain}});
  auto deep = walk_dotted_path(holder, "p.x");
  REQUIRE(std::holds_alternative<SnapshotError>(deep));
  CHECK(std::get<SnapshotError>(deep).kind == SnapshotErrorKind::DerefChainTooLong);
  CHECK(follow_pointers(*chain) != chain.get());
}

TEST_CASE("anonymous struct members are visible from their parent") {
  RenderedValue v = make_struct("outer", {{"", make_struct(std::nullopt, {{"inner", make_int(32, 5)}})}});
  SnapshotField f(std::make_shared<RenderedValue>(v), nullptr, "");
  CHECK_FALSE(f.ok());
  auto owner = std::make_shared<const RenderedValue>(v);
  SnapshotField g(owner, owner.get(), "");
  CHECK(g.get("inner").as_i64().value() == 5);
  CHECK(g.member_names() == std::vector<std::string>{""});
  CHECK(g.kind() == std::optional<ValueKind>(ValueKind::Struct));
}

TEST_CASE("JsonField shares the vocabulary over plain JSON") {
  auto root = std::make_shared<const nlohmann::json>(nlohmann::json::parse(R"({
    "nr_dispatched": 12, "ratio": 0.5, "enabled": true, "name": "simple",
    "cpus": [{"busy": 3}, {"busy": 4}], "ids": [1, 2, 3], "neg": -4, "flags": [true, false]})"));
  JsonField j(root);
  CHECK(j.get("nr_dispatched").as_u64().value() == 12);
  CHECK(j.get("ratio").as_f64().value() == 0.5);
  CHECK(j.get("enabled").as_bool().value());
  CHECK(j.get("name").as_str().value() == "simple");
  CHECK(j.get("cpus.1.busy").as_i64().value() == 4);
  CHECK(j.member("cpus").index(0).member("busy").as_u64().value() == 3);
  CHECK(j.get("ids").as_u64_array().value() == std::vector<uint64_t>{1, 2, 3});
  CHECK(j.get("ids").as_u32_array().value().size() == 3);
  CHECK(j.get("ids").as_i64_array().value().size() == 3);
  CHECK(j.get("ids").as_f64_array().value().size() == 3);
  CHECK(j.get("flags").as_bool_array().value() == std::vector<bool>{true, false});
  CHECK(j.get("neg").as_i64().value() == -4);
  CHECK(error_text(j.get("neg").as_u64()) == "value at 'neg' is -4, which does not fit u64");
  CHECK(error_text(j.get("nr_dispached").as_u64()).rfind(
            "no member 'nr_dispached' in struct JSON object at 'nr_dispached'; available: ", 0) == 0);
  CHECK(error_text(j.get("cpus.7").as_u64()) ==
        "index 7 out of range at 'cpus[7]': array has 2 elements");
  CHECK(error_text(j.get("name").as_u64()) ==
        "value at 'name' is string \"simple\", not an unsigned integer");
  CHECK(error_text(j.get("a..b").as_u64()) == "empty component #2 in path 'a..b'");
  CHECK(j.get("ids").raw().value()->size() == 3);
}
