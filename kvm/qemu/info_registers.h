// Parses the text of QEMU's HMP "info registers" (x86-64) into VcpuRegisters.
//
// Contract: accepts the register dump of one vCPU as QEMU 7.x prints it
// ("RAX=... RBX=...", "R8 =...", segment lines "GS =sel base limit flags",
// "CR0=... CR3=...", "EFER=..."). Fails, naming the missing register, when
// RIP, RSP, CR0, CR3, CR4 or EFER is absent, so a format change in QEMU
// is reported rather than read as zeros.
//
// parse_all_info_registers() takes "info registers -a": one block per vCPU,
// each opened by a "CPU#<index>" line. The text is bounded
// (kMaxInfoRegistersBytesPerCpu per vCPU); every CPU#0..cpus-1 must appear
// exactly once, else the error names the missing, repeated or unknown CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "kvm/machine.h"
#include "util/result.h"

namespace ktest::kvm {

Result<VcpuRegisters> parse_info_registers(std::string_view text);

// One vCPU's dump in 64-bit mode is about 2.5 KiB (with the XMM registers).
inline constexpr std::size_t kMaxInfoRegistersBytesPerCpu = 16 * 1024;

// Index = vCPU (QEMU cpu-index).
Result<std::vector<VcpuRegisters>> parse_all_info_registers(std::string_view text, uint32_t cpus);

}  // namespace ktest::kvm
