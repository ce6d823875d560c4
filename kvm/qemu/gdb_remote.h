// The GDB remote serial protocol, as much as ktest needs of QEMU's gdbstub.
//
// Contract: encode_gdb_packet() frames a payload as "$payload#cc" (escaping
// '$', '#', '}' and '*'); GdbPacketDecoder reassembles packets from an
// arbitrary byte stream, skipping acks ('+'/'-') and reporting bad
// checksums as errors without losing the packets after them; it bounds a
// packet at kMaxGdbPacket bytes. parse_stop_reply() reads "T05thread:01;
// watch:ffff...;" style stop replies. QEMU 7.2 has no no-ack mode: the
// caller acks each decoded packet.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "kvm/machine.h"
#include "util/result.h"

namespace ktest::kvm::gdb {

inline constexpr size_t kMaxGdbPacket = 64 * 1024;

uint8_t gdb_checksum(std::string_view payload);
std::string encode_gdb_packet(std::string_view payload);

class GdbPacketDecoder {
 public:
  void feed(std::string_view bytes);
  // The next complete packet's payload (unescaped), an error for a corrupt
  // one, or nullopt when more bytes are needed.
  std::optional<Result<std::string>> next();

 private:
  std::string buffer_;
};

struct StopReply {
  int signal = 0;
  std::optional<int> thread;        // gdb thread id (QEMU: cpu index + 1)
  std::optional<uint64_t> watch_addr;
  WatchKind watch_kind = WatchKind::Write;
  bool exited = false;              // 'W' / 'X': the target is gone
};

// True for the packets QEMU sends on its own (a stop), as opposed to replies.
bool is_stop_reply(std::string_view payload);
Result<StopReply> parse_stop_reply(std::string_view payload);

// "Z2,addr,len" / "z2,addr,len" for write, Z3 read, Z4 access watchpoints.
std::string watchpoint_packet(bool insert, WatchKind kind, uint64_t addr, uint32_t len);

}  // namespace ktest::kvm::gdb
