// The freeze coordinator over a fake machine: what each doorbell request
// does to the guest (pauses, resumes, watchpoints) and what it answers.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "freeze/coordinator.h"
#include "freeze/tests/fake_machine.h"
#include "kvm/control_protocol.h"
#include "snapshot/bridge.h"

using namespace ktest;
using namespace ktest::freeze;
using ktest::freeze::testing::FakeMachine;
using ktest::freeze::testing::Ram;

namespace {

kvm::DoorbellEvent bell(uint64_t serial, doorbell::RequestKind kind, const std::string& payload) {
  return {serial, static_cast<uint32_t>(kind), std::vector<uint8_t>(payload.begin(), payload.end())};
}

struct Rig {
  Ram ram;
  FakeMachine machine{ram, 2};
  SnapshotBridge bridge{64};
  FreezeCoordinator coordinator{machine, bridge, {"7.2.13"}};
  Rig() {
    coordinator.set_symbols(std::make_shared<kvm::control::SymbolTable>(
        *kvm::control::SymbolTable::parse("ffffffff81000000 T _text\nffffffff82000000 D jiffies_64\n")));
  }
  Report stored(const std::string& name) {
    for (auto& named : bridge.drain())
      if (named.name == name) return named.report;
    FAIL("no report named " << name);
    return {};
  }
};

}  // namespace

TEST_CASE("guest-supplied snapshot names are validated") {
  CHECK(validate_snapshot_name("early").value() == "early");
  CHECK(validate_snapshot_name("phase-2.after:attach_1").ok());
  CHECK_FALSE(validate_snapshot_name("").ok());
  CHECK(validate_snapshot_name(std::string(kMaxSnapshotNameBytes, 'a')).ok());
  CHECK_FALSE(validate_snapshot_name(std::string(kMaxSnapshotNameBytes + 1, 'a')).ok());
  auto bad = validate_snapshot_name(std::string("a/../b"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().to_string() ==
        "snapshot name contains byte 0x2f (hint: names use letters, digits, '_', '.', ':' and '-')");
  CHECK_FALSE(validate_snapshot_name(std::string("nul\0byte", 8)).ok());
}

TEST_CASE("Capture: pause, report into the bridge, resume, reply Ok; the freeze is verified") {
  Rig r;
  REQUIRE(r.coordinator.on_doorbell(bell(1, doorbell::RequestKind::Capture, "before")));
  CHECK(r.machine.pauses == 1);
  CHECK(r.machine.resumes == 1);
  CHECK_FALSE(r.machine.paused);
  CHECK(r.machine.last_status == doorbell::ReplyStatus::Ok);
  CHECK(r.machine.last_reply.starts_with("captured before: 0 maps, 0 entries, frozen "));
  CHECK(r.machine.register_reads == 2);  // 2 vCPUs, read once
  CHECK(r.machine.all_register_reads == 1);  // all at once
  CHECK(r.machine.rendezvous == 2);  // the registers with the pause, the check with the resume
  Report report = r.stored("before");
  REQUIRE(report.vcpu_regs.size() == 2);
  REQUIRE(report.vcpu_regs[1].has_value());
  CHECK(report.vcpu_regs[1]->instruction_pointer == 0xffffffff81000100);
  CHECK(report.kernel_version == "7.2.13");
  CHECK(report.extra["trigger"] == "doorbell");
  CHECK(report.extra["freeze_verified"] == true);
  CHECK_FALSE(report.extra.contains("section_errors"));
  REQUIRE(r.coordinator.stats().size() == 1);
  CHECK(r.coordinator.stats()[0].section_errors.empty());
}

TEST_CASE("Capture: a machine that ran during the capture is the section error 'freeze'") {
  Rig r;
  r.machine.ran_while_paused = true;
  REQUIRE(r.coordinator.on_doorbell(bell(1, doorbell::RequestKind::Capture, "torn")));
  CHECK(r.machine.last_status == doorbell::ReplyStatus::Ok);  // captured; the report says what is wrong
  Report report = r.stored("torn");
  CHECK(report.extra["freeze_verified"] == false);
  const std::string why = report.extra["section_errors"]["freeze"];
  CHECK(why == "the pause did not hold: the machine resumed 1 time(s) since the pause: what was read may be "
               "inconsistent");
  CHECK(r.machine.resumes == 1);  // resumed all the same
  CHECK(r.coordinator.stats()[0].section_errors.at("freeze") == why);
}

TEST_CASE("Capture: a machine that reports running at the end is the section error 'freeze'") {
  Rig r;
  r.machine.pause_is_lost = true;
  REQUIRE(r.coordinator.on_doorbell(bell(1, doorbell::RequestKind::Capture, "lost")));
  Report report = r.stored("lost");
  CHECK(report.extra["freeze_verified"] == false);
  CHECK(report.extra["section_errors"]["freeze"].get<std::string>().find("reports running") != std::string::npos);
  CHECK(report.extra["section_errors"]["vcpu registers"].get<std::string>().find("reports running") !=
        std::string::npos);
  REQUIRE(report.vcpu_regs.size() == 2);  // one slot per vCPU, none read
  CHECK_FALSE(report.vcpu_regs[0].has_value());
}

TEST_CASE("Capture: a failed pause is a degraded report and a Degraded reply, the guest left running") {
  Rig r;
  r.machine.pause_error = "QMP stop timed out";
  REQUIRE(r.coordinator.on_doorbell(bell(7, doorbell::RequestKind::Capture, "late")));
  CHECK(r.machine.last_status == doorbell::ReplyStatus::Degraded);
  CHECK(r.machine.last_reply.find("QMP stop timed out") != std::string::npos);
  CHECK(r.machine.register_reads == 0);  // nothing is read from a guest that was not frozen
  Report report = r.stored("late");
  CHECK(report.schema == kSchemaDegraded);
  REQUIRE(report.degraded);
  CHECK(report.degraded->reason.find("could not be paused") != std::string::npos);
  REQUIRE(r.coordinator.stats().size() == 1);
  CHECK(r.coordinator.stats()[0].degraded);
}

TEST_CASE("Capture: a bad name is refused before the guest is touched") {
  Rig r;
  REQUIRE(r.coordinator.on_doorbell(bell(1, doorbell::RequestKind::Capture, "../etc")));
  CHECK(r.machine.last_status == doorbell::ReplyStatus::Error);
  CHECK(r.machine.pauses == 0);
  CHECK(r.bridge.size() == 0);
}

TEST_CASE("RegisterWatch arms one-shot: the first hit captures under its name and clears the watch") {
  Rig r;
  nlohmann::json request = {{"name", "tick"}, {"symbol", "jiffies_64"}, {"access", "w"}, {"len", 8}};
  REQUIRE(r.coordinator.on_doorbell(bell(1, doorbell::RequestKind::RegisterWatch, request.dump())));
  CHECK(r.machine.last_status == doorbell::ReplyStatus::Ok);
  CHECK(r.machine.last_reply == "jiffies_64 at 0xffffffff82000000");
  REQUIRE(r.machine.armed.size() == 1);
  const kvm::WatchpointId id = r.machine.armed[0].id;
  REQUIRE(r.coordinator.on_watchpoint(r.machine.hit(id)));
  CHECK(r.machine.armed.empty());
  CHECK(r.machine.cleared == std::vector<kvm::WatchpointId>{id});
  CHECK_FALSE(r.machine.paused);
  CHECK(r.stored("tick").extra["trigger"] == "watchpoint");
  // A second hit of the same (already cleared) watch only lets the guest go on.
  const int resumes = r.machine.resumes;
  REQUIRE(r.coordinator.on_watchpoint(r.machine.hit(id)));
  CHECK(r.machine.resumes == resumes + 1);
  CHECK(r.bridge.size() == 0);
}

TEST_CASE("RegisterWatch refused by the machine: the error names the debug-register limit") {
  Rig r;
  r.machine.slots = 0;
  nlohmann::json request = {{"name", "tick"}, {"symbol", "jiffies_64"}};
  REQUIRE(r.coordinator.on_doorbell(bell(1, doorbell::RequestKind::RegisterWatch, request.dump())));
  CHECK(r.machine.last_status == doorbell::ReplyStatus::Error);
  CHECK(r.machine.last_reply.find("under KVM has 4 in all") != std::string::npos);
  CHECK(r.coordinator.on_doorbell(bell(2, doorbell::RequestKind::RegisterWatch, "{not json")));
  CHECK(r.machine.last_reply == "watch registration is not a JSON object");
}

TEST_CASE("Ping and unknown kinds") {
  Rig r;
  REQUIRE(r.coordinator.on_doorbell(bell(1, doorbell::RequestKind::Ping, "")));
  CHECK(r.machine.last_status == doorbell::ReplyStatus::Ok);
  CHECK(r.machine.last_reply == "pong");
  REQUIRE(r.coordinator.on_doorbell(kvm::DoorbellEvent{2, 99, {}}));
  CHECK(r.machine.last_status == doorbell::ReplyStatus::Error);
  CHECK(r.machine.last_reply == "unknown request kind 99");
  CHECK(r.machine.pauses == 0);
}
