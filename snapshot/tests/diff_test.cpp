#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "snapshot/diff.h"
#include "snapshot/dump.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using namespace ktest::testing;
using nlohmann::json;

namespace {

NamedReport named(std::string name, Report r) { return NamedReport{std::move(name), std::move(r)}; }
NamedReport basic() { return named("after_spawn", fixture_report("scx_basic.json")); }
NamedReport later() { return named("before_exit", fixture_report("scx_later.json")); }

MapDump& map_of(Report& r, std::string_view name) {
  for (auto& m : r.maps)
    if (m.name == name) return m;
  FAIL("no map " << std::string(name));
  return r.maps.front();
}

RenderedValue& member(RenderedValue& s, std::string_view name) {
  for (auto& m : s.members)
    if (m.name == name) return m.value;
  FAIL("no member " << std::string(name));
  return s;
}

SnapshotDiff diff(const NamedReport& a, const NamedReport& b, const DiffOptions& o = {}) {
  auto d = diff_snapshots(a, b, o);
  REQUIRE_MESSAGE(d.ok(), (d.ok() ? "" : d.error().to_string()));
  return *d;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

const MapDiff* find(const SnapshotDiff& d, std::string_view name) {
  for (const auto& m : d.maps)
    if (m.name == name) return &m;
  return nullptr;
}

// The fixture's scx_per_task with key 1 gone, 103 added, 101's last_ran and weight changed.
NamedReport tasks_changed() {
  NamedReport nr = later();
  MapDump& tasks = map_of(nr.report, "scx_per_task");
  MapEntry added = tasks.entries[0];
  added.key = make_int(32, 103);
  added.key_hex = "67 00 00 00";
  member(*added.value, "tid") = make_int(32, 103);
  tasks.entries.erase(tasks.entries.begin() + 2);  // key 1
  tasks.entries.push_back(added);
  member(*tasks.entries[0].value, "last_ran") = make_uint(64, 7000);
  RenderedValue& ctx = *member(*tasks.entries[0].value, "ctx").detail().deref;
  member(member(ctx, "weight"), "value") = make_uint(64, 150);
  return nr;
}

}  // namespace

TEST_CASE("a snapshot compared with itself has no differences") {
  SnapshotDiff d = diff(basic(), basic());
  CHECK_FALSE(d.differs());
  CHECK(d.maps.empty());
  CHECK(d.hidden.same_maps == 6);  // every map but the hidden .rodata
  CHECK(d.hidden.constant_sections == std::vector<std::string>{"scx_simpl.rodata"});
  CHECK(d.hidden.constant_sections_differing.empty());
  std::string text = diff_text(d);
  CHECK(text ==
        "--- after_spawn (captured 2026-11-26T07:00:01Z)\n"
        "+++ after_spawn (captured 2026-11-26T07:00:01Z)\n"
        "hidden: 6 unchanged maps, 1 constant section (scx_simpl.rodata; same); --all shows them\n"
        "no differences\n");
  CHECK(diff_json(d)["differs"] == false);
}

TEST_CASE("changed variables carry their delta") {
  SnapshotDiff d = diff(basic(), later());
  CHECK(d.differs());
  REQUIRE(d.maps.size() == 1);
  const MapDiff& bss = d.maps[0];
  CHECK(bss.name == "scx_simpl.bss");
  CHECK(bss.variables);
  REQUIRE(bss.value.size() == 2);
  CHECK(bss.value[0].path == "nr_enqueued");
  CHECK(std::get<IntDelta>(*bss.value[0].delta).magnitude == 4444);
  std::string text = diff_text(d);
  CHECK(has_line(text, "~ map scx_simpl.bss (array, global variables)"));
  CHECK(has_line(text, "    nr_enqueued: 1234 → 5678 (+4444)"));
  CHECK(has_line(text, "    nr_dispatched: 1200 → 5644 (+4444)"));
  CHECK(has_line(text, "1 map differs"));

  // Backwards, the delta is negative; JSON gives the same result.
  SnapshotDiff back = diff(later(), basic());
  CHECK(has_line(diff_text(back), "    nr_enqueued: 5678 → 1234 (-4444)"));
  json j = diff_json(back);
  CHECK(j["differs"] == true);
  CHECK(j["maps"][0]["value"][0]["path"] == "nr_enqueued");
  CHECK(j["maps"][0]["value"][0]["delta"] == -4444);
  CHECK(j["maps"][0]["value"][0]["before"]["value"] == 5678);
  CHECK(j["hidden"]["same_maps"] == 5);
}

TEST_CASE("entries are matched by key: added, removed, changed") {
  SnapshotDiff d = diff(basic(), tasks_changed());
  const MapDiff* tasks = find(d, "scx_per_task");
  REQUIRE(tasks != nullptr);
  CHECK(tasks->counts.added == 1);
  CHECK(tasks->counts.removed == 1);
  CHECK(tasks->counts.changed == 1);
  CHECK(tasks->counts.same == 1);
  std::string text = diff_text(d);
  CHECK(has_line(text, "~ map scx_per_task (hash, entries 3 → 3: 1 added, 1 removed, 1 changed, 1 same)"));
  CHECK(has_line(text, "  ~ key 101"));
  CHECK(has_line(text, "      ctx.weight.value: 100 → 150 (+50)"));
  CHECK(has_line(text, "      last_ran: 5000 → 7000 (+2000)"));
  CHECK(text.find("  + key 103 = task_ctx{tid=103, ctx=0xffff888004a16500 -> sched_ctx{weight=") != std::string::npos);
  CHECK(text.find("  - key 1 = task_ctx{tid=1, ") != std::string::npos);
  CHECK(has_line(text, "hidden: 4 unchanged maps, 1 unchanged entry, 1 constant section (scx_simpl.rodata; same); --all shows them"));
  // The order: after's entries, then those only before had.
  REQUIRE(tasks->entries.size() == 3);
  CHECK(tasks->entries[0].key == "101");
  CHECK(tasks->entries[1].change == Change::Added);
  CHECK(tasks->entries[2].change == Change::Removed);
  CHECK(tasks->entries[2].key_hex == "01 00 00 00");

  DiffOptions all;
  all.show_unchanged = true;
  all.show_constants = true;
  std::string every = diff_text(diff(basic(), tasks_changed(), all));
  CHECK(has_line(every, "  = key 102"));
  CHECK(has_line(every, "= map scx_simpl.rodata (array, global variables)"));
  CHECK(has_line(every, "= map dsq_depth (array)"));
}

TEST_CASE("per-CPU values are compared per CPU, arrays per element") {
  NamedReport b = basic();
  MapDump& pc = map_of(b.report, "cpu_ctx_stor");
  member(*pc.percpu_entries[0].per_cpu[1], "nr_dispatched") = make_uint(64, 25);
  pc.percpu_entries[1].per_cpu[2] = pc.percpu_entries[1].per_cpu[0];  // was unreadable
  map_of(b.report, "dsq_depth").value->elements[2] = make_uint(32, 4);
  SnapshotDiff d = diff(basic(), b);
  std::string text = diff_text(d);
  CHECK(has_line(text, "~ map cpu_ctx_stor (percpu_array, entries 2 → 2: 0 added, 0 removed, 2 changed, 0 same)"));
  CHECK(has_line(text, "  ~ key 0"));
  CHECK(has_line(text, "      cpu1.nr_dispatched: 20 → 25 (+5)"));
  CHECK(has_line(text, "      cpu2: <unsupported: CPU slot not readable at capture> → cpu_ctx{nr_dispatched=1, "
                       "vtime_now=5, running=false}"));
  CHECK(has_line(text, "~ map dsq_depth (array)"));
  CHECK(has_line(text, "    [2]: 5 → 4 (-1)"));
  const MapDiff* m = find(d, "cpu_ctx_stor");
  REQUIRE(m != nullptr);
  CHECK(m->entries[0].fields[0].cpu == 1u);
  CHECK(m->entries[0].fields[0].path == "nr_dispatched");
}

TEST_CASE("kinds: floats have deltas; enums, bools, strings and pointers do not") {
  NamedReport b = later();
  RenderedValue& bss = *map_of(b.report, "scx_simpl.bss").value;
  member(bss, "load_avg") = make_float(64, 1.0);
  member(bss, "exit_kind") = make_enum(32, 1025, "SCX_EXIT_ERROR", false);
  RenderedValue name = make_array(16, {});
  for (char c : std::string("scx_lavd")) name.elements.push_back(make_char(static_cast<uint8_t>(c)));
  while (name.elements.size() < 16) name.elements.push_back(make_char(0));
  member(bss, "sched_name") = name;
  member(bss, "root_task").uint_value += 0x100;
  member(*map_of(b.report, "scx_simpl.data").value, "fifo_sched") = make_bool(true);
  std::string text = diff_text(diff(later(), b));
  CHECK(has_line(text, "    load_avg: 0.75 → 1 (+0.25)"));
  CHECK(has_line(text, "    exit_kind: SCX_EXIT_NONE (0) → SCX_EXIT_ERROR (1025)"));
  CHECK(has_line(text, "    sched_name: \"scx_simple\" → \"scx_lavd\""));
  // A moved pointer: its address, then what it points to, compared as usual.
  CHECK(has_line(text, "    root_task: 0xffff888004a16500 → 0xffff888004a16600"));
  CHECK(has_line(text, "    fifo_sched: false → true"));
  CHECK(has_line(text, "2 maps differ"));
}

TEST_CASE("variables and maps added or removed") {
  NamedReport b = later();
  RenderedValue& bss = *map_of(b.report, "scx_simpl.bss").value;
  bss.members.push_back({"nr_new", make_uint(32, 3)});
  bss.members.erase(std::find_if(bss.members.begin(), bss.members.end(),
                                 [](const RenderedMember& m) { return m.name == "nr_failed"; }));
  MapDump extra = map_of(b.report, "dsq_depth");
  extra.name = "dsq_depth2";
  b.report.maps.push_back(extra);
  b.report.maps.erase(b.report.maps.begin() + 1);  // scx_simpl.data
  std::string text = diff_text(diff(later(), b));
  CHECK(has_line(text, "  + nr_new = 3"));
  CHECK(has_line(text, "  - nr_failed = 0"));
  CHECK(has_line(text, "+ map dsq_depth2 (array)"));
  CHECK(has_line(text, "- map scx_simpl.data (array, global variables)"));
  CHECK(text.find("- map scx_simpl.data") > text.find("+ map dsq_depth2"));  // removed maps come last
}

TEST_CASE("entries without BTF compare their bytes, keys by key_hex") {
  NamedReport a = named("during_stall", fixture_report("degraded.json"));
  NamedReport b = a;
  MapDump& tasks = map_of(b.report, "scx_per_task");
  for (auto& e : tasks.entries) e.value.reset();
  tasks.entries[1].value_hex = "01 00 00 00 00 00 00 00";
  std::reverse(tasks.entries.begin(), tasks.entries.end());  // order does not matter
  SnapshotDiff d = diff(a, b);
  const MapDiff* m = find(d, "scx_per_task");
  REQUIRE(m != nullptr);
  CHECK(m->counts.changed == 1);
  CHECK(m->counts.same == 3);
  CHECK(has_line(diff_text(d), "  ~ key hex:66 00 00 00"));
  CHECK(has_line(diff_text(d), "      value: bytes(00 00 00 00 00 00 00 00) → bytes(01 00 00 00 00 00 00 00)"));
  CHECK(has_line(diff_text(d), "note: during_stall is a degraded capture: vCPU rendezvous timed out before parked "
                               "acknowledgement (timeout_ms=30000 parked=1 expected=2)"));
}

TEST_CASE("struct keys match by value, in any order, whatever the map's size") {
  // 16000 entries keyed by a struct; after holds them shuffled, with 3 changed.
  auto make = [](uint32_t seed) {
    Report r;
    MapDump m;
    m.name = "flows";
    m.map_type = kMapTypeHash;
    for (uint32_t i = 0; i < 16000; ++i) {
      MapEntry e;
      e.key = make_struct("flow_key", {{"src", make_uint(32, i)}, {"dst", make_uint(32, i * 7)}});
      e.key_hex = fmt::format("{:08x}", i);
      e.value = make_struct("flow", {{"packets", make_uint(64, i + (seed != 0 && i % 6000 == 1 ? 10 : 0))}});
      m.entries.push_back(std::move(e));
    }
    if (seed != 0) std::shuffle(m.entries.begin(), m.entries.end(), std::mt19937(seed));
    r.maps.push_back(std::move(m));
    return r;
  };
  NamedReport a = named("a", make(0)), b = named("b", make(42));
  DiffOptions o;
  o.max_entries = 2;
  SnapshotDiff d = diff(a, b, o);
  REQUIRE(d.maps.size() == 1);
  CHECK(d.maps[0].counts.changed == 3);
  CHECK(d.maps[0].counts.same == 15997);
  CHECK(d.maps[0].counts.not_listed == 1);
  REQUIRE(d.maps[0].entries.size() == 2);
  CHECK(d.maps[0].entries[0].key.rfind("flow_key{src=", 0) == 0);
  CHECK(d.maps[0].entries[0].fields[0].path == "packets");
  CHECK(has_line(diff_text(d), "  (1 more entry not listed; --max-entries 0 lists all)"));
  // Entries past the limit are counted, added ones too.
  NamedReport grown = b;
  for (int i = 0; i < 5; ++i) {
    MapEntry e = grown.report.maps[0].entries[0];
    e.key_hex = fmt::format("new{}", i);
    grown.report.maps[0].entries.push_back(e);
  }
  SnapshotDiff more = diff(a, grown, o);
  CHECK(more.maps[0].counts.added == 5);
  CHECK(more.maps[0].counts.not_listed == 6);
  CHECK(has_line(diff_text(more), "~ map flows (hash, entries 16000 → 16005: 5 added, 0 removed, 3 changed, 15997 same)"));
  // Without key_hex the rendered key is the identity.
  for (auto* nr : {&a, &b})
    for (auto& e : nr->report.maps[0].entries) e.key_hex.clear();
  CHECK(diff(a, b).maps[0].counts.changed == 3);
}

TEST_CASE("filters: --map, --var, --ignore, within") {
  NamedReport b = tasks_changed();
  DiffOptions maps;
  maps.maps = {"scx_per_task"};
  SnapshotDiff only = diff(basic(), b, maps);
  REQUIRE(only.maps.size() == 1);
  CHECK(only.maps[0].name == "scx_per_task");
  CHECK(only.hidden.same_maps == 0);  // unselected maps are not "hidden"

  DiffOptions vars;
  vars.vars = {"nr_enqueued"};
  SnapshotDiff v = diff(basic(), b, vars);
  REQUIRE(v.maps.size() == 1);
  REQUIRE(v.maps[0].value.size() == 1);
  CHECK(v.maps[0].value[0].path == "nr_enqueued");

  DiffOptions ignore;
  ignore.ignore = {"last_ran", "ctx.weight", "scx_simpl.bss"};
  SnapshotDiff ig = diff(basic(), b, ignore);
  const MapDiff* tasks = find(ig, "scx_per_task");
  REQUIRE(tasks != nullptr);
  CHECK(tasks->counts.changed == 0);  // 101 only differed in ignored fields
  CHECK(tasks->counts.same == 2);
  CHECK(find(ig, "scx_simpl.bss") == nullptr);
  CHECK(ig.hidden.ignored_fields == 2);
  CHECK(has_line(diff_text(ig), "ignored: 2 differing fields (--ignore)"));

  DiffOptions within;
  within.maps = {"scx_per_task"};
  within.within = "ctx";
  SnapshotDiff w = diff(basic(), b, within);
  REQUIRE(w.maps.size() == 1);
  REQUIRE(w.maps[0].entries[0].fields.size() == 1);
  CHECK(w.maps[0].entries[0].fields[0].path == "ctx.weight.value");
}

TEST_CASE("names neither snapshot has are errors that list the alternatives") {
  DiffOptions m;
  m.maps = {"scx_per_tsk"};
  auto r = diff_snapshots(basic(), later(), m);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("(did you mean 'scx_per_task'?)") != std::string::npos);
  DiffOptions v;
  v.vars = {"nr_enqeued.x"};
  auto rv = diff_snapshots(basic(), later(), v);
  REQUIRE_FALSE(rv.ok());
  CHECK(rv.error().message.rfind("no global variable 'nr_enqeued' in snapshot 'after_spawn' or 'before_exit'", 0) == 0);
  CHECK(rv.error().message.find("(did you mean 'nr_enqueued'?)") != std::string::npos);
}

TEST_CASE("constant sections are hidden, counted, and shown when asked") {
  NamedReport b = later();
  member(*map_of(b.report, "scx_simpl.rodata").value, "nr_cpu_ids") = make_uint(32, 8);
  SnapshotDiff d = diff(basic(), b);
  CHECK(find(d, "scx_simpl.rodata") == nullptr);
  CHECK(d.hidden.constant_sections_differing == std::vector<std::string>{"scx_simpl.rodata"});
  CHECK(has_line(diff_text(d), "hidden: 5 unchanged maps, 1 constant section (scx_simpl.rodata; 1 differs); "
                               "--all shows them"));
  DiffOptions shown;
  shown.show_constants = true;
  CHECK(has_line(diff_text(diff(basic(), b, shown)), "    nr_cpu_ids: 4 → 8 (+4)"));
  DiffOptions named_map;
  named_map.maps = {"rodata"};
  SnapshotDiff n = diff(basic(), b, named_map);
  REQUIRE(n.maps.size() == 1);
  CHECK(n.maps[0].constant);
  // Hidden, a differing constant does not make the snapshots differ.
  NamedReport c = basic();
  member(*map_of(c.report, "scx_simpl.rodata").value, "nr_cpu_ids") = make_uint(32, 8);
  CHECK_FALSE(diff(basic(), c).differs());
}

TEST_CASE("map state: type, error, ring buffer positions") {
  NamedReport a = named("k", fixture_report("ktstr_single.failure-dump.json"));
  RingbufDump ring;  // ktest's ring buffer state (ktstr's own stays unmodelled)
  ring.capacity = 4096;
  ring.producer_pos = 256;
  map_of(a.report, "events").ringbuf = ring;
  NamedReport b = a;
  MapDump& events = map_of(b.report, "events");
  events.ringbuf->producer_pos = 384;
  events.error = "ring buffer pages unreadable";
  std::string text = diff_text(diff(a, b));
  CHECK(has_line(text, "~ map events (ringbuf)"));
  CHECK(has_line(text, "    ringbuf.producer_pos: 256 → 384 (+128)"));
  CHECK(has_line(text, "  + error = \"ring buffer pages unreadable\""));
}

TEST_CASE("paths: canonical form and prefixes") {
  CHECK(canonical_path("slots.3.vtime") == "slots[3].vtime");
  CHECK(canonical_path("slots[3].vtime") == "slots[3].vtime");
  CHECK(canonical_path("3") == "[3]");
  CHECK(canonical_path("a[1][2].b") == "a[1][2].b");
  CHECK(path_within("ctx.weight.value", "ctx"));
  CHECK(path_within("slots[3]", "slots"));
  CHECK_FALSE(path_within("ctxx", "ctx"));
  CHECK(path_within("anything", ""));
}

TEST_CASE("dump --changed-since prints the diff to every other snapshot") {
  std::vector<NamedReport> reports = {basic(), later()};
  DumpOptions o;
  auto text = dump_changes(reports, reports[0], o);
  REQUIRE(text.ok());
  CHECK(text->rfind("--- after_spawn (captured 2026-11-26T07:00:01Z)\n+++ before_exit", 0) == 0);
  CHECK(has_line(*text, "    nr_enqueued: 1234 → 5678 (+4444)"));
  o.path = "nr_dispatched";
  o.json = true;
  auto j = dump_changes(reports, reports[0], o);
  REQUIRE(j.ok());
  json parsed = json::parse(*j);
  REQUIRE(parsed.size() == 1);
  CHECK(parsed[0]["snapshot"] == "before_exit");
  CHECK(parsed[0]["data"]["maps"][0]["value"].size() == 1);
  CHECK(parsed[0]["data"]["maps"][0]["value"][0]["delta"] == 4444);
  // With a map, the path keeps the fields at or below it.
  std::vector<NamedReport> tasks = {basic(), tasks_changed()};
  DumpOptions within;
  within.map = "scx_per_task";
  within.path = "ctx";
  auto w = dump_changes(tasks, tasks[0], within);
  REQUIRE(w.ok());
  CHECK(has_line(*w, "      ctx.weight.value: 100 → 150 (+50)"));
  CHECK(w->find("last_ran") == std::string::npos);
  CHECK(w->find("scx_simpl.bss") == std::string::npos);
  DumpOptions self;
  self.snapshot = "after_spawn";
  auto err = dump_changes(reports, reports[0], self);
  REQUIRE_FALSE(err.ok());
  CHECK(err.error().message == "--snapshot after_spawn is the snapshot --changed-since compares with");
  std::vector<NamedReport> one = {basic()};
  CHECK_FALSE(dump_changes(one, one[0], {}).ok());
}

TEST_CASE("value trees are compared kMaxDiffDepth levels deep; a deeper struct is one change, whole") {
  // The variable nr_enqueued made `levels` nested structs around its number.
  auto nested = [](uint64_t number, std::size_t levels) {
    NamedReport nr = basic();
    RenderedValue value = make_uint(64, number);
    for (std::size_t i = 0; i < levels; ++i) value = make_struct(std::nullopt, {RenderedMember{"m", std::move(value)}});
    member(*map_of(nr.report, "scx_simpl.bss").value, "nr_enqueued") = std::move(value);
    return nr;
  };
  auto change_of = [&](std::size_t levels) {
    SnapshotDiff d = diff(nested(1, levels), nested(2, levels));
    REQUIRE(d.maps.size() == 1);
    const FieldDiff* found = nullptr;
    for (const auto& c : d.maps[0].value)
      if (c.path.starts_with("nr_enqueued")) found = &c;
    REQUIRE(found != nullptr);
    return *found;
  };
  auto levels_in = [](const std::string& path) { return std::count(path.begin(), path.end(), '.'); };
  // The number sits at depth levels + 1 (nr_enqueued is depth 1).
  FieldDiff at = change_of(kMaxDiffDepth - 1);
  CHECK(levels_in(at.path) == static_cast<long>(kMaxDiffDepth - 1));
  REQUIRE(at.after.has_value());
  CHECK(at.after->kind == ValueKind::Uint);
  FieldDiff past = change_of(kMaxDiffDepth);
  CHECK(levels_in(past.path) == static_cast<long>(kMaxDiffDepth - 1));
  REQUIRE(past.after.has_value());
  CHECK(past.after->kind == ValueKind::Struct);
}
