// Parses the text of QEMU's HMP "info registers" (x86-64) into VcpuRegisters.
//
// Contract: accepts the register dump of one vCPU as QEMU 7.x prints it
// ("RAX=... RBX=...", "R8 =...", segment lines "GS =sel base limit flags",
// "CR0=... CR3=...", "EFER=..."). Fails, naming the missing register, when
// RIP, RSP, CR0, CR3, CR4 or EFER is absent, so a format change in QEMU
// is reported rather than read as zeros.
#pragma once

#include <string_view>

#include "kvm/machine.h"
#include "util/result.h"

namespace ktest::kvm {

Result<VcpuRegisters> parse_info_registers(std::string_view text);

}  // namespace ktest::kvm
