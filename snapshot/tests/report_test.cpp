#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include <doctest/doctest.h>

#include "snapshot/report.h"
#include "snapshot/tests/fixtures.h"
#include "util/zstd_frame.h"

using namespace ktest;
using namespace ktest::testing;
using nlohmann::json;

TEST_CASE("the sched_ext fixture loads with header, maps and registers") {
  Report r = fixture_report("scx_basic.json");
  CHECK(r.schema == "single");
  CHECK(r.snapshot_name == "after_spawn");
  CHECK(r.kernel_version == "7.2.13+deb14-amd64");
  CHECK(r.maps.size() == 7);
  REQUIRE(r.find_map("scx_per_task") != nullptr);
  CHECK(r.find_map("scx_per_task")->entries.size() == 3);
  CHECK(r.find_map("cpu_ctx_stor")->percpu_entries.size() == 2);
  CHECK_FALSE(r.find_map("cpu_ctx_stor")->percpu_entries[1].per_cpu[2].has_value());
  CHECK(r.find_map("scx_simpl_ops")->error.has_value());
  REQUIRE(r.vcpu_regs.size() == 2);
  CHECK(r.vcpu_regs[0]->instruction_pointer == 0xffffffff81e3c0a2ULL);
  CHECK(r.active_obj_name == std::optional<std::string>("scx_simpl"));
  CHECK(r.find_map("nope") == nullptr);
}

TEST_CASE("every fixture round-trips to identical JSON") {
  for (const char* name :
       {"scx_basic.json", "scx_later.json", "degraded.json", "two_schedulers.json"}) {
    CAPTURE(name);
    json original = json::parse(fixture_text(name));
    auto r = report_from_json(original);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
    CHECK(report_to_json(*r) == original);
    auto again = parse_report(report_to_text(*r));
    REQUIRE(again.ok());
    CHECK(report_to_json(*again) == original);
  }
}

TEST_CASE("ktstr dumps re-serialise stably (older enums gain is_signed: false)") {
  Report r = fixture_report("ktstr_single.failure-dump.json");
  json once = report_to_json(r);
  auto again = report_from_json(once);
  REQUIRE(again.ok());
  CHECK(report_to_json(*again) == once);
  CHECK(once["maps"][0]["value"]["members"][14]["value"]["is_signed"] == false);
}

TEST_CASE("ktstr fields ktest does not model survive in extra") {
  Report r = fixture_report("ktstr_single.failure-dump.json");
  CHECK(r.snapshot_name.empty());
  CHECK(r.extra.contains("per_cpu_time"));
  CHECK(r.extra["prog_runtime_stats_unavailable"] == "prog accessor unavailable");
  CHECK(r.dump_truncated_at_us == std::optional<uint64_t>(1500));
  const MapDump* events = r.find_map("events");
  REQUIRE(events != nullptr);
  CHECK(events->extra["ringbuf"]["pending_bytes"] == 128);
  CHECK_FALSE(r.vcpu_regs[0].has_value());
}

TEST_CASE("degraded reports keep their degradation details") {
  Report r = fixture_report("degraded.json");
  CHECK(r.schema == "degraded");
  REQUIRE(r.degraded.has_value());
  CHECK(r.degraded->bss_latch_state == "triggered");
  CHECK(r.degraded->exit_kind == std::optional<uint32_t>(1025));
  CHECK(r.degraded->elapsed_ms == 30012);
  CHECK(r.find_map("arena")->error->find("page table walk failed") != std::string::npos);
  CHECK_FALSE(r.find_map("scx_per_task")->entries[0].key.has_value());
  CHECK(r.extra.empty());
}

TEST_CASE("a single-schema report does not swallow degraded-only names") {
  auto r = parse_report(R"({"schema":"single","maps":[],"reason":"x"})");
  REQUIRE(r.ok());
  CHECK_FALSE(r->degraded.has_value());
  CHECK(r->extra["reason"] == "x");
}

TEST_CASE("dual ktstr dumps load as two named reports") {
  auto reports = load_report_file(fixture_path("ktstr_dual.failure-dump.json"));
  REQUIRE(reports.ok());
  REQUIRE(reports->size() == 2);
  CHECK((*reports)[0].name == "ktstr_dual.early");
  CHECK((*reports)[1].name == "ktstr_dual.late");
  auto single = load_report_file(fixture_path("ktstr_single.failure-dump.json"));
  REQUIRE(single.ok());
  CHECK((*single)[0].name == "ktstr_single");
  CHECK(error_text(parse_report(fixture_text("ktstr_dual.failure-dump.json"))) ==
        "schema: \"dual\" holds two reports (early and late)");
}

TEST_CASE("report reading errors carry the JSON path") {
  json j = json::parse(fixture_text("scx_basic.json"));
  j["maps"][3]["entries"][1]["value"].erase("kind");
  CHECK(error_text(report_from_json(j)) == "maps[3].entries[1].value: \"kind\" missing");

  j = json::parse(fixture_text("scx_basic.json"));
  j["maps"][4]["percpu_entries"][0]["per_cpu"][2]["members"][1]["value"]["value"] = "x";
  CHECK(error_text(report_from_json(j)) ==
        "maps[4].percpu_entries[0].per_cpu[2].members[1].value.value: expected a decimal "
        "integer, got \"x\"");

  CHECK(error_text(parse_report(R"({"maps":[{"map_type":2}]})")) == "maps[0]: \"name\" missing");
  CHECK(error_text(parse_report(R"({"maps":{}})")) == "maps: expected an array, got object");
  CHECK(error_text(parse_report(R"({"schema":"triple"})")) == "schema: unknown schema \"triple\"");
  CHECK(error_text(parse_report(R"([])")) == "report: expected a JSON object, got array");
  CHECK(error_text(parse_report(R"({"vcpu_regs":[{"stack_pointer":-1}]})")) ==
        "vcpu_regs[0].stack_pointer: expected an unsigned integer, got -1");
  CHECK(error_text(parse_report("{\"maps\": [")).rfind("report: invalid JSON: ", 0) == 0);
}

TEST_CASE("missing optional fields take defaults") {
  auto r = parse_report(R"({"maps":[{"name":"m"}]})");
  REQUIRE(r.ok());
  CHECK(r->schema == "single");
  CHECK(r->maps[0].map_type == 0);
  CHECK_FALSE(r->maps[0].value.has_value());
}

TEST_CASE("report file stems are safe and distinct") {
  CHECK(report_file_stem("after_spawn") == "after_spawn");
  CHECK(report_file_stem("a/b c") == "a%2Fb%20c");
  CHECK(report_file_stem("..") == "%2E.");
  CHECK(report_file_stem(".hidden") == "%2Ehidden");
  CHECK(report_file_stem("") == "%00");
  CHECK(map_type_name(6) == "percpu_array");
  CHECK(map_type_name(999) == "type 999");
}

TEST_CASE("a run directory holds one report per snapshot and loads back in capture order") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("ktest-snap-{}", ::getpid());
  fs::remove_all(dir);
  std::vector<NamedReport> reports = {{"before exit", fixture_report("scx_later.json")},
                                      {"after_spawn", fixture_report("scx_basic.json")}};
  reports[0].report.snapshot_name.clear();
  REQUIRE(save_run_reports(dir.string(), reports).ok());
  CHECK(fs::exists(dir / "before%20exit.json"));
  CHECK(fs::exists(dir / "after_spawn.json"));
  auto loaded = load_reports(dir.string());
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().to_string()));
  REQUIRE(loaded->size() == 2);
  CHECK((*loaded)[0].name == "after_spawn");  // captured 07:00:01
  CHECK((*loaded)[1].name == "before exit");  // captured 07:00:09, name from the header
  auto one = load_reports((dir / "after_spawn.json").string());
  REQUIRE(one.ok());
  CHECK(one->size() == 1);
  auto missing = load_reports((dir / "nope.json").string());
  CHECK_FALSE(missing.ok());
  fs::remove_all(dir);
}

TEST_CASE("a malformed file in a run directory is reported with its path") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("ktest-snap-bad-{}", ::getpid());
  fs::create_directories(dir);
  REQUIRE(write_file_atomic((dir / "x.json").string(), R"({"maps":[{"name":1}]})").ok());
  auto loaded = load_reports(dir.string());
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().location == (dir / "x.json").string());
  CHECK(loaded.error().message == "maps[0].name: expected a string, got number");
  fs::remove_all(dir);
}

TEST_CASE("a report past kCompressReportsAbove is stored as one zstd frame and loads back the same") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("ktest-snap-zst-{}", ::getpid());
  fs::remove_all(dir);
  Report big = fixture_report("scx_basic.json");
  big.snapshot_name = "big";
  MapDump& map = big.maps.front();
  // Entries until the compact JSON is just past the threshold.
  while (report_to_text(big, -1).size() <= kCompressReportsAbove) {
    for (int i = 0; i < 512; ++i) {
      MapEntry e;
      e.key = make_uint(32, static_cast<uint64_t>(map.entries.size()));
      e.key_hex = fmt::format("{:08x}", map.entries.size());
      e.value = make_struct("v", {RenderedMember("n", make_uint(64, 7)), RenderedMember("s", make_int(32, -1))});
      map.entries.push_back(std::move(e));
    }
  }
  Report small = fixture_report("scx_later.json");
  small.snapshot_name = "small";
  auto saved = save_run_reports(dir.string(), {{"big", big}, {"small", small}});
  REQUIRE_MESSAGE(saved.ok(), (saved.ok() ? "" : saved.error().to_string()));
  REQUIRE(saved->size() == 2);
  CHECK((*saved)[0] == (dir / "big.json.zst").string());
  CHECK((*saved)[1] == (dir / "small.json").string());
  CHECK_FALSE(fs::exists(dir / "big.json"));
  CHECK(fs::file_size(dir / "big.json.zst") < kCompressReportsAbove / 4);

  auto loaded = load_reports(dir.string());
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().to_string()));
  REQUIRE(loaded->size() == 2);
  const NamedReport& back = (*loaded)[0].name == "big" ? (*loaded)[0] : (*loaded)[1];
  CHECK(back.name == "big");
  CHECK(report_to_text(back.report, -1) == report_to_text(big, -1));
  auto file = load_report_file((dir / "big.json.zst").string());
  REQUIRE(file.ok());
  CHECK(file->front().name == "big");

  // Saved small again, the compressed form goes: one file per snapshot.
  small.snapshot_name = "big";
  auto again = save_run_reports(dir.string(), {{"big", small}});
  REQUIRE(again.ok());
  CHECK(again->front() == (dir / "big.json").string());
  CHECK_FALSE(fs::exists(dir / "big.json.zst"));
  fs::remove_all(dir);
}

TEST_CASE("a damaged compressed report is an error naming the file") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("ktest-snap-zst-bad-{}", ::getpid());
  fs::create_directories(dir);
  std::string frame = *zstd_compress(std::string(4096, '{'), 3);
  REQUIRE(write_file_atomic((dir / "cut.json.zst").string(), frame.substr(0, frame.size() - 3)).ok());
  auto loaded = load_reports(dir.string());
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().location == (dir / "cut.json.zst").string());
  CHECK(loaded.error().to_string().find("zstd") != std::string::npos);
  CHECK(is_report_file_name("a.json.zst"));
  CHECK(is_report_file_name("a.json"));
  CHECK_FALSE(is_report_file_name("a.zst"));
  CHECK_FALSE(is_report_file_name(".json"));
  fs::remove_all(dir);
}

TEST_CASE("zstd frames: the declared size is a hint, the output bound still holds") {
  std::string big(3 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4099) big[i] = static_cast<char>('a' + i % 26);
  auto frame = zstd_compress(big, 1);
  REQUIRE(frame.ok());
  auto back = zstd_decompress(*frame, big.size());
  REQUIRE(back.ok());
  CHECK(*back == big);
  // Declares 3 MiB (ratio far past any real report's) and may make 1 KiB.
  auto refused = zstd_decompress(*frame, 1024);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().to_string().find("more than 1024 bytes") != std::string::npos);
}

// parse_any_report() takes map entries out of the JSON as it parses; the
// reports it makes must be the ones the plain DOM parse makes.
std::string plain_parse(const std::string& text) {
  json j = json::parse(text);
  std::vector<Report> reports;
  if (j.value("schema", "") == "dual") {
    if (j.contains("early")) reports.push_back(*report_from_json(j["early"]));
    reports.push_back(*report_from_json(j["late"]));
  } else {
    reports.push_back(*report_from_json(j));
  }
  std::string out;
  for (const auto& r : reports) out += report_to_text(r, -1) + "\n";
  return out;
}

TEST_CASE("reports parsed with their entries streamed out equal the plain parse") {
  namespace fs = std::filesystem;
  int files = 0;
  for (const auto& f : fs::directory_iterator(KTEST_FIXTURE_DIR)) {
    if (f.path().extension() != ".json") continue;
    std::string text = fixture_text(f.path().filename().string());
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) continue;
    bool dual = j.value("schema", "") == "dual";
    if (!dual && !report_from_json(j).ok()) continue;  // the error fixtures
    auto parsed = parse_any_report(text, "x");
    REQUIRE_MESSAGE(parsed.ok(), f.path().string());
    std::string streamed;
    for (const auto& nr : *parsed) streamed += report_to_text(nr.report, -1) + "\n";
    CHECK_MESSAGE(streamed == plain_parse(text), f.path().string());
    ++files;
  }
  CHECK(files >= 4);

  // A dual report's entries go back to the report they came from.
  json early = json::parse(fixture_text("scx_basic.json"));
  json late = json::parse(fixture_text("scx_later.json"));
  late["maps"][3]["entries"].erase(0);
  json dual = {{"schema", "dual"}, {"early", early}, {"late", late}};
  auto both = parse_any_report(dual.dump(), "d");
  REQUIRE(both.ok());
  REQUIRE(both->size() == 2);
  CHECK(report_to_text((*both)[0].report, -1) == report_to_text(*report_from_json(early), -1));
  CHECK(report_to_text((*both)[1].report, -1) == report_to_text(*report_from_json(late), -1));
  CHECK((*both)[0].report.maps[3].entries.size() == (*both)[1].report.maps[3].entries.size() + 1);
}

TEST_CASE("a bad entry in a parsed report is worded as the plain parse words it") {
  json j = json::parse(fixture_text("scx_basic.json"));
  j["maps"][3]["entries"][1]["value"].erase("kind");
  CHECK(error_text(parse_any_report(j.dump(), "x")) == "maps[3].entries[1].value: \"kind\" missing");
  j = json::parse(fixture_text("scx_basic.json"));
  j["maps"][3]["entries"][2] = 7;
  CHECK(error_text(parse_any_report(j.dump(), "x")) == "maps[3].entries[2]: expected an object, got number");
  CHECK(error_text(parse_any_report("{\"maps\": [", "x")).rfind("report: invalid JSON: ", 0) == 0);
}
