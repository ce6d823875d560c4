// Reading vCPU registers through QEMU's gdbstub: a 'g' reply is every core
// register back to back, in the order and sizes of the target description
// QEMU serves (qXfer:features:read). One 'g' costs QEMU a few microseconds,
// where HMP "info registers" costs it milliseconds per vCPU (it formats the
// FPU and vector state, and wakes the main loop for every line), and the
// registers are read inside the freeze.
//
// Contract:
// - parse_register_layout() reads the <reg> elements of a target
//   description in document order, following <xi:include href> through
//   `include` (one level deep, as QEMU nests them); each needs a name and a
//   bitsize that is a multiple of 8, and a regnum, when given, must be the
//   next in order ('g' has no gaps). The layout bounds the 'g' size at
//   kMaxGdbPacket.
// - fit_layout() checks a layout against the size of an actual 'g' reply.
//   QEMU 7.2's i386-64bit.xml lists ss_base, ds_base and es_base, which its
//   'g' does not send (608 bytes against the description's 632): when the
//   sizes differ, the layout without those three must match, else it is an
//   error naming both sizes.
// - parse_g_reply() decodes one vCPU's registers (little-endian, as x86
//   sends them): rip, rsp and cr3 are required and must be available (not
//   "xx"); the other VcpuRegisters fields are filled when the layout has
//   them. A reply shorter than the layout is an error.
// - feature_read_packet() asks for the next chunk of a feature document;
//   append_feature_chunk() adds a reply ('m' more, 'l' last) and says
//   whether the document is complete, bounding it at kMaxFeatureDocument.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kvm/machine.h"
#include "util/result.h"

namespace ktest::kvm::gdb {

inline constexpr std::size_t kMaxFeatureDocument = 256 * 1024;

struct RegisterSlot {
  std::string name;
  std::size_t offset = 0;  // bytes into the 'g' reply's decoded bytes
  std::size_t size = 0;    // bytes
};

struct RegisterLayout {
  std::vector<RegisterSlot> slots;
  std::size_t total = 0;  // bytes of a whole 'g' reply
  const RegisterSlot* find(std::string_view name) const;
};

Result<RegisterLayout> parse_register_layout(
    std::string_view target_xml, const std::function<Result<std::string>(std::string_view href)>& include);

Result<RegisterLayout> fit_layout(const RegisterLayout& described, std::size_t reply_hex_digits);

Result<VcpuRegisters> parse_g_reply(std::string_view hex, const RegisterLayout& layout);

std::string feature_read_packet(std::string_view annex, std::size_t offset);
// Appends a qXfer reply to `document`; true once the last chunk came.
Result<bool> append_feature_chunk(std::string_view reply, std::string& document);

}  // namespace ktest::kvm::gdb
