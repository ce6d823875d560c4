// Internal to freeze/: RINGBUF and USER_RINGBUF maps (kernel/bpf/ringbuf.c).
//
// Contract:
// - RingbufLayout comes from vmlinux BTF (bpf_ringbuf_map.rb; bpf_ringbuf's
//   mask, consumer_pos, producer_pos, pending_pos, data; overwrite_mode and
//   overwrite_pos where the kernel has them).
// - collect_ringbuf() walks the records between the consumer and producer
//   positions in order. The data area is mapped twice after itself, so a
//   record that wraps is read in one piece. Every header is validated: the
//   span producer - consumer must fit the capacity (mask + 1, a power of
//   two), each record (8-byte header + len, rounded up to 8) must fit what
//   is left of the span; a bad header ends the walk with an error, keeping
//   the records before it. At most kMaxRingbufRecords records and
//   kMaxRingbufBytes bytes of span are read (more is a truncation error).
// - In overwrite mode the walk starts at max(consumer_pos, overwrite_pos):
//   older records have been overwritten.
// - Busy (reserved, uncommitted) and discarded records are listed with
//   their flags; their bytes are kept only for committed records.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "btf/btf.h"
#include "btf/render.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest::freeze {

inline constexpr std::size_t kMaxRingbufRecords = 4096;
inline constexpr uint64_t kMaxRingbufBytes = 4ULL << 20;
// max_entries (the capacity) is a u32 power of two: a larger mask is garbage.
inline constexpr uint64_t kMaxRingbufCapacity = 1ULL << 31;
inline constexpr uint32_t kRingbufBusyBit = 1U << 31;     // BPF_RINGBUF_BUSY_BIT
inline constexpr uint32_t kRingbufDiscardBit = 1U << 30;  // BPF_RINGBUF_DISCARD_BIT
inline constexpr uint64_t kRingbufHeaderSize = 8;         // BPF_RINGBUF_HDR_SZ

struct RingbufLayout {
  uint64_t map_rb = 0;  // bpf_ringbuf_map.rb
  uint64_t mask = 0, consumer_pos = 0, producer_pos = 0, pending_pos = 0, data = 0;
  std::optional<uint64_t> overwrite_mode, overwrite_pos;  // newer kernels only

  static Result<RingbufLayout> from_btf(const btf::Btf& vmlinux);
};

// One committed sample's bytes, at the same index as its record.
struct RingbufContents {
  RingbufDump dump;
  std::vector<std::optional<std::vector<uint8_t>>> samples;  // nullopt: busy/discarded
};

// Fills `out` from the struct bpf_ringbuf at `rb_kva`; what was read before
// an error is kept.
Status collect_ringbuf(btf::MemoryReader& memory, uint64_t rb_kva, const RingbufLayout& layout,
                       RingbufContents& out);

}  // namespace ktest::freeze
