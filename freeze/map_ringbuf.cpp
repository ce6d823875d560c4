// RINGBUF / USER_RINGBUF maps: the pending records of struct bpf_ringbuf
// (freeze/map_ringbuf.h), and read_ringbuf() rendering their samples.
#include "freeze/map_ringbuf.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "freeze/map_arena.h"
#include "freeze/map_types.h"

namespace ktest::freeze {
namespace {

uint64_t load_u64(const std::vector<uint8_t>& raw, uint64_t at) {
  uint64_t v = 0;
  std::memcpy(&v, raw.data() + at, sizeof v);
  return v;
}

uint64_t round8(uint64_t n) { return (n + 7) & ~7ULL; }

}  // namespace

Result<RingbufLayout> RingbufLayout::from_btf(const btf::Btf& v) {
  RingbufLayout l;
  auto offset = [&](std::string_view s, std::string_view m) -> Result<uint64_t> {
    KTEST_ASSIGN(MemberInfo info, member_info(v, s, m));
    return info.offset;
  };
  KTEST_ASSIGN(l.map_rb, offset("bpf_ringbuf_map", "rb"));
  KTEST_ASSIGN(uint64_t map, offset("bpf_ringbuf_map", "map"));
  l.map_rb -= map;  // from the struct bpf_map map_idr points at
  KTEST_ASSIGN(l.mask, offset("bpf_ringbuf", "mask"));
  KTEST_ASSIGN(l.consumer_pos, offset("bpf_ringbuf", "consumer_pos"));
  KTEST_ASSIGN(l.producer_pos, offset("bpf_ringbuf", "producer_pos"));
  KTEST_ASSIGN(l.pending_pos, offset("bpf_ringbuf", "pending_pos"));
  KTEST_ASSIGN(l.data, offset("bpf_ringbuf", "data"));
  auto mode = offset("bpf_ringbuf", "overwrite_mode");
  auto pos = offset("bpf_ringbuf", "overwrite_pos");
  if (mode && pos) {
    l.overwrite_mode = *mode;
    l.overwrite_pos = *pos;
  }
  return l;
}

Status collect_ringbuf(btf::MemoryReader& memory, uint64_t rb, const RingbufLayout& l,
                       RingbufContents& out) {
  uint64_t header_end = std::max({l.mask, l.consumer_pos, l.producer_pos, l.pending_pos,
                                  l.overwrite_pos.value_or(0)}) + 8;
  header_end = std::max(header_end, l.overwrite_mode.value_or(0) + 1);
  KTEST_ASSIGN(auto raw, memory.read(rb, header_end));
  RingbufDump& d = out.dump;
  uint64_t mask = load_u64(raw, l.mask);
  d.consumer_pos = load_u64(raw, l.consumer_pos);
  d.producer_pos = load_u64(raw, l.producer_pos);
  d.pending_pos = load_u64(raw, l.pending_pos);
  if (mask >= kMaxRingbufCapacity || ((mask + 1) & mask) != 0 || mask + 1 < kPageSize) {
    return fail(fmt::format("mask {:#x} is not a power of two minus one of at least a page", mask));
  }
  d.capacity = mask + 1;
  uint64_t start = d.consumer_pos;
  if (l.overwrite_mode && raw[*l.overwrite_mode] != 0) {
    start = std::max(start, load_u64(raw, *l.overwrite_pos));
  }
  if (d.producer_pos < start) {
    return fail(fmt::format("producer_pos {} is behind the consumer position {}", d.producer_pos, start));
  }
  d.pending_bytes = d.producer_pos - start;
  if (d.pending_bytes > d.capacity) {
    return fail(fmt::format("{} pending bytes exceed the capacity {}", d.pending_bytes, d.capacity));
  }
  if ((start & 7) != 0 || (d.producer_pos & 7) != 0) {
    return fail(fmt::format("positions {} and {} are not 8-byte aligned", start, d.producer_pos));
  }
  // The data pages are mapped twice in a row: the span is contiguous.
  uint64_t span = std::min(d.pending_bytes, kMaxRingbufBytes);
  KTEST_ASSIGN(auto bytes, memory.read(rb + l.data + (start & mask), span));
  uint64_t at = 0;
  while (at < span) {
    if (d.records.size() == kMaxRingbufRecords) {
      return fail(fmt::format("showing the first {} records ({} of {} pending bytes)",
                              kMaxRingbufRecords, at, d.pending_bytes));
    }
    if (span - at < kRingbufHeaderSize) {
      return fail(fmt::format("a record header at {} is cut by the end of the read", start + at));
    }
    uint32_t word = 0;
    std::memcpy(&word, bytes.data() + at, sizeof word);
    RingbufRecord r;
    r.pos = start + at;
    r.busy = (word & kRingbufBusyBit) != 0;
    r.discarded = (word & kRingbufDiscardBit) != 0;
    r.len = word & ~(kRingbufBusyBit | kRingbufDiscardBit);
    uint64_t total = round8(kRingbufHeaderSize + r.len);
    if (total > d.pending_bytes - at) {
      return fail(fmt::format("record at {} claims {} bytes, past the producer position {}", r.pos,
                              r.len, d.producer_pos));
    }
    if (total > span - at) {
      return fail(fmt::format("showing {} records: the next one lies past the {}-byte read limit",
                              d.records.size(), kMaxRingbufBytes));
    }
    std::optional<std::vector<uint8_t>> sample;
    if (!r.busy && !r.discarded) {
      const uint8_t* p = bytes.data() + at + kRingbufHeaderSize;
      sample.emplace(p, p + r.len);
    }
    d.records.push_back(r);
    out.samples.push_back(std::move(sample));
    at += total;
  }
  if (span < d.pending_bytes) {
    return fail(fmt::format("showing the records in the first {} of {} pending bytes", span,
                            d.pending_bytes));
  }
  return {};
}

// The samples of the map's object render as `<map name>_record` when its
// BTF has such a type (ktest's convention: the kernel keeps no value type
// for ring buffers).
Status read_ringbuf(MapFill& f, MapDump& d) {
  KTEST_ASSIGN(auto layout, RingbufLayout::from_btf(f.vmlinux));
  KTEST_ASSIGN(uint64_t rb, f.kernel.read_u64(f.h.kva + layout.map_rb));
  RingbufContents contents;
  Status status = collect_ringbuf(f.kernel, rb, layout, contents);
  const btf::Btf* btf = f.btf.get();
  std::optional<btf::Btf> object;
  if (btf == nullptr) {
    if (auto found = object_btf_of_map(f)) {
      object = std::move(*found);
      btf = &*object;
    }
  }
  uint32_t type = 0;
  if (btf != nullptr) {
    std::string wanted = f.h.name + "_record";
    if (auto id = btf->find_type(wanted); id && btf->type_name(*id) == wanted) {
      type = *id;
      contents.dump.record_type = wanted;
    }
  }
  for (std::size_t i = 0; i < contents.dump.records.size(); ++i) {
    const auto& sample = contents.samples[i];
    if (!sample) continue;
    uint64_t pos = contents.dump.records[i].pos;
    uint8_t key[8];
    std::memcpy(key, &pos, sizeof key);
    std::optional<RenderedValue> value;
    if (type != 0) value = btf::render(*btf, type, *sample, f.options);
    d.entries.push_back({make_uint(64, pos), hex_bytes(key, sizeof key), std::move(value),
                         hex_bytes(sample->data(), sample->size()), std::nullopt});
  }
  d.ringbuf = std::move(contents.dump);
  return status;
}

}  // namespace ktest::freeze
