// TASK_STORAGE maps over a synthetic guest: elements keyed by the owner
// task's pid, values rendered with the map's BTF; hostile chains, counts
// and pointers give that map an error and leave the other maps intact.
#include <doctest/doctest.h>

#include "freeze/tests/synthetic_guest.h"

namespace ktest::freeze {
namespace {

using namespace testing;

constexpr uint64_t kBss = 0x10000, kTaskCtx = 0x11000, kBuckets = 0x8000;
constexpr uint64_t kElemA = 0x20000, kElemB = 0x21000;

// A bpf_local_storage_elem at `elem` whose storage (at `storage`) is owned
// by a task (at `task`) with `pid`; the value is {weight, nr_enqueued}.
void put_element(Ram& ram, const KernelLayout::LocalStorage& l, uint64_t elem, uint64_t storage,
                 uint64_t task, uint32_t pid, uint64_t weight, uint64_t nr_enqueued) {
  ram.put64(elem + l.elem_storage, kPob + storage);
  ram.put64(elem + l.elem_smap, kPob + kTaskCtx);
  ram.put64(elem + l.elem_data, weight);
  ram.put64(elem + l.elem_data + 8, nr_enqueued);
  ram.put64(storage + l.storage_owner, kPob + task);
  ram.put32(task + l.task_pid, pid);
}

const RenderedValue* member(const RenderedValue& v, std::string_view name) {
  for (const auto& m : v.members) {
    if (m.name == name) return &m.value;
  }
  return nullptr;
}

struct TaskStorageGuest {
  Ram ram;
  kvm::control::SymbolTable symbols = guest_symbols(ram, "ffffffff80002000 d map_idr\n");
  KernelLayout layout = small_layout();
  std::vector<uint8_t> blob = btf_blob([](struct ::btf* b) {
    REQUIRE(btf__add_int(b, "int", 4, BTF_INT_SIGNED) == 1);
    REQUIRE(btf__add_int(b, "unsigned long long", 8, 0) == 2);
    REQUIRE(btf__add_struct(b, "task_ctx", 16) == 3);
    REQUIRE(btf__add_field(b, "weight", 2, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "nr_enqueued", 2, 64, 0) == 0);
  });
  Result<btf::Btf> vmlinux = btf::Btf::from_bytes(blob, "test BTF");

  TaskStorageGuest() {
    REQUIRE(vmlinux);
    const auto& l = *layout.local_storage;
    ram.put64(0x2008, (kPob + 0x3000) | 2);  // map_idr → node: .bss, task_ctx
    ram.put64(0x3008, kPob + kBss);
    ram.put64(0x3010, kPob + kTaskCtx);
    put_btf(ram, 0x6000, 0x7000, blob);
    put_map(ram, kBss, "t.bss", kMapTypeArray, 4, 4, 1, kPob + 0x6000);
    ram.put32(kBss + layout.array_value, 42);
    put_map(ram, kTaskCtx, "task_ctx", kMapTypeTaskStorage, 4, 16, 0, kPob + 0x6000);
    ram.put32(kTaskCtx + layout.map_btf_value_type, 3);
    ram.put64(kTaskCtx + l.map_buckets, kPob + kBuckets);
    ram.put32(kTaskCtx + l.map_bucket_log, 1);  // two buckets, one element each
    ram.put64(kBuckets + l.bucket_head, kPob + kElemA + l.elem_next);
    ram.put64(kBuckets + l.bucket_size + l.bucket_head, kPob + kElemB + l.elem_next);
    put_element(ram, l, kElemA, 0x28000, 0x30000, 300, 100, 5);
    put_element(ram, l, kElemB, 0x29000, 0x31000, 200, 120, 7);
  }

  std::vector<MapDump> read() {
    auto kernel = GuestKernel::open(ram, symbols, 0, 0);
    REQUIRE(kernel);
    MapReadContext ctx{**kernel, layout, *vmlinux, {}};
    auto maps = read_bpf_maps(ctx);
    REQUIRE(maps);
    REQUIRE(maps->size() == 2);
    CHECK_FALSE((*maps)[0].error);  // the other map is always intact
    CHECK(value_to_json(*(*maps)[0].value)["value"] == 42);
    return std::move(*maps);
  }
};

TEST_CASE("task storage: one entry per owner task, keyed by its pid, sorted") {
  TaskStorageGuest guest;
  auto maps = guest.read();
  const MapDump& task_ctx = maps[1];
  CHECK(task_ctx.name == "task_ctx");
  CHECK(task_ctx.program == "t");
  CHECK(map_type_name(task_ctx.map_type) == "task_storage");
  REQUIRE_MESSAGE(!task_ctx.error, task_ctx.error.value_or(""));
  REQUIRE(task_ctx.entries.size() == 2);
  const MapEntry& first = task_ctx.entries[0];
  REQUIRE(first.key);
  CHECK(*first.key == make_int(32, 200));
  CHECK(first.key_hex == "c8 00 00 00");
  REQUIRE(first.value);
  CHECK(first.value->type_name == "task_ctx");
  REQUIRE(member(*first.value, "weight"));
  CHECK(member(*first.value, "weight")->uint_value == 120);
  CHECK(member(*first.value, "nr_enqueued")->uint_value == 7);
  CHECK(first.value_hex == "78 00 00 00 00 00 00 00 07 00 00 00 00 00 00 00");
  CHECK(*task_ctx.entries[1].key == make_int(32, 300));
  CHECK(member(*task_ctx.entries[1].value, "weight")->uint_value == 100);
}

TEST_CASE("task storage: hostile guest data is that map's error") {
  TaskStorageGuest guest;
  const auto& l = *guest.layout.local_storage;

  SUBCASE("a chain that loops") {
    guest.ram.put64(kElemB + l.elem_next, kPob + kElemB + l.elem_next);
    auto maps = guest.read();
    REQUIRE(maps[1].error);
    CHECK(maps[1].error->find("cycle") != std::string::npos);
  }
  SUBCASE("an absurd bucket_log") {
    guest.ram.put32(kTaskCtx + l.map_bucket_log, 0xffffffffU);
    auto maps = guest.read();
    REQUIRE(maps[1].error);
    CHECK(maps[1].error->find("bucket_log 4294967295 is outside 0..20") != std::string::npos);
  }
  SUBCASE("a plausible bucket_log whose bucket array runs off RAM") {
    guest.ram.put32(kTaskCtx + l.map_bucket_log, kMaxLocalStorageBucketLog);
    auto maps = guest.read();
    CHECK(maps[1].error);
    CHECK(maps[1].entries.empty());
  }
  SUBCASE("an owner pointer outside RAM loses that element only") {
    guest.ram.put64(0x28000 + l.storage_owner, kPob + (4ULL << 30));
    auto maps = guest.read();
    REQUIRE(maps[1].error);
    CHECK(maps[1].error->find("1 of 2 elements unreadable") != std::string::npos);
    CHECK(maps[1].error->find("its owner task") != std::string::npos);
    REQUIRE(maps[1].entries.size() == 1);
    CHECK(*maps[1].entries[0].key == make_int(32, 200));
  }
  SUBCASE("an element of another map is not read as this one's") {
    guest.ram.put64(kElemA + l.elem_smap, kPob + kBss);
    auto maps = guest.read();
    REQUIRE(maps[1].error);
    CHECK(maps[1].error->find("sdata.smap") != std::string::npos);
    CHECK(maps[1].entries.size() == 1);
  }
  SUBCASE("a misaligned node pointer ends nothing: it is an error") {
    guest.ram.put64(kElemA + l.elem_next, kPob + 0x40001);
    auto maps = guest.read();
    REQUIRE(maps[1].error);
    CHECK(maps[1].error->find("misaligned") != std::string::npos);
  }
  SUBCASE("an element whose owner is gone (being freed) is skipped, not an error") {
    guest.ram.put64(0x29000 + l.storage_owner, 0);
    auto maps = guest.read();
    CHECK_FALSE(maps[1].error);
    REQUIRE(maps[1].entries.size() == 1);
    CHECK(*maps[1].entries[0].key == make_int(32, 300));
  }
  SUBCASE("a kernel whose local storage layout is unknown says why") {
    guest.layout.local_storage.reset();
    guest.layout.local_storage_unavailable = "no struct 'bpf_local_storage_map'";
    auto maps = guest.read();
    REQUIRE(maps[1].error);
    CHECK(maps[1].error->find("bpf_local_storage_map") != std::string::npos);
  }
}

TEST_CASE("task storage: at max_elements every element is kept; past it the first are, and it is said") {
  TaskStorageGuest guest;
  auto kernel = GuestKernel::open(guest.ram, guest.symbols, 0, 0);
  REQUIRE(kernel);
  const auto& l = *guest.layout.local_storage;
  std::vector<LocalStorageElement> all;
  REQUIRE(collect_local_storage(**kernel, kPob + kTaskCtx, 16, l, 2, all));
  CHECK(all.size() == 2);
  std::vector<LocalStorageElement> first;
  Status cut = collect_local_storage(**kernel, kPob + kTaskCtx, 16, l, 1, first);
  REQUIRE_FALSE(cut);
  CHECK(cut.error().message == "showing the first 1 elements; the map holds more");
  REQUIRE(first.size() == 1);
  CHECK(first[0].kva == all[0].kva);
}

}  // namespace
}  // namespace ktest::freeze
