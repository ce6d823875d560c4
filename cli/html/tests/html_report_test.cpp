// The HTML report without a browser: the page's data from a run directory
// written by the real writers, its limits, its escaping, and events.log.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/html/html_report.h"
#include "cli/html/page_data.h"
#include "cli/report/events_log.h"
#include "cli/report/report.h"
#include "util/atomic_file.h"

using namespace ktest;
using namespace ktest::cli;
using namespace ktest::cli::html_detail;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "ktest-html-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

MapDump hash_map(std::string name, std::size_t entries) {
  MapDump map;
  map.name = std::move(name);
  map.map_type = kMapTypeHash;
  for (std::size_t i = 0; i < entries; ++i) {
    MapEntry e;
    e.key = make_uint(32, i);
    e.value = make_struct("task_ctx", {{"weight", make_uint(64, 100 + i)}, {"comm", make_array(2, {make_char('a'), make_char(0)})}});
    map.entries.push_back(std::move(e));
  }
  return map;
}

MapDump bss_map(uint64_t counter) {
  MapDump map;
  map.name = "ktest_sc.bss";
  map.map_type = kMapTypeArray;
  map.value = make_struct(".bss", {{"nr_enqueued", make_uint(64, counter)}, {"mode", make_enum(32, 1, "ON", false)}});
  return map;
}

const Json* child(const Json& node, const std::string& label) {
  auto kids = node.find("c");
  if (kids == node.end()) return nullptr;
  for (const auto& c : *kids)
    if (c["k"] == label) return &c;
  return nullptr;
}

// A run directory as `ktest run` leaves it, written by the real writers,
// recorded under `recorded` (results.json's paths) but found at `dir`.
void write_run(const fs::path& dir, const std::string& recorded) {
  fs::path scenario_dir = dir / "01-quickstart";
  fs::create_directories(scenario_dir / "snapshots");
  Report early;
  early.snapshot_name = "early";
  early.maps = {bss_map(5), hash_map("scx_per_task", 3)};
  Report late = early;
  late.snapshot_name = "late";
  late.maps[0] = bss_map(9);
  REQUIRE(save_run_reports((scenario_dir / "snapshots").string(), {{"early", early}, {"late", late}}));
  REQUIRE(write_file_atomic((scenario_dir / "events.log").string(),
                            format_event_line(0.5, "booting") + format_event_line(1.25, "step 1/2 Sleep 1ms") +
                                format_event_line(1.5, "capture early") + format_event_line(1.75, "step 2/2 Sleep 1ms") +
                                format_event_line(2.0, "watchpoint hit on vCPU 0")));
  RunResult run;
  run.output_dir = recorded;
  ScenarioResult sc;
  sc.name = "quick<script>start";
  sc.outcome = Outcome::Failed;
  sc.output_dir = recorded + "/01-quickstart";
  sc.console_log = recorded + "/01-quickstart/console.log";  // never written: a problem, not an error
  for (const char* name : {"early", "late"}) {
    CaptureResult c;
    c.name = name;
    c.report_path = recorded + "/01-quickstart/snapshots/" + name + ".json";
    sc.captures.push_back(c);
  }
  AssertionResult a;
  a.expression = a.name = "snapshot(\"late\").var(\"nr_enqueued\") < 3";
  a.outcome = Outcome::Failed;
  a.actual = "9";
  a.expected = "3";
  sc.assertions.push_back(a);
  run.scenarios.push_back(sc);
  REQUIRE(write_file_atomic((dir / "results.json").string(), render_report(run, OutputFormat::Json)));
}

}  // namespace

TEST_CASE("events.log: lines are timed and classified as the session writes them") {
  std::string text = format_event_line(0.25, "booting x") + format_event_line(1.5, "step 3/7 Spawn worker") +
                     format_event_line(2, "capture late") + format_event_line(2.5, "watchpoint hit on vCPU 1") +
                     "garbage without a time\n";
  std::size_t dropped = 99;
  auto events = parse_events_log(text, 10, &dropped);
  REQUIRE(events.size() == 5);
  CHECK(dropped == 0);
  CHECK(events[0].kind == EventKind::Other);
  CHECK(events[1].kind == EventKind::Step);
  CHECK(events[1].step == 2);
  CHECK(events[1].seconds == doctest::Approx(1.5));
  CHECK(events[2].kind == EventKind::Capture);
  CHECK(events[2].subject == "late");
  CHECK(events[3].kind == EventKind::Watchpoint);
  CHECK(events[4].text == "garbage without a time");
  CHECK(events[4].seconds == doctest::Approx(2.5));  // the last time seen
  parse_events_log(text, 2, &dropped);
  CHECK(dropped == 3);
}

TEST_CASE("capture tree: entries, elements and nodes are capped, and the page says how many") {
  Report report;
  report.maps = {bss_map(7), hash_map("big", 500)};
  HtmlLimits limits;
  limits.entries_per_map = 100;
  CaptureTree tree = capture_tree(report, limits);
  REQUIRE(tree.maps.size() == 2);
  const Json& bss = tree.maps[0];
  CHECK(bss["g"] == 1);  // a global section: its numbers are charted
  CHECK((*child(bss, "nr_enqueued"))["x"] == 7);
  CHECK((*child(bss, "mode"))["v"].get<std::string>().find("ON") != std::string::npos);
  const Json& big = tree.maps[1];
  CHECK_FALSE(big.contains("g"));
  CHECK(big["c"].size() == 100);
  CHECK(big["more"] == 400);
  const Json& entry = big["c"][0];
  CHECK(entry["k"] == "0");
  CHECK((*child(entry, "weight"))["x"] == 100);
  CHECK_FALSE(child(entry, "comm")->contains("x"));  // text, not a quantity

  limits.nodes_per_capture = 50;
  tree = capture_tree(report, limits);
  CHECK(tree.omitted > 0);
  CHECK(tree.maps[1]["more"].get<std::size_t>() > 400);
}

TEST_CASE("script_safe_json: nothing in the data can close the script element") {
  Json doc = {{"text", "</script><script>alert(1)</script> & <!-- \xE2\x80\xA8"}};
  std::string safe = script_safe_json(doc);
  CHECK(safe.find('<') == std::string::npos);
  CHECK(safe.find('>') == std::string::npos);
  CHECK(safe.find("\xE2\x80\xA8") == std::string::npos);
  CHECK(Json::parse(safe) == doc);
}

TEST_CASE("a run directory becomes one page, also when it was moved") {
  TempDir tmp;
  write_run(tmp.path, "/nonexistent/ktest-runs/20260101T000000Z-1");
  auto data = load_page_data(tmp.path.string(), HtmlLimits{});
  REQUIRE_MESSAGE(data, (data ? "" : data.error().to_string()));
  const Json& extra = (*data)["scenarios"][0];
  REQUIRE(extra["captures"].size() == 2);
  CHECK(extra["captures"][1]["name"] == "late");
  CHECK((*child(extra["captures"][1]["maps"][0], "nr_enqueued"))["x"] == 9);
  REQUIRE(extra["events"].size() == 5);
  CHECK(extra["events"][1]["kind"] == "step");
  CHECK(extra["events"][2]["name"] == "early");
  CHECK(extra["events"][4]["kind"] == "watchpoint");
  REQUIRE(extra["problems"].size() == 1);  // the console log was never written
  CHECK(extra["problems"][0].get<std::string>().find("console.log") != std::string::npos);

  HtmlReportOptions options;
  options.run_dir = tmp.path.string();
  auto written = write_html_report(options);
  REQUIRE_MESSAGE(written, (written ? "" : written.error().to_string()));
  CHECK(*written == (tmp.path / kHtmlReportFile).string());
  auto html = read_file(*written);
  REQUIRE(html);
  CHECK(html->rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(html->find("Content-Security-Policy") != std::string::npos);
  CHECK(html->find("quick&lt;script&gt;start") != std::string::npos);  // the summary escapes names
  std::size_t closes = 0;
  for (std::size_t at = html->find("</script"); at != std::string::npos; at = html->find("</script", at + 1)) ++closes;
  CHECK(closes == 3);  // data, Chart.js, the page's script: nothing else ends one
}

TEST_CASE("a directory that is no run directory fails with what to do") {
  TempDir tmp;
  auto data = load_page_data(tmp.path.string(), HtmlLimits{});
  REQUIRE_FALSE(data);
  CHECK(data.error().message.find("has no results.json") != std::string::npos);
  CHECK_FALSE(data.error().hint.empty());
  REQUIRE(write_file_atomic((tmp.path / "results.json").string(), "{\"scenarios\": 3}"));
  data = load_page_data(tmp.path.string(), HtmlLimits{});
  REQUIRE_FALSE(data);
  CHECK(data.error().message.find("not a ktest results file") != std::string::npos);
  data = load_page_data((tmp.path / "missing").string(), HtmlLimits{});
  REQUIRE_FALSE(data);
  CHECK(data.error().message.find("is not a directory") != std::string::npos);
}
