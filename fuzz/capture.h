// The capture path for the image targets, and the checks every report
// must pass whatever the guest held.
//
// Contract:
// - capture_image() runs a real FreezeCoordinator capture (pause, the given
//   sections, resume) over a FakeMachine (freeze/tests/fake_machine.h)
//   whose RAM is the image, with the image's kallsyms published as the
//   session publishes them. `vcpus` is clamped to 1..kImageCpus.
// - check_report() asserts what holds for any report, however hostile its
//   source: it serializes, the JSON reads back, and reading back changes
//   nothing (report_to_json of the re-read report is the same document);
//   its Snapshot view and text rendering never fail hard. With
//   KTEST_FUZZ_PRINT set it prints the report's JSON to stderr (to see
//   what a seed or a crash input captures: fuzz_<name> -runs=1 FILE).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "freeze/bpf_maps.h"
#include "freeze/coordinator.h"
#include "fuzz/guest_image.h"
#include "snapshot/report.h"

namespace ktest::fuzz {

// The image's kallsyms as SharedSymbols (what the sections read them from).
std::shared_ptr<const freeze::SharedSymbols> image_shared_symbols();

Report capture_image(ImageGuest& guest, uint32_t vcpus,
                     std::vector<std::unique_ptr<freeze::ReportSection>> sections);

void check_report(const Report& report);

}  // namespace ktest::fuzz
