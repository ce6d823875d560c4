// The session's event loop over a fake machine: doorbells, the agent's
// control messages (written into a pipe as the agent would), the goodbye
// handshake and how a run ends, with the verdict every report gives.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "cli/run/session.h"
#include "freeze/tests/fake_machine.h"
#include "kvm/control_protocol.h"

using namespace ktest;
using namespace ktest::cli;
using ktest::freeze::testing::FakeMachine;
using ktest::freeze::testing::Ram;
namespace control = ktest::kvm::control;

namespace {

const char* kScenario =
    "name: loop\n"
    "vm: {cpus: 2, timeout: 20s}\n"
    "steps:\n"
    "  - Sleep: 10ms\n"
    "  - CaptureSnapshot: c1\n";

kvm::DoorbellEvent bell(uint64_t serial, doorbell::RequestKind kind, const std::string& payload = "") {
  return {serial, static_cast<uint32_t>(kind), std::vector<uint8_t>(payload.begin(), payload.end())};
}

// A session over a FakeMachine whose control channel is a pipe the test
// writes the agent's messages into.
struct Loop {
  Ram ram;
  FakeMachine machine{ram, 2};
  int agent_end = -1;
  std::string dir;

  Loop() {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    machine.control_fd = fds[0];
    agent_end = fds[1];
    dir = std::string(KTEST_TEST_TMP) + "/session-loop-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
  }
  ~Loop() {
    ::close(machine.control_fd);
    if (agent_end >= 0) ::close(agent_end);
    std::filesystem::remove_all(dir);
  }
  void send(const control::Message& m) {
    std::string line = control::encode(m);
    REQUIRE(::write(agent_end, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  }
  // The agent's start: hello, then the (here empty) kallsyms.
  void agent_starts() {
    send(control::Hello{"test", control::kProtocolVersion, "7.2.13", 0xffffffff81000000ull, 2, "", true});
    control::KallsymsEnd end;
    end.error = "not sent by this test";
    send(end);
  }
  void step(uint32_t index, const std::string& op, bool ok = true) {
    send(control::StepStarted{index, op});
    control::StepFinished finished;
    finished.index = index;
    finished.op = op;
    finished.ok = ok;
    finished.error = ok ? "" : "it failed";
    send(finished);
  }
  SessionResult run(std::chrono::milliseconds capture_timeout = std::chrono::seconds(2),
                    ShellMode shell = ShellMode::Never, const char* scenario = kScenario) {
    auto loaded = dsl::load_scenario_text(scenario, "loop.yaml");
    REQUIRE(loaded.ok());
    SessionOptions options;
    options.shell = shell;
    options.scenario_dir = dir;
    options.timeouts.capture = capture_timeout;
    return run_scenario_on(*loaded.scenario, options, machine);
  }
};

}  // namespace

TEST_CASE("session loop: steps, a capture, and the goodbye answered once `done` is read") {
  Loop l;
  l.agent_starts();
  l.step(0, "Sleep");
  l.send(control::StepStarted{1, "CaptureSnapshot"});
  l.machine.events.push_back(bell(1, doorbell::RequestKind::Capture, "c1"));
  l.machine.events.push_back(bell(2, doorbell::RequestKind::Goodbye));
  l.machine.events.push_back(kvm::ExitEvent{kvm::ExitReason::Poweroff, 0, "", {}});
  // The agent's last messages reach the pipe just as it rings goodbye.
  l.machine.before_event = [&](const kvm::MachineEvent& e) {
    auto* b = std::get_if<kvm::DoorbellEvent>(&e);
    if (!b || b->kind != static_cast<uint32_t>(doorbell::RequestKind::Goodbye)) return;
    control::StepFinished finished;
    finished.index = 1;
    finished.op = "CaptureSnapshot";
    finished.ok = true;
    l.send(finished);
    l.send(control::Done{true, 2, ""});
  };
  FakeMachine& machine = l.machine;
  SessionResult out = l.run();
  const ScenarioResult& r = out.result;
  CHECK(out.failure == SessionFailure::None);
  CHECK_MESSAGE(r.outcome == Outcome::Passed, r.error);
  REQUIRE(r.steps.size() == 2);
  CHECK(r.steps[0].outcome == Outcome::Passed);
  CHECK(r.steps[1].outcome == Outcome::Passed);
  REQUIRE(r.captures.size() == 1);
  CHECK(r.captures[0].name == "c1");
  CHECK(r.captures[0].error.empty());
  CHECK(std::filesystem::exists(r.captures[0].report_path));
  CHECK(machine.pauses == 1);
  CHECK(machine.resumes == 1);
  REQUIRE(machine.replies.size() == 2);
  CHECK(machine.replies[0] == std::pair<uint64_t, doorbell::ReplyStatus>{1, doorbell::ReplyStatus::Ok});
  CHECK(machine.replies[1] == std::pair<uint64_t, doorbell::ReplyStatus>{2, doorbell::ReplyStatus::Ok});
  CHECK(r.outcome == derive_outcome(r));
  CHECK(std::filesystem::file_size(std::filesystem::path(r.output_dir) / "events.log") > 0);
}

TEST_CASE("session loop: a goodbye without `done` is answered Error; the run is an error") {
  Loop l;
  l.agent_starts();
  l.machine.events.push_back(bell(1, doorbell::RequestKind::Goodbye));
  l.machine.events.push_back(kvm::ExitEvent{kvm::ExitReason::Poweroff, 0, "", {}});
  FakeMachine& machine = l.machine;
  SessionResult out = l.run(std::chrono::milliseconds(200));
  REQUIRE(machine.replies.size() == 1);
  CHECK(machine.replies[0].second == doorbell::ReplyStatus::Error);
  CHECK(out.failure == SessionFailure::VmUnavailable);
  CHECK(out.result.outcome == Outcome::Error);
  CHECK(out.result.error.find("powered off before the agent finished its plan") != std::string::npos);
}

TEST_CASE("session loop: the guest dying mid-run keeps what was captured and says why") {
  Loop l;
  l.agent_starts();
  l.step(0, "Sleep");
  l.machine.events.push_back(bell(1, doorbell::RequestKind::Capture, "c1"));
  l.machine.events.push_back(
      kvm::ExitEvent{kvm::ExitReason::Panic, 0, "Kernel panic - not syncing: test", {"Kernel panic - not syncing"}});
  SessionResult out = l.run();
  const ScenarioResult& r = out.result;
  CHECK(out.failure == SessionFailure::VmUnavailable);
  CHECK(r.outcome == Outcome::Error);
  CHECK(r.error.find("the guest ended early") != std::string::npos);
  CHECK(r.error.find("Kernel panic") != std::string::npos);
  REQUIRE(r.captures.size() == 1);  // partial results are kept
  CHECK(std::filesystem::exists(r.captures[0].report_path));
  CHECK(r.steps[0].outcome == Outcome::Passed);
  CHECK(r.steps[1].outcome == Outcome::Skipped);
}

TEST_CASE("session loop: a guest's kMaxCaptures captures are all kept; one more drops the oldest, with a note") {
  for (std::size_t count : {dsl::kMaxCaptures, dsl::kMaxCaptures + 1}) {
    CAPTURE(count);
    Loop l;
    l.agent_starts();
    for (std::size_t i = 0; i < count; ++i) {
      l.machine.events.push_back(bell(i + 1, doorbell::RequestKind::Capture, "g" + std::to_string(i)));
    }
    l.machine.events.push_back(kvm::ExitEvent{kvm::ExitReason::Crashed, 1, "gone", {}});
    SessionResult out = l.run();
    const ScenarioResult& r = out.result;
    REQUIRE(r.captures.size() == count);  // each capture taken is listed
    std::size_t saved = 0;
    for (const auto& c : r.captures) saved += !c.report_path.empty();
    CHECK(saved == dsl::kMaxCaptures);
    const std::string dropped = "snapshot 'g0' was dropped: the guest asked for more than the 64 captures a "
                                "scenario takes";
    bool noted = std::find(r.notes.begin(), r.notes.end(), dropped) != r.notes.end();
    CHECK(noted == (count > dsl::kMaxCaptures));
    CHECK(r.captures[0].report_path.empty() == (count > dsl::kMaxCaptures));
    CHECK_FALSE(r.captures.back().report_path.empty());
  }
}

TEST_CASE("session loop: a capture whose pause failed makes the scenario an error in every report") {
  Loop l;
  l.agent_starts();
  l.step(0, "Sleep");
  l.machine.pause_error = "QMP stop timed out";
  l.machine.events.push_back(bell(1, doorbell::RequestKind::Capture, "c1"));
  l.machine.before_event = [&](const kvm::MachineEvent& e) {
    if (std::holds_alternative<kvm::ExitEvent>(e)) {
      l.send(control::StepFinished{1, "CaptureSnapshot", true, "", 5, {}});
      l.send(control::Done{true, 2, ""});
    }
  };
  l.machine.events.push_back(kvm::ExitEvent{kvm::ExitReason::Poweroff, 0, "", {}});
  FakeMachine& machine = l.machine;
  SessionResult out = l.run();
  const ScenarioResult& r = out.result;
  REQUIRE(machine.replies.size() == 1);
  CHECK(machine.replies[0].second == doorbell::ReplyStatus::Degraded);
  REQUIRE(r.captures.size() == 1);
  CHECK(r.captures[0].degraded);
  CHECK(r.captures[0].error.find("QMP stop timed out") != std::string::npos);
  CHECK(r.outcome == Outcome::Error);
  CHECK(run_outcome(r) == Outcome::Error);
}

namespace {

// The agent's Shell question after its last step, and the end of the run.
void ask_shell_then_end(Loop& l, bool steps_ok, uint32_t steps_run) {
  std::string ask = std::string("{\"ok\":") + (steps_ok ? "true" : "false") + ",\"steps_run\":" +
                    std::to_string(steps_run) + "}";
  l.machine.events.push_back(bell(7, doorbell::RequestKind::Shell, ask));
  l.machine.events.push_back(bell(8, doorbell::RequestKind::Goodbye));
  l.machine.events.push_back(kvm::ExitEvent{kvm::ExitReason::Poweroff, 0, "", {}});
}

}  // namespace

TEST_CASE("session loop: the Shell question is answered once the steps' results are read") {
  const char* scenario =
      "name: loop\nvm: {cpus: 2, timeout: 20s}\nsteps:\n  - CaptureSnapshot: c1\n"
      "assertions:\n  - snapshot(\"c1\").var(\"missing\") == 1\n";
  Loop l;
  int sockets[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) == 0);
  l.machine.terminal_fd = sockets[0];
  l.agent_starts();
  l.send(control::StepStarted{0, "CaptureSnapshot"});
  l.machine.events.push_back(bell(1, doorbell::RequestKind::Capture, "c1"));
  ask_shell_then_end(l, true, 1);
  bool saved_live = false;
  std::string shell_reply;
  l.machine.before_event = [&](const kvm::MachineEvent& e) {
    auto* b = std::get_if<kvm::DoorbellEvent>(&e);
    if (b && b->kind == static_cast<uint32_t>(doorbell::RequestKind::Goodbye)) shell_reply = l.machine.last_reply;
    if (!b || b->kind != static_cast<uint32_t>(doorbell::RequestKind::Shell)) return;
    // Written when taken: a second terminal can read it while the guest runs.
    saved_live = std::filesystem::exists(l.dir + "/snapshots/c1.json");
    // The step's result is still in flight as the agent asks.
    l.send(control::StepFinished{0, "CaptureSnapshot", true, "", 5, {}});
    l.send(control::Done{true, 1, ""});
  };
  SUBCASE("--shell-on-fail: an assertion that fails opens the shell") {
    SessionResult out = l.run(std::chrono::seconds(2), ShellMode::OnFailure, scenario);
    CHECK(saved_live);
    CHECK(shell_reply.find("\"shell\":true") != std::string::npos);
    REQUIRE(out.result.assertions.size() == 1);
    CHECK(out.result.assertions[0].outcome == Outcome::Error);  // the verdict is the run's own
    CHECK(out.result.steps[0].outcome == Outcome::Passed);
  }
  SUBCASE("without --shell-on-fail the agent is told no") {
    l.run(std::chrono::seconds(2), ShellMode::Never, scenario);
    CHECK(shell_reply == "{\"shell\":false}");
  }
  ::close(sockets[0]);
  ::close(sockets[1]);
}

// A hostile guest (issue 14): rings doorbells but never ends its kallsyms,
// names a capture with a terminal's escape sequence, or its agent dies.
TEST_CASE("session loop: a guest without kallsyms holds one doorbell, not each, for the capture timeout") {
  Loop l;  // no hello, no kallsyms
  for (uint64_t serial = 1; serial <= 5; ++serial)
    l.machine.events.push_back(bell(serial, doorbell::RequestKind::Ping));
  l.machine.events.push_back(kvm::ExitEvent{kvm::ExitReason::Poweroff, 0, "", {}});
  auto start = std::chrono::steady_clock::now();
  SessionResult out = l.run(std::chrono::milliseconds(400));
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(l.machine.replies.size() == 5);
  CHECK(took >= std::chrono::milliseconds(400));  // the one wait
  CHECK(took < std::chrono::milliseconds(5 * 400));
  CHECK(out.result.error.find("powered off before the agent finished its plan") != std::string::npos);
}

TEST_CASE("session loop: a doorbell's wait ends at the scenario's deadline, not after the capture timeout") {
  const char* scenario = "name: loop\nvm: {cpus: 2, timeout: 1s}\nsteps:\n  - Sleep: 10ms\n";
  Loop l;
  l.machine.events.push_back(bell(1, doorbell::RequestKind::Goodbye));  // no `done` will come
  auto start = std::chrono::steady_clock::now();
  SessionResult out = l.run(std::chrono::seconds(30), ShellMode::Never, scenario);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::seconds(5));
  CHECK(out.result.outcome == Outcome::Error);
  CHECK(out.result.error.find("did not finish within 1s") != std::string::npos);
}

TEST_CASE("session loop: text the guest chose reaches events.log as one printable line") {
  Loop l;
  l.agent_starts();
  l.send(control::Log{"line one\nline two \x1b[2J"});
  l.machine.events.push_back(bell(1, doorbell::RequestKind::Capture, "evil\x1b]0;title\x07\nstep 9/9 fake"));
  l.machine.events.push_back(kvm::ExitEvent{kvm::ExitReason::Poweroff, 0, "", {}});
  std::vector<std::string> shown;
  auto loaded = dsl::load_scenario_text(kScenario, "loop.yaml");
  REQUIRE(loaded.ok());
  SessionOptions options;
  options.scenario_dir = l.dir;
  options.timeouts.capture = std::chrono::milliseconds(200);
  options.progress = [&](const std::string& line) { shown.push_back(line); };
  run_scenario_on(*loaded.scenario, options, l.machine);
  std::ifstream in(std::filesystem::path(l.dir) / "events.log");
  std::string events((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(events.find('\x1b') == std::string::npos);
  CHECK(events.find('\x07') == std::string::npos);
  CHECK(events.find("\nstep 9/9 fake") == std::string::npos);  // no line of the guest's own
  CHECK(events.find("line one line two") != std::string::npos);
  for (const auto& line : shown) CHECK(line.find('\x1b') == std::string::npos);
}

TEST_CASE("session loop: an agent that died (the kernel's 'Attempted to kill init') is named") {
  Loop l;
  l.agent_starts();
  l.machine.events.push_back(kvm::ExitEvent{
      kvm::ExitReason::Panic, 0, "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b",
      {"init[1]: segfault at 0 ip 0000000000000000", "Kernel panic - not syncing: Attempted to kill init! "
                                                     "exitcode=0x0000000b"}});
  SessionResult out = l.run();
  CHECK(out.failure == SessionFailure::VmUnavailable);
  CHECK(out.result.error.find("the guest agent died") != std::string::npos);
  CHECK(out.result.error.find("segfault") != std::string::npos);  // the console tail says how
}
