#include "fuzz/capture.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "freeze/tests/fake_machine.h"
#include "snapshot/dump.h"
#include "snapshot/snapshot.h"

namespace ktest::fuzz {

std::shared_ptr<const freeze::SharedSymbols> image_shared_symbols() {
  static const auto shared = [] {
    auto s = std::make_shared<freeze::SharedSymbols>();
    s->set(std::make_shared<const kvm::control::SymbolTable>(image_symbols()));
    return s;
  }();
  return shared;
}

Report capture_image(ImageGuest& guest, uint32_t vcpus,
                     std::vector<std::unique_ptr<freeze::ReportSection>> sections) {
  freeze::testing::FakeMachine machine(guest.ram, std::clamp<uint32_t>(vcpus, 1, kImageCpus));
  SnapshotBridge bridge{64};
  freeze::FreezeCoordinator coordinator(machine, bridge, {});
  for (auto& s : sections) coordinator.add_section(std::move(s));
  auto report = coordinator.take("fuzz", freeze::Trigger::Doorbell);
  fuzz_check(report.ok(), "a capture of a live fake machine always produces a report");
  fuzz_check(!machine.paused, "a capture never leaves the guest paused");
  return std::move(*report);
}

void check_report(const Report& report) {
  nlohmann::json first = report_to_json(report);
  if (std::getenv("KTEST_FUZZ_PRINT") != nullptr) std::fprintf(stderr, "%s\n", first.dump(1).c_str());
  auto back = report_from_json(first);
  fuzz_check(back.ok(), "a report's JSON reads back");
  fuzz_check(report_to_json(*back) == first, "reading a report's JSON back changes nothing");
  Snapshot snapshot(*back);
  for (const auto& m : snapshot.maps()) {
    for (const auto& e : m.entries()) (void)e.key_text();
  }
  (void)render_report_text(NamedReport{"fuzz", *back});
}

}  // namespace ktest::fuzz
