// read_bpf_maps over a synthetic guest: map_idr → maps → values rendered
// with BTF read from guest memory; a corrupt map is reported, not fatal.
#include <doctest/doctest.h>

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
