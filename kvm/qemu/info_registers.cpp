#include "kvm/qemu/info_registers.h"

#include <cctype>
#include <charconv>
#include <map>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace ktest::kvm {

namespace {

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

std::optional<uint64_t> hex_value(std::string_view text) {
  uint64_t v = 0;
  if (text.empty() || text.size() > 16) return std::nullopt;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, 16);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Segment lines: "FS =0000 0000000000000000 ffffffff 00c00000" -> base.
std::optional<uint64_t> segment_base(std::string_view after_eq) {
  size_t space = after_eq.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view rest = trim(after_eq.substr(space + 1));
  return hex_value(rest.substr(0, rest.find(' ')));
}

// Every "NAME=hex" (NAME may be padded: "R8 =") of one line.
void scan_pairs(std::string_view line, std::map<std::string, uint64_t>& out) {
  for (size_t eq = line.find('='); eq != std::string_view::npos; eq = line.find('=', eq + 1)) {
    size_t end = eq;
    while (end > 0 && line[end - 1] == ' ') --end;
    size_t begin = end;
    while (begin > 0 && std::isalnum(static_cast<unsigned char>(line[begin - 1]))) --begin;
    if (begin == end) continue;
    size_t vend = eq + 1;
    while (vend < line.size() && is_hex(line[vend])) ++vend;
    if (auto v = hex_value(line.substr(eq + 1, vend - eq - 1)))
      out.emplace(std::string(line.substr(begin, end - begin)), *v);
  }
}

// "CPU#12" (line endings trimmed) -> 12; nullopt for any other line.
std::optional<uint32_t> cpu_header(std::string_view line) {
  line = trim(line);
  if (!line.starts_with("CPU#")) return std::nullopt;
  std::string_view digits = line.substr(4);
  uint32_t index = 0;
  if (digits.empty() || digits.size() > 9) return std::nullopt;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index, 10);
  if (ec != std::errc() || p != digits.data() + digits.size()) return std::nullopt;
  return index;
}

}  // namespace

Result<std::vector<VcpuRegisters>> parse_all_info_registers(std::string_view text, uint32_t cpus) {
  const std::size_t limit = std::size_t{cpus} * kMaxInfoRegistersBytesPerCpu;
  if (text.size() > limit)
    return fail(fmt::format("QEMU's 'info registers -a' output is {} bytes, over the {} bytes {} vCPU(s) allow",
                            text.size(), limit, cpus));
  // Each vCPU's block: from its header line to the next header (or the end).
  std::vector<std::optional<std::string_view>> blocks(cpus);
  std::optional<uint32_t> current;
  std::size_t block_start = 0;
  auto close_block = [&](std::size_t end) {
    if (current) blocks[*current] = text.substr(block_start, end - block_start);
  };
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t nl = text.find('\n', pos);
    std::size_t line_end = nl == std::string_view::npos ? text.size() : nl;
    std::size_t next = nl == std::string_view::npos ? text.size() : nl + 1;
    std::string_view line = text.substr(pos, line_end - pos);
    if (auto index = cpu_header(line)) {
      if (*index >= cpus)
        return fail(fmt::format("QEMU's 'info registers -a' output has a block for CPU#{}, but the guest has {} vCPU(s)",
                                *index, cpus));
      if (blocks[*index] || current == index)
        return fail(fmt::format("QEMU's 'info registers -a' output has two blocks for CPU#{}", *index));
      close_block(pos);
      current = index;
      block_start = next;
    } else if (!current && !trim(line).empty()) {
      return fail("QEMU's 'info registers -a' output does not begin with a CPU#<index> line", "",
                  "the QEMU version may print a different format; ktest expects QEMU 7.x");
    }
    pos = next;
  }
  close_block(text.size());

  std::vector<VcpuRegisters> out;
  out.reserve(cpus);
  for (uint32_t cpu = 0; cpu < cpus; ++cpu) {
    if (!blocks[cpu]) return fail(fmt::format("QEMU's 'info registers -a' output has no block for CPU#{}", cpu));
    auto regs = parse_info_registers(*blocks[cpu]);
    if (!regs) return std::move(regs).context(fmt::format("CPU#{}", cpu));
    out.push_back(*regs);
  }
  return out;
}

Result<VcpuRegisters> parse_info_registers(std::string_view text) {
  std::map<std::string, uint64_t> regs;
  std::optional<uint64_t> fs_base, gs_base;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.size() > 4 && line[2] == ' ' && line[3] == '=') {
      std::string_view seg = line.substr(0, 2);
      if (seg == "FS") fs_base = segment_base(line.substr(4));
      if (seg == "GS") gs_base = segment_base(line.substr(4));
      if (seg != "R8" && seg != "R9") continue;  // "R8 =..." is a register line
    }
    if (line.starts_with("LDT=") || line.starts_with("TR =") || line.starts_with("GDT=") ||
        line.starts_with("IDT="))
      continue;
    scan_pairs(line, regs);
  }

  VcpuRegisters out;
  for (const char* required : {"RIP", "RSP", "CR0", "CR3", "CR4", "EFER"}) {
    if (!regs.contains(required))
      return fail(fmt::format("QEMU's 'info registers' output has no {} register", required),
                  "", "the QEMU version may print a different format; ktest expects QEMU 7.x");
  }
  auto get = [&](const char* name) {
    auto it = regs.find(name);
    return it == regs.end() ? 0 : it->second;
  };
  out.rax = get("RAX"); out.rbx = get("RBX"); out.rcx = get("RCX"); out.rdx = get("RDX");
  out.rsi = get("RSI"); out.rdi = get("RDI"); out.rbp = get("RBP"); out.rsp = get("RSP");
  out.r8 = get("R8"); out.r9 = get("R9"); out.r10 = get("R10"); out.r11 = get("R11");
  out.r12 = get("R12"); out.r13 = get("R13"); out.r14 = get("R14"); out.r15 = get("R15");
  out.rip = get("RIP"); out.rflags = get("RFL");
  out.cr0 = get("CR0"); out.cr2 = get("CR2"); out.cr3 = get("CR3"); out.cr4 = get("CR4");
  out.efer = get("EFER");
  out.cpl = static_cast<uint32_t>(get("CPL"));
  out.halted = get("HLT") != 0;
  out.fs_base = fs_base.value_or(0);
  out.gs_base = gs_base.value_or(0);
  return out;
}

}  // namespace ktest::kvm
