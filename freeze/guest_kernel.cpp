#include "freeze/guest_kernel.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace ktest::freeze {
namespace {

constexpr uint64_t kPresent = 1ULL << 0;
constexpr uint64_t kLargePage = 1ULL << 7;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ULL;
constexpr uint64_t kCr4La57 = 1ULL << 12;
// The kernel's record of the paging mode it booted in (5-level or not).
constexpr std::string_view kLa57Symbol = "__pgtable_l5_enabled";
// PTI keeps the user half of the PGD in the page after the kernel one.
constexpr uint64_t kPtiPgdMask = ~0x1fffULL;

bool in_ram(const PhysicalMemory& memory, uint64_t gpa, uint64_t len) {
  return len <= memory.size() && gpa <= memory.size() - len;
}

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

Status MachineMemory::read(uint64_t gpa, uint8_t* out, uint64_t len) {
  if (!in_ram(*this, gpa, len)) {
    return fail(fmt::format("guest-physical range {:#x}+{:#x} lies outside RAM ({:#x} bytes)", gpa,
                            len, size()));
  }
  return machine_.read_physical_into(gpa, out, len);
}

Result<uint64_t> read_phys_u64(PhysicalMemory& memory, uint64_t gpa) {
  if (!in_ram(memory, gpa, 8)) {
    return fail(fmt::format("guest-physical address {:#x} lies outside RAM ({:#x} bytes)", gpa,
                            memory.size()));
  }
  uint8_t buf[8];
  KTEST_TRY(memory.read(gpa, buf, sizeof buf));
  return load_u64(buf);
}

Result<uint64_t> walk_page_table(PhysicalMemory& memory, uint64_t root, bool five_level,
                                 uint64_t va) {
  int levels = five_level ? 5 : 4;
  uint64_t table = root & kAddrMask;
  for (int level = levels; level >= 1; --level) {
    unsigned shift = 12 + 9 * static_cast<unsigned>(level - 1);
    uint64_t index = (va >> shift) & 0x1ff;
    auto entry = read_phys_u64(memory, table + index * 8);
    if (!entry) {
      return fail(fmt::format("translating {:#x}: level-{} table at {:#x}: {}", va, level, table,
                              entry.error().message));
    }
    if (!(*entry & kPresent)) {
      return fail(fmt::format("translating {:#x}: not mapped (level-{} entry {:#x})", va, level,
                              *entry));
    }
    if ((level == 3 || level == 2) && (*entry & kLargePage)) {
      uint64_t page_mask = (1ULL << shift) - 1;
      uint64_t gpa = (*entry & kAddrMask & ~page_mask) | (va & page_mask);
      if (!in_ram(memory, gpa, 1)) {
        return fail(fmt::format("translating {:#x}: large page at {:#x} lies outside RAM", va, gpa));
      }
      return gpa;
    }
    table = *entry & kAddrMask;
  }
  uint64_t gpa = table | (va & 0xfff);
  if (!in_ram(memory, gpa, 1)) {
    return fail(fmt::format("translating {:#x}: page at {:#x} lies outside RAM", va, table));
  }
  return gpa;
}

Result<std::unique_ptr<GuestKernel>> GuestKernel::open(PhysicalMemory& memory,
                                                       const kvm::control::SymbolTable& symbols,
                                                       uint64_t cr3, uint64_t cr4) {
  std::unique_ptr<GuestKernel> kernel(new GuestKernel(memory, symbols));
  KTEST_ASSIGN(uint64_t text, kernel->symbol("_text"));
  if (text != kNoKaslrText) {
    return fail(fmt::format("the guest's _text is {:#x}, not {:#x}: KASLR is active", text,
                            kNoKaslrText),
                "", "boot the guest with nokaslr (ktest's default command line does)");
  }
  KTEST_ASSIGN(uint64_t phys_base_va, kernel->symbol("phys_base"));
  if (phys_base_va < kKernelImageBase) return fail("kallsyms' phys_base is not a kernel-image address");
  KTEST_ASSIGN(kernel->phys_base_, read_phys_u64(memory, phys_base_va - kKernelImageBase));
  if (kernel->phys_base_ >= memory.size() || (kernel->phys_base_ & 0xfff)) {
    return fail(fmt::format("the guest's phys_base {:#x} is not a page inside RAM",
                            kernel->phys_base_));
  }
  KTEST_ASSIGN(uint64_t pob_va, kernel->symbol("page_offset_base"));
  KTEST_ASSIGN(uint64_t pob_gpa, kernel->translate(pob_va));
  KTEST_ASSIGN(kernel->page_offset_base_, read_phys_u64(memory, pob_gpa));
  if (kernel->page_offset_base_ < (1ULL << 63)) {
    return fail(fmt::format("the guest's page_offset_base {:#x} is not a kernel address",
                            kernel->page_offset_base_));
  }
  kernel->five_level_ = (cr4 & kCr4La57) != 0;
  kernel->pgd_ = cr3 & kAddrMask & kPtiPgdMask;
  if (auto top = kernel->symbol("init_top_pgt"); top && *top >= kKernelImageBase) {
    kernel->pgd_ = *top - kKernelImageBase + kernel->phys_base_;
  }
  if (!in_ram(memory, kernel->pgd_, kPageSize)) {
    return fail(fmt::format("the kernel page table at {:#x} lies outside RAM", kernel->pgd_));
  }
  return kernel;
}

Result<std::vector<uint64_t>> GuestKernel::per_cpu_offsets(uint32_t cpus) {
  KTEST_ASSIGN(uint64_t at, symbol("__per_cpu_offset"));
  cpus = std::min(cpus, kMaxGuestCpus);
  if (cpus == 0) return std::vector<uint64_t>{};  // memcpy into an empty vector's null data() is UB
  KTEST_ASSIGN(auto raw, read(at, cpus * 8ULL));
  std::vector<uint64_t> out(cpus);
  std::memcpy(out.data(), raw.data(), cpus * 8ULL);
  return out;
}

Result<FrozenKernel> open_frozen_kernel(kvm::Machine& machine, const kvm::control::SymbolTable& symbols) {
  FrozenKernel out;
  out.memory = std::make_unique<MachineMemory>(machine);
  // With init_top_pgt the root is known, and the paging mode is the
  // kernel's own boot-time __pgtable_l5_enabled: no register read (a
  // round trip to the hypervisor inside the freeze) is needed.
  const auto* top = symbols.find("init_top_pgt");
  if (top != nullptr && top->address >= kKernelImageBase && symbols.find(kLa57Symbol) != nullptr) {
    KTEST_ASSIGN(out.kernel, GuestKernel::open(*out.memory, symbols, 0, 0));
    KTEST_ASSIGN(uint64_t la57_at, out.kernel->symbol(kLa57Symbol));
    KTEST_ASSIGN(uint32_t la57, out.kernel->read_u32(la57_at));
    if (la57 == 0) {  // 4-level paging, as opened; 5-level asks CR4 below
      out.kernel->remember_page_walks();
      return out;
    }
  }
  KTEST_ASSIGN(auto regs, machine.read_registers(0));
  KTEST_ASSIGN(out.kernel, GuestKernel::open(*out.memory, symbols, regs.cr3, regs.cr4));
  out.kernel->remember_page_walks();
  return out;
}

Result<uint64_t> GuestKernel::symbol(std::string_view name) const {
  const auto* sym = symbols_.find(name);
  if (!sym) return fail(fmt::format("the guest's kallsyms has no symbol '{}'", name));
  if (sym->address == 0) {
    return fail(fmt::format("kallsyms shows '{}' at 0 (read without root?)", name));
  }
  return sym->address;
}

Result<uint64_t> GuestKernel::translate(uint64_t va) {
  // The kernel image mapping covers 1 GiB from kKernelImageBase (text, data, bss).
  if (va >= kKernelImageBase && va - kKernelImageBase < (1ULL << 30)) {
    uint64_t gpa = va - kKernelImageBase + phys_base_;
    if (in_ram(memory_, gpa, 1)) return gpa;
  }
  if (page_offset_base_ != 0 && va >= page_offset_base_ && va - page_offset_base_ < memory_.size()) {
    return va - page_offset_base_;
  }
  if (!remember_walks_) return walk_page_table(memory_, pgd_, five_level_, va);
  const uint64_t va_page = va & ~(kPageSize - 1);
  WalkedPage& slot = walked_[(va_page / kPageSize) % kWalkedPages];
  if (slot.va_page != va_page) {
    // Only a successful walk is kept: its page was checked to lie in RAM.
    KTEST_ASSIGN(uint64_t gpa, walk_page_table(memory_, pgd_, five_level_, va));
    slot = WalkedPage{va_page, gpa & ~(kPageSize - 1)};
  }
  return slot.gpa_page | (va & (kPageSize - 1));
}

Result<std::vector<uint8_t>> GuestKernel::read(uint64_t va, std::size_t len) {
  if (len > kMaxGuestRead) {
    return fail(fmt::format("read of {} bytes at {:#x} exceeds the {}-byte limit", len, va,
                            kMaxGuestRead));
  }
  std::vector<uint8_t> out(len);
  KTEST_TRY(read_into(va, out));
  return out;
}

Status GuestKernel::read_into(uint64_t va, std::span<uint8_t> out) {
  const std::size_t len = out.size();
  if (len > kMaxGuestRead) {
    return fail(fmt::format("read of {} bytes at {:#x} exceeds the {}-byte limit", len, va,
                            kMaxGuestRead));
  }
  if (va + len < va) return fail(fmt::format("read of {} bytes at {:#x} wraps around", len, va));
  std::size_t done = 0;
  while (done < len) {
    uint64_t at = va + done;
    std::size_t chunk = static_cast<std::size_t>(
        std::min<uint64_t>(len - done, kPageSize - (at & (kPageSize - 1))));
    KTEST_ASSIGN(uint64_t gpa, translate(at));
    if (!in_ram(memory_, gpa, chunk)) {
      return fail(fmt::format("{:#x} maps to {:#x}, outside RAM", at, gpa));
    }
    KTEST_TRY(memory_.read(gpa, out.data() + done, chunk));
    done += chunk;
  }
  return {};
}

Result<uint64_t> GuestKernel::read_u64(uint64_t va) {
  uint8_t bytes[8];
  KTEST_TRY(read_into(va, bytes));
  return load_u64(bytes);
}

Result<uint32_t> GuestKernel::read_u32(uint64_t va) {
  uint8_t bytes[4];
  KTEST_TRY(read_into(va, bytes));
  uint32_t v = 0;
  std::memcpy(&v, bytes, sizeof v);
  return v;
}

}  // namespace ktest::freeze
