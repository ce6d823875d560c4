// read_bpf_maps over a synthetic guest: map_idr → maps → values rendered
// with BTF read from guest memory; a corrupt map is reported, not fatal.
#include <doctest/doctest.h>

#include "freeze/bpf_globals.h"
#include "freeze/deferred_render.h"
#include "freeze/vmlinux.h"
#include "freeze/tests/fake_machine.h"
#include "freeze/tests/synthetic_guest.h"

namespace ktest::freeze {
namespace {

using namespace testing;

TEST_CASE("read_bpf_maps: array and hash maps from guest memory; bad maps carry an error") {
  auto blob_bytes = btf_blob([](struct ::btf* b) {
    REQUIRE(btf__add_int(b, "int", 4, BTF_INT_SIGNED) == 1);
  });
  auto vmlinux = btf::Btf::from_bytes(blob_bytes, "test BTF");
  REQUIRE(vmlinux);

  Ram ram;
  auto symbols = guest_symbols(ram, "ffffffff80002000 d map_idr\n");
  // map_idr: xa_head → node at 0x3000 holding three maps.
  ram.put64(0x2008, (kPob + 0x3000) | 2);
  ram.put64(0x3008, kPob + 0x10000);
  ram.put64(0x3010, kPob + 0x11000);
  ram.put64(0x3018, kPob + 0x12000);
  // The object's struct btf at 0x6000, its blob at 0x7000.
  put_btf(ram, 0x6000, 0x7000, blob_bytes);
  put_map(ram, 0x10000, "t.bss", kMapTypeArray, 4, 4, 1, kPob + 0x6000);
  ram.put32(0x10000 + 64, 42);
  put_map(ram, 0x11000, "h", kMapTypeHash, 4, 4, 4, kPob + 0x6000);
  ram.put64(0x11000 + 64, kPob + 0x8000);  // buckets
  ram.put32(0x11000 + 72, 2);
  ram.put64(0x8000, kPob + 0x9000);  // bucket 0: one element ...
  ram.put64(0x8010, 1);              // bucket 1: empty
  ram.put64(0x9000, 3);              // ... ending at a nulls marker
  ram.put32(0x9000 + 16, 7);         // key
  ram.put32(0x9000 + 24, 99);        // value at key + round_up(4, 8)
  ram.put64(0x3020, kPob + 0x13000);
  put_map(ram, 0x13000, "pa", kMapTypePercpuArray, 4, 4, 2, kPob + 0x6000);
  ram.put64(0x13000 + 64, kPob + 0xa000);  // element 0's __percpu pointer
  ram.put64(0x13000 + 72, kPob + 0xa100);  // element 1's
  ram.put32(0xa000, 10);                   // CPU 0 (offset 0)
  ram.put32(0xa040, 11);                   // CPU 1 (offset 0x40)
  ram.put32(0xa140, 21);
  put_map(ram, 0x12000, "pe", 4, 4, 4, 2, 0);  // perf event array: no reader

  auto kernel = GuestKernel::open(ram, symbols, 0, 0);
  REQUIRE(kernel);
  KernelLayout layout = small_layout();
  MapReadContext ctx{**kernel, layout, *vmlinux, {0, 0x40}};
  auto maps = read_bpf_maps(ctx);
  REQUIRE(maps);
  REQUIRE(maps->size() == 4);
  const MapDump& bss = (*maps)[0];
  CHECK(bss.name == "t.bss");
  CHECK(bss.program == "t");
  CHECK_FALSE(bss.error);
  REQUIRE(bss.value);
  CHECK(value_to_json(*bss.value)["value"] == 42);
  const MapDump& hash = (*maps)[1];
  CHECK(hash.program == "t");  // same struct btf as t.bss
  CHECK_FALSE(hash.error);
  REQUIRE(hash.entries.size() == 1);
  CHECK(hash.entries[0].key_hex == "07 00 00 00");
  CHECK(value_to_json(*hash.entries[0].value)["value"] == 99);
  REQUIRE((*maps)[2].error);
  // The test BTF has no enum bpf_map_type: the number stands in for the name.
  CHECK((*maps)[2].error->rfind("map type 4 is not read: ", 0) == 0);
  const MapDump& percpu = (*maps)[3];
  CHECK_FALSE(percpu.error);
  REQUIRE(percpu.percpu_entries.size() == 2);
  REQUIRE(percpu.percpu_entries[1].per_cpu.size() == 2);
  CHECK(value_to_json(*percpu.percpu_entries[0].per_cpu[1])["value"] == 11);
  CHECK(value_to_json(*percpu.percpu_entries[1].per_cpu[1])["value"] == 21);

  SUBCASE("rendered after the capture from copies, the maps are the same") {
    DeferredRenders deferred;
    auto later = read_bpf_maps(ctx, nullptr, &deferred);
    REQUIRE(later);
    // The t.bss value, the hash map's one entry (copied whole), 2 x 2 per-CPU values.
    CHECK(deferred.queued() == 6);
    ram.put32(0x9000 + 24, 1000);  // the guest runs on: copies were taken
    REQUIRE(deferred.place(*later));
    CHECK(deferred.queued() == 0);
    Report now, after;
    now.maps = *maps;
    after.maps = *later;
    CHECK(report_to_text(after) == report_to_text(now));

    auto lost = read_bpf_maps(ctx, nullptr, &deferred);
    REQUIRE(lost);
    (*lost)[3].percpu_entries.pop_back();  // two placeholders gone
    auto placed = deferred.place(*lost);
    REQUIRE_FALSE(placed);
    CHECK(placed.error().message == "internal error: 2 of 5 values rendered after the capture found no place in "
                                    "the report");
    auto gone = read_bpf_maps(ctx, nullptr, &deferred);
    REQUIRE(gone);
    gone->erase(gone->begin() + 1);  // the hash map whose entry was copied
    placed = deferred.place(*gone);
    REQUIRE_FALSE(placed);
    CHECK(placed.error().message.find("the entries copied from the map at 0xffff888000011000 found no map") !=
          std::string::npos);
  }
  SUBCASE("a hash chain that loops is that map's error; the others are intact") {
    ram.put64(0x9000, kPob + 0x9000);
    auto again = read_bpf_maps(ctx);
    REQUIRE(again);
    REQUIRE((*again)[1].error);
    CHECK((*again)[1].error->find("cycle") != std::string::npos);
    CHECK((*again)[0].value);
  }
  SUBCASE("a BTF size from the guest that is absurd is refused") {
    ram.put32(0x6008, 0xffffffffU);
    auto again = read_bpf_maps(ctx);
    REQUIRE(again);
    REQUIRE((*again)[0].error);
    CHECK((*again)[0].error->find("implausible") != std::string::npos);
  }
  SUBCASE("a map pointer outside RAM becomes a placeholder map with an error") {
    ram.put64(0x3010, kPob + (4ULL << 30));
    auto again = read_bpf_maps(ctx);
    REQUIRE(again);
    REQUIRE(again->size() == 4);
    CHECK((*again)[1].error);
  }
}

// An xarray of 64-slot nodes at `nodes_gpa` onwards holding `entries` (kernel
// addresses) in index order, rooted at the xa_head at `head_gpa`.
void put_xarray(Ram& ram, uint64_t head_gpa, uint64_t nodes_gpa, const std::vector<uint64_t>& entries) {
  constexpr uint64_t kSlots = 64, kNodeSize = 8 + kSlots * 8;
  std::vector<uint64_t> level = entries;
  uint8_t shift = 0;
  do {
    std::vector<uint64_t> parents;
    for (std::size_t i = 0; i < level.size(); i += kSlots) {
      ram.bytes[nodes_gpa] = shift;
      for (std::size_t j = 0; j < kSlots && i + j < level.size(); ++j) ram.put64(nodes_gpa + 8 + j * 8, level[i + j]);
      parents.push_back((kPob + nodes_gpa) | 2);
      nodes_gpa += kNodeSize;
    }
    level = std::move(parents);
    shift += 6;
  } while (level.size() > 1);
  ram.put64(head_gpa, level[0]);
}

// A guest whose map_idr holds `count` one-int array maps without BTF.
struct ManyMaps {
  static constexpr uint64_t kMaps = 0x100000, kMapSize = 0x80, kNodes = 0x200000;
  Ram ram{4 << 20};
  kvm::control::SymbolTable symbols = guest_symbols(
      ram, "ffffffff80002000 d map_idr\nffffffff80003000 D __per_cpu_offset\nffffffff80004000 d link_idr\n");
  KernelLayout layout = small_layout();
  std::unique_ptr<GuestKernel> kernel;

  explicit ManyMaps(std::size_t count) {
    layout.links = KernelLayout::Links{12, 64, 77};  // link_idr is empty: no scheduler
    layout.xarray.slot_count = 64;
    std::vector<uint64_t> kvas;
    for (std::size_t i = 0; i < count; ++i) {
      uint64_t gpa = kMaps + i * kMapSize;
      put_map(ram, gpa, ("m" + std::to_string(i)).c_str(), kMapTypeArray, 4, 4, 1, 0);
      ram.put32(gpa + 64, static_cast<uint32_t>(i));
      kvas.push_back(kPob + gpa);
    }
    put_xarray(ram, 0x2008, kNodes, kvas);
    auto k = GuestKernel::open(ram, symbols, 0, 0);
    REQUIRE(k);
    kernel = std::move(*k);
  }
};

TEST_CASE("read_bpf_maps: kMaxMaps maps are all read; past them the rest are left out, and said") {
  auto vmlinux = btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty");
  REQUIRE(vmlinux);
  {
    ManyMaps guest(kMaxMaps);
    MapReadContext ctx{*guest.kernel, guest.layout, *vmlinux, {}};
    bool more = true;
    auto maps = read_bpf_maps(ctx, &more);
    REQUIRE(maps);
    CHECK_FALSE(more);
    REQUIRE(maps->size() == kMaxMaps);
    CHECK(maps->back().name == "m" + std::to_string(kMaxMaps - 1));
    CHECK_FALSE(maps->back().error);
    auto globals = collect_bpf_globals(*guest.kernel, guest.layout, *vmlinux);
    REQUIRE(globals);
    CHECK(globals->problems.empty());
  }
  {
    ManyMaps guest(kMaxMaps + 1);
    MapReadContext ctx{*guest.kernel, guest.layout, *vmlinux, {}};
    bool more = false;
    auto maps = read_bpf_maps(ctx, &more);
    REQUIRE(maps);
    CHECK(more);
    REQUIRE(maps->size() == kMaxMaps);  // the first ones are kept
    CHECK(maps->front().name == "m0");
    CHECK(maps->back().name == "m" + std::to_string(kMaxMaps - 1));
    auto globals = collect_bpf_globals(*guest.kernel, guest.layout, *vmlinux);
    REQUIRE(globals);
    CHECK(globals->problems == std::vector<std::string>{
                                   "more than 4096 BPF maps; the globals of the rest are not listed"});
    // Other walks of an xarray keep refusing what is past their bound.
    auto all = collect_xarray_entries(*guest.kernel, kPob + 0x2000, guest.layout.xarray, kMaxMaps);
    REQUIRE_FALSE(all);
    CHECK(all.error().message == "the xarray holds more than 4096 entries");
  }
}

TEST_CASE("the bpf maps section: past kMaxMaps the maps read are kept, and the rest said left out") {
  auto empty = btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty");
  REQUIRE(empty);
  auto fill = [&](ManyMaps& guest, Report& report) {
    auto vmlinux = std::make_shared<const Vmlinux>(Vmlinux{*empty, guest.layout, std::nullopt, "no sched_ext"});
    auto symbols = std::make_shared<SharedSymbols>();
    symbols->set(std::make_shared<const kvm::control::SymbolTable>(guest.symbols));
    FakeMachine machine(guest.ram);
    REQUIRE(machine.pause_all());  // a capture reads a frozen guest
    return make_bpf_maps_section(vmlinux, "", symbols)->fill(machine, report);
  };
  {
    ManyMaps guest(kMaxMaps);
    Report report;
    Status filled = fill(guest, report);
    CHECK_MESSAGE(filled, filled.error().to_string());
    CHECK(report.maps.size() == kMaxMaps);
  }
  ManyMaps guest(kMaxMaps + 1);
  Report report;
  Status filled = fill(guest, report);
  REQUIRE_FALSE(filled);
  CHECK(filled.error().to_string() == "more than 4096 BPF maps; the rest are left out");
  CHECK(report.maps.size() == kMaxMaps);

  // Said also when the scheduler's maps cannot be told apart.
  guest.layout.links.reset();
  guest.layout.links_unavailable = "no struct 'bpf_struct_ops_link'";
  Report again;
  filled = fill(guest, again);
  REQUIRE_FALSE(filled);
  CHECK(filled.error().to_string() ==
        "more than 4096 BPF maps; the rest are left out; finding the attached scheduler's maps: "
        "the kernel's BTF lacks what struct_ops links need: no struct 'bpf_struct_ops_link'");
  CHECK(again.maps.size() == kMaxMaps);
}

TEST_CASE("read_bpf_maps: an array of kMaxArrayEntries is read whole; a larger one is cut, and said") {
  auto vmlinux = btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty");
  REQUIRE(vmlinux);
  ManyMaps guest(1);
  constexpr uint64_t kArray = ManyMaps::kMaps;
  for (uint32_t i = 0; i <= kMaxArrayEntries; ++i) guest.ram.put32(kArray + 64 + i * 8ULL, 1000 + i);
  MapReadContext ctx{*guest.kernel, guest.layout, *vmlinux, {}};

  guest.ram.put32(kArray + 28, kMaxArrayEntries);  // max_entries
  auto whole = read_bpf_maps(ctx);
  REQUIRE(whole);
  const MapDump& at_limit = whole->at(0);
  CHECK_FALSE(at_limit.error);
  REQUIRE(at_limit.entries.size() == kMaxArrayEntries);
  CHECK(at_limit.entries.back().value_hex == "e7 07 00 00");  // 1000 + 1023

  guest.ram.put32(kArray + 28, kMaxArrayEntries + 1);
  auto cut = read_bpf_maps(ctx);
  REQUIRE(cut);
  const MapDump& past = cut->at(0);
  CHECK(past.entries.size() == kMaxArrayEntries);  // the first ones are kept
  REQUIRE(past.error);
  CHECK(*past.error == "showing the first 1024 of 1025 elements");
}

TEST_CASE("read_bpf_maps: a hash of kMaxHashEntries elements is read whole; past them the first are kept, and said") {
  auto vmlinux = btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty");
  REQUIRE(vmlinux);
  ManyMaps guest(1);
  constexpr uint64_t kHash = ManyMaps::kMaps, kBuckets = 0x4000, kElems = 0x300000, kElemSize = 32;
  Ram& ram = guest.ram;
  ram.bytes.resize(8 << 20);  // GuestKernel reads through `ram`, so it sees the growth
  put_map(ram, kHash, "h", kMapTypeHash, 4, 4, kMaxHashEntries, 0);
  ram.put64(kHash + 64, kPob + kBuckets);
  ram.put32(kHash + 72, 1);  // one bucket, one chain
  // `count` elements (key i, value 7i) chained in bucket 0; a nulls marker ends the chain.
  auto chain = [&](uint64_t count) {
    ram.put64(kBuckets, kPob + kElems);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t elem = kElems + i * kElemSize;
      ram.put64(elem, i + 1 < count ? kPob + elem + kElemSize : 1);
      ram.put32(elem + 16, static_cast<uint32_t>(i));
      ram.put32(elem + 24, static_cast<uint32_t>(7 * i));
    }
  };
  MapReadContext ctx{*guest.kernel, guest.layout, *vmlinux, {}};

  chain(kMaxHashEntries);
  auto whole = read_bpf_maps(ctx);
  REQUIRE(whole);
  const MapDump& at_limit = whole->at(0);
  CHECK_FALSE(at_limit.error);
  REQUIRE(at_limit.entries.size() == kMaxHashEntries);
  CHECK(at_limit.entries.back().key_hex == "ff ff 00 00");

  chain(kMaxHashEntries + 1);
  auto cut = read_bpf_maps(ctx);
  REQUIRE(cut);
  const MapDump& past = cut->at(0);
  REQUIRE(past.error);
  CHECK(*past.error == "showing the first 65536 elements; the map holds more");
  REQUIRE(past.entries.size() == kMaxHashEntries);  // the first ones are kept
  CHECK(past.entries.back().key_hex == "ff ff 00 00");
}

TEST_CASE("per_cpu_offsets: kMaxGuestCpus CPUs are read; the CPUs past them are left out") {
  Ram ram;
  auto symbols = guest_symbols(ram, "ffffffff80010000 D __per_cpu_offset\n");
  for (uint64_t cpu = 0; cpu <= kMaxGuestCpus; ++cpu) ram.put64(0x10000 + cpu * 8, 0x40 * cpu);
  auto kernel = GuestKernel::open(ram, symbols, 0, 0);
  REQUIRE(kernel);
  auto at_limit = (*kernel)->per_cpu_offsets(kMaxGuestCpus);
  REQUIRE(at_limit);
  REQUIRE(at_limit->size() == kMaxGuestCpus);
  CHECK(at_limit->back() == 0x40 * (kMaxGuestCpus - 1));
  auto past = (*kernel)->per_cpu_offsets(kMaxGuestCpus + 1);
  REQUIRE(past);
  CHECK(*past == *at_limit);
  CHECK(kMaxPercpuCpus == kMaxGuestCpus);  // the map readers' per-CPU values follow these offsets

  // A per-CPU array's element holds one value per offset read.
  put_map(ram, 0x20000, "pa", kMapTypePercpuArray, 4, 4, 1, 0);
  ram.put64(0x20000 + 64, kPob + 0x30000);  // element 0's __percpu pointer
  for (uint64_t cpu = 0; cpu < kMaxGuestCpus; ++cpu) ram.put32(0x30000 + 0x40 * cpu, static_cast<uint32_t>(cpu));
  symbols = guest_symbols(ram, "ffffffff80010000 D __per_cpu_offset\nffffffff80002000 d map_idr\n");
  ram.put64(0x2008, kPob + 0x20000);  // map_idr: a single entry
  auto with_idr = GuestKernel::open(ram, symbols, 0, 0);
  REQUIRE(with_idr);
  auto vmlinux = btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty");
  REQUIRE(vmlinux);
  KernelLayout layout = small_layout();
  MapReadContext ctx{**with_idr, layout, *vmlinux, *past};
  auto maps = read_bpf_maps(ctx);
  REQUIRE(maps);
  REQUIRE(maps->size() == 1);
  REQUIRE(maps->at(0).percpu_entries.size() == 1);
  CHECK(maps->at(0).percpu_entries[0].per_cpu.size() == kMaxGuestCpus);
}

TEST_CASE("find_active_object: the object of the map a live sched_ext struct_ops link points at") {
  Ram ram;
  auto symbols = guest_symbols(ram, "ffffffff80002100 d link_idr\n");
  KernelLayout layout = small_layout();
  layout.links = KernelLayout::Links{12, 64, 77};
  layout.map_vmlinux_value_type = 48;
  // link_idr: a node at 0x3000 with a tracing link and a struct_ops link.
  ram.put64(0x2108, (kPob + 0x3000) | 2);
  ram.put64(0x3008, kPob + 0x20000);
  ram.put64(0x3010, kPob + 0x21000);
  ram.put32(0x20000 + 12, 2);                  // BPF_LINK_TYPE_TRACING
  ram.put32(0x21000 + 12, kLinkTypeStructOps);
  ram.put64(0x21000 + 64, kPob + 0x14000);     // → the scheduler's ops map
  ram.put32(0x14000 + layout.map_vmlinux_value_type, 77);  // a sched_ext_ops value
  for (uint64_t map : {0x14000, 0x10000, 0x11000}) ram.put64(map + 32, kPob + 0x6000);
  ram.put64(0x12000 + 32, kPob + 0x6800);     // another object's map
  std::vector<MapDump> maps(4);
  const char* programs[] = {"sched", "sched", "", "other"};
  uint64_t kvas[] = {0x10000, 0x14000, 0x11000, 0x12000};
  for (int i = 0; i < 4; ++i) {
    maps[i].map_kva = kPob + kvas[i];
    maps[i].program = programs[i];
  }
  auto kernel = GuestKernel::open(ram, symbols, 0, 0);
  REQUIRE(kernel);
  auto btf = btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty");
  REQUIRE(btf);
  MapReadContext ctx{**kernel, layout, *btf, {}};

  auto active = find_active_object(ctx, maps);
  REQUIRE(active);
  REQUIRE(*active);
  CHECK((*active)->obj_name == "sched");
  CHECK((*active)->map_kvas == std::vector<uint64_t>{kPob + 0x10000, kPob + 0x14000, kPob + 0x11000});

  SUBCASE("a detached link (map NULL) means no scheduler") {
    ram.put64(0x21000 + 64, 0);
    auto none = find_active_object(ctx, maps);
    REQUIRE(none);
    CHECK_FALSE(*none);
  }
  SUBCASE("a struct_ops link of another kind (e.g. tcp_congestion_ops) is not the scheduler") {
    ram.put32(0x14000 + 48, 78);
    auto none = find_active_object(ctx, maps);
    REQUIRE(none);
    CHECK_FALSE(*none);
  }
  SUBCASE("two live sched_ext links are an error, not a guess") {
    ram.put32(0x20000 + 12, kLinkTypeStructOps);
    ram.put64(0x20000 + 64, kPob + 0x12000);
    ram.put32(0x12000 + 48, 77);
    auto two = find_active_object(ctx, maps);
    REQUIRE_FALSE(two);
    CHECK(two.error().message.find("two live sched_ext") != std::string::npos);
  }
  SUBCASE("a kernel without the link types says why") {
    layout.links.reset();
    layout.links_unavailable = "no struct 'bpf_struct_ops_link'";
    auto missing = find_active_object(ctx, maps);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message.find("bpf_struct_ops_link") != std::string::npos);
  }
}

}  // namespace
}  // namespace ktest::freeze
