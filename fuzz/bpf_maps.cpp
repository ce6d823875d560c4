// The BPF maps capture: a FreezeCoordinator capture with the bpf_maps
// section (map_idr walk, each map's header and struct btf, every per-type
// reader, the attached scheduler through link_idr) over a mutated image of
// a guest laid out for the mini vmlinux (fuzz/mini_kernel.h); then the
// BPF-global lookup a WatchSnapshot makes. The report must survive
// check_report() whatever the guest held.
//   arg 0  vCPUs (1..8; per-CPU values are read for each)
//   arg 1  with bit 0: the BPF-global name looked up is "obj.nr_events"
#include "freeze/bpf_globals.h"
#include "fuzz/capture.h"
#include "fuzz/mini_kernel.h"
#include "fuzz/seeds.h"

using namespace ktest;
using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(bpf_maps, bpf_maps_seeds) {
  auto guest = open_image(data);
  auto vmlinux = mini_vmlinux();
  std::vector<std::unique_ptr<freeze::ReportSection>> sections;
  sections.push_back(freeze::make_bpf_maps_section(vmlinux, "", image_shared_symbols()));
  Report report = capture_image(*guest, guest->arg32(0), std::move(sections));
  for (const auto& m : report.maps) {
    fuzz_check(!m.error || !m.error->empty(), "a map's error says why");
  }
  check_report(report);

  if (!guest->kernel) return;
  auto globals = freeze::collect_bpf_globals(*guest->kernel, vmlinux->maps, vmlinux->btf);
  if (!globals) return;
  for (const auto& g : globals->vars) {
    fuzz_check(uint64_t{g.offset} + g.size >= g.offset, "a global's extent does not wrap");
  }
  std::string_view wanted = (guest->arg(1) & 1) != 0 ? "obj.nr_events" : "nr_events";
  auto target = freeze::resolve_watch_symbol(wanted, 8, image_symbols(),
                                             [&]() -> Result<freeze::BpfGlobals> { return *globals; });
  fuzz_check(target.ok() || !target.error().message.empty(), "a failed lookup says why");
  if (target) fuzz_check(target->address % 8 == 0, "an 8-byte watch is aligned");
}
