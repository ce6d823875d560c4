// ARENA and RINGBUF readers over a synthetic guest: arena pages counted
// through real x86-64 page tables, `__arena` pointers followed into the
// arena, ring buffer records walked in order; hostile positions, lengths
// and missing pages give errors, never crashes.
#include <doctest/doctest.h>

#include <filesystem>

#include "btf/btf.h"
#include "btf/render.h"
#include "freeze/map_arena.h"
#include "freeze/map_ringbuf.h"
#include "freeze/tests/synthetic_guest.h"

namespace ktest::freeze {
namespace {

using namespace testing;

constexpr uint64_t kRoot = 0x200000;  // top-level page table (8 KiB aligned, as PTI wants)

// 4-level page tables in `ram`, new tables taken from `next`.
struct PageTables {
  Ram& ram;
  uint64_t next = kRoot + 0x2000;

  void map(uint64_t va, uint64_t gpa) {
    uint64_t table = kRoot;
    for (int level = 4; level >= 2; --level) {
      uint64_t slot = table + ((va >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
      uint64_t entry = 0;
      std::memcpy(&entry, ram.bytes.data() + slot, 8);
      if (!(entry & 1)) {
        entry = next | 3;
        next += 0x1000;
        ram.put64(slot, entry);
      }
      table = entry & ~0xfffULL;
    }
    ram.put64(table + ((va >> 12) & 0x1ff) * 8, gpa | 3);
  }
};

constexpr uint64_t kUserStart = 0x7f0012340000ULL;
constexpr uint64_t kKernStart = 0xffffc90000008000ULL;

ArenaGeometry arena16() {
  ArenaGeometry g;
  g.user_vm_start = kUserStart;
  g.user_vm_end = kUserStart + 16 * kPageSize;
  g.kern_vm_start = kKernStart;
  return g;
}

uint64_t kva_of_page(const ArenaGeometry& g, uint64_t page) {
  return *g.kernel_address(g.user_vm_start + page * kPageSize);
}

struct ArenaGuest {
  Ram ram{4 << 20};
  kvm::control::SymbolTable symbols = guest_symbols(ram, "");
  PageTables tables{ram};
  ArenaGeometry g = arena16();
  std::unique_ptr<GuestKernel> kernel;

  ArenaGuest() {
    tables.map(kva_of_page(g, 0), 0x300000);
    tables.map(kva_of_page(g, 1), 0x301000);
    tables.map(kva_of_page(g, 5), 0x302000);
    tables.map(kva_of_page(g, 2), 0x303000);  // the kernel's scratch page
    auto k = GuestKernel::open(ram, symbols, kRoot, 0);
    REQUIRE(k);
    kernel = std::move(*k);
  }
};

TEST_CASE("ArenaGeometry: user addresses and 32-bit offsets map into the kernel window") {
  ArenaGeometry g = arena16();
  CHECK(g.pages() == 16);
  CHECK(*g.kernel_address(kUserStart) == kKernStart + 0x12340000);
  CHECK(*g.kernel_address(kUserStart + 0x1008) == kKernStart + 0x12341008);
  CHECK(*g.kernel_address(0x12341008) == kKernStart + 0x12341008);  // BPF_F_NO_USER_CONV form
  CHECK_FALSE(g.kernel_address(kUserStart + 16 * kPageSize));
  CHECK_FALSE(g.kernel_address(kUserStart - 1));
  CHECK_FALSE(g.kernel_address(0x12340000 - 8));
  CHECK_FALSE(g.kernel_address(0xffff888000001000ULL));
  ArenaGeometry never_mmapped;
  never_mmapped.kern_vm_start = kKernStart;
  CHECK_FALSE(never_mmapped.kernel_address(0));
}

TEST_CASE("count_arena_pages: present PTEs count, the scratch page and holes do not") {
  ArenaGuest guest;
  auto& k = *guest.kernel;
  PageCount all = count_arena_pages(k.physical(), k.page_table_root(), false, guest.g, std::nullopt);
  CHECK(all.present == 4);
  CHECK_FALSE(all.truncated);
  PageCount real = count_arena_pages(k.physical(), k.page_table_root(), false, guest.g, 0x303000);
  CHECK(real.present == 3);
  // A table entry pointing outside RAM counts as a hole.
  ArenaGeometry far = guest.g;
  far.kern_vm_start = 0xffffd00000000000ULL;
  guest.ram.put64(kRoot + ((far.kern_vm_start >> 39) & 0x1ff) * 8, (64ULL << 30) | 3);
  CHECK(count_arena_pages(k.physical(), k.page_table_root(), false, far, std::nullopt).present == 0);
  // A 4 GiB arena is walked quickly: unmapped upper levels are skipped.
  ArenaGeometry huge = guest.g;
  huge.user_vm_start = 0x7f0000000000ULL;
  huge.user_vm_end = huge.user_vm_start + (4ULL << 30);
  CHECK(count_arena_pages(k.physical(), k.page_table_root(), false, huge, std::nullopt).present == 4);
}

TEST_CASE("count_arena_pages: kMaxArenaPages pages are counted whole; past them the count stops, and says so") {
  ArenaGuest guest;
  auto& k = *guest.kernel;
  ArenaGeometry at_limit = guest.g;
  at_limit.user_vm_start = 0x7f0000000000ULL;  // the window's pages from offset 0
  at_limit.user_vm_end = at_limit.user_vm_start + kMaxArenaPages * kPageSize;
  REQUIRE(at_limit.pages() == kMaxArenaPages);
  // The last page inside the cap and the first past it are present too.
  guest.tables.map(at_limit.kern_vm_start + (kMaxArenaPages - 1) * kPageSize, 0x304000);
  guest.tables.map(at_limit.kern_vm_start + kMaxArenaPages * kPageSize, 0x305000);
  PageCount whole = count_arena_pages(k.physical(), k.page_table_root(), false, at_limit, std::nullopt);
  CHECK_FALSE(whole.truncated);
  CHECK(whole.present == 5);  // arena16's four, and the last one

  ArenaGeometry past = at_limit;
  past.user_vm_end += kPageSize;
  PageCount cut = count_arena_pages(k.physical(), k.page_table_root(), false, past, std::nullopt);
  CHECK(cut.truncated);
  CHECK(cut.present == 5);  // the page past the cap is not counted
}

// read_bpf_maps over an ARENA map whose object declares `globals_size`
// bytes of __arena globals; a vmlinux BTF with just the structs the arena
// reader asks for.
MapDump arena_with_globals(uint64_t globals_size) {
  auto vmlinux_blob = btf_blob([](struct ::btf* b) {
    int u8 = btf__add_int(b, "u8", 1, 0);
    int s16 = btf__add_int(b, "s16", 2, BTF_INT_SIGNED);
    int u64 = btf__add_int(b, "u64", 8, 0);
    int map = btf__add_struct(b, "bpf_map", 64);
    REQUIRE(btf__add_struct(b, "bpf_arena", 88) > 0);
    REQUIRE(btf__add_field(b, "map", map, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "user_vm_start", u64, 64 * 8, 0) == 0);
    REQUIRE(btf__add_field(b, "user_vm_end", u64, 72 * 8, 0) == 0);
    REQUIRE(btf__add_field(b, "kern_vm", u64, 80 * 8, 0) == 0);
    REQUIRE(btf__add_struct(b, "vm_struct", 16) > 0);
    REQUIRE(btf__add_field(b, "next", u64, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "addr", u64, 64, 0) == 0);
    REQUIRE(btf__add_struct(b, "bpf_insn", 8) > 0);
    REQUIRE(btf__add_field(b, "code", u8, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "off", s16, 16, 0) == 0);  // 16 bits: a 64 KiB guard, 32 KiB before the window
    REQUIRE(btf__add_struct(b, "page", 64) > 0);
  });
  auto vmlinux = btf::Btf::from_bytes(vmlinux_blob, "synthetic vmlinux");
  REQUIRE(vmlinux);
  auto object_blob = btf_blob([&](struct ::btf* b) {
    int chr = btf__add_int(b, "char", 1, BTF_INT_CHAR);
    int index = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
    int bytes = btf__add_array(b, index, chr, static_cast<uint32_t>(globals_size));
    int var = btf__add_var(b, "big", BTF_VAR_GLOBAL_ALLOCATED, bytes);
    REQUIRE(btf__add_datasec(b, std::string(kArenaSection).c_str(), static_cast<uint32_t>(globals_size)) > 0);
    REQUIRE(btf__add_datasec_var_info(b, var, 0, static_cast<uint32_t>(globals_size)) == 0);
  });

  ArenaGuest guest;
  Ram& ram = guest.ram;
  // An arena of 2048 pages (room for either place libbpf puts the globals),
  // every page mapping the same guest page.
  constexpr uint64_t kMap = 0x10000, kVm = 0x9000, kBtf = 0x6000, kBlob = 0x7000;
  constexpr uint64_t kPages = 2048;
  guest.symbols = guest_symbols(ram, "ffffffff80002000 d map_idr\n");
  ram.put64(0x2008, kPob + kMap);
  put_btf(ram, kBtf, kBlob, object_blob);
  put_map(ram, kMap, "arena", kMapTypeArena, 0, 0, kPages, kPob + kBtf);
  ram.put64(kMap + 64, kUserStart);
  ram.put64(kMap + 72, kUserStart + kPages * kPageSize);
  ram.put64(kMap + 80, kPob + kVm);
  ram.put64(kVm + 8, kKernStart - 0x8000);
  for (uint64_t page = 0; page < kPages; ++page) guest.tables.map(kKernStart + 0x12340000 + page * kPageSize, 0x306000);
  auto kernel = GuestKernel::open(ram, guest.symbols, kRoot, 0);
  REQUIRE(kernel);
  KernelLayout layout = small_layout();
  MapReadContext ctx{**kernel, layout, *vmlinux, {}};
  auto maps = read_bpf_maps(ctx);
  REQUIRE(maps);
  REQUIRE(maps->size() == 1);
  return std::move(maps->at(0));
}

TEST_CASE("read_arena: kMaxArenaGlobalsBytes of __arena globals are read whole; larger ones are cut, and said") {
  MapDump whole = arena_with_globals(kMaxArenaGlobalsBytes);
  CHECK_FALSE(whole.error);
  REQUIRE(whole.arena);
  CHECK(whole.arena->pages_present == 2048);
  CHECK(whole.arena->globals_size == kMaxArenaGlobalsBytes);
  CHECK(whole.arena->globals_addr != 0);
  CHECK(whole.value);

  MapDump cut = arena_with_globals(kMaxArenaGlobalsBytes + 1);
  REQUIRE(cut.error);
  CHECK(*cut.error == "globals cut at 4194304 of 4194305 bytes");
  REQUIRE(cut.arena);
  CHECK(cut.arena->globals_size == kMaxArenaGlobalsBytes + 1);
  CHECK(cut.value);  // what was read is kept
}

TEST_CASE("read_arena_geometry: the kernel window from kern_vm->addr; garbage is refused") {
  Ram ram;
  auto symbols = guest_symbols(ram, "");
  auto kernel = GuestKernel::open(ram, symbols, 0, 0);
  REQUIRE(kernel);
  ArenaLayout l;
  l.user_vm_start = 0x40;
  l.user_vm_end = 0x48;
  l.kern_vm = 0x50;
  l.vm_addr = 8;
  l.guard_half = 0x8000;
  ram.put64(0x8040, kUserStart);
  ram.put64(0x8048, kUserStart + 16 * kPageSize);
  ram.put64(0x8050, kPob + 0x9000);
  ram.put64(0x9008, 0xffffc90000000000ULL);
  auto g = read_arena_geometry(**kernel, kPob + 0x8000, l);
  REQUIRE(g);
  CHECK(g->kern_vm_start == kKernStart);
  CHECK(g->pages() == 16);

  ram.put64(0x8048, kUserStart - kPageSize);  // end before start
  CHECK_FALSE(read_arena_geometry(**kernel, kPob + 0x8000, l));
  ram.put64(0x8048, kUserStart + (8ULL << 30));  // larger than 4 GiB
  CHECK_FALSE(read_arena_geometry(**kernel, kPob + 0x8000, l));
  ram.put64(0x8048, kUserStart + 16 * kPageSize);
  ram.put64(0x9008, 0x1000);  // a user address is no vmalloc window
  CHECK_FALSE(read_arena_geometry(**kernel, kPob + 0x8000, l));
  ram.put64(0x8050, 0xffffc90000000000ULL);  // kern_vm unmapped
  CHECK_FALSE(read_arena_geometry(**kernel, kPob + 0x8000, l));
}

TEST_CASE("ArenaPointerReader: __arena pointers are followed when rendering, through both forms") {
  ArenaGuest guest;
  // struct node { int v; struct node *next; }
  auto blob = btf_blob([](struct ::btf* b) {
    REQUIRE(btf__add_int(b, "int", 4, BTF_INT_SIGNED) == 1);
    REQUIRE(btf__add_struct(b, "node", 16) == 2);
    REQUIRE(btf__add_field(b, "v", 1, 0, 0) == 0);
    REQUIRE(btf__add_field(b, "next", 3, 64, 0) == 0);
    REQUIRE(btf__add_ptr(b, 2) == 3);
  });
  auto btf = btf::Btf::from_bytes(blob, "test BTF");
  REQUIRE(btf);
  // Page 0: {7, -> page 1 (user address)}; page 1: {9, -> page 5 (32-bit offset)}; page 5: {11, NULL}.
  guest.ram.put32(0x300000, 7);
  guest.ram.put64(0x300008, kUserStart + kPageSize);
  guest.ram.put32(0x301000, 9);
  guest.ram.put64(0x301008, (kUserStart + 5 * kPageSize) & 0xffffffffULL);
  guest.ram.put32(0x302000, 11);
  int loads = 0;
  ArenaPointerReader reader(*guest.kernel, [&] {
    ++loads;
    return std::vector<ArenaGeometry>{guest.g};
  });
  btf::RenderOptions options;
  options.reader = &reader;
  options.max_deref_depth = 4;
  auto bytes = reader.read(kUserStart, 16);
  REQUIRE(bytes);
  RenderedValue v = btf::render(*btf, 2, *bytes, options);
  REQUIRE(v.kind == ValueKind::Struct);
  const RenderedValue& next = v.members[1].value;
  REQUIRE(next.detail().deref);
  CHECK(next.detail().deref->members[0].value.int_value == 9);
  const RenderedValue& next2 = next.detail().deref->members[1].value;
  REQUIRE(next2.detail().deref);
  CHECK(next2.detail().deref->members[0].value.int_value == 11);
  CHECK(loads == 1);

  // Kernel addresses go straight to the kernel; pages not present fail.
  CHECK(reader.read(kPob + 0x300000, 4));
  CHECK_FALSE(reader.read(kUserStart + 3 * kPageSize, 4));
  // Reads that leave the arena, and addresses two arenas claim, are refused.
  CHECK_FALSE(reader.read(kUserStart + 16 * kPageSize - 4, 8));
  ArenaPointerReader twice(*guest.kernel, [&] { return std::vector<ArenaGeometry>{guest.g, guest.g}; });
  auto ambiguous = twice.read(kUserStart, 4);
  REQUIRE_FALSE(ambiguous);
  CHECK(ambiguous.error().message.find("2 arenas") != std::string::npos);
}

// ---------------------------------------------------------------- ringbuf

constexpr uint64_t kRb = 0x10000;  // struct bpf_ringbuf; data at +64, mapped twice
constexpr uint64_t kCap = 4096;

RingbufLayout small_ringbuf_layout() {
  RingbufLayout l;
  l.mask = 0;
  l.consumer_pos = 8;
  l.producer_pos = 16;
  l.pending_pos = 24;
  l.data = 64;
  l.overwrite_mode = 32;
  l.overwrite_pos = 40;
  return l;
}

struct RingGuest {
  Ram ram;
  kvm::control::SymbolTable symbols = guest_symbols(ram, "");
  std::unique_ptr<GuestKernel> kernel;
  RingbufLayout l = small_ringbuf_layout();
  uint64_t cap;

  explicit RingGuest(uint64_t capacity = kCap) : cap(capacity) {
    auto k = GuestKernel::open(ram, symbols, 0, 0);
    REQUIRE(k);
    kernel = std::move(*k);
    ram.put64(kRb + l.mask, cap - 1);
  }
  // A byte at logical position `pos`, in both mappings of the data area.
  void byte(uint64_t pos, uint8_t b) {
    ram.bytes[kRb + l.data + (pos & (cap - 1))] = b;
    ram.bytes[kRb + l.data + cap + (pos & (cap - 1))] = b;
  }
  // A record at `pos` with `len` payload bytes 1, 2, ...; returns the next position.
  uint64_t record(uint64_t pos, uint32_t len, uint32_t flags = 0) {
    header(pos, len | flags);
    for (uint32_t i = 0; i < len; ++i) byte(pos + 8 + i, static_cast<uint8_t>(i + 1));
    return pos + ((8 + len + 7) & ~7ULL);
  }
  void header(uint64_t pos, uint32_t word) {
    for (int i = 0; i < 4; ++i) byte(pos + i, static_cast<uint8_t>(word >> (8 * i)));
  }
  void positions(uint64_t consumer, uint64_t producer) {
    ram.put64(kRb + l.consumer_pos, consumer);
    ram.put64(kRb + l.producer_pos, producer);
    ram.put64(kRb + l.pending_pos, producer);
  }
  Status collect(RingbufContents& out) { return collect_ringbuf(*kernel, kPob + kRb, l, out); }
};

TEST_CASE("collect_ringbuf: records in order across the wrap, busy and discarded flagged") {
  RingGuest g;
  uint64_t start = 3 * kCap - 16;  // positions keep growing; the first record wraps
  uint64_t p = g.record(start, 12);
  uint64_t discarded = p;
  p = g.record(p, 5, kRingbufDiscardBit);
  uint64_t third = p;
  p = g.record(p, 16);
  uint64_t busy = p;
  p = g.record(p, 4, kRingbufBusyBit);
  g.positions(start, p);
  RingbufContents out;
  REQUIRE(g.collect(out));
  const auto& d = out.dump;
  CHECK(d.capacity == kCap);
  CHECK(d.pending_bytes == p - start);
  REQUIRE(d.records.size() == 4);
  CHECK(d.records[0].pos == start);
  CHECK(d.records[0].len == 12);
  CHECK(d.records[1].pos == discarded);
  CHECK(d.records[1].discarded);
  CHECK(d.records[2].pos == third);
  CHECK(d.records[3].pos == busy);
  CHECK(d.records[3].busy);
  REQUIRE(out.samples[0]);
  CHECK(*out.samples[0] == std::vector<uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  CHECK_FALSE(out.samples[1]);
  REQUIRE(out.samples[2]);
  CHECK(out.samples[2]->size() == 16);
  CHECK((*out.samples[2])[15] == 16);
  CHECK_FALSE(out.samples[3]);
}

TEST_CASE("collect_ringbuf: empty rings and overwrite mode") {
  RingGuest g;
  g.positions(4096, 4096);
  RingbufContents empty;
  REQUIRE(g.collect(empty));
  CHECK(empty.dump.records.empty());

  uint64_t p = g.record(0, 8);
  uint64_t kept = p;
  p = g.record(p, 8);
  g.positions(0, p);
  g.ram.bytes[kRb + 32] = 1;        // overwrite mode: records before
  g.ram.put64(kRb + 40, kept);      // overwrite_pos are gone
  RingbufContents out;
  REQUIRE(g.collect(out));
  REQUIRE(out.dump.records.size() == 1);
  CHECK(out.dump.records[0].pos == kept);
}

TEST_CASE("collect_ringbuf: hostile positions, lengths, masks and pages give errors") {
  RingGuest g;
  uint64_t p = g.record(0, 8);
  g.positions(64, 8);  // producer behind consumer
  RingbufContents behind;
  auto s = g.collect(behind);
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("behind") != std::string::npos);

  g.positions(0, 2 * kCap);  // more pending than the ring holds
  RingbufContents overfull;
  CHECK_FALSE(g.collect(overfull));

  g.header(p, 0x3fffffff);  // a length past the producer
  g.positions(0, p + 64);
  RingbufContents huge;
  s = g.collect(huge);
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("claims") != std::string::npos);
  CHECK(huge.dump.records.size() == 1);  // the good record before it is kept

  g.positions(4, 12);  // misaligned
  RingbufContents misaligned;
  CHECK_FALSE(g.collect(misaligned));

  g.ram.put64(kRb + g.l.mask, 1000);  // not a power of two minus one
  g.positions(0, 16);
  RingbufContents bad_mask;
  CHECK_FALSE(g.collect(bad_mask));

  RingbufContents missing;  // the ring's pages are not mapped
  CHECK_FALSE(collect_ringbuf(*g.kernel, 0xffffc90000100000ULL, g.l, missing));
}

TEST_CASE("collect_ringbuf: the record count is bounded") {
  RingGuest g(64 * 1024);  // room for 8192 empty records
  uint64_t p = 0;
  for (std::size_t i = 0; i < kMaxRingbufRecords + 10; ++i) p = g.record(p, 0);
  g.positions(0, p);
  RingbufContents out;
  auto s = g.collect(out);
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("showing the first") != std::string::npos);
  CHECK(out.dump.records.size() == kMaxRingbufRecords);
  CHECK(out.samples.size() == kMaxRingbufRecords);
}

TEST_CASE("collect_ringbuf: kMaxRingbufRecords records are read whole; one more is left out, and said") {
  RingGuest g(64 * 1024);  // room for 8192 empty records (8 bytes each)
  auto fill = [&](std::size_t records) {
    uint64_t p = 0;
    for (std::size_t i = 0; i < records; ++i) p = g.record(p, 0);
    g.positions(0, p);
  };
  fill(kMaxRingbufRecords);
  RingbufContents whole;
  Status read = g.collect(whole);
  CHECK_MESSAGE(read, read.error().to_string());
  CHECK(whole.dump.records.size() == kMaxRingbufRecords);

  fill(kMaxRingbufRecords + 1);
  RingbufContents cut;
  read = g.collect(cut);
  REQUIRE_FALSE(read);
  CHECK(read.error().message == "showing the first 4096 records (32768 of 32776 pending bytes)");
  CHECK(cut.dump.records.size() == kMaxRingbufRecords);
}

TEST_CASE("collect_ringbuf: kMaxRingbufBytes pending are read whole; past them the rest is left out, and said") {
  constexpr uint64_t kRecordBytes = 4096;  // a header and 4088 payload bytes
  RingGuest g(2 * kMaxRingbufBytes);
  g.ram.bytes.resize(kRb + g.l.data + 2 * g.cap);  // the data pages, mapped twice
  auto fill = [&](uint64_t records) {
    uint64_t p = 0;
    for (uint64_t i = 0; i < records; ++i) p = g.record(p, kRecordBytes - kRingbufHeaderSize);
    g.positions(0, p);
  };
  fill(kMaxRingbufBytes / kRecordBytes);
  RingbufContents whole;
  Status read = g.collect(whole);
  CHECK_MESSAGE(read, read.error().to_string());
  CHECK(whole.dump.pending_bytes == kMaxRingbufBytes);
  CHECK(whole.dump.records.size() == kMaxRingbufBytes / kRecordBytes);

  fill(kMaxRingbufBytes / kRecordBytes + 1);
  RingbufContents cut;
  read = g.collect(cut);
  REQUIRE_FALSE(read);
  CHECK(read.error().message == "showing the records in the first 4194304 of 4198400 pending bytes");
  CHECK(cut.dump.records.size() == kMaxRingbufBytes / kRecordBytes);
}

TEST_CASE("ArenaLayout and RingbufLayout from the fetched kernel's vmlinux BTF") {
  std::string path = std::string(KTEST_KERNEL_DIR) + "/vmlinux";
  if (std::string(KTEST_KERNEL_DIR).empty() || !std::filesystem::exists(path)) {
    MESSAGE("SKIPPED: no fetched kernel (configure with -Dkernel_dir=DIR holding vmlinux)");
    return;
  }
  auto vmlinux = btf::Btf::from_elf(path);
  REQUIRE(vmlinux);
  auto arena = ArenaLayout::from_btf(*vmlinux);
  REQUIRE_MESSAGE(arena, (arena ? "" : arena.error().to_string()));
  CHECK(arena->guard_half == 32 * 1024);  // GUARD_SZ = 64 KiB: bpf_insn.off is 16 bits
  CHECK(arena->user_vm_end == arena->user_vm_start + 8);
  CHECK(arena->kern_vm == arena->user_vm_end + 8);
  CHECK(arena->page_struct_size == 64);
  auto ring = RingbufLayout::from_btf(*vmlinux);
  REQUIRE_MESSAGE(ring, (ring ? "" : ring.error().to_string()));
  CHECK(ring->map_rb > 0);  // after the embedded struct bpf_map
  CHECK(ring->producer_pos > ring->consumer_pos);  // on pages of their own
  CHECK(ring->data % kPageSize == 0);  // the data pages follow the header pages
}

}  // namespace
}  // namespace ktest::freeze
