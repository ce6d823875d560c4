// ARENA maps: geometry, present pages, `__arena` globals (freeze/map_arena.h),
// and the reader that follows pointers into arenas.
#include "freeze/map_arena.h"

#include <algorithm>
#include <cstring>

#include <bpf/btf.h>
#include <bpf/libbpf_version.h>
#include <fmt/format.h>

#include "freeze/map_types.h"

namespace ktest::freeze {
namespace {

// x86-64 page-table entry bits (as guest_kernel.cpp's walker uses them).
constexpr uint64_t kPtePresent = 1ULL << 0;
constexpr uint64_t kPteLarge = 1ULL << 7;
constexpr uint64_t kPteAddr = 0x000ffffffffff000ULL;
constexpr uint64_t kKernelHalf = 1ULL << 63;
constexpr uint64_t k4G = 1ULL << 32;

uint64_t load_u64(const std::vector<uint8_t>& raw, uint64_t at) {
  uint64_t v = 0;
  std::memcpy(&v, raw.data() + at, sizeof v);
  return v;
}

Result<uint64_t> offset_of(const btf::Btf& v, std::string_view s, std::string_view m) {
  KTEST_ASSIGN(MemberInfo info, member_info(v, s, m));
  return info.offset;
}

// Pages from `va` to the end of the region one entry of level `level` maps.
uint64_t pages_to_region_end(uint64_t va, int level) {
  uint64_t span = 1ULL << (12 + 9 * (level - 1));
  return (span - (va & (span - 1))) >> 12;
}

// Present pages among the `want` pages from `va`, all inside one 2 MiB
// region; `walked` is how many pages that covered (to the region's end, or
// further when an upper level is unmapped).
struct Step {
  uint64_t present = 0;
  uint64_t walked = 0;
};
Step count_region(PhysicalMemory& memory, uint64_t root, bool five_level, uint64_t va,
                  uint64_t want, std::optional<uint64_t> scratch_gpa) {
  uint64_t table = root & kPteAddr;
  for (int level = five_level ? 5 : 4; level >= 2; --level) {
    unsigned shift = 12 + 9 * static_cast<unsigned>(level - 1);
    auto entry = read_phys_u64(memory, table + ((va >> shift) & 0x1ff) * 8);
    uint64_t region = std::min(want, pages_to_region_end(va, level));
    if (!entry || !(*entry & kPtePresent)) return {0, region};
    if (level <= 3 && (*entry & kPteLarge)) return {region, region};
    table = *entry & kPteAddr;
  }
  uint64_t first = (va >> 12) & 0x1ff;
  uint64_t count = std::min<uint64_t>(want, 512 - first);
  std::vector<uint8_t> ptes(count * 8);
  if (!memory.read(table + first * 8, ptes.data(), ptes.size())) return {0, count};
  uint64_t present = 0;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t pte = load_u64(ptes, i * 8);
    if ((pte & kPtePresent) && !(scratch_gpa && (pte & kPteAddr) == *scratch_gpa)) ++present;
  }
  return {present, count};
}

}  // namespace

Result<ArenaLayout> ArenaLayout::from_btf(const btf::Btf& v) {
  ArenaLayout l;
  KTEST_ASSIGN(uint64_t map, offset_of(v, "bpf_arena", "map"));
  KTEST_ASSIGN(l.user_vm_start, offset_of(v, "bpf_arena", "user_vm_start"));
  KTEST_ASSIGN(l.user_vm_end, offset_of(v, "bpf_arena", "user_vm_end"));
  KTEST_ASSIGN(l.kern_vm, offset_of(v, "bpf_arena", "kern_vm"));
  // Offsets from the struct bpf_map the map_idr points at.
  l.user_vm_start -= map;
  l.user_vm_end -= map;
  l.kern_vm -= map;
  if (auto scratch = offset_of(v, "bpf_arena", "scratch_page")) l.scratch_page = *scratch - map;
  KTEST_ASSIGN(l.vm_addr, offset_of(v, "vm_struct", "addr"));
  // GUARD_SZ = round_up(1 << bits of bpf_insn.off, PAGE_SIZE << 1).
  KTEST_ASSIGN(MemberInfo off, member_info(v, "bpf_insn", "off"));
  KTEST_ASSIGN(uint64_t off_bytes, btf::type_size(v.get(), off.type_id));
  if (off_bytes == 0 || off_bytes > 4) return fail(fmt::format("bpf_insn.off has {} bytes", off_bytes));
  uint64_t guard = std::max<uint64_t>(1ULL << (off_bytes * 8), 2 * kPageSize);
  l.guard_half = guard / 2;
  KTEST_ASSIGN(l.page_struct_size, struct_size(v, "page"));
  return l;
}

uint64_t ArenaGeometry::pages() const { return (user_vm_end - user_vm_start) / kPageSize; }

std::optional<uint64_t> ArenaGeometry::kernel_address(uint64_t address) const {
  uint64_t size = user_vm_end - user_vm_start;
  if (size == 0) return std::nullopt;
  bool user = address >= user_vm_start && address < user_vm_end;
  // A 32-bit arena offset: its distance from the start, mod 2^32, is inside.
  bool offset = address < k4G &&
                ((address - (user_vm_start & (k4G - 1))) & (k4G - 1)) < size;
  if (!user && !offset) return std::nullopt;
  return kern_vm_start + (address & (k4G - 1));
}

Result<ArenaGeometry> read_arena_geometry(btf::MemoryReader& memory, uint64_t kva,
                                          const ArenaLayout& l) {
  uint64_t end = std::max({l.user_vm_start, l.user_vm_end, l.kern_vm, l.scratch_page.value_or(0)}) + 8;
  KTEST_ASSIGN(auto raw, memory.read(kva, end));
  ArenaGeometry g;
  g.map_kva = kva;
  g.user_vm_start = load_u64(raw, l.user_vm_start);
  g.user_vm_end = load_u64(raw, l.user_vm_end);
  if (l.scratch_page) g.scratch_page = load_u64(raw, *l.scratch_page);
  if (g.user_vm_end < g.user_vm_start || g.user_vm_end - g.user_vm_start > k4G ||
      ((g.user_vm_start | g.user_vm_end) & (kPageSize - 1)) != 0) {
    return fail(fmt::format("user range {:#x}..{:#x} is not a page-aligned range of at most 4 GiB",
                            g.user_vm_start, g.user_vm_end));
  }
  uint64_t kern_vm = load_u64(raw, l.kern_vm);
  KTEST_ASSIGN(auto addr, memory.read(kern_vm + l.vm_addr, 8));
  g.kern_vm_start = load_u64(addr, 0) + l.guard_half;
  if (g.kern_vm_start < kKernelHalf || g.kern_vm_start + k4G < g.kern_vm_start) {
    return fail(fmt::format("kern_vm_start {:#x} is not a kernel address", g.kern_vm_start));
  }
  return g;
}

PageCount count_arena_pages(PhysicalMemory& memory, uint64_t root, bool five_level,
                            const ArenaGeometry& a, std::optional<uint64_t> scratch_gpa) {
  PageCount out;
  uint64_t pages = a.pages();
  if (pages > kMaxArenaPages) {
    out.truncated = true;
    pages = kMaxArenaPages;
  }
  // The user range never crosses a 4 GiB boundary (arena_map_alloc), so
  // its pages are contiguous in the kernel window too.
  uint64_t base = a.kern_vm_start + (a.user_vm_start & (k4G - 1));
  for (uint64_t i = 0; i < pages;) {
    Step s = count_region(memory, root, five_level, base + i * kPageSize, pages - i, scratch_gpa);
    out.present += s.present;
    i += std::max<uint64_t>(s.walked, 1);
  }
  return out;
}

std::vector<ArenaGeometry> find_arenas(GuestKernel& kernel, const KernelLayout& layout,
                                       const btf::Btf& vmlinux) {
  std::vector<ArenaGeometry> out;
  auto arena_layout = ArenaLayout::from_btf(vmlinux);
  auto idr = kernel.symbol("map_idr");
  if (!arena_layout || !idr) return out;
  auto maps = collect_xarray_entries(kernel, *idr + layout.idr_xarray, layout.xarray, kMaxMaps);
  if (!maps) return out;
  for (uint64_t kva : *maps) {
    auto h = read_map_header(kernel, layout, kva);
    if (!h || h->type != kMapTypeArena) continue;
    if (auto g = read_arena_geometry(kernel, kva, *arena_layout)) out.push_back(*g);
  }
  return out;
}

Result<std::vector<uint8_t>> ArenaPointerReader::read(uint64_t address, std::size_t len) {
  if (address >= kKernelHalf) return kernel_.read(address, len);
  if (!arenas_) arenas_ = load_();
  std::optional<uint64_t> target;
  std::size_t hits = 0;
  for (const auto& a : *arenas_) {
    auto k = a.kernel_address(address);
    if (!k) continue;
    ++hits;
    if (len > 0 && !a.kernel_address(address + len - 1)) {
      return fail(fmt::format("{} bytes at {:#x} run past the end of the arena", len, address));
    }
    target = k;
  }
  if (hits > 1) {
    return fail(fmt::format("{:#x} lies in {} arenas; ktest cannot tell which one it points into",
                            address, hits));
  }
  return kernel_.read(target.value_or(address), len);
}

Result<btf::Btf> object_btf_of_map(MapFill& f) {
  KTEST_ASSIGN(uint64_t aux_at, offset_of(f.vmlinux, "bpf_prog", "aux"));
  KTEST_ASSIGN(uint64_t cnt_at, offset_of(f.vmlinux, "bpf_prog_aux", "used_map_cnt"));
  KTEST_ASSIGN(uint64_t maps_at, offset_of(f.vmlinux, "bpf_prog_aux", "used_maps"));
  KTEST_ASSIGN(uint64_t btf_at, offset_of(f.vmlinux, "bpf_prog_aux", "btf"));
  KTEST_ASSIGN(const auto* programs, f.tables.programs());
  for (const auto& [id, prog] : *programs) {
    auto aux = f.kernel.read_u64(prog.kva + aux_at);
    if (!aux) continue;
    auto count = f.kernel.read_u32(*aux + cnt_at);
    auto maps = f.kernel.read_u64(*aux + maps_at);
    if (!count || !maps || *count == 0 || *count > kMaxUsedMaps) continue;
    auto used = f.kernel.read(*maps, *count * 8ULL);
    if (!used) continue;
    bool uses = false;
    for (uint32_t i = 0; i < *count; ++i) uses = uses || load_u64(*used, i * 8ULL) == f.h.kva;
    if (!uses) continue;
    auto btf_kva = f.kernel.read_u64(*aux + btf_at);
    if (!btf_kva || *btf_kva == 0) continue;
    MapBtfCache cache(f.kernel, f.layout, f.vmlinux);
    KTEST_ASSIGN(auto btf, cache.get(*btf_kva));
    return *btf;
  }
  return fail("no loaded program uses the map, so its object's BTF is unknown");
}

namespace {

// Where libbpf put the object's `__arena` globals: at the arena's start up
// to libbpf 1.5, in the last pages from 1.6 on. The guest agent links the
// libbpf ktest was built with; the other placement is the fallback.
std::vector<uint64_t> globals_offsets(const ArenaGeometry& g, uint64_t size) {
  uint64_t arena = g.user_vm_end - g.user_vm_start;
  uint64_t rounded = (size + kPageSize - 1) & ~(kPageSize - 1);
  uint64_t end = rounded <= arena ? arena - rounded : 0;
  bool at_end = LIBBPF_MAJOR_VERSION > 1 || (LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION >= 6);
  return at_end ? std::vector<uint64_t>{end, 0} : std::vector<uint64_t>{0, end};
}

std::optional<uint64_t> scratch_gpa(GuestKernel& kernel, const ArenaGeometry& g,
                                    const ArenaLayout& l) {
  if (g.scratch_page == 0 || l.page_struct_size == 0) return std::nullopt;
  auto vmemmap = kernel.symbol("vmemmap_base");
  if (!vmemmap) return std::nullopt;
  auto base = kernel.read_u64(*vmemmap);
  if (!base || g.scratch_page < *base) return std::nullopt;
  return (g.scratch_page - *base) / l.page_struct_size * kPageSize;
}

}  // namespace

Status read_arena(MapFill& f, MapDump& d) {
  KTEST_ASSIGN(auto layout, ArenaLayout::from_btf(f.vmlinux));
  KTEST_ASSIGN(auto g, read_arena_geometry(f.kernel, f.h.kva, layout));
  ArenaDump a;
  a.user_vm_start = g.user_vm_start;
  a.user_vm_end = g.user_vm_end;
  a.kern_vm_start = g.kern_vm_start;
  PageCount pages = count_arena_pages(f.kernel.physical(), f.kernel.page_table_root(),
                                      f.kernel.five_level(), g, scratch_gpa(f.kernel, g, layout));
  a.pages_present = pages.present;
  d.arena = a;
  if (pages.truncated) return fail(fmt::format("counted the first {} pages only", kMaxArenaPages));
  if (g.pages() == 0) return {};  // never mmapped: libbpf put no globals in it
  std::optional<btf::Btf> object;
  const btf::Btf* btf = f.btf.get();
  if (btf == nullptr) {
    auto found = object_btf_of_map(f);
    if (!found) return std::move(found).context("rendering the arena's globals");
    object = std::move(*found);
    btf = &*object;
  }
  int id = btf__find_by_name_kind(btf->get(), std::string(kArenaSection).c_str(), BTF_KIND_DATASEC);
  if (id <= 0) return {};  // the object declares no __arena globals
  KTEST_ASSIGN(uint64_t size, btf::type_size(btf->get(), static_cast<uint32_t>(id)));
  uint64_t shown = std::min(size, kMaxArenaGlobalsBytes);
  Status last;
  for (uint64_t offset : globals_offsets(g, size)) {
    uint64_t at = g.user_vm_start + offset;
    auto kaddr = g.kernel_address(at);
    auto bytes = kaddr ? f.kernel.read(*kaddr, shown) : Result<std::vector<uint8_t>>(fail("outside"));
    if (!bytes) {
      last = fail(bytes.error().with_context(fmt::format("reading the globals at {:#x}", at)));
      continue;
    }
    d.arena->globals_addr = at;
    d.arena->globals_size = size;
    RenderedValue globals = btf::render(*btf, static_cast<uint32_t>(id), *bytes, f.options);
    d.value = make_struct("arena", {{"globals", std::move(globals)}});
    if (shown < size) return fail(fmt::format("globals cut at {} of {} bytes", shown, size));
    return {};
  }
  return last;
}

}  // namespace ktest::freeze
