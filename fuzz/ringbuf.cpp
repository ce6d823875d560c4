// Ring buffers: collect_ringbuf (positions, record headers, the doubly
// mapped data area) over a mutated image, with and without the newer
// kernels' overwrite mode.
//   arg 0  kva of the struct bpf_ringbuf
//   arg 1  bit 0: the layout has overwrite_mode / overwrite_pos
#include "freeze/map_ringbuf.h"
#include "fuzz/guest_image.h"

namespace ktest::fuzz {
namespace {

using freeze::kPageSize;

// struct bpf_ringbuf, compacted: the header fields, then the data pages.
freeze::RingbufLayout fuzz_ringbuf_layout(bool overwrite) {
  freeze::RingbufLayout l;
  l.mask = 0x00;
  l.consumer_pos = 0x08;
  l.producer_pos = 0x10;
  l.pending_pos = 0x18;
  l.data = kPageSize;
  if (overwrite) {
    l.overwrite_mode = 0x20;
    l.overwrite_pos = 0x28;
  }
  return l;
}

std::vector<Seed> ringbuf_seeds() {
  std::vector<Seed> out;
  for (bool overwrite : {false, true}) {
    // A one-page ring at a vmalloc address, its data page mapped twice:
    // a committed record, a discarded one, a busy one and one that wraps.
    ImageWriter w;
    auto l = fuzz_ringbuf_layout(overwrite);
    uint64_t next = 0x2000;
    uint64_t rb = 0xffffc90000100000ULL, header = 0x8000, data = 0x9000;
    w.map_page(rb, header, &next);
    w.map_page(rb + l.data, data, &next);
    w.map_page(rb + l.data + kPageSize, data, &next);
    uint64_t consumer = 3 * kPageSize + 4032;  // 64 bytes before the ring's end
    w.put64(header + l.mask, kPageSize - 1);
    w.put64(header + l.consumer_pos, consumer);
    auto record = [&](uint64_t pos, uint32_t word, std::string_view text) {
      uint64_t at = data + (pos & (kPageSize - 1));
      w.put32(at, word);
      for (std::size_t i = 0; i < text.size(); ++i) {
        w.put8(data + ((pos + 8 + i) & (kPageSize - 1)), static_cast<uint8_t>(text[i]));
      }
      return pos + ((8 + (word & 0x3fffffff) + 7) & ~7ULL);
    };
    uint64_t pos = record(consumer, 5, "hello");
    pos = record(pos, freeze::kRingbufDiscardBit | 3, "xyz");
    pos = record(pos, 40, "this record wraps around the ring's end");  // crosses the end
    pos = record(pos, freeze::kRingbufBusyBit | 8, "busy....");
    w.put64(header + l.producer_pos, pos);
    w.put64(header + l.pending_pos, pos);
    if (overwrite) {
      w.put8(header + *l.overwrite_mode, 1);
      w.put64(header + *l.overwrite_pos, consumer + 16);  // the first record is overwritten
    }
    w.arg(0, rb);
    w.arg(1, overwrite ? 1 : 0);
    out.push_back(w.seed(overwrite ? "overwrite" : "plain"));
  }
  return out;
}

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(ringbuf, ringbuf_seeds) {
  auto guest = open_image(data);
  if (!guest->kernel) return;
  ktest::freeze::RingbufContents contents;
  auto layout = fuzz_ringbuf_layout((guest->arg(1) & 1) != 0);
  ktest::Status status = ktest::freeze::collect_ringbuf(*guest->kernel, guest->arg(0), layout, contents);
  fuzz_check(status.ok() || !status.error().message.empty(), "a failed walk says why");
  const auto& d = contents.dump;
  fuzz_check(d.records.size() == contents.samples.size(), "one sample slot per record");
  fuzz_check(d.records.size() <= ktest::freeze::kMaxRingbufRecords, "the record bound holds");
  for (std::size_t i = 0; i < d.records.size(); ++i) {
    const auto& r = d.records[i];
    fuzz_check(r.pos + 8 + r.len <= d.producer_pos, "every record ends before producer_pos");
    fuzz_check(contents.samples[i].has_value() == (!r.busy && !r.discarded),
               "committed records, and only they, keep their bytes");
    if (contents.samples[i]) fuzz_check(contents.samples[i]->size() == r.len, "a sample has len bytes");
  }
}
