#include <doctest/doctest.h>

#include "dsl/diagnostics.h"
#include "dsl/scenario.h"

using namespace ktest::dsl;
using namespace std::chrono_literals;

TEST_CASE("durations need a unit") {
  CHECK(parse_duration("30s").value() == 30s);
  CHECK(parse_duration("500ms").value() == 500ms);
  CHECK(parse_duration("2m").value() == 120s);
  CHECK(parse_duration("1.5s").value() == 1500ms);
  CHECK(parse_duration("10us").value() == 10us);
  auto bare = parse_duration("30");
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.error().message == "duration '30' has no unit");
  CHECK(bare.error().hint == "add a unit: 30s");
  auto bad_unit = parse_duration("3 days");
  REQUIRE_FALSE(bad_unit.ok());
  CHECK(bad_unit.error().message == "unknown duration unit 'days' in '3 days'");
  CHECK(bad_unit.error().hint == "use one of ns, us, ms, s, m, h");
  CHECK_FALSE(parse_duration("fast").ok());
  CHECK_FALSE(parse_duration("1.2.3s").ok());
}

TEST_CASE("sizes need a unit") {
  CHECK(parse_size("512M").value() == 512ull << 20);
  CHECK(parse_size("1G").value() == 1ull << 30);
  CHECK(parse_size("1.5G").value() == 3ull << 29);
  CHECK(parse_size("64KiB").value() == 64ull << 10);
  auto bare = parse_size("512");
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.error().hint == "add a unit: 512M");
  CHECK_FALSE(parse_size("12Q").ok());
}

TEST_CASE("cpu lists") {
  CHECK(parse_cpu_list("0-1,3").value() == std::vector<uint32_t>{0, 1, 3});
  CHECK(parse_cpu_list("2").value() == std::vector<uint32_t>{2});
  CHECK(parse_cpu_list(" 3 , 0-1").value() == std::vector<uint32_t>{0, 1, 3});
  CHECK(parse_cpu_list("3-1").error().hint == "write 1-3");
  CHECK(parse_cpu_list("0,0").error().message == "cpu 0 is listed twice");
  CHECK_FALSE(parse_cpu_list("a-b").ok());
  CHECK_FALSE(parse_cpu_list("").ok());
  CHECK_FALSE(parse_cpu_list("1,").ok());
}

TEST_CASE("durations print back in their largest exact unit") {
  CHECK(format_duration(30s) == "30s");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(120s) == "2m");
  CHECK(format_duration(250us) == "250us");
}

TEST_CASE("diagnostics print like a compiler") {
  Diagnostic d;
  d.file = "s.yaml";
  d.line = 3;
  d.col = 5;
  d.length = 5;
  d.message = "unknown step 'Spwan'";
  d.source_line = "  - Spwan: {}";
  d.hint = "did you mean 'Spawn'?";
  CHECK(format_diagnostic(d) ==
        "s.yaml:3:5: error: unknown step 'Spwan'\n"
        "      - Spwan: {}\n"
        "        ^~~~~\n"
        "hint: did you mean 'Spawn'?\n");
  Diagnostic w = d;
  w.severity = Severity::Warning;
  w.hint.clear();
  CHECK(format_diagnostics({d, w}).find("1 error, 1 warning\n") != std::string::npos);
  CHECK(to_error(d).to_string() == "s.yaml:3:5: unknown step 'Spwan' (hint: did you mean 'Spawn'?)");
  CHECK(has_errors({d}));
  CHECK_FALSE(has_errors({w}));
}
