// What the host keeps of a guest's output and logs, and where.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "cli/run/guest_output.h"
#include "util/atomic_file.h"

using namespace ktest;
using namespace ktest::cli;
namespace control = ktest::kvm::control;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::path(KTEST_TEST_TMP) / ("guest_output_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

control::StepFinished finished(uint32_t index, std::optional<uint64_t> bytes) {
  control::StepFinished f;
  f.index = index;
  f.op = "Run";
  f.ok = true;
  f.details.output_bytes = bytes;
  return f;
}

// The agent's side of one Run step: step_started, chunks, step_finished.
std::string run_step(GuestOutput& out, uint32_t index, const std::string& bytes) {
  out.step_started(index);
  control::for_each_output_chunk(index, bytes, [&](const control::StepOutput& c) { out.output_chunk(c); });
  return out.step_finished(finished(index, bytes.size()));
}

}  // namespace

TEST_CASE("each Run's output is saved as output/step-N.log, byte for byte") {
  TempDir tmp;
  Notes notes;
  GuestOutput out(tmp.path.string(), notes);
  const std::string bytes = std::string("binary\0\xff\n", 9) + std::string(300000, 'z');
  std::string path = run_step(out, 3, bytes);
  CHECK(path == (tmp.path / "output" / "step-4.log").string());
  CHECK(read_file(path).value_or("") == bytes);
  CHECK(run_step(out, 4, "").size() > 0);  // a Run without output still gets its (empty) file
  CHECK(read_file((tmp.path / "output" / "step-5.log").string()).value_or("x").empty());
  // Steps that are not Runs send no output and get no file.
  out.step_started(5);
  CHECK(out.step_finished(finished(5, std::nullopt)).empty());
  CHECK_FALSE(fs::exists(tmp.path / "output" / "step-6.log"));
  CHECK(notes.empty());
}

TEST_CASE("a broken stream is saved with what arrived, marked, and noted") {
  TempDir tmp;
  Notes notes;
  GuestOutput out(tmp.path.string(), notes);
  out.step_started(1);
  out.output_chunk({1, 0, control::base64_encode("kept")});
  out.output_chunk({1, 5, control::base64_encode("lost")});
  out.output_chunk({7, 0, control::base64_encode("stray")});
  std::string path = out.step_finished(finished(1, 8));
  CHECK(read_file(path).value_or("") ==
        "kept\n[ktest: output incomplete: output chunk 5 arrived out of order (expected 1); the output is cut "
        "there]\n");
  CHECK(notes.lines() ==
        std::vector<std::string>{"control channel: output chunk for step 8 arrived while step 2 runs; dropped",
                                 "step 2 output: output chunk 5 arrived out of order (expected 1); the output is "
                                 "cut there"});
}

TEST_CASE("a run stops saving output past its total bound, with a note") {
  TempDir tmp;
  Notes notes;
  GuestOutput out(tmp.path.string(), notes, 1000);
  CHECK_FALSE(run_step(out, 0, std::string(600, 'a')).empty());
  CHECK(run_step(out, 1, std::string(600, 'b')).empty());
  CHECK(run_step(out, 2, "small").empty());  // stopped for good: no file after a gap
  CHECK_FALSE(fs::exists(tmp.path / "output" / "step-2.log"));
  CHECK(notes.lines() ==
        std::vector<std::string>{"step output is no longer saved from step 2 on: this run saved 600 bytes already"});
}

TEST_CASE("a run saves output up to its total bound exactly; a byte more is not saved") {
  TempDir tmp;
  Notes notes;
  GuestOutput out(tmp.path.string(), notes, 1000);
  CHECK(read_file(run_step(out, 0, std::string(600, 'a'))).value_or("") == std::string(600, 'a'));
  CHECK(read_file(run_step(out, 1, std::string(400, 'b'))).value_or("") == std::string(400, 'b'));  // 1000 in all
  CHECK(notes.lines().empty());
  CHECK(run_step(out, 2, "c").empty());
  CHECK(notes.lines() ==
        std::vector<std::string>{"step output is no longer saved from step 3 on: this run saved 1000 bytes already"});
}

TEST_CASE("agent log messages: the first kMaxAgentLogs are kept and saved, the rest counted") {
  TempDir tmp;
  Notes notes;
  GuestOutput out(tmp.path.string(), notes);
  std::size_t shown = 0;
  for (std::size_t i = 0; i < kMaxAgentLogs + 25; ++i) shown += out.log("message " + std::to_string(i));
  CHECK(shown == kMaxAgentLogs);
  out.finish();
  auto log = read_file((tmp.path / "agent.log").string());
  REQUIRE(log.ok());
  CHECK(log->starts_with("message 0\nmessage 1\n"));
  CHECK(log->find("message 999\n") != std::string::npos);
  CHECK(log->find("message 1000") == std::string::npos);
  CHECK(log->ends_with("[ktest: 25 more log messages dropped: a run keeps the first 1000]\n"));
  CHECK(notes.lines() ==
        std::vector<std::string>{"the agent sent 1025 log messages; 25 were dropped after the first 1000 (agent.log)"});
}

TEST_CASE("agent log messages are bounded in bytes too") {
  TempDir tmp;
  Notes notes;
  GuestOutput out(tmp.path.string(), notes);
  const std::string big(control::kMaxDetailTextBytes, 'x');
  std::size_t kept = 0;
  for (int i = 0; i < 40; ++i) kept += out.log(big);
  CHECK(kept == kMaxAgentLogBytes / big.size());
  out.finish();
  CHECK(fs::file_size(tmp.path / "agent.log") < kMaxAgentLogBytes + 200);
}

TEST_CASE("notes are capped") {
  Notes notes;
  for (std::size_t i = 0; i < kMaxNotes + 7; ++i) notes.add("n" + std::to_string(i));
  auto lines = notes.lines();
  REQUIRE(lines.size() == kMaxNotes + 1);
  CHECK(lines[0] == "n0");
  CHECK(lines[kMaxNotes - 1] == "n" + std::to_string(kMaxNotes - 1));
  CHECK(lines.back() == "(7 more notes dropped)");
}
