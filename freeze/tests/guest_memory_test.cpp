// Page-table walk, address translation, xarray and hash-chain walks over
// synthetic guest memory, including hostile contents.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "freeze/bpf_maps.h"
#include "freeze/guest_kernel.h"
#include "freeze/tests/fake_machine.h"
#include "freeze/tests/synthetic_guest.h"

namespace ktest::freeze {
namespace {

constexpr uint64_t kP = 1;         // present
constexpr uint64_t kPs = 1 << 7;   // large page

using testing::Ram;

uint64_t idx(uint64_t va, int level) { return (va >> (12 + 9 * (level - 1))) & 0x1ff; }

// Maps 4 KiB page `va` → `pa` under PGD `root` using tables at `next` onward.
void map_4k(Ram& ram, uint64_t root, uint64_t& next, uint64_t va, uint64_t pa) {
  uint64_t table = root;
  for (int level = 4; level >= 2; --level) {
    uint64_t slot = table + idx(va, level) * 8;
    uint64_t entry = 0;
    std::memcpy(&entry, ram.bytes.data() + slot, 8);
    if (!(entry & kP)) {
      entry = next | kP;
      next += kPageSize;
      ram.put64(slot, entry);
    }
    table = entry & ~0xfffULL;
  }
  ram.put64(table + idx(va, 1) * 8, pa | kP);
}

TEST_CASE("walk_page_table: 4 KiB, 2 MiB and 1 GiB pages, holes and hostile entries") {
  Ram ram(8 << 20);
  uint64_t root = 0x10000, next = 0x11000;
  uint64_t va = 0xffffc90000123000ULL;
  map_4k(ram, root, next, va, 0x300000);
  auto pa = walk_page_table(ram, root, false, va + 0x45);
  REQUIRE(pa);
  CHECK(*pa == 0x300045);

  SUBCASE("unmapped page") { CHECK_FALSE(walk_page_table(ram, root, false, va + kPageSize)); }
  SUBCASE("2 MiB page") {
    uint64_t va2 = 0xffff888000000000ULL;
    uint64_t pud = next, pd = next + kPageSize;
    ram.put64(root + idx(va2, 4) * 8, pud | kP);
    ram.put64(pud + idx(va2, 3) * 8, pd | kP);
    ram.put64(pd + idx(va2, 2) * 8, 0x400000 | kP | kPs);
    auto r = walk_page_table(ram, root, false, va2 + 0x12345);
    REQUIRE(r);
    CHECK(*r == 0x412345);
  }
  SUBCASE("1 GiB page outside RAM is refused") {
    uint64_t va3 = 0xffff880000000000ULL;
    uint64_t pud = next;
    ram.put64(root + idx(va3, 4) * 8, pud | kP);
    ram.put64(pud + idx(va3, 3) * 8, (1ULL << 30) | kP | kPs);
    CHECK_FALSE(walk_page_table(ram, root, false, va3));
  }
  SUBCASE("a table pointer outside RAM is an error, not a read") {
    uint64_t va4 = 0xffffea0000000000ULL;
    ram.put64(root + idx(va4, 4) * 8, 0x7ffff000000ULL | kP);
    auto r = walk_page_table(ram, root, false, va4);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("outside RAM") != std::string::npos);
  }
  SUBCASE("a root outside RAM") { CHECK_FALSE(walk_page_table(ram, 0xfffffffff000ULL, false, va)); }
  SUBCASE("5-level walk adds one level") {
    uint64_t root5 = next;
    next += kPageSize;
    ram.put64(root5 + ((va >> 48) & 0x1ff) * 8, root | kP);
    auto r = walk_page_table(ram, root5, true, va + 8);
    REQUIRE(r);
    CHECK(*r == 0x300008);
  }
}

TEST_CASE("GuestKernel: verified _text, image and direct-map translation, page-crossing reads") {
  Ram ram(32 << 20);
  uint64_t pgd = 0x20000, next = 0x21000;
  // phys_base at image offset 0x1000 (value 0), page_offset_base at 0x1008.
  uint64_t pob = 0xffff888000000000ULL;
  ram.put64(0x1008, pob);
  std::string kallsyms = fmt::format(
      "ffffffff81000000 T _text\nffffffff80001000 D phys_base\nffffffff80001008 D page_offset_base\n"
      "{:x} D init_top_pgt\n",
      kKernelImageBase + pgd);
  auto symbols = kvm::control::SymbolTable::parse(kallsyms);
  REQUIRE(symbols);
  // A vmalloc range of two pages backed by discontiguous physical pages.
  uint64_t vm = 0xffffc90000010000ULL;
  map_4k(ram, pgd, next, vm, 0x500000);
  map_4k(ram, pgd, next, vm + kPageSize, 0x200000);
  std::memset(ram.bytes.data() + 0x500ff8, 0xaa, 8);
  std::memset(ram.bytes.data() + 0x200000, 0xbb, 8);

  auto kernel = GuestKernel::open(ram, *symbols, 0, 0);
  REQUIRE(kernel);
  auto bytes = (*kernel)->read(vm + 0xff8, 16);
  REQUIRE(bytes);
  CHECK((*bytes)[7] == 0xaa);
  CHECK((*bytes)[8] == 0xbb);
  CHECK(*(*kernel)->translate(pob + 0x1234) == 0x1234);
  CHECK(*(*kernel)->translate(kNoKaslrText + 0x10) == 0x1000010);
  CHECK_FALSE((*kernel)->read(vm + 0x1ff8, 16));  // the third page is unmapped
  auto at_limit = (*kernel)->read(pob, kMaxGuestRead);  // one read of the cap, whole
  REQUIRE(at_limit);
  CHECK(at_limit->size() == kMaxGuestRead);
  auto past = (*kernel)->read(pob, kMaxGuestRead + 1);
  REQUIRE_FALSE(past);
  CHECK(past.error().message.find(std::to_string(kMaxGuestRead)) != std::string::npos);
  CHECK_FALSE((*kernel)->read(vm, kMaxGuestRead + 1));

  SUBCASE("remembered page walks: the same answers; a remap after the walk is not seen") {
    auto frozen = GuestKernel::open(ram, *symbols, 0, 0);
    REQUIRE(frozen);
    (*frozen)->remember_page_walks();
    auto again = (*frozen)->read(vm + 0xff8, 16);
    REQUIRE(again);
    CHECK(*again == *bytes);
    CHECK(*(*frozen)->translate(vm + 0x10) == 0x500010);
    // 64 pages on shares vm's slot: each page keeps its own translation.
    map_4k(ram, pgd, next, vm + 64 * kPageSize, 0x600000);
    CHECK(*(*frozen)->translate(vm + 64 * kPageSize + 8) == 0x600008);
    CHECK(*(*frozen)->translate(vm + 0x20) == 0x500020);
    CHECK_FALSE((*frozen)->read(vm + 0x1ff8, 16));  // an unmapped page stays an error
    CHECK_FALSE((*frozen)->read(vm + 0x1ff8, 16));
    map_4k(ram, pgd, next, vm, 0x300000);
    CHECK(*(*kernel)->translate(vm + 0x10) == 0x300010);  // walked every time
    CHECK(*(*frozen)->translate(vm + 0x10) == 0x500010);  // walked while the guest was frozen
  }

  SUBCASE("a KASLR-shifted _text is refused") {
    auto shifted = kvm::control::SymbolTable::parse(
        "ffffffff9a000000 T _text\nffffffff80001000 D phys_base\n");
    REQUIRE(shifted);
    auto refused = GuestKernel::open(ram, *shifted, 0, 0);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("KASLR") != std::string::npos);
  }
}

// Virtual memory made of named blocks, for xarray and hash walks.
struct FakeVm final : btf::MemoryReader {
  std::map<uint64_t, std::vector<uint8_t>> blocks;
  Result<std::vector<uint8_t>> read(uint64_t address, std::size_t len) override {
    auto it = blocks.upper_bound(address);
    if (it == blocks.begin()) return fail("unmapped");
    --it;
    uint64_t off = address - it->first;
    if (off > it->second.size() || len > it->second.size() - off) return fail("unmapped");
    return std::vector<uint8_t>(it->second.begin() + static_cast<long>(off),
                                it->second.begin() + static_cast<long>(off + len));
  }
  void put(uint64_t address, uint64_t value) {
    for (auto& [base, data] : blocks) {
      if (address >= base && address + 8 <= base + data.size()) {
        std::memcpy(data.data() + (address - base), &value, 8);
        return;
      }
    }
    FAIL("put outside a block");
  }
};

// xa_node: shift at 0, four slots at 8.
const XarrayLayout kXa{0, 0, 8, 4};
constexpr uint64_t kXarray = 0x10000, kNodeA = 0x20000, kNodeB = 0x30000;

FakeVm xarray_vm() {
  FakeVm vm;
  vm.blocks[kXarray] = std::vector<uint8_t>(16);
  vm.blocks[kNodeA] = std::vector<uint8_t>(40);
  vm.blocks[kNodeB] = std::vector<uint8_t>(40);
  return vm;
}

TEST_CASE("collect_xarray_entries: single head, two levels, internal entries, hostile nodes") {
  FakeVm vm = xarray_vm();
  SUBCASE("empty") { CHECK(collect_xarray_entries(vm, kXarray, kXa, 10)->empty()); }
  SUBCASE("a single pointer in the head") {
    vm.put(kXarray, 0xffff888000001000ULL);
    CHECK(*collect_xarray_entries(vm, kXarray, kXa, 10) == std::vector<uint64_t>{0xffff888000001000ULL});
  }
  SUBCASE("two levels; value and sibling entries are skipped") {
    vm.put(kXarray, kNodeA | 2);
    vm.blocks[kNodeA][0] = 2;  // shift
    vm.put(kNodeA + 8, kNodeB | 2);
    vm.put(kNodeA + 16, 0x41);  // value entry
    vm.put(kNodeB + 8, 0xa000);
    vm.put(kNodeB + 16, (1 << 2) | 2);  // sibling (internal) entry
    vm.put(kNodeB + 24, 0xb000);
    CHECK(*collect_xarray_entries(vm, kXarray, kXa, 10) == std::vector<uint64_t>{0xa000, 0xb000});
    CHECK_FALSE(collect_xarray_entries(vm, kXarray, kXa, 1));  // count bound
  }
  SUBCASE("a node that points to itself is a cycle") {
    vm.put(kXarray, kNodeA | 2);
    vm.blocks[kNodeA][0] = 6;
    vm.put(kNodeA + 8, kNodeA | 2);
    auto r = collect_xarray_entries(vm, kXarray, kXa, 10);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("twice") != std::string::npos);
  }
  SUBCASE("a node pointer to nowhere") {
    vm.put(kXarray, 0xdead0000ULL | 2);
    CHECK_FALSE(collect_xarray_entries(vm, kXarray, kXa, 10));
  }
}

TEST_CASE("collect_hash_elements: chains end at nulls markers; cycles and huge counts fail") {
  KernelLayout l;
  l.bucket_size = 16;
  l.bucket_head = 0;
  l.elem_next = 0;
  l.elem_key = 24;
  FakeVm vm;
  constexpr uint64_t kBuckets = 0x1000, kE1 = 0x5000, kE2 = 0x6000;
  vm.blocks[kBuckets] = std::vector<uint8_t>(32);
  vm.blocks[kE1] = std::vector<uint8_t>(32);
  vm.blocks[kE2] = std::vector<uint8_t>(32);
  vm.put(kBuckets, (0 << 1) | 1);  // bucket 0: empty (nulls marker)
  vm.put(kBuckets + 16, kE1);      // bucket 1: E1 → E2 → nulls
  vm.put(kE1, kE2);
  vm.put(kE2, (1 << 1) | 1);
  CHECK(*collect_hash_elements(vm, kBuckets, 2, l, 10) == std::vector<uint64_t>{kE1, kE2});
  CHECK_FALSE(collect_hash_elements(vm, kBuckets, 2, l, 1));
  CHECK_FALSE(collect_hash_elements(vm, kBuckets, 0, l, 10));
  CHECK_FALSE(collect_hash_elements(vm, kBuckets, kMaxHashBuckets + 1, l, 10));
  // Past max_elements with `more`: the first ones, and the word that there are others.
  bool more = false;
  CHECK(*collect_hash_elements(vm, kBuckets, 2, l, 1, &more) == std::vector<uint64_t>{kE1});
  CHECK(more);
  CHECK(*collect_hash_elements(vm, kBuckets, 2, l, 2, &more) == std::vector<uint64_t>{kE1, kE2});
  CHECK_FALSE(more);
  CHECK_FALSE(collect_hash_elements(vm, kBuckets, 3, l, 10));  // bucket array past the block
  vm.put(kE2, kE1);  // E2 → E1: a cycle
  auto r = collect_hash_elements(vm, kBuckets, 2, l, 1000);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("cycle") != std::string::npos);
  vm.put(kE2, 0x9990000);  // next pointer to unmapped memory
  CHECK_FALSE(collect_hash_elements(vm, kBuckets, 2, l, 10));
}

TEST_CASE("collect_hash_elements: with copies, each element's bytes come from the same walk") {
  KernelLayout l;
  l.bucket_size = 16;
  FakeVm vm;
  constexpr uint64_t kBuckets = 0x1000, kE1 = 0x5000, kE2 = 0x6000;
  vm.blocks[kBuckets] = std::vector<uint8_t>(32);
  vm.blocks[kE1] = std::vector<uint8_t>(32);
  vm.blocks[kE2] = std::vector<uint8_t>(32);
  vm.put(kBuckets, kE2);  // bucket 0: E2 → E1 → nulls
  vm.put(kE2, kE1);
  vm.put(kE1, 1);
  vm.put(kE1 + 8, 0x1111);
  vm.put(kE2 + 8, 0x2222);
  vm.put(kBuckets + 16, 3);  // bucket 1: empty
  ElementCopies copies{16, {}};
  auto elems = collect_hash_elements(vm, kBuckets, 2, l, 10, nullptr, &copies);
  REQUIRE(elems);
  CHECK(*elems == std::vector<uint64_t>{kE2, kE1});
  REQUIRE(copies.bytes.size() == 32);
  uint64_t second_word = 0;
  std::memcpy(&second_word, copies.at(0).data() + 8, 8);
  CHECK(second_word == 0x2222);
  std::memcpy(&second_word, copies.at(1).data() + 8, 8);
  CHECK(second_word == 0x1111);
  ElementCopies too_short{4, {}};  // cannot hold the next pointer
  CHECK_FALSE(collect_hash_elements(vm, kBuckets, 2, l, 10, nullptr, &too_short));
  // Two chains that meet reach an element twice: a cycle, also with `more`.
  vm.put(kBuckets + 16, kE1);
  bool more = false;
  auto meet = collect_hash_elements(vm, kBuckets, 2, l, 10, &more);
  REQUIRE_FALSE(meet);
  CHECK(meet.error().message == "element 0x5000 is reached twice (a cycle)");
  vm.put(kE1, kE2);  // E2 → E1 → E2 …: cut at max_elements, still a cycle
  auto looped = collect_hash_elements(vm, kBuckets, 2, l, 5, &more);
  REQUIRE_FALSE(looped);
  CHECK(looped.error().message.find("a cycle") != std::string::npos);
}

TEST_CASE("collect_hash_elements: kMaxHashBuckets buckets are walked; one more is refused") {
  KernelLayout l;
  l.bucket_size = 16;
  FakeVm vm;
  constexpr uint64_t kBuckets = 0x1000;
  vm.blocks[kBuckets] = std::vector<uint8_t>(uint64_t{kMaxHashBuckets} * l.bucket_size + l.bucket_size);
  vm.put(kBuckets + uint64_t{kMaxHashBuckets - 1} * l.bucket_size, 0x3000000);  // the last bucket's chain
  vm.blocks[0x3000000] = std::vector<uint8_t>(32);
  vm.put(0x3000000, 1);  // ends at a nulls marker
  auto at_limit = collect_hash_elements(vm, kBuckets, kMaxHashBuckets, l, 10);
  REQUIRE(at_limit);
  CHECK(*at_limit == std::vector<uint64_t>{0x3000000});
  auto past = collect_hash_elements(vm, kBuckets, kMaxHashBuckets + 1, l, 10);
  REQUIRE_FALSE(past);
  CHECK(past.error().message == "1048577 buckets is outside 1..1048576");
}

TEST_CASE("collect_hlist_elements: plain hlist chains end at NULL; elements are node - offset") {
  FakeVm vm;
  constexpr uint64_t kBuckets = 0x1000, kE1 = 0x5000, kE2 = 0x6000, kNode = 8;
  vm.blocks[kBuckets] = std::vector<uint8_t>(48);
  vm.blocks[kE1] = std::vector<uint8_t>(32);
  vm.blocks[kE2] = std::vector<uint8_t>(32);
  HlistBuckets buckets{kBuckets, 2, 24, 8};  // heads at +8 of 24-byte buckets
  vm.put(kBuckets + 8, kE2 + kNode);         // bucket 0: E2 → E1 → NULL
  vm.put(kE2 + kNode, kE1 + kNode);
  vm.put(kBuckets + 24 + 8, 0);               // bucket 1: empty
  CHECK(*collect_hlist_elements(vm, buckets, kNode, ChainEnd::Null, 10) ==
        std::vector<uint64_t>{kE2, kE1});
  vm.put(kE1 + kNode, 0x7001);  // a nulls marker is garbage on a plain hlist
  auto odd = collect_hlist_elements(vm, buckets, kNode, ChainEnd::Null, 10);
  REQUIRE_FALSE(odd);
  CHECK(odd.error().message.find("misaligned") != std::string::npos);
  CHECK(*collect_hlist_elements(vm, buckets, kNode, ChainEnd::NullsMarker, 10) ==
        std::vector<uint64_t>{kE2, kE1});
  buckets.stride = 8;  // shorter than the head it should hold
  CHECK_FALSE(collect_hlist_elements(vm, buckets, kNode, ChainEnd::Null, 10));
}

TEST_CASE("KernelLayout from the fetched kernel's vmlinux BTF") {
  std::string path = std::string(KTEST_KERNEL_DIR) + "/vmlinux";
  if (std::string(KTEST_KERNEL_DIR).empty() || !std::filesystem::exists(path)) {
    MESSAGE("SKIPPED: no fetched kernel (configure with -Dkernel_dir=DIR holding vmlinux)");
    return;
  }
  auto vmlinux = btf::Btf::from_elf(path);
  REQUIRE(vmlinux);
  auto layout = KernelLayout::from_btf(*vmlinux);
  REQUIRE(layout);
  CHECK(layout->xarray.slot_count == 64);
  CHECK(layout->elem_next == 0);
  CHECK(layout->elem_key > layout->elem_next);
  CHECK(layout->array_value > layout->map_name);
  REQUIRE_MESSAGE(layout->links, layout->links_unavailable);
  CHECK(layout->links->sched_ext_value_type > 0);
  CHECK(layout->links->struct_ops_map > 0);  // after the embedded struct bpf_link
  REQUIRE_MESSAGE(layout->local_storage, layout->local_storage_unavailable);
  const auto& storage = *layout->local_storage;
  CHECK(storage.map_buckets == member_info(*vmlinux, "bpf_local_storage_map", "map")->offset +
                                   *struct_size(*vmlinux, "bpf_map"));
  CHECK(storage.elem_next == 0);  // map_node comes first
  CHECK(storage.elem_smap > storage.elem_storage);
  CHECK(storage.elem_data == storage.elem_smap + 8);
  CHECK(storage.elem_smap % 64 == 0);  // sdata is cacheline-aligned
  CHECK(storage.bucket_head == 0);
  CHECK(storage.task_pid > 0);
  // A member path inside anonymous unions resolves; a wrong one says which.
  CHECK(member_info(*vmlinux, "bpf_array", "pptrs")->offset == layout->array_value);
  auto missing = member_info(*vmlinux, "bpf_map", "no_such_member");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("no_such_member") != std::string::npos);
}

TEST_CASE("open_frozen_kernel: a 4-level kernel with init_top_pgt opens without reading a register") {
  Ram ram(32 << 20);
  ram.put64(0x1008, 0xffff888000000000ULL);  // page_offset_base
  auto symbols = kvm::control::SymbolTable::parse(
      "ffffffff81000000 T _text\nffffffff80001000 D phys_base\nffffffff80001008 D page_offset_base\n"
      "ffffffff80001010 D __pgtable_l5_enabled\nffffffff80020000 D init_top_pgt\n");
  REQUIRE(symbols);
  testing::FakeMachine machine(ram);
  REQUIRE(machine.pause_all());
  auto four = open_frozen_kernel(machine, *symbols);
  REQUIRE(four);
  CHECK(machine.register_reads == 0);
  CHECK_FALSE(four->kernel->five_level());
  CHECK(four->kernel->page_table_root() == 0x20000);

  ram.put32(0x1010, 1);  // 5-level: the mode comes from CR4, read from vCPU 0
  auto five = open_frozen_kernel(machine, *symbols);
  REQUIRE(five);
  CHECK(machine.register_reads == 1);
  CHECK(five->kernel->page_table_root() == 0x20000);  // init_top_pgt still wins over CR3
}

}  // namespace
}  // namespace ktest::freeze
