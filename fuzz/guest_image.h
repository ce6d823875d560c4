// The memory-walker targets' guest: the fuzz input is guest RAM from
// physical address 0, read through GuestKernel exactly as a capture reads a
// frozen machine (kallsyms → kernel-image mapping, direct map, page walk).
//
// Contract:
// - RAM is kImageBytes (freeze/tests/synthetic_memory.h's Ram); the input
//   fills it from 0 and is zero-extended (libFuzzer's -max_len is the same
//   size). Everything in it is hostile, the symbols' values included:
//   phys_base and page_offset_base are read from the image as the real
//   GuestKernel::open reads them.
// - Page 0 is the header: the kallsyms symbols below sit at these
//   guest-physical addresses (kernel-image address kKernelImageBase + gpa),
//   and kArgs holds the target's own arguments (arg(i): a u64 each).
//   init_top_pgt is page 1 (kPgd): addresses outside the image and direct
//   maps (vmalloc, the arena window) go through a page walk from there.
// - ImageWriter builds seed images with the same constants; trailing zero
//   bytes are trimmed (the input is zero-extended anyway).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "freeze/guest_kernel.h"
#include "freeze/tests/synthetic_memory.h"
#include "fuzz/fuzz_target.h"

namespace ktest::fuzz {

inline constexpr uint64_t kImageBytes = 64 * 1024;
inline constexpr uint64_t kPob = freeze::testing::kPob;  // the direct map's base

// Header (page 0): guest-physical addresses.
inline constexpr uint64_t kPhysBase = 0x000;        // phys_base (0: image VA = gpa)
inline constexpr uint64_t kPageOffsetBase = 0x008;  // page_offset_base (kPob)
inline constexpr uint64_t kCr4 = 0x010;             // vCPU 0's CR4 (LA57: 5-level paging)
inline constexpr uint64_t kArgs = 0x040;            // 16 target arguments, u64 each
inline constexpr uint32_t kArgCount = 16;
inline constexpr uint64_t kMapIdr = 0x100;          // struct idr map_idr
inline constexpr uint64_t kProgIdr = 0x140;         // struct idr prog_idr
inline constexpr uint64_t kLinkIdr = 0x180;         // struct idr link_idr
inline constexpr uint64_t kPerCpuOffset = 0x200;    // __per_cpu_offset[8]
inline constexpr uint32_t kImageCpus = 8;
inline constexpr uint64_t kScxRoot = 0x240;         // scx_root
inline constexpr uint64_t kScxEnableState = 0x248;  // scx_enable_state_var
inline constexpr uint64_t kJiffies = 0x250;         // jiffies_64
inline constexpr uint64_t kNrNodeIds = 0x258;       // nr_node_ids
inline constexpr uint64_t kVmemmapBase = 0x260;     // vmemmap_base
inline constexpr uint64_t kExtSchedClass = 0x280;   // ext_sched_class (its address matters)
inline constexpr uint64_t kRunqueues = 0x300;       // runqueues (+ a CPU's per-CPU offset)
inline constexpr uint64_t kPgd = 0x1000;            // init_top_pgt
inline constexpr uint64_t kFirstObject = 0x2000;    // where seeds put their objects

// The direct-map address of guest-physical `gpa`.
inline constexpr uint64_t dm(uint64_t gpa) { return kPob + gpa; }
// The kernel-image address of guest-physical `gpa` (phys_base 0).
inline constexpr uint64_t image_va(uint64_t gpa) { return freeze::kKernelImageBase + gpa; }

// The kallsyms of every image guest (parsed once).
const kvm::control::SymbolTable& image_symbols();

struct ImageGuest {
  freeze::testing::Ram ram{kImageBytes};
  std::unique_ptr<freeze::GuestKernel> kernel;  // null when open() refused the image

  uint64_t arg(uint32_t i) const;
  uint32_t arg32(uint32_t i) const { return static_cast<uint32_t>(arg(i)); }
  // __per_cpu_offset[0..n), n = min(arg, kImageCpus); empty when unreadable.
  std::vector<uint64_t> per_cpu_offsets(uint64_t n);
};

// Loads `data` as RAM and opens the GuestKernel over it (kernel stays null
// when the header is refused, as a capture would refuse that guest).
std::unique_ptr<ImageGuest> open_image(std::span<const uint8_t> data);

class ImageWriter {
 public:
  ImageWriter();  // phys_base 0, page_offset_base kPob, an empty page table
  void put8(uint64_t gpa, uint8_t v) { bytes_.at(gpa) = v; }
  void put32(uint64_t gpa, uint32_t v);
  void put64(uint64_t gpa, uint64_t v);
  void put_bytes(uint64_t gpa, std::span<const uint8_t> data);
  uint64_t get64(uint64_t gpa) const;
  void put_text(uint64_t gpa, std::string_view text);  // NUL-terminated
  void arg(uint32_t i, uint64_t v) { put64(kArgs + 8ULL * i, v); }
  // Maps the 4 KiB page at `va` to `gpa` under kPgd, taking page tables
  // from `*next_table` on (each a free page of the image).
  void map_page(uint64_t va, uint64_t gpa, uint64_t* next_table);
  Seed seed(std::string label) const;

 private:
  Bytes bytes_;
};

}  // namespace ktest::fuzz
