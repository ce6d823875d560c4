// The error-trigger pipeline over the synthetic sched_ext guest of
// scx_guest.h and a FakeMachine: the exit watch follows scx_root, an
// exit's two exit_kind writes give one "@exit" capture, a stall an
// "@early" one, an unload none; hostile guest data never crashes it nor
// leaves the guest stopped. The clock is the tests': poll() and
// on_watchpoint() are given synthetic time points.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "freeze/error_trigger.h"
#include "freeze/tests/fake_machine.h"
#include "freeze/tests/scx_guest.h"

namespace ktest::freeze {
namespace {

using namespace testing;
using namespace std::chrono_literals;
using Clock = ErrorTrigger::Clock;

constexpr uint64_t kPerCpuSym = 0x3000;  // __per_cpu_offset[2]
constexpr uint64_t kSch2 = 0x400000;     // a second scheduler

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

bool any_contains(const std::vector<std::string>& lines, std::string_view part) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return contains(l, part); });
}

// The value of enum scx_exit_kind's `name` in the layout (the kernel's when fetched).
int64_t exit_kind(const ScxLayout& l, std::string_view name) {
  for (const auto& v : l.exit_kinds) {
    if (v.name == name) return v.value;
  }
  FAIL("enum scx_exit_kind has no " << name);
  return -1;
}

// The scx section the session adds, over the test layout (the real one,
// make_scx_section, is run in the fetched-kernel case with load_vmlinux).
class TestScxSection final : public ReportSection {
 public:
  TestScxSection(const ScxLayout& layout, std::shared_ptr<const SharedSymbols> symbols)
      : layout_(layout), symbols_(std::move(symbols)) {}
  std::string_view name() const override { return "sched_ext"; }
  Status fill(kvm::Machine& machine, Report& report) override {
    auto symbols = symbols_->get();
    if (!symbols) return fail("no kallsyms");
    MachineMemory memory(machine);
    KTEST_ASSIGN(auto kernel, GuestKernel::open(memory, *symbols, 0, 0));
    ScxReadContext ctx;
    ctx.per_cpu_offsets = {0, kCpu1Offset};
    ctx.hz = 250;
    report.scx = read_scx_state(*kernel, layout_, ctx);
    return {};
  }

 private:
  const ScxLayout& layout_;
  std::shared_ptr<const SharedSymbols> symbols_;
};

// The guest's kallsyms as the session publishes them: ScxGuest's plus
// __per_cpu_offset (2 CPUs) unless `per_cpu` is false.
std::shared_ptr<kvm::control::SymbolTable> trigger_symbols(Ram& ram, bool per_cpu = true) {
  ram.put64(kPerCpuSym, 0);
  ram.put64(kPerCpuSym + 8, kCpu1Offset);
  std::string lines = ScxGuest::sym_lines();
  if (per_cpu) lines += fmt::format("{:016x} R __per_cpu_offset\n", kImage + kPerCpuSym);
  return std::make_shared<kvm::control::SymbolTable>(guest_symbols(ram, lines));
}

// A session's worth of parts: guest, machine, coordinator with the scx
// section, the trigger; `at(d)` is the synthetic clock d after the start.
struct Rig {
  ScxGuest g;
  const ScxLayout& l = g.l;
  FakeMachine machine{g.ram, 2};
  SnapshotBridge bridge{64};
  FreezeCoordinator coordinator{machine, bridge, {}};
  std::shared_ptr<SharedSymbols> symbols = std::make_shared<SharedSymbols>();
  std::vector<std::string> progress;
  std::unique_ptr<ErrorTrigger> trigger;
  const Clock::time_point start{std::chrono::hours(1)};

  explicit Rig(bool publish_symbols = true) {
    machine.reads_need_pause = false;  // the trigger reads the running guest
    if (publish_symbols) symbols->set(trigger_symbols(g.ram));
    coordinator.add_section(std::make_unique<TestScxSection>(l, symbols));
    trigger = std::make_unique<ErrorTrigger>(machine, scx_test_vmlinux(), "", symbols,
                                             [this](const std::string& line) { progress.push_back(line); });
  }

  Clock::time_point at(Clock::duration d) const { return start + d; }
  void poll(Clock::duration d) { trigger->poll(coordinator, at(d)); }
  // The armed exit watch's hit, as the session hands it over.
  bool hit(Clock::duration d) {
    REQUIRE(machine.armed.size() == 1);
    return trigger->on_watchpoint(coordinator, machine.hit(machine.armed[0].id), at(d));
  }
  uint64_t watched(uint64_t sch_gpa) const { return dm(sch_gpa) + l.sched_exit_kind; }
  // The first exit_kind write (NONE → kind), exit info not yet written.
  void claim(std::string_view kind) { g.ram.put32(kSch + l.sched_exit_kind, static_cast<uint32_t>(exit_kind(l, kind))); }
  // The second write (kind → DONE), exit_info->kind holding `ei_kind`.
  void done(std::string_view ei_kind) {
    g.put_exit(l.exit_done, static_cast<int32_t>(ei_kind.empty() ? l.exit_none : exit_kind(l, ei_kind)));
  }
};

TEST_CASE("ErrorTrigger: the exit watch follows scx_root") {
  Rig r;
  r.g.ram.put64(kRootSym, 0);
  r.poll(0ms);
  CHECK(r.machine.arms == 0);
  CHECK(r.trigger->state() == TriggerState::Idle);

  r.g.ram.put64(kRootSym, dm(kSch));
  r.poll(5ms);  // scx_root is read at most every kRootPollInterval
  CHECK(r.machine.arms == 0);
  r.poll(kRootPollInterval);
  REQUIRE(r.machine.armed.size() == 1);
  const kvm::WatchpointId first = r.machine.armed[0].id;
  CHECK(r.machine.armed[0].gva == r.watched(kSch));
  CHECK(r.machine.armed[0].len == 4);
  CHECK(r.machine.armed[0].kind == kvm::WatchKind::Write);
  r.poll(2 * kRootPollInterval);
  CHECK(r.machine.arms == 1);  // the same scheduler: left armed
  CHECK(r.machine.pauses == 0);
  CHECK_FALSE(r.machine.paused);

  // Another watchpoint's hit is the coordinator's, untouched here.
  CHECK_FALSE(r.trigger->on_watchpoint(r.coordinator, r.machine.hit(first + 100), r.at(25ms)));
  CHECK(r.machine.resumes == 0);
  r.machine.paused = false;

  r.g.put_str(kSch2 + r.l.sched_ops_name, "second_sched");
  r.g.ram.put64(kRootSym, dm(kSch2));
  r.poll(3 * kRootPollInterval);
  REQUIRE(r.machine.armed.size() == 1);
  CHECK(r.machine.armed[0].gva == r.watched(kSch2));
  CHECK(r.machine.cleared == std::vector<kvm::WatchpointId>{first});

  r.g.ram.put64(kRootSym, 0);
  r.poll(4 * kRootPollInterval);
  CHECK(r.machine.armed.empty());
  CHECK(r.machine.cleared.size() == 2);

  r.g.ram.put64(kRootSym, dm(kSch));
  r.poll(5 * kRootPollInterval);
  REQUIRE(r.machine.armed.size() == 1);
  CHECK(r.machine.armed[0].gva == r.watched(kSch));
  CHECK(r.trigger->exits().empty());
  CHECK(r.trigger->problems().empty());
  CHECK(r.machine.pauses == 0);
}

TEST_CASE("ErrorTrigger: an error exit is recorded at its first write and captured at DONE") {
  Rig r;
  r.poll(0ms);
  REQUIRE(r.machine.armed.size() == 1);
  const kvm::WatchpointId id = r.machine.armed[0].id;

  r.claim("SCX_EXIT_ERROR_BPF");
  CHECK(r.hit(100ms));
  CHECK_FALSE(r.machine.paused);
  CHECK(r.machine.resumes == 1);
  CHECK(r.machine.pauses == 0);  // no capture yet: the exit info is still being written
  CHECK(r.trigger->state() == TriggerState::Idle);
  REQUIRE(r.trigger->exits().size() == 1);
  {
    const SchedulerExit& e = r.trigger->exits()[0];
    CHECK(e.ops_name == "ktest_sched");
    CHECK(e.kind == "SCX_EXIT_ERROR_BPF");
    CHECK(e.kind_value == exit_kind(r.l, "SCX_EXIT_ERROR_BPF"));
    CHECK(e.seen_at == r.at(100ms));
    CHECK_FALSE(e.captured);
  }
  CHECK(r.trigger->failure_dump().empty());
  CHECK(any_contains(r.progress, "scheduler ktest_sched is exiting (SCX_EXIT_ERROR_BPF)"));
  r.poll(150ms);  // within kDoneWait: waits for DONE
  CHECK(r.machine.pauses == 0);
  CHECK(r.machine.armed.size() == 1);

  r.done("SCX_EXIT_ERROR_BPF");
  CHECK(r.hit(160ms));
  CHECK(r.machine.pauses == 1);
  CHECK(r.machine.resumes == 3);  // the first hit, the capture, this hit
  CHECK_FALSE(r.machine.paused);
  CHECK(r.trigger->state() == TriggerState::Done);
  REQUIRE(r.trigger->exits().size() == 1);
  const SchedulerExit& e = r.trigger->exits()[0];
  CHECK(e.captured);
  CHECK(is_death(e));
  CHECK(e.kind == "SCX_EXIT_ERROR_BPF");
  CHECK(e.reason == "scx_bpf_error");
  CHECK(e.msg == "task 100 dispatched to a bad DSQ");
  const FailureDump& dump = r.trigger->failure_dump();
  CHECK(dump.schema() == "single");
  CHECK_FALSE(dump.early);
  REQUIRE(dump.late);
  CHECK(dump.late->snapshot_name == "@exit");
  CHECK(dump.late->extra["trigger"] == "scheduler-exit");
  CHECK_FALSE(dump.late->extra.contains("trigger_note"));
  REQUIRE(dump.late->scx);
  REQUIRE(dump.late->scx->exit);
  CHECK(dump.late->scx->exit->kind == "SCX_EXIT_ERROR_BPF");
  CHECK(contains(dump.late->scx->exit->dump, "CPU 0: nr_run=3"));
  CHECK(dump.to_json()["snapshot_name"] == "@exit");
  CHECK(dump.to_json()["schema"] == "single");
  CHECK_FALSE(r.bridge.contains("@exit"));  // the trigger keeps its reports
  REQUIRE(r.coordinator.stats().size() == 1);
  CHECK(r.coordinator.stats()[0].trigger == Trigger::SchedulerExit);
  CHECK(r.machine.armed.empty());
  CHECK(r.machine.cleared == std::vector<kvm::WatchpointId>{id});

  // scx_root points at the dying scheduler until its disable work ends:
  // not armed again.
  r.poll(300ms);
  CHECK(r.machine.arms == 1);
  CHECK(r.machine.armed.empty());
  CHECK(r.trigger->problems().empty());

  SUBCASE("a new scheduler where the dead one was is watched; its death recorded, not captured") {
    r.g.ram.put64(kRootSym, 0);
    r.poll(400ms);
    r.g.ram.put32(kSch + r.l.sched_exit_kind, static_cast<uint32_t>(r.l.exit_none));
    r.g.ram.put64(kRootSym, dm(kSch));
    r.poll(500ms);
    REQUIRE(r.machine.armed.size() == 1);
    CHECK(r.machine.armed[0].gva == r.watched(kSch));
    r.claim("SCX_EXIT_ERROR");
    CHECK(r.hit(600ms));
    r.done("SCX_EXIT_ERROR");
    CHECK(r.hit(610ms));
    REQUIRE(r.trigger->exits().size() == 2);
    CHECK(r.trigger->exits()[1].kind == "SCX_EXIT_ERROR");
    CHECK_FALSE(r.trigger->exits()[1].captured);
    CHECK(r.machine.pauses == 1);  // only the first death is captured
    CHECK(r.trigger->failure_dump().late->snapshot_name == "@exit");
    CHECK_FALSE(r.machine.paused);
  }
}

TEST_CASE("ErrorTrigger: DONE before exit_info->kind is written keeps the first write's kind") {
  // SysRq-S claims the exit without scx_vexit(): exit_info->kind is written
  // by the disable work only after its DONE write, so the capture sees 0.
  Rig r;
  r.poll(0ms);
  r.claim("SCX_EXIT_SYSRQ");
  CHECK(r.hit(10ms));
  r.done("");
  CHECK(r.hit(20ms));
  REQUIRE(r.trigger->exits().size() == 1);
  const SchedulerExit& e = r.trigger->exits()[0];
  CHECK(e.kind == "SCX_EXIT_SYSRQ");
  CHECK(e.kind_value == exit_kind(r.l, "SCX_EXIT_SYSRQ"));
  CHECK(e.captured);
  CHECK(r.trigger->state() == TriggerState::Done);
  CHECK(r.trigger->failure_dump().schema() == "single");
}

TEST_CASE("ErrorTrigger: a userspace unload is recorded, not captured") {
  Rig r;
  r.poll(0ms);
  r.claim("SCX_EXIT_UNREG");
  CHECK(r.hit(10ms));
  r.done("");  // bpf_scx_unreg(): exit_info->kind is written after DONE
  CHECK(r.hit(20ms));
  CHECK(r.machine.pauses == 0);
  CHECK(r.machine.resumes == 2);
  CHECK_FALSE(r.machine.paused);
  CHECK(r.trigger->state() == TriggerState::Idle);
  REQUIRE(r.trigger->exits().size() == 1);
  CHECK(r.trigger->exits()[0].kind == "SCX_EXIT_UNREG");
  CHECK_FALSE(r.trigger->exits()[0].captured);
  CHECK_FALSE(is_death(r.trigger->exits()[0]));
  CHECK(r.trigger->failure_dump().empty());
  CHECK(r.machine.armed.empty());
  r.poll(100ms);
  CHECK(r.machine.arms == 1);

  SUBCASE("a scheduler loaded after the unload is captured when it dies") {
    r.g.ram.put64(kRootSym, 0);
    r.poll(200ms);
    r.g.ram.put32(kSch + r.l.sched_exit_kind, static_cast<uint32_t>(r.l.exit_none));
    r.g.ram.put64(kRootSym, dm(kSch));
    r.poll(300ms);
    r.claim("SCX_EXIT_ERROR_BPF");
    CHECK(r.hit(310ms));
    r.done("SCX_EXIT_ERROR_BPF");
    CHECK(r.hit(320ms));
    CHECK(r.trigger->state() == TriggerState::Done);
    REQUIRE(r.trigger->exits().size() == 2);
    CHECK(r.trigger->exits()[1].captured);
  }
}

TEST_CASE("ErrorTrigger: only DONE seen takes the kind from the capture") {
  Rig r;
  r.poll(0ms);
  SUBCASE("exit_info->kind written: a death, captured") {
    r.done("SCX_EXIT_ERROR_BPF");
    CHECK(r.hit(10ms));
    REQUIRE(r.trigger->exits().size() == 1);
    CHECK(r.trigger->exits()[0].kind == "SCX_EXIT_ERROR_BPF");
    CHECK(r.trigger->exits()[0].captured);
    CHECK(r.trigger->state() == TriggerState::Done);
  }
  SUBCASE("no kind written: no death, the capture dropped") {
    r.done("");
    CHECK(r.hit(10ms));
    REQUIRE(r.trigger->exits().size() == 1);
    CHECK_FALSE(is_death(r.trigger->exits()[0]));
    CHECK(r.trigger->state() == TriggerState::Idle);
    CHECK(r.trigger->failure_dump().empty());
  }
  CHECK_FALSE(r.machine.paused);
  CHECK(r.machine.armed.empty());
}

TEST_CASE("ErrorTrigger: a stall takes @early once, the exit then @exit (dual)") {
  Rig r;
  r.poll(0ms);  // arms, and checks: the hog has waited 1000 of 7500 jiffies
  CHECK(r.machine.pauses == 0);
  r.g.ram.put64(r.g.task(2) + r.l.task_runnable_at, kJiffies - kWatchdog / 2);
  r.poll(kStallPollInterval);
  CHECK(r.machine.pauses == 0);  // exactly half the timeout: not yet
  r.g.ram.put64(r.g.task(2) + r.l.task_runnable_at, kJiffies - 4000);
  r.poll(kStallPollInterval + 50ms);  // stalls are checked every kStallPollInterval
  CHECK(r.machine.pauses == 0);
  CHECK(r.trigger->state() == TriggerState::Idle);
  r.poll(2 * kStallPollInterval);
  CHECK(r.machine.pauses == 1);
  CHECK_FALSE(r.machine.paused);
  CHECK(r.trigger->state() == TriggerState::TookEarly);
  CHECK(any_contains(r.progress, "hog[200] waited 4000 of 7500 watchdog jiffies: early capture"));
  {
    const FailureDump& dump = r.trigger->failure_dump();
    REQUIRE(dump.early);
    CHECK(dump.early->snapshot_name == "@early");
    CHECK(dump.early->extra["trigger"] == "stall");
    CHECK(dump.early_max_age_jiffies == 4000);
    CHECK(dump.early_threshold_jiffies == kWatchdog / 2);
    CHECK(dump.schema() == "degraded");  // no late report yet
  }
  r.poll(3 * kStallPollInterval);
  CHECK(r.machine.pauses == 1);  // once

  r.claim("SCX_EXIT_ERROR_STALL");
  CHECK(r.hit(3 * kStallPollInterval + 10ms));
  r.done("SCX_EXIT_ERROR_STALL");
  CHECK(r.hit(3 * kStallPollInterval + 20ms));
  CHECK(r.machine.pauses == 2);
  CHECK(r.trigger->state() == TriggerState::Done);
  const FailureDump& dump = r.trigger->failure_dump();
  CHECK(dump.schema() == "dual");
  REQUIRE(dump.late);
  CHECK(r.trigger->exits()[0].kind == "SCX_EXIT_ERROR_STALL");
  auto j = dump.to_json();
  CHECK(j["schema"] == "dual");
  CHECK(j["early"]["snapshot_name"] == "@early");
  CHECK(j["late"]["snapshot_name"] == "@exit");
  CHECK(j["early_max_age_jiffies"] == 4000);
  CHECK(j["early_threshold_jiffies"] == kWatchdog / 2);
}

TEST_CASE("ErrorTrigger: DONE never comes: captured kDoneWait after the first write, noted") {
  Rig r;
  r.poll(0ms);
  r.g.put_exit(exit_kind(r.l, "SCX_EXIT_ERROR_BPF"), 0);  // kind and exit info, no DONE
  CHECK(r.hit(100ms));
  r.poll(100ms + kDoneWait);
  CHECK(r.machine.pauses == 0);
  r.poll(100ms + kDoneWait + kRootPollInterval);
  CHECK(r.machine.pauses == 1);
  CHECK_FALSE(r.machine.paused);
  CHECK(r.trigger->state() == TriggerState::Done);
  REQUIRE(r.trigger->exits().size() == 1);
  CHECK(r.trigger->exits()[0].captured);
  CHECK(r.trigger->exits()[0].msg == "task 100 dispatched to a bad DSQ");
  const FailureDump& dump = r.trigger->failure_dump();
  REQUIRE(dump.late);
  CHECK(dump.late->extra["trigger_note"] == "exit_kind did not reach DONE within 2000 ms of the exit");
  // Handled: the watch is gone, so a late DONE write is no second exit.
  CHECK(r.machine.armed.empty());
  r.poll(100ms + kDoneWait + 2 * kRootPollInterval);
  CHECK(r.machine.arms == 1);
  CHECK(r.trigger->exits().size() == 1);
}

TEST_CASE("ErrorTrigger: a scheduler already exiting when the watch is armed is captured at once") {
  Rig r;
  r.g.put_exit(exit_kind(r.l, "SCX_EXIT_ERROR_BPF"), 0);
  r.poll(0ms);
  CHECK(r.machine.pauses == 1);
  CHECK(r.trigger->state() == TriggerState::Done);
  REQUIRE(r.trigger->exits().size() == 1);
  CHECK(r.trigger->exits()[0].captured);
  REQUIRE(r.trigger->failure_dump().late);
  CHECK(r.trigger->failure_dump().late->extra["trigger_note"] ==
        "the scheduler was already exiting when ktest armed its watch");
  CHECK(r.machine.armed.empty());  // its DONE write is not a second exit
  r.poll(kRootPollInterval);
  CHECK(r.machine.arms == 1);
}

TEST_CASE("ErrorTrigger: an exit the watch does not report is taken by the poll after the grace") {
  Rig r;
  r.poll(0ms);
  REQUIRE(r.machine.armed.size() == 1);
  r.claim("SCX_EXIT_ERROR_BPF");  // written, but no hit comes (seen under nested KVM)
  r.poll(kRootPollInterval);
  CHECK(r.machine.pauses == 0);  // a hit may still be on its way
  REQUIRE(r.trigger->exits().size() == 1);  // recorded at once, captured later
  CHECK_FALSE(r.trigger->exits()[0].captured);
  r.poll(kRootPollInterval + kUnfiredWatchGrace - 1ms);
  CHECK(r.machine.pauses == 0);
  r.poll(2 * kRootPollInterval + kUnfiredWatchGrace);  // the next poll after the grace
  CHECK(r.machine.pauses == 1);
  REQUIRE(r.trigger->exits().size() == 1);
  CHECK(r.trigger->exits()[0].kind == "SCX_EXIT_ERROR_BPF");
  CHECK(r.trigger->exits()[0].captured);
  REQUIRE(r.trigger->failure_dump().late);
  CHECK(r.trigger->failure_dump().late->extra["trigger_note"].get<std::string>().find("did not fire") !=
        std::string::npos);
  CHECK(r.machine.armed.empty());
}

TEST_CASE("ErrorTrigger: an unreported exit whose scheduler goes away within the grace is captured then") {
  Rig r;
  r.poll(0ms);
  r.claim("SCX_EXIT_ERROR_STALL");
  r.poll(kRootPollInterval);
  REQUIRE(r.trigger->exits().size() == 1);
  r.g.ram.put64(kRootSym, 0);  // the disable work finished: scx_root is NULL
  r.poll(2 * kRootPollInterval);
  CHECK(r.machine.pauses == 1);
  REQUIRE(r.trigger->exits().size() == 1);
  CHECK(r.trigger->exits()[0].kind == "SCX_EXIT_ERROR_STALL");
  REQUIRE(r.trigger->failure_dump().late);
  CHECK(r.trigger->failure_dump().late->extra["trigger_note"].get<std::string>().find("going away") !=
        std::string::npos);
  CHECK(r.machine.armed.empty());
}

TEST_CASE("ErrorTrigger: without hits, the poll captures when exit_kind reaches DONE; a late hit is swallowed") {
  Rig r;
  r.poll(0ms);
  const kvm::WatchpointId id = r.machine.armed[0].id;
  r.claim("SCX_EXIT_ERROR_BPF");
  r.poll(kRootPollInterval);
  CHECK(r.machine.pauses == 0);
  r.done("SCX_EXIT_ERROR_BPF");
  r.poll(2 * kRootPollInterval);  // well inside the grace
  CHECK(r.machine.pauses == 1);
  REQUIRE(r.trigger->exits().size() == 1);
  CHECK(r.trigger->exits()[0].captured);
  REQUIRE(r.trigger->failure_dump().late);
  CHECK(r.trigger->failure_dump().late->extra["trigger_note"].get<std::string>().find("reached DONE") !=
        std::string::npos);
  CHECK(r.machine.armed.empty());
  // The cleared watch's hit was on its way: handled here, the guest resumed.
  CHECK(r.trigger->on_watchpoint(r.coordinator, r.machine.hit(id), r.at(2 * kRootPollInterval + 1ms)));
  CHECK(r.trigger->exits().size() == 1);
}

TEST_CASE("ErrorTrigger: a poll that first sees DONE says the scheduler has exited, not which exit it is") {
  Rig r;
  r.poll(0ms);
  r.done("SCX_EXIT_ERROR_BPF");
  r.poll(kRootPollInterval);
  CHECK(any_contains(r.progress, "scheduler ktest_sched has exited (exit_kind already reads SCX_EXIT_DONE)"));
  CHECK_FALSE(any_contains(r.progress, "is exiting"));
  r.poll(2 * kRootPollInterval);
  REQUIRE(r.trigger->exits().size() == 1);
  CHECK(r.trigger->exits()[0].captured);
  CHECK(r.trigger->exits()[0].kind == "SCX_EXIT_ERROR_BPF");  // from the exit info, at the capture
}

TEST_CASE("ErrorTrigger: a hit after the poll saw the exit first: DONE is waited for as usual") {
  Rig r;
  r.poll(0ms);
  r.claim("SCX_EXIT_ERROR_BPF");
  r.poll(kRootPollInterval);  // the poll is first; the hit was on its way
  CHECK(r.hit(kRootPollInterval + 1ms));
  r.poll(kRootPollInterval + kUnfiredWatchGrace + 5ms);
  CHECK(r.machine.pauses == 0);  // no capture: the watch works, so its DONE hit will take it
  CHECK(r.trigger->exits().size() == 1);
  CHECK_FALSE(r.trigger->exits()[0].captured);  // DONE has not come
}

TEST_CASE("ErrorTrigger: settle() at the run's end captures a death not delivered yet") {
  SUBCASE("exit_kind moved, the watch silent, the grace not over") {
    Rig r;
    r.poll(0ms);
    r.claim("SCX_EXIT_ERROR_STALL");
    r.poll(kRootPollInterval);
    CHECK(r.machine.pauses == 0);
    r.trigger->settle(r.coordinator, r.at(2 * kRootPollInterval));
    CHECK(r.machine.pauses == 1);
    REQUIRE(r.trigger->exits().size() == 1);
    CHECK(r.trigger->exits()[0].kind == "SCX_EXIT_ERROR_STALL");
    CHECK(r.trigger->exits()[0].captured);
    REQUIRE(r.trigger->failure_dump().late);
    CHECK(r.trigger->failure_dump().late->extra["trigger_note"].get<std::string>().find("run ended") !=
          std::string::npos);
    CHECK(r.machine.armed.empty());
  }
  SUBCASE("nothing moved since the last poll either") {
    Rig r;
    r.poll(0ms);
    r.claim("SCX_EXIT_ERROR_STALL");
    r.trigger->settle(r.coordinator, r.at(1ms));  // before any poll saw it
    CHECK(r.machine.pauses == 1);
    REQUIRE(r.trigger->exits().size() == 1);
    CHECK(r.trigger->exits()[0].captured);
  }
  SUBCASE("an exit seen by the watch, its DONE write not come") {
    Rig r;
    r.poll(0ms);
    r.claim("SCX_EXIT_ERROR_BPF");
    CHECK(r.hit(10ms));
    CHECK(r.trigger->exits().size() == 1);
    r.trigger->settle(r.coordinator, r.at(20ms));
    CHECK(r.trigger->exits()[0].captured);
    REQUIRE(r.trigger->failure_dump().late);
    CHECK(r.trigger->failure_dump().late->extra["trigger_note"] == "the run ended before exit_kind reached DONE");
  }
  SUBCASE("a scheduler that is fine is left alone") {
    Rig r;
    r.poll(0ms);
    r.trigger->settle(r.coordinator, r.at(kRootPollInterval));
    CHECK(r.machine.pauses == 0);
    CHECK(r.trigger->exits().empty());
    CHECK(r.machine.armed.size() == 1);
  }
}

TEST_CASE("ErrorTrigger: hostile guest data is skipped and noted, the guest left running") {
  SUBCASE("a torn scx_root") {
    Rig r;
    r.g.ram.put64(kRootSym, dm(kSch) + 3);
    for (int i = 0; i < 3; ++i) r.poll(i * kRootPollInterval);
    CHECK(r.machine.arms == 0);
    REQUIRE(r.trigger->problems().size() == 1);  // noted once
    CHECK(contains(r.trigger->problems()[0], "scx_root"));
    CHECK(contains(r.trigger->problems()[0], "not a kernel pointer"));
    CHECK(r.machine.pauses == 0);
    CHECK_FALSE(r.machine.paused);
    r.g.ram.put64(kRootSym, dm(kSch));  // the next read is whole
    r.poll(3 * kRootPollInterval);
    CHECK(r.machine.armed.size() == 1);
  }
  SUBCASE("a plausible scx_root pointing past RAM: exit_kind unreadable at the hit") {
    Rig r;
    r.g.ram.put64(kRootSym, dm(0x40000000));
    r.poll(0ms);
    r.poll(kStallPollInterval);  // the stall probe fails quietly
    REQUIRE(r.machine.armed.size() == 1);  // a watch cannot tell
    CHECK(r.machine.armed[0].gva == dm(0x40000000) + r.l.sched_exit_kind);
    CHECK(r.machine.pauses == 0);
    CHECK(r.hit(150ms));
    CHECK_FALSE(r.machine.paused);
    CHECK(r.machine.resumes == 1);
    CHECK(r.trigger->exits().empty());
    CHECK(r.trigger->state() == TriggerState::Idle);
    CHECK(any_contains(r.trigger->problems(), "reading exit_kind at its watch hit"));
    r.poll(200ms);
    CHECK(r.machine.arms == 1);
  }
  SUBCASE("an exit_kind outside enum scx_exit_kind") {
    Rig r;
    r.poll(0ms);
    r.g.ram.put32(kSch + r.l.sched_exit_kind, 0x7ffffff0);
    CHECK(r.hit(10ms));
    REQUIRE(r.trigger->exits().size() == 1);
    CHECK(r.trigger->exits()[0].kind.empty());
    CHECK(r.trigger->exits()[0].kind_value == 0x7ffffff0);
    CHECK_FALSE(r.machine.paused);
  }
  SUBCASE("the engine refuses the watch: noted once, retried once a second") {
    Rig r;
    r.machine.slots = 0;
    for (int i = 0; i < 3; ++i) r.poll(i * kRootPollInterval);
    CHECK(r.machine.arms == 1);  // each try pauses the guest: not every poll
    REQUIRE(r.trigger->problems().size() == 1);
    CHECK(contains(r.trigger->problems()[0], "cannot watch the scheduler's exit_kind"));
    CHECK(contains(r.trigger->problems()[0], "gdbstub refused"));
    r.machine.slots = 4;  // a WatchSnapshot watch fired and freed its slot
    r.poll(kArmRetryInterval);
    CHECK(r.machine.armed.size() == 1);
  }
  SUBCASE("the vCPUs do not stop for the capture: degraded, the guest resumed") {
    Rig r;
    r.poll(0ms);
    r.machine.pause_error = "vCPUs did not stop within 5000 ms";
    r.claim("SCX_EXIT_ERROR_BPF");
    CHECK(r.hit(10ms));
    r.done("SCX_EXIT_ERROR_BPF");
    CHECK(r.hit(20ms));
    CHECK_FALSE(r.machine.paused);
    CHECK(r.trigger->state() == TriggerState::Done);
    const FailureDump& dump = r.trigger->failure_dump();
    CHECK(dump.schema() == "degraded");
    CHECK_FALSE(dump.late);
    CHECK(contains(dump.degraded_reason, "vCPUs did not stop within 5000 ms"));
    CHECK(dump.to_json()["schema"] == "degraded");
    CHECK_FALSE(r.trigger->exits()[0].captured);
  }
  SUBCASE("no __per_cpu_offset: stalls are not watched, exits are") {
    Rig r(false);
    r.symbols->set(trigger_symbols(r.g.ram, false));
    r.poll(0ms);
    CHECK(any_contains(r.trigger->problems(), "stalls are not watched"));
    CHECK(r.machine.armed.size() == 1);
    r.g.ram.put64(r.g.task(2) + r.l.task_runnable_at, kJiffies - 7000);
    r.poll(kStallPollInterval);
    CHECK(r.machine.pauses == 0);
  }
  SUBCASE("kallsyms not there yet: nothing is read until they arrive") {
    Rig r(false);
    r.poll(0ms);
    CHECK(r.machine.arms == 0);
    CHECK(r.trigger->problems().empty());
    r.symbols->set(trigger_symbols(r.g.ram));
    r.poll(kRootPollInterval);
    CHECK(r.machine.armed.size() == 1);
  }
  SUBCASE("a kernel GuestKernel cannot open (KASLR): exits are not watched, noted") {
    Rig r(false);
    r.symbols->set(std::make_shared<kvm::control::SymbolTable>(*kvm::control::SymbolTable::parse(
        "ffffffff9a000000 T _text\nffffffff80002000 b scx_root\n")));
    r.poll(0ms);
    r.poll(kRootPollInterval);
    CHECK(r.machine.arms == 0);
    REQUIRE(r.trigger->problems().size() == 1);
    CHECK(contains(r.trigger->problems()[0], "scheduler exits are not watched"));
  }
}

TEST_CASE("ErrorTrigger: without vmlinux BTF nothing is watched") {
  ScxGuest g;
  FakeMachine machine(g.ram, 2);
  machine.reads_need_pause = false;
  SnapshotBridge bridge{64};
  FreezeCoordinator coordinator(machine, bridge, {});
  auto symbols = std::make_shared<SharedSymbols>();
  symbols->set(trigger_symbols(g.ram));
  SUBCASE("no Vmlinux") {
    ErrorTrigger trigger(machine, nullptr, kNoVmlinuxBtf, symbols, {});
    trigger.poll(coordinator, Clock::now());
    CHECK(machine.arms == 0);
    CHECK(trigger.state() == TriggerState::Idle);
  }
  SUBCASE("a Vmlinux without sched_ext") {
    ErrorTrigger trigger(machine, scx_test_vmlinux(std::nullopt, "the guest kernel has no sched_ext"), "",
                         symbols, {});
    trigger.poll(coordinator, Clock::now());
    CHECK(machine.arms == 0);
    CHECK(trigger.state() == TriggerState::Idle);
  }
}

TEST_CASE("ErrorTrigger: the scx section without a Vmlinux or sched_ext says why") {
  ScxGuest g;
  FakeMachine machine(g.ram, 2);
  SnapshotBridge bridge{64};
  FreezeCoordinator coordinator(machine, bridge, {});
  auto symbols = std::make_shared<SharedSymbols>();
  symbols->set(trigger_symbols(g.ram));
  coordinator.add_section(make_scx_section(nullptr, kNoVmlinuxBtf, symbols, 250));
  coordinator.add_section(make_bpf_maps_section(nullptr, kNoVmlinuxBtf, symbols));
  auto report = coordinator.take("s", Trigger::Doorbell);
  REQUIRE(report);
  REQUIRE(report->extra.contains("section_errors"));
  CHECK(report->extra["section_errors"]["sched_ext"] == "no vmlinux BTF for the guest kernel");
  CHECK(report->extra["section_errors"]["bpf maps"] == "no vmlinux BTF for the guest kernel");

  FreezeCoordinator without_scx(machine, bridge, {});
  without_scx.add_section(make_scx_section(scx_test_vmlinux(std::nullopt, "no sched_ext here"), "unused",
                                           symbols, 250));
  report = without_scx.take("s", Trigger::Doorbell);
  REQUIRE(report);
  CHECK(report->extra["section_errors"]["sched_ext"] == "no sched_ext here");
}

TEST_CASE("ErrorTrigger: with the fetched kernel's vmlinux BTF and the real scx section") {
  if (!fetched_vmlinux()) {
    MESSAGE("SKIPPED: no fetched kernel (configure with -Dkernel_dir=DIR holding vmlinux): the "
            "error trigger was not run with a layout from vmlinux BTF");
    return;
  }
  auto vmlinux = load_vmlinux(std::string(KTEST_KERNEL_DIR) + "/vmlinux");
  REQUIRE_MESSAGE(vmlinux, vmlinux.error().to_string());
  ScxGuest g;  // laid out with the kernel's BTF offsets
  FakeMachine machine(g.ram, 2);
  machine.reads_need_pause = false;
  SnapshotBridge bridge{64};
  FreezeCoordinator coordinator(machine, bridge, {});
  auto symbols = std::make_shared<SharedSymbols>();
  symbols->set(trigger_symbols(g.ram));
  coordinator.add_section(make_scx_section(*vmlinux, "", symbols, 250));
  ErrorTrigger trigger(machine, *vmlinux, "", symbols, {});
  const Clock::time_point t{std::chrono::hours(1)};
  trigger.poll(coordinator, t);
  REQUIRE(machine.armed.size() == 1);
  CHECK(machine.armed[0].gva == dm(kSch) + g.l.sched_exit_kind);
  const int64_t bpf_error = exit_kind(g.l, "SCX_EXIT_ERROR_BPF");
  g.ram.put32(kSch + g.l.sched_exit_kind, static_cast<uint32_t>(bpf_error));
  CHECK(trigger.on_watchpoint(coordinator, machine.hit(machine.armed[0].id), t + 10ms));
  g.put_exit(g.l.exit_done, static_cast<int32_t>(bpf_error));
  CHECK(trigger.on_watchpoint(coordinator, machine.hit(machine.armed[0].id), t + 20ms));
  CHECK_FALSE(machine.paused);
  CHECK(trigger.state() == TriggerState::Done);
  REQUIRE(trigger.exits().size() == 1);
  CHECK(trigger.exits()[0].captured);
  CHECK(trigger.exits()[0].msg == "task 100 dispatched to a bad DSQ");
  REQUIRE(trigger.failure_dump().late);
  REQUIRE(trigger.failure_dump().late->scx);
  CHECK_FALSE(trigger.failure_dump().late->extra.contains("section_errors"));
}

}  // namespace
}  // namespace ktest::freeze
