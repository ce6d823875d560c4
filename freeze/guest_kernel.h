// Guest kernel memory as the host sees it while the guest is frozen:
// physical reads, kernel-virtual → guest-physical translation, symbols.
//
// Contract:
// - Everything read from the guest is hostile input: every page-table
//   entry, pointer and length is bounds-checked against guest RAM; a bad
//   value gives an Error, never a crash, a hang or a read outside RAM.
// - walk_page_table() is the pure x86-64 walker (4-level, or 5-level when
//   LA57 is set), handling 1 GiB and 2 MiB pages.
// - GuestKernel::open() refuses to translate unless kallsyms' `_text` is the
//   no-KASLR address (0xffffffff81000000); it reads `phys_base` and
//   `page_offset_base` from the guest. translate() uses the kernel-image
//   mapping, then the direct map, then the page walk from the kernel's
//   top-level page table (`init_top_pgt`, or vCPU 0's CR3 without it).
// - read() translates page by page, so a range may span discontiguous
//   physical pages; reads are capped at kMaxGuestRead bytes.
// - remember_page_walks() makes translate() keep its page-walk results
//   (a small direct-mapped cache): only for a guest that stays frozen while
//   this GuestKernel is used. open_frozen_kernel() turns it on; a kernel
//   read while the guest runs (the error trigger) walks every time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "btf/render.h"
#include "kvm/control_protocol.h"
#include "kvm/machine.h"
#include "util/result.h"

namespace ktest::freeze {

inline constexpr uint64_t kNoKaslrText = 0xffffffff81000000ULL;
inline constexpr uint64_t kKernelImageBase = 0xffffffff80000000ULL;
inline constexpr uint64_t kMaxGuestRead = 16ULL << 20;
inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint32_t kMaxGuestCpus = 512;  // per-CPU reads stop here

// Guest-physical memory (the frozen Machine, or a synthetic image in tests).
class PhysicalMemory {
 public:
  virtual ~PhysicalMemory() = default;
  virtual uint64_t size() const = 0;
  // Exactly [gpa, gpa+len) or an Error; the range must lie inside size().
  virtual Status read(uint64_t gpa, uint8_t* out, uint64_t len) = 0;
};

class MachineMemory final : public PhysicalMemory {
 public:
  explicit MachineMemory(kvm::Machine& machine) : machine_(machine) {}
  uint64_t size() const override { return machine_.ram_size(); }
  Status read(uint64_t gpa, uint8_t* out, uint64_t len) override;

 private:
  kvm::Machine& machine_;
};

// Reads a little-endian u64 at gpa (bounds-checked).
Result<uint64_t> read_phys_u64(PhysicalMemory& memory, uint64_t gpa);

// Translates `va` through the page tables rooted at `root` (a physical
// address; low 12 bits ignored). `five_level`: CR4.LA57.
Result<uint64_t> walk_page_table(PhysicalMemory& memory, uint64_t root, bool five_level,
                                 uint64_t va);

class GuestKernel final : public btf::MemoryReader {
 public:
  // `cr3`/`cr4` of any vCPU (used when `init_top_pgt` is not in kallsyms).
  static Result<std::unique_ptr<GuestKernel>> open(PhysicalMemory& memory,
                                                   const kvm::control::SymbolTable& symbols,
                                                   uint64_t cr3, uint64_t cr4);

  Result<uint64_t> translate(uint64_t va);
  // See the contract above: the guest must stay frozen from now on.
  void remember_page_walks() { remember_walks_ = true; }
  Result<std::vector<uint8_t>> read(uint64_t va, std::size_t len) override;
  // The same into `out` (exactly out.size() bytes): no allocation per read.
  Status read_into(uint64_t va, std::span<uint8_t> out) override;
  Result<uint64_t> read_u64(uint64_t va);
  Result<uint32_t> read_u32(uint64_t va);
  // Address of a kallsyms symbol, or an Error naming it.
  Result<uint64_t> symbol(std::string_view name) const;
  // __per_cpu_offset[0..cpus), cpus capped at kMaxGuestCpus.
  Result<std::vector<uint64_t>> per_cpu_offsets(uint32_t cpus);
  // What translate() walks, for walks over a whole range (arena pages).
  PhysicalMemory& physical() { return memory_; }
  uint64_t page_table_root() const { return pgd_; }
  bool five_level() const { return five_level_; }

 private:
  GuestKernel(PhysicalMemory& memory, const kvm::control::SymbolTable& symbols)
      : memory_(memory), symbols_(symbols) {}

  PhysicalMemory& memory_;
  const kvm::control::SymbolTable& symbols_;
  uint64_t phys_base_ = 0;
  uint64_t page_offset_base_ = 0;
  uint64_t pgd_ = 0;
  bool five_level_ = false;
  // A hash map's elements share a few vmalloc pages; each read would walk
  // the same four page-table levels again.
  struct WalkedPage {
    uint64_t va_page = 1;  // 1: empty (no page-aligned address is odd)
    uint64_t gpa_page = 0;
  };
  static constexpr std::size_t kWalkedPages = 64;
  bool remember_walks_ = false;
  std::array<WalkedPage, kWalkedPages> walked_{};
};

// The frozen machine's kernel as a ReportSection reads it: guest RAM, the
// kallsyms table and the kernel's page table: init_top_pgt in the paging
// mode __pgtable_l5_enabled records when kallsyms has both and it is 4-level
// (no register read), else vCPU 0's CR3 and CR4. It remembers its page
// walks: use it only while the guest stays frozen (one section's fill).
struct FrozenKernel {
  std::unique_ptr<MachineMemory> memory;  // outlives `kernel`, which reads through it
  std::unique_ptr<GuestKernel> kernel;
};
Result<FrozenKernel> open_frozen_kernel(kvm::Machine& machine, const kvm::control::SymbolTable& symbols);

}  // namespace ktest::freeze
