// The per-type readers over a synthetic guest: QUEUE/STACK in pop order,
// ARRAY_OF_MAPS/HASH_OF_MAPS as links to the inner maps, STRUCT_OPS with
// callbacks resolved to their programs, CGRP/INODE/SK storage keyed by
// owner, type names from the enum in vmlinux BTF; and hostile guest data
// (garbage head/tail, huge counts, kernfs cycles, unknown prog ids) giving
// that map an error without touching the others.
#include <doctest/doctest.h>

#include "freeze/tests/synthetic_guest.h"

namespace ktest::freeze {
namespace {

using namespace testing;

constexpr uint64_t kQueue = 0x10000, kStack = 0x11000, kArrayOfMaps = 0x12000,
                   kHashOfMaps = 0x13000, kOps = 0x14000, kCgrp = 0x15000, kInode = 0x16000,
                   kSock = 0x17000, kPerf = 0x18000, kOdd = 0x19000;
constexpr uint32_t kPointType = 3, kOpsValueType = 9;

const RenderedValue* member(const RenderedValue& v, std::string_view name) {
  for (const auto& m : v.members) {
    if (m.name == name) return &m.value;
  }
  return nullptr;
}

int64_t x_of(const MapEntry& e) {
  REQUIRE(e.value);
  REQUIRE(member(*e.value, "x"));
  return static_cast<int64_t>(member(*e.value, "x")->int_value);
}

struct Guest {
  Ram ram;
  kvm::control::SymbolTable symbols =
      guest_symbols(ram, "ffffffff80002000 d map_idr\nffffffff80002100 d prog_idr\n");
  KernelLayout layout = small_layout();
  std::vector<uint8_t> blob = btf_blob([](struct ::btf* b) {
    REQUIRE(btf__add_int(b, "int", 4, BTF_INT_SIGNED) == 1);
    REQUIRE(btf__add_int(b, "unsigned long long", 8, 0) == 2);
    REQUIRE(btf__add_struct(b, "pt", 8) == kPointType);
    REQUIRE(btf__add_field(b, "x", 1, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "y", 1, 32, 0) == 0);
    REQUIRE(btf__add_func_proto(b, 1) == 4);
    REQUIRE(btf__add_ptr(b, 4) == 5);
    REQUIRE(btf__add_int(b, "char", 1, BTF_INT_CHAR) == 6);
    REQUIRE(btf__add_array(b, 1, 6, 8) == 7);
    REQUIRE(btf__add_struct(b, "test_ops", 24) == 8);
    REQUIRE(btf__add_field(b, "cb_a", 5, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "cb_b", 5, 64, 0) == 0);
    REQUIRE(btf__add_field(b, "name", 7, 128, 0) == 0);
    REQUIRE(btf__add_struct(b, "bpf_struct_ops_test_ops", 32) == kOpsValueType);
    REQUIRE(btf__add_field(b, "refcnt", 1, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "data", 8, 64, 0) == 0);
    REQUIRE(btf__add_enum(b, "bpf_map_type", 4) == 10);
    const std::pair<const char*, int> types[] = {
        {"BPF_MAP_TYPE_PERF_EVENT_ARRAY", 4}, {"BPF_MAP_TYPE_ARRAY_OF_MAPS", 12},
        {"BPF_MAP_TYPE_HASH_OF_MAPS", 13},    {"BPF_MAP_TYPE_QUEUE", 22},
        {"BPF_MAP_TYPE_STACK", 23},           {"BPF_MAP_TYPE_STRUCT_OPS", 26},
        {"BPF_MAP_TYPE_CGRP_STORAGE", 32}};
    for (const auto& [name, value] : types) REQUIRE(btf__add_enum_value(b, name, value) == 0);
  });
  Result<btf::Btf> vmlinux = btf::Btf::from_bytes(blob, "test BTF");
  std::size_t nr_maps = 0;

  void add(uint64_t gpa, const char* name, uint32_t type, uint32_t key_size, uint32_t value_size,
           uint32_t max_entries, uint32_t id) {
    put_map(ram, gpa, name, type, key_size, value_size, max_entries, kPob + 0x6000);
    ram.put32(gpa + layout.map_btf_value_type, kPointType);
    ram.put32(gpa + layout.map_id, id);
    ram.put64(0x3008 + 8 * nr_maps++, kPob + gpa);
  }
  // A ring of max_entries + 1 point slots; slot i holds {10 * i, -i}.
  void put_ring(uint64_t map, uint32_t head, uint32_t tail, uint32_t size) {
    const auto& q = *layout.queue_stack;
    ram.put32(map + q.head, head);
    ram.put32(map + q.tail, tail);
    ram.put32(map + q.size, size);
    for (uint32_t i = 0; i < size && i < 16; ++i) {
      ram.put32(map + q.elements + 8 * i, 10 * i);
      ram.put32(map + q.elements + 8 * i + 4, static_cast<uint32_t>(-static_cast<int32_t>(i)));
    }
  }
  // A one-bucket local storage map whose element (value {7, 8}) is owned by `owner`.
  void put_storage(uint64_t map, uint64_t base, uint64_t owner) {
    const auto& l = *layout.local_storage;
    ram.put64(map + l.map_buckets, kPob + base);
    ram.put32(map + l.map_bucket_log, 0);
    ram.put64(base + l.bucket_head, kPob + base + 0x100 + l.elem_next);
    ram.put64(base + 0x100 + l.elem_storage, kPob + base + 0x200);
    ram.put64(base + 0x100 + l.elem_smap, kPob + map);
    ram.put32(base + 0x100 + l.elem_data, 7);
    ram.put32(base + 0x100 + l.elem_data + 4, 8);
    ram.put64(base + 0x200 + l.storage_owner, kPob + owner);
  }
  void put_name(uint64_t gpa, const char* text) { std::strcpy(reinterpret_cast<char*>(ram.bytes.data() + gpa), text); }

  Guest() {
    REQUIRE(vmlinux);
    layout.xarray.slot_count = 16;
    layout.queue_stack = KernelLayout::QueueStack{64, 68, 72, 80};
    layout.map_vmlinux_value_type = 52;
    layout.struct_ops = KernelLayout::StructOps{64, 128, 0x10, 0, 8, 16};
    layout.cgroup_owner = KernelLayout::CgroupOwner{0, 8, 16, 24};
    layout.inode_ino = 0x40;
    layout.sock_cookie = 0x50;
    ram.put64(0x2008, (kPob + 0x3000) | 2);
    ram.put64(0x2108, (kPob + 0x3200) | 2);
    put_btf(ram, 0x6000, 0x7000, blob);

    // Queue and stack over the same ring: slots 3, 4, 0 are in use.
    add(kQueue, "q", kMapTypeQueue, 0, 8, 4, 11);
    put_ring(kQueue, 1, 3, 5);
    add(kStack, "s", kMapTypeStack, 0, 8, 4, 12);
    put_ring(kStack, 1, 3, 5);

    add(kArrayOfMaps, "aom", kMapTypeArrayOfMaps, 4, 4, 3, 13);
    ram.put32(kArrayOfMaps + layout.map_btf_key_type, 1);
    ram.put64(kArrayOfMaps + layout.array_value, kPob + kQueue);
    ram.put64(kArrayOfMaps + layout.array_value + 16, kPob + kStack);

    add(kHashOfMaps, "hom", kMapTypeHashOfMaps, 4, 4, 8, 14);
    ram.put32(kHashOfMaps + layout.map_btf_key_type, 0);  // as libbpf creates it
    ram.put64(kHashOfMaps + layout.htab_buckets, kPob + 0x20000);
    ram.put32(kHashOfMaps + layout.htab_n_buckets, 1);
    ram.put64(0x20000, kPob + 0x20100);  // one element, then the nulls marker
    ram.put64(0x20100, 1);
    ram.put32(0x20100 + layout.elem_key, 77);
    ram.put64(0x20100 + layout.elem_key + 8, kPob + kStack);

    // struct_ops: cb_a is program 7 ("my_cb_a"), cb_b unset.
    add(kOps, "ops", kMapTypeStructOps, 4, 32, 1, 15);
    const auto& o = *layout.struct_ops;
    ram.put32(kOps + layout.map_vmlinux_value_type, kOpsValueType);
    ram.put64(kOps + o.uvalue, kPob + 0x22000);
    ram.put32(kOps + o.kvalue, 1);
    ram.put64(kOps + o.kvalue + 8, 0xffffffffc0001000ULL);  // a trampoline
    put_name(kOps + o.kvalue + 24, "myops");
    ram.put64(0x22000 + 8, 7);
    ram.put64(0x3208, kPob + 0x23000);  // prog_idr: one program
    ram.put64(0x23000 + o.prog_aux, kPob + 0x23100);
    ram.put32(0x23100 + o.aux_id, 7);
    put_name(0x23100 + o.aux_name, "my_cb_a");

    // Cgroup storage owned by /sys/ktest (id 42).
    add(kCgrp, "cg", kMapTypeCgrpStorage, 4, 8, 0, 16);
    put_storage(kCgrp, 0x24000, 0x24400);
    ram.put64(0x24400, kPob + 0x24500);                   // cgroup.kn
    ram.put64(0x24500 + 8, 42);                           // kn id
    ram.put64(0x24500 + 16, kPob + 0x24600);              // parent
    ram.put64(0x24500 + 24, kPob + 0x24800);              // name
    ram.put64(0x24600 + 16, kPob + 0x24700);
    ram.put64(0x24600 + 24, kPob + 0x24810);
    ram.put64(0x24700 + 24, kPob + 0x24820);              // the root: no parent
    put_name(0x24800, "ktest");
    put_name(0x24810, "sys");

    add(kInode, "ino", kMapTypeInodeStorage, 4, 8, 0, 17);
    put_storage(kInode, 0x25000, 0x25400);
    ram.put64(0x25400 + 0x40, 1234);
    add(kSock, "sk", kMapTypeSkStorage, 4, 8, 0, 18);
    put_storage(kSock, 0x26000, 0x26400);
    ram.put64(0x26400 + 0x50, 777);

    add(kPerf, "perf", 4, 4, 4, 2, 19);
    add(kOdd, "odd", 99, 4, 4, 2, 20);
  }

  std::map<std::string, MapDump> read() {
    auto kernel = GuestKernel::open(ram, symbols, 0, 0);
    REQUIRE(kernel);
    MapReadContext ctx{**kernel, layout, *vmlinux, {}};
    auto maps = read_bpf_maps(ctx);
    REQUIRE(maps);
    REQUIRE(maps->size() == nr_maps);
    std::map<std::string, MapDump> out;
    for (auto& m : *maps) out.emplace(m.name, std::move(m));
    return out;
  }
};

TEST_CASE("queue and stack: entries in pop order, keyed by position") {
  Guest guest;
  auto maps = guest.read();
  const MapDump& q = maps["q"];
  REQUIRE_MESSAGE(!q.error, q.error.value_or(""));
  CHECK(q.type_name == "BPF_MAP_TYPE_QUEUE");
  REQUIRE(q.entries.size() == 3);
  CHECK(x_of(q.entries[0]) == 30);  // the oldest (tail) first
  CHECK(x_of(q.entries[1]) == 40);
  CHECK(x_of(q.entries[2]) == 0);
  CHECK(*q.entries[1].key == make_uint(32, 1));
  CHECK(q.entries[1].key_hex == "01 00 00 00");
  CHECK(q.entries[0].value_hex == "1e 00 00 00 fd ff ff ff");
  const MapDump& s = maps["s"];
  REQUIRE_MESSAGE(!s.error, s.error.value_or(""));
  REQUIRE(s.entries.size() == 3);
  CHECK(x_of(s.entries[0]) == 0);  // the top (head - 1) first
  CHECK(x_of(s.entries[1]) == 40);
  CHECK(x_of(s.entries[2]) == 30);
}

TEST_CASE("queue and stack: hostile rings are that map's error") {
  Guest guest;
  SUBCASE("empty") {
    guest.put_ring(kQueue, 2, 2, 5);
    auto maps = guest.read();
    CHECK_FALSE(maps["q"].error);
    CHECK(maps["q"].entries.empty());
  }
  SUBCASE("head outside the ring") {
    guest.put_ring(kQueue, 7, 3, 5);
    auto maps = guest.read();
    REQUIRE(maps["q"].error);
    CHECK(maps["q"].error->find("outside the ring of 5 slots") != std::string::npos);
    CHECK(maps["q"].entries.empty());
    CHECK_FALSE(maps["s"].error);
  }
  SUBCASE("a ring size that is not max_entries + 1") {
    guest.put_ring(kStack, 1, 3, 0xffffffffU);
    auto maps = guest.read();
    REQUIRE(maps["s"].error);
    CHECK(maps["s"].error->find("not max_entries + 1") != std::string::npos);
  }
  SUBCASE("a huge count runs off memory: bounded, partial, an error") {
    put_map(guest.ram, kQueue, "q", kMapTypeQueue, 0, 8, 1U << 24, kPob + 0x6000);
    guest.put_ring(kQueue, (1U << 24) - 1, 0, (1U << 24) + 1);
    auto maps = guest.read();
    REQUIRE(maps["q"].error);
    CHECK(maps["q"].entries.size() <= kMaxHashEntries);
  }
}

TEST_CASE("maps of maps: each slot links to its inner map by id and name") {
  Guest guest;
  auto maps = guest.read();
  const MapDump& aom = maps["aom"];
  REQUIRE_MESSAGE(!aom.error, aom.error.value_or(""));
  REQUIRE(aom.entries.size() == 2);  // the empty slot 1 is no entry
  CHECK(*aom.entries[0].key == make_int(32, 0));
  REQUIRE(aom.entries[1].value);
  const RenderedValue& inner = *aom.entries[1].value;
  CHECK(inner.type_name == "bpf_map");
  CHECK(member(inner, "id")->uint_value == 12);
  CHECK(member(inner, "name")->text == "s");
  CHECK(member(inner, "name")->len == 1);
  CHECK(member(inner, "kva")->uint_value == kPob + kStack);
  CHECK(aom.entries[1].value_hex == "0c 00 00 00");
  const MapDump& hom = maps["hom"];
  REQUIRE_MESSAGE(!hom.error, hom.error.value_or(""));
  REQUIRE(hom.entries.size() == 1);
  CHECK(hom.entries[0].key_hex == "4d 00 00 00");
  CHECK(*hom.entries[0].key == make_uint(32, 77));  // no BTF key type: the number
  CHECK(member(*hom.entries[0].value, "name")->text == "s");

  SUBCASE("a hash of maps past its element bound keeps the first ones, and says so") {
    // max_entries 1 bounds the walk at 1 + 64 elements; the bucket chains 66.
    guest.ram.put32(kHashOfMaps + guest.layout.map_max_entries, 1);
    for (uint64_t i = 0; i < 66; ++i) {
      uint64_t elem = 0x30000 + i * 0x40;
      guest.ram.put64(elem, i + 1 < 66 ? kPob + elem + 0x40 : 1);
      guest.ram.put32(elem + guest.layout.elem_key, static_cast<uint32_t>(i));
      guest.ram.put64(elem + guest.layout.elem_key + 8, kPob + kStack);
    }
    guest.ram.put64(0x20000, kPob + 0x30000);
    auto again = guest.read();
    REQUIRE(again["hom"].error);
    CHECK(*again["hom"].error == "showing the first 65 elements; the map holds more");
    CHECK(again["hom"].entries.size() == 65);
  }
  SUBCASE("an inner pointer to garbage is an error") {
    guest.ram.put64(kArrayOfMaps + guest.layout.array_value, kPob + (8ULL << 30));
    auto again = guest.read();
    REQUIRE(again["aom"].error);
    CHECK(again["aom"].error->find("inner map") != std::string::npos);
  }
}

TEST_CASE("struct_ops: the kernel's value with callbacks named by their programs") {
  Guest guest;
  auto maps = guest.read();
  const MapDump& ops = maps["ops"];
  REQUIRE_MESSAGE(!ops.error, ops.error.value_or(""));
  REQUIRE(ops.value);
  CHECK(ops.value->type_name == "bpf_struct_ops_test_ops");
  const RenderedValue* data = member(*ops.value, "data");
  REQUIRE(data);
  CHECK(member(*data, "name")->text == "myops");
  const RenderedValue* cb_a = member(*data, "cb_a");
  REQUIRE(cb_a);
  CHECK(cb_a->type_name == "bpf_prog");
  CHECK(member(*cb_a, "id")->uint_value == 7);
  CHECK(member(*cb_a, "name")->text == "my_cb_a");
  CHECK(member(*cb_a, "kva")->uint_value == kPob + 0x23000);
  CHECK(member(*data, "cb_b")->kind == ValueKind::Ptr);  // unset stays a null pointer

  SUBCASE("a program id missing from prog_idr is an error; the value stays") {
    guest.ram.put64(0x22000 + 8, 99);
    auto again = guest.read();
    REQUIRE(again["ops"].error);
    CHECK(again["ops"].error->find("cb_a (prog id 99)") != std::string::npos);
    CHECK(again["ops"].value);
  }
  SUBCASE("a value type that is not a struct") {
    guest.ram.put32(kOps + guest.layout.map_vmlinux_value_type, 1);
    auto again = guest.read();
    REQUIRE(again["ops"].error);
    CHECK(again["ops"].error->find("not a struct") != std::string::npos);
  }
}

TEST_CASE("cgroup, inode and socket storage: keyed by their owner") {
  Guest guest;
  auto maps = guest.read();
  const MapDump& cg = maps["cg"];
  REQUIRE_MESSAGE(!cg.error, cg.error.value_or(""));
  REQUIRE(cg.entries.size() == 1);
  REQUIRE(cg.entries[0].key);
  CHECK(member(*cg.entries[0].key, "id")->uint_value == 42);
  CHECK(member(*cg.entries[0].key, "path")->text == "/sys/ktest");
  CHECK(cg.entries[0].key_hex == "2a 00 00 00 00 00 00 00");
  CHECK(x_of(cg.entries[0]) == 7);
  REQUIRE(maps["ino"].entries.size() == 1);
  CHECK(*maps["ino"].entries[0].key == make_uint(64, 1234));
  REQUIRE(maps["sk"].entries.size() == 1);
  CHECK(*maps["sk"].entries[0].key == make_uint(64, 777));

  SUBCASE("a kernfs parent cycle is cut") {
    guest.ram.put64(0x24600 + 16, kPob + 0x24500);
    auto again = guest.read();
    REQUIRE(again["cg"].error);
    CHECK(again["cg"].error->find("nested deeper than 64") != std::string::npos);
    CHECK(again["cg"].entries.empty());
  }
  SUBCASE("a kernel without the owner's fields says why") {
    guest.layout.sock_cookie.reset();
    guest.layout.sock_cookie_unavailable = "struct sock has no member '__sk_common.skc_cookie'";
    auto again = guest.read();
    REQUIRE(again["sk"].error);
    CHECK(again["sk"].error->find("skc_cookie") != std::string::npos);
  }
}

TEST_CASE("types without a reader are listed by their BTF enum name") {
  Guest guest;
  auto maps = guest.read();
  CHECK(maps["perf"].type_name == "BPF_MAP_TYPE_PERF_EVENT_ARRAY");
  REQUIRE(maps["perf"].error);
  CHECK(maps["perf"].error->rfind("BPF_MAP_TYPE_PERF_EVENT_ARRAY is not read: ", 0) == 0);
  CHECK(maps["odd"].type_name.empty());
  REQUIRE(maps["odd"].error);
  CHECK(maps["odd"].error->rfind("map type 99 is not read: ", 0) == 0);
}

}  // namespace
}  // namespace ktest::freeze
