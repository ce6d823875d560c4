#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "util/atomic_file.h"
#include "util/edit_distance.h"
#include "util/result.h"

using namespace ktest;

TEST_CASE("levenshtein distances") {
  CHECK(levenshtein("", "") == 0);
  CHECK(levenshtein("kitten", "sitting") == 3);
  CHECK(levenshtein("abc", "") == 3);
}

TEST_CASE("nearest suggests close names only") {
  std::vector<std::string> ops{"Spawn", "Sleep", "CaptureSnapshot"};
  CHECK(nearest("Spwan", ops).value() == "Spawn");
  CHECK(nearest("CaptureSnapsht", ops).value() == "CaptureSnapshot");
  CHECK_FALSE(nearest("Frobnicate", ops).has_value());
}

Result<int> parse_positive(int x) {
  if (x <= 0) return fail("not positive", "f.yaml:1:2", "use a number > 0");
  return x;
}

Result<int> doubled(int x) {
  KTEST_ASSIGN(int v, parse_positive(x));
  return v * 2;
}

TEST_CASE("Result carries values and errors with context") {
  CHECK(doubled(2).value() == 4);
  auto r = doubled(-1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().to_string() == "f.yaml:1:2: not positive (hint: use a number > 0)");
  r.error().with_context("loading scenario");
  CHECK(r.error().to_string() == "f.yaml:1:2: loading scenario: not positive (hint: use a number > 0)");
}

TEST_CASE("atomic writes replace the file whole") {
  auto dir = std::filesystem::temp_directory_path() / "ktest_util_test";
  std::filesystem::create_directories(dir);
  auto path = (dir / "report.json").string();
  REQUIRE(write_file_atomic(path, "first").ok());
  REQUIRE(write_file_atomic(path, "second").ok());
  CHECK(read_file(path).value() == "second");
  CHECK_FALSE(write_file_atomic((dir / "no/such/dir/x").string(), "x").ok());
  CHECK_FALSE(read_file((dir / "missing").string()).ok());
  std::filesystem::remove_all(dir);
}
