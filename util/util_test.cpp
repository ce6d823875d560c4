#include <signal.h>

#include "util/interrupt.h"
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "util/atomic_file.h"
#include "util/edit_distance.h"
#include "util/result.h"
#include "util/subprocess.h"

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

TEST_CASE("run_process captures stdout, stderr and the exit status") {
  auto r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
  REQUIRE(r.ok());
  CHECK(r->exit_code == 3);
  CHECK(r->out == "out\n");
  CHECK(r->err == "err\n");
  auto killed = run_process({"sh", "-c", "kill -9 $$"});
  REQUIRE(killed.ok());
  CHECK(killed->exit_code == 128 + 9);
  auto checked = run_checked({"sh", "-c", "echo why >&2; exit 1"});
  REQUIRE_FALSE(checked.ok());
  CHECK(checked.error().message.find("(exit 1): why") != std::string::npos);
  auto missing = run_process({"ktest-no-such-program"});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("cannot run ktest-no-such-program") != std::string::npos);
}

TEST_CASE("run_process kills a program that outlives its timeout") {
  ProcessOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto r = run_process({"sh", "-c", "echo started; exec sleep 30"}, options);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("did not finish within 200 ms") != std::string::npos);
  CHECK(r.error().message.find("started") != std::string::npos);
}

TEST_CASE("an interrupt is recorded once, then the default action is back") {
  {
    ktest::InterruptScope scope;
    CHECK_FALSE(ktest::interrupt_requested());
    ::raise(SIGINT);
    CHECK(ktest::interrupt_requested());
    CHECK(std::string(ktest::interrupt_signal_name()) == "SIGINT");
    struct sigaction now{};
    ::sigaction(SIGINT, nullptr, &now);
    const bool default_again = now.sa_handler == SIG_DFL;
    CHECK(default_again);
  }
  ktest::InterruptScope again;  // a new scope starts clean
  CHECK_FALSE(ktest::interrupt_requested());
}
