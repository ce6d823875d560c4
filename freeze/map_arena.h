// Internal to freeze/: ARENA maps (kernel/bpf/arena.c) and following
// `__arena` pointers into them.
//
// Contract:
// - ArenaLayout comes from vmlinux BTF: bpf_arena's user_vm_start,
//   user_vm_end, kern_vm (and scratch_page where the kernel has one),
//   vm_struct.addr, and the guard the kernel puts before the 4 GiB window
//   (GUARD_SZ/2, GUARD_SZ = round_up(2^(bits of bpf_insn.off), 2 pages)).
// - An arena page with user address u lives at the kernel address
//   kern_vm_start + (u32)u, kern_vm_start = kern_vm->addr + GUARD_SZ/2.
//   ArenaGeometry::kernel_address() maps a user address inside
//   [user_vm_start, user_vm_end), or a 32-bit arena offset (what a program
//   holds with BPF_F_NO_USER_CONV), to it; anything else is not the arena's.
// - count_arena_pages() counts the arena pages present in the kernel page
//   tables, walking at most kMaxArenaPages pages and skipping unmapped
//   upper-level entries; a page mapping `scratch_gpa` (the kernel's
//   placeholder page) does not count.
// - ArenaPointerReader is the MemoryReader the map renderers use: a read at
//   an address inside exactly one arena of the guest goes to that arena's
//   kernel mapping, any other read to the kernel. An address inside several
//   arenas (two processes mmapped theirs at the same place) is refused.
// - object_btf_of_map(): a map without BTF of its own (arena, ringbuf)
//   borrows its object's: the BTF of a program in prog_idr whose used_maps
//   holds the map.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "btf/btf.h"
#include "btf/render.h"
#include "freeze/guest_kernel.h"
#include "util/result.h"

namespace ktest::freeze {

struct MapFill;  // freeze/map_types.h
struct KernelLayout;

inline constexpr uint64_t kMaxArenaPages = 1ULL << 20;         // a 4 GiB arena
inline constexpr uint64_t kMaxArenaGlobalsBytes = 4ULL << 20;  // globals read at most
inline constexpr uint32_t kMaxUsedMaps = 64;                   // MAX_USED_MAPS
inline constexpr std::string_view kArenaSection = ".addr_space.1";

struct ArenaLayout {
  uint64_t user_vm_start = 0, user_vm_end = 0, kern_vm = 0;  // bpf_arena
  std::optional<uint64_t> scratch_page;                      // bpf_arena.scratch_page
  uint64_t vm_addr = 0;                                      // vm_struct.addr
  uint64_t guard_half = 0;                                   // GUARD_SZ / 2
  uint64_t page_struct_size = 0;                             // sizeof(struct page)

  static Result<ArenaLayout> from_btf(const btf::Btf& vmlinux);
};

struct ArenaGeometry {
  uint64_t map_kva = 0;
  uint64_t user_vm_start = 0, user_vm_end = 0, kern_vm_start = 0;
  uint64_t scratch_page = 0;  // struct page * (0: none)

  uint64_t pages() const;
  std::optional<uint64_t> kernel_address(uint64_t address) const;
};

Result<ArenaGeometry> read_arena_geometry(btf::MemoryReader& memory, uint64_t arena_kva,
                                          const ArenaLayout& layout);

struct PageCount {
  uint64_t present = 0;
  bool truncated = false;  // more than kMaxArenaPages pages
};
PageCount count_arena_pages(PhysicalMemory& memory, uint64_t root, bool five_level,
                            const ArenaGeometry& arena, std::optional<uint64_t> scratch_gpa);

// Every arena in map_idr (errors skip the arena, never the capture).
std::vector<ArenaGeometry> find_arenas(GuestKernel& kernel, const KernelLayout& layout,
                                       const btf::Btf& vmlinux);

class ArenaPointerReader final : public btf::MemoryReader {
 public:
  // `arenas` is asked once, on the first read outside kernel space.
  ArenaPointerReader(btf::MemoryReader& kernel, std::function<std::vector<ArenaGeometry>()> arenas)
      : kernel_(kernel), load_(std::move(arenas)) {}
  Result<std::vector<uint8_t>> read(uint64_t address, std::size_t len) override;

 private:
  btf::MemoryReader& kernel_;
  std::function<std::vector<ArenaGeometry>()> load_;
  std::optional<std::vector<ArenaGeometry>> arenas_;
};

Result<btf::Btf> object_btf_of_map(MapFill& fill);

}  // namespace ktest::freeze
