// The report's sched_ext section: JSON, the value tree, the dump text.
#include <doctest/doctest.h>

#include "snapshot/dump.h"
#include "snapshot/scx_state.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using namespace ktest::testing;
using nlohmann::json;

namespace {

constexpr uint64_t kGlobal = (1ull << 63) | 1;
constexpr uint64_t kLocal = (1ull << 63) | 2;

ScxState stalled_state() {
  ScxState s;
  s.state = "enabled";
  s.state_value = 1;
  s.ops = ScxState::Ops{"stall", 0x4, 3000};
  ScxExit e;
  e.kind = "SCX_EXIT_ERROR_STALL";
  e.kind_value = 1026;
  e.exit_code = -1;
  e.reason = "runnable task stall";
  e.msg = "stress[187] failed to run for 3.004s";
  e.backtrace = {"scx_watchdog_workfn+0x150/0x1e0", "process_one_work+0x17e/0x330"};
  e.dump = "Debug dump triggered by error\n\nCPU 1   : nr_run=2\n\tcurr=stress[187]\n";
  s.exit = e;
  s.watchdog_timeout_ms = 3000;
  s.bypass_depth = 0;
  s.hz = 250;
  s.jiffies = 4295012345;
  s.cpus = {{0, 1, 0, 0, 0, "", false}, {1, 2, 1, 0x10, 187, "stress", true}};
  s.dsqs = {{kGlobal, "global", -1, 0, 0}, {kLocal, "local", 0, -1, 0}, {kLocal, "local", 1, -1, 1},
            {0x4b54, "user", -1, -1, 3}};
  for (int i = 0; i < 12; ++i) {
    ScxTask t;
    t.pid = 200 + i;
    t.comm = i == 0 ? "stress" : "w\x1b[31m";
    t.cpu = 1;
    if (i != 2) t.dsq_id = 0x4b54;
    t.runnable_at = 4295011594 + i;
    t.wait_ms = 3004 - i;
    s.runnable.push_back(t);
  }
  s.longest_wait_ms = 3004;
  s.errors = {"bypass_dsq: no per-CPU offset for cpu 3"};
  return s;
}

const RenderedMember* member(const RenderedValue& v, const std::string& name) {
  for (const auto& m : v.members)
    if (m.name == name) return &m;
  return nullptr;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

std::string read_error(const json& j) {
  auto r = scx_from_json(j);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

}  // namespace

TEST_CASE("scx JSON round trips every field") {
  ScxState s = stalled_state();
  json j = scx_to_json(s);
  CHECK(j["state"] == "enabled");
  CHECK(j["exit"]["kind"] == "SCX_EXIT_ERROR_STALL");
  CHECK(j["dsqs"][0]["id"] == kGlobal);
  CHECK_FALSE(j["runnable"][2].contains("dsq_id"));
  auto back = scx_from_json(j);
  REQUIRE_MESSAGE(back.ok(), error_text(back));
  CHECK(scx_to_json(*back) == j);
  CHECK(back->runnable[2].dsq_id == std::nullopt);
  CHECK(back->runnable[0].dsq_id == 0x4b54u);
  CHECK(back->dsqs[1].cpu == 0);
  CHECK(back->exit->exit_code == -1);
  // Through the text form too (u64 ids above 2^63 survive).
  auto reparsed = scx_from_json(json::parse(j.dump()));
  REQUIRE(reparsed.ok());
  CHECK(reparsed->dsqs[0].id == kGlobal);
}

TEST_CASE("scx JSON: absent keys default, unknown keys are ignored") {
  auto r = scx_from_json(json{{"state", "disabled"}, {"future_field", {1, 2}}, {"dsqs", {json::object()}}});
  REQUIRE_MESSAGE(r.ok(), error_text(r));
  CHECK(r->state == "disabled");
  CHECK_FALSE(r->ops);
  CHECK_FALSE(r->exit);
  CHECK(r->cpus.empty());
  REQUIRE(r->dsqs.size() == 1);
  CHECK(r->dsqs[0].cpu == -1);
  CHECK(r->dsqs[0].node == -1);
  auto nulls = scx_from_json(json{{"ops", nullptr}, {"exit", nullptr}});
  REQUIRE(nulls.ok());
  CHECK_FALSE(nulls->exit);
}

TEST_CASE("scx JSON: malformed input names the JSON path") {
  CHECK(read_error(json::array()) == "scx: expected an object, got array");
  CHECK(read_error(json{{"state", 1}}) == "scx.state: expected a string, got number");
  json j = scx_to_json(stalled_state());
  j["cpus"][1]["nr_running"] = "many";
  CHECK(read_error(j) == "scx.cpus[1].nr_running: expected a decimal integer, got \"many\"");
  j = scx_to_json(stalled_state());
  j["exit"]["backtrace"][1] = 7;
  CHECK(read_error(j) == "scx.exit.backtrace[1]: expected a string, got number");
  j = scx_to_json(stalled_state());
  j["runnable"][3]["pid"] = 1ll << 40;
  CHECK(read_error(j) == "scx.runnable[3].pid: 1099511627776 does not fit a signed 32-bit integer");
  j = scx_to_json(stalled_state());
  j["dsqs"][0]["id"] = -1;
  CHECK(read_error(j) == "scx.dsqs[0].id: expected an unsigned integer, got -1");
  j = scx_to_json(stalled_state());
  j["exit"] = "SCX_EXIT_ERROR";
  CHECK(read_error(j) == "scx.exit: expected an object, got string");
  CHECK(read_error(json{{"runnable", {1}}}) == "scx.runnable[0]: expected an object, got number");
  CHECK(read_error(json{{"cpus", json::array()}, {"dsqs", 3}}) == "scx.dsqs: expected an array, got number");
  auto custom = scx_from_json(json{{"hz", true}}, "late.scx");
  REQUIRE_FALSE(custom.ok());
  CHECK(custom.error().message == "late.scx.hz: expected an integer, got boolean");
}

TEST_CASE("scx JSON: sizes are bounded") {
  json cpus = json::array();
  for (int i = 0; i < 8193; ++i) cpus.push_back(json::object());
  CHECK(read_error(json{{"cpus", cpus}}) == "scx.cpus: 8193 elements, more than the 8192 allowed");
  CHECK(read_error(json{{"ops", {{"name", std::string(5000, 'x')}}}}) ==
        "scx.ops.name: 5000 bytes, more than the 4096 allowed");
}

TEST_CASE("a report carries scx only when it was captured") {
  Report r;
  r.snapshot_name = "late";
  json plain = report_to_json(r);
  CHECK_FALSE(plain.contains("scx"));
  auto back = report_from_json(plain);
  REQUIRE(back.ok());
  CHECK_FALSE(back->scx);
  CHECK_FALSE(back->extra.contains("scx"));

  r.scx = stalled_state();
  json with = report_to_json(r);
  REQUIRE(with.contains("scx"));
  auto again = parse_report(with.dump());
  REQUIRE_MESSAGE(again.ok(), error_text(again));
  REQUIRE(again->scx);
  CHECK(scx_to_json(*again->scx) == scx_to_json(*r.scx));
  CHECK(again->extra.empty());
  CHECK(report_to_json(*again) == with);

  with["scx"]["cpus"][0]["cpu"] = "zero";
  auto bad = report_from_json(with);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "scx.cpus[0].cpu: expected a decimal integer, got \"zero\"");
  with["scx"] = nullptr;
  auto null_scx = report_from_json(with);
  REQUIRE(null_scx.ok());
  CHECK_FALSE(null_scx->scx);
}

TEST_CASE("ktstr reports load unchanged (no scx)") {
  Report r = fixture_report("scx_basic.json");
  CHECK_FALSE(r.scx);
  CHECK_FALSE(report_to_json(r).contains("scx"));
}

TEST_CASE("the scx value tree has the JSON's member names") {
  ScxState s = stalled_state();
  RenderedValue v = scx_to_rendered(s);
  REQUIRE(v.kind == ValueKind::Struct);
  CHECK(v.type_name == std::string(kScxTypeName));
  std::vector<std::string> names;
  for (const auto& m : v.members) names.push_back(m.name);
  std::vector<std::string> keys;
  const json j = scx_to_json(s);
  for (const auto& [k, _] : j.items()) keys.push_back(k);
  std::sort(names.begin(), names.end());
  CHECK(names == keys);  // nlohmann objects iterate sorted

  const RenderedValue& state = member(v, "state")->value;
  CHECK(state.kind == ValueKind::Enum);
  CHECK(state.variant == "enabled");
  CHECK(state.int_value == 1);
  const RenderedValue& kind = member(member(v, "exit")->value, "kind")->value;
  CHECK(kind.kind == ValueKind::Enum);
  CHECK(kind.variant == "SCX_EXIT_ERROR_STALL");
  CHECK(kind.int_value == 1026);
  const RenderedValue& msg = member(member(v, "exit")->value, "msg")->value;
  CHECK(msg.kind == ValueKind::Array);
  CHECK(msg.text == s.exit->msg);
  CHECK(msg.len == s.exit->msg.size());
  CHECK(msg.elements.size() == s.exit->msg.size());
  CHECK(msg.elements[0] == make_char('s'));
  const RenderedValue& runnable = member(v, "runnable")->value;
  CHECK(runnable.len == 12);
  CHECK(member(runnable.elements[0], "dsq_id") != nullptr);
  CHECK(member(runnable.elements[2], "dsq_id") == nullptr);

  ScxState bare;
  RenderedValue b = scx_to_rendered(bare);
  CHECK(member(b, "ops") == nullptr);
  CHECK(member(b, "exit") == nullptr);
  CHECK(member(b, "state")->value.variant == std::nullopt);
  CHECK(render_value_inline(member(b, "errors")->value) == "[]");

  // Long strings keep their whole text; elements are capped like BTF arrays.
  s.exit->dump = std::string(10000, 'd');
  RenderedValue big = scx_to_rendered(s);
  const RenderedValue& dump = member(member(big, "exit")->value, "dump")->value;
  CHECK(dump.len == 10000);
  CHECK(dump.elements.size() == 4096);
  CHECK(dump.text->size() == 10000);
}

TEST_CASE("Snapshot::scx walks the tree; a report without scx says why") {
  Report r;
  r.snapshot_name = "late";
  r.scx = stalled_state();
  Snapshot snap(r);
  SnapshotField f = snap.scx();
  REQUIRE(f.ok());
  CHECK(f.path() == "scx");
  CHECK(f.get("state").as_str().value() == "enabled");
  CHECK(f.get("state").as_i64().value() == 1);
  CHECK(f.get("exit.kind").as_str().value() == "SCX_EXIT_ERROR_STALL");
  CHECK(f.get("exit.msg").as_str().value() == "stress[187] failed to run for 3.004s");
  CHECK(f.get("dsqs.3.nr").as_u64().value() == 3);
  CHECK(f.get("ops.name").render() == "\"stall\"");
  // The field owns the tree: it outlives every Snapshot copy.
  SnapshotField kept = Snapshot(r).scx().get("cpus.1.curr_comm");
  CHECK(kept.as_str().value() == "stress");
  // Copies share one tree.
  Snapshot copy = snap;
  CHECK(copy.scx().raw().value() == f.raw().value());

  SnapshotField missing = f.get("exit.kinds");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error()->message.rfind("no member 'kinds' in struct scx_exit at 'scx.exit.kinds'", 0) == 0);

  Report old;
  old.snapshot_name = "before";
  SnapshotField none = Snapshot(old).scx();
  REQUIRE_FALSE(none.ok());
  CHECK(none.error()->kind == SnapshotErrorKind::NoScxState);
  CHECK(none.error()->message ==
        "snapshot 'before' has no sched_ext state: captured by an older ktest, or the guest kernel has "
        "no sched_ext");
  CHECK(std::string(snapshot_error_kind_name(SnapshotErrorKind::NoScxState)) == "NoScxState");
}

TEST_CASE("scx_to_text: header, tables, ten longest waits, exit and dump verbatim") {
  std::string t = scx_to_text(stalled_state());
  CHECK(t.rfind("sched_ext: enabled, scheduler stall (flags 0x4, timeout 3000 ms)\n", 0) == 0);
  CHECK(has_line(t, "  watchdog timeout 3000 ms, longest wait 3004 ms, bypass depth 0, jiffies 4295012345 (HZ 250)"));
  CHECK(has_line(t, "    cpu  nr_running  local_dsq  flags       curr"));
  CHECK(has_line(t, "      0           1          0  0x0         idle"));
  CHECK(has_line(t, "      1           2          1  0x10        187 stress (scx)"));
  CHECK(has_line(t, "    global node 0     id 0x8000000000000001        nr 0"));
  CHECK(has_line(t, "    local cpu 1       id 0x8000000000000002        nr 1"));
  CHECK(t.find("local cpu 0") == std::string::npos);
  CHECK(has_line(t, "    (1 empty local/bypass DSQ hidden)"));
  CHECK(has_line(t, "    user              id 0x4b54 (19284)            nr 3"));
  CHECK(has_line(t, "  runnable: 12 tasks, longest wait first"));
  CHECK(has_line(t, "    pid 200     stress           cpu 1   dsq 0x4b54             waited 3004 ms"));
  CHECK(has_line(t, "    pid 202     w\\x1b[31m        cpu 1   dsq none               waited 3002 ms"));
  CHECK(t.find("pid 209") != std::string::npos);
  CHECK(t.find("pid 210") == std::string::npos);
  CHECK(has_line(t, "    (+2 more; see --json)"));
  CHECK(has_line(t, "  exit: SCX_EXIT_ERROR_STALL (1026), exit code -1"));
  CHECK(has_line(t, "    reason: runnable task stall"));
  CHECK(has_line(t, "      stress[187] failed to run for 3.004s"));
  CHECK(has_line(t, "      scx_watchdog_workfn+0x150/0x1e0"));
  CHECK(t.find("    dump:\n      Debug dump triggered by error\n\n      CPU 1   : nr_run=2\n"
               "      \tcurr=stress[187]\n") != std::string::npos);
  CHECK(has_line(t, "  not read: bypass_dsq: no per-CPU offset for cpu 3"));
  CHECK(t.find('\x1b') == std::string::npos);

  ScxState idle;
  idle.state = "disabled";
  std::string i = scx_to_text(idle);
  CHECK(i.rfind("sched_ext: disabled, no scheduler attached\n", 0) == 0);
  CHECK(has_line(i, "  runnable: none"));
  CHECK(i.find("exit:") == std::string::npos);
}

TEST_CASE("snapshot dump shows scx in text and JSON") {
  Report r = fixture_report("scx_basic.json");
  r.scx = stalled_state();
  std::vector<NamedReport> reports = {{"late", r}};
  DumpOptions o;
  auto text = dump_reports(reports, o);
  REQUIRE_MESSAGE(text.ok(), error_text(text));
  std::size_t scx_at = text->find("\nsched_ext: enabled, scheduler stall");
  REQUIRE(scx_at != std::string::npos);
  CHECK(scx_at < text->find("\nmap "));

  o.json = true;
  auto j = dump_reports(reports, o);
  REQUIRE(j.ok());
  CHECK(json::parse(*j)[0]["data"]["scx"]["exit"]["kind"] == "SCX_EXIT_ERROR_STALL");

  o.snapshot = "late";
  o.path = "scx.exit.kind";
  auto kind = dump_reports(reports, o);
  REQUIRE_MESSAGE(kind.ok(), error_text(kind));
  CHECK(json::parse(*kind)["variant"] == "SCX_EXIT_ERROR_STALL");
  o.path = "scx";
  auto whole = dump_reports(reports, o);
  REQUIRE(whole.ok());
  CHECK(json::parse(*whole)["hz"] == 250);
  o.json = false;
  auto whole_text = dump_reports(reports, o);
  REQUIRE(whole_text.ok());
  CHECK(whole_text->rfind("snapshot late\nsched_ext: enabled", 0) == 0);
  o.path = "scx.ops.name";
  auto name = dump_reports(reports, o);
  REQUIRE(name.ok());
  CHECK(*name == "snapshot late\nscx.ops.name = \"stall\"\n");

  std::vector<NamedReport> old = {{"early", fixture_report("scx_basic.json")}};
  o.snapshot = "early";
  auto none = dump_reports(old, o);
  REQUIRE_FALSE(none.ok());
  CHECK_MESSAGE(none.error().message.find("has no sched_ext state") != std::string::npos, none.error().to_string());
}

TEST_CASE("scx JSON: every leaf replaced by every JSON type reads or fails cleanly") {
  const json good = scx_to_json(stalled_state());
  const json replacements[] = {nullptr, "x", -1, 1.5, json::array(), json::object(), true, 1e30,
                               "18446744073709551616"};
  std::size_t parsed = 0, rejected = 0;
  const json flat = good.flatten();
  for (const auto& [pointer, _] : flat.items()) {
    for (const auto& r : replacements) {
      json j = good;
      j[json::json_pointer(pointer)] = r;
      auto s = scx_from_json(j);
      if (s.ok()) {
        ++parsed;
        CHECK_NOTHROW(scx_to_text(*s));
        CHECK_NOTHROW(scx_to_rendered(*s));
      } else {
        ++rejected;
        CHECK(s.error().message.rfind("scx", 0) == 0);
      }
    }
  }
  CHECK(parsed > 0);
  CHECK(rejected > 0);
}
