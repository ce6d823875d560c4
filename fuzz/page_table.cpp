// Page tables: walk_page_table, GuestKernel's translation and reads, and
// the arena page count and pointer reader, over a mutated image.
//   args 0-3  addresses to translate and read
//   arg  4    read length (mod 3 pages, so reads cross pages)
//   arg  5    kva of an arena's bpf_map (fuzz_arena_layout() offsets)
//   arg  6    the scratch page's guest-physical address (0: none)
#include "freeze/map_arena.h"
#include "fuzz/guest_image.h"

namespace ktest::fuzz {
namespace {

using freeze::kPageSize;

// bpf_arena as offsets from its bpf_map, and vm_struct.addr.
freeze::ArenaLayout fuzz_arena_layout() {
  freeze::ArenaLayout l;
  l.user_vm_start = 0x80;
  l.user_vm_end = 0x88;
  l.kern_vm = 0x90;
  l.scratch_page = 0x98;
  l.vm_addr = 0x8;
  l.guard_half = 0x8000;
  l.page_struct_size = 64;
  return l;
}

void check_translations(ImageGuest& g) {
  bool five_level = g.kernel->five_level();
  for (uint32_t i = 0; i < 4; ++i) {
    uint64_t va = g.arg(i);
    auto walked = freeze::walk_page_table(g.ram, g.kernel->page_table_root(), five_level, va);
    fuzz_check(!walked || *walked < kImageBytes, "a page walk ends inside RAM");
    auto gpa = g.kernel->translate(va);
    fuzz_check(!gpa || *gpa < kImageBytes, "a translation ends inside RAM");
    std::size_t len = static_cast<std::size_t>(g.arg(4) % (3 * kPageSize));
    auto bytes = g.kernel->read(va, len);
    fuzz_check(!bytes || bytes->size() == len, "a read returns what was asked");
    auto word = g.kernel->read_u64(va);
    fuzz_check(word.ok() == g.kernel->read(va, 8).ok(), "read_u64 reads 8 bytes");
  }
}

void check_arena(ImageGuest& g) {
  auto layout = fuzz_arena_layout();
  auto arena = freeze::read_arena_geometry(*g.kernel, g.arg(5), layout);
  if (!arena) return;
  fuzz_check(arena->user_vm_start <= arena->user_vm_end, "an arena's range is ordered");
  std::optional<uint64_t> scratch;
  if (g.arg(6) != 0) scratch = g.arg(6);
  auto pages = freeze::count_arena_pages(g.ram, g.kernel->page_table_root(), g.kernel->five_level(),
                                         *arena, scratch);
  fuzz_check(pages.present <= std::min(arena->pages(), freeze::kMaxArenaPages),
             "no more arena pages present than the arena has");
  freeze::ArenaPointerReader reader(*g.kernel, [&] { return std::vector{*arena, *arena}; });
  freeze::ArenaPointerReader single(*g.kernel, [&] { return std::vector{*arena}; });
  for (uint32_t i = 0; i < 4; ++i) {
    std::size_t len = static_cast<std::size_t>(g.arg(4) % (3 * kPageSize));
    auto in_one = single.read(g.arg(i), len);
    fuzz_check(!in_one || in_one->size() == len, "an arena read returns what was asked");
    auto twice = reader.read(g.arg(i), len);
    // An address inside two arenas is ambiguous: only kernel addresses pass.
    fuzz_check(!twice || g.arg(i) >= (1ULL << 63) || !arena->kernel_address(g.arg(i)),
               "an address in two arenas is refused");
  }
}

std::vector<Seed> page_table_seeds() {
  std::vector<Seed> out;
  {
    // A vmalloc page and a 2 MiB direct-map page, read across their ends.
    ImageWriter w;
    uint64_t next = 0x2000;
    uint64_t vmalloc = 0xffffc90000010000ULL;
    w.map_page(vmalloc, 0x8000, &next);
    w.map_page(vmalloc + kPageSize, 0x9000, &next);
    w.put_text(0x8000, "first page");
    w.put_text(0x9000, "second page");
    w.arg(0, vmalloc + 0x10);
    w.arg(1, vmalloc + kPageSize - 8);
    w.arg(2, image_va(0x8000));
    w.arg(3, dm(0x9ff8));
    w.arg(4, 24);
    out.push_back(w.seed("vmalloc"));
  }
  {
    // 5-level paging: the walk starts one level higher.
    ImageWriter w;
    w.put64(kCr4, 1ULL << 12);
    uint64_t va = 0xff11000000000000ULL;
    uint64_t p4d = 0x2000, pud = 0x3000, pmd = 0x4000, pte = 0x5000;
    w.put64(kPgd + ((va >> 48) & 0x1ff) * 8, p4d | 3);
    w.put64(p4d + ((va >> 39) & 0x1ff) * 8, pud | 3);
    w.put64(pud + ((va >> 30) & 0x1ff) * 8, pmd | 3);
    w.put64(pmd + ((va >> 21) & 0x1ff) * 8, pte | 3);
    w.put64(pte + ((va >> 12) & 0x1ff) * 8, 0x6000 | 3);
    w.put_text(0x6000, "five levels");
    w.arg(0, va);
    w.arg(1, va + 0x123);
    w.arg(4, 11);
    out.push_back(w.seed("five_level"));
  }
  {
    // An arena of 4 pages, 2 of them present, one being the scratch page.
    ImageWriter w;
    uint64_t next = 0x2000;
    auto l = fuzz_arena_layout();
    uint64_t arena = 0x8000, vm_struct = 0x8100;
    uint64_t user = 0x100000000ULL, kern_window = 0xffffc90000000000ULL;
    w.put64(arena + l.user_vm_start, user);
    w.put64(arena + l.user_vm_end, user + 4 * kPageSize);
    w.put64(arena + l.kern_vm, dm(vm_struct));
    w.put64(arena + *l.scratch_page, 0xffffea0000000000ULL);
    w.put64(vm_struct + l.vm_addr, kern_window - l.guard_half);
    w.map_page(kern_window, 0x9000, &next);
    w.map_page(kern_window + kPageSize, 0xa000, &next);
    w.map_page(kern_window + 2 * kPageSize, 0xb000, &next);
    w.put_text(0x9000, "arena page 0");
    w.arg(0, user + 8);
    w.arg(1, 8);  // the same, as a 32-bit arena offset
    w.arg(2, user + 3 * kPageSize);
    w.arg(3, dm(arena));
    w.arg(4, 16);
    w.arg(5, dm(arena));
    w.arg(6, 0xb000);
    out.push_back(w.seed("arena"));
  }
  return out;
}

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(page_table, page_table_seeds) {
  auto guest = open_image(data);
  if (!guest->kernel) return;
  check_translations(*guest);
  check_arena(*guest);
}
