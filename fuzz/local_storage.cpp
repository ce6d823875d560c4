// Local storage: collect_local_storage (a bpf_local_storage_map's bucket
// walk, each element's smap check, storage and owner) over a mutated image,
// with small_layout()'s local-storage offsets (sdata.data at 72, as in 7.2).
//   arg 0  kva of the bpf_local_storage_map
//   arg 1  value_size (as read_local_storage passes it: 1..kMaxGuestRead)
//   arg 2  the element bound (mod 8192)
#include "fuzz/guest_image.h"

namespace ktest::fuzz {
namespace {

std::vector<Seed> local_storage_seeds() {
  const auto l = *freeze::testing::small_layout().local_storage;
  std::vector<Seed> out;
  // A map with 2 buckets: bucket 0 holds two elements (the second one's
  // storage is being freed: owner NULL), bucket 1 one element.
  ImageWriter w;
  uint64_t map = 0x2000, buckets = 0x2100;
  uint64_t e1 = 0x3000, e2 = 0x3200, e3 = 0x3400;
  uint64_t s1 = 0x4000, s2 = 0x4100, s3 = 0x4200;
  w.put64(map + l.map_buckets, dm(buckets));
  w.put32(map + l.map_bucket_log, 1);
  w.put64(buckets + 0 * l.bucket_size + l.bucket_head, dm(e1 + l.elem_next));
  w.put64(buckets + 1 * l.bucket_size + l.bucket_head, dm(e3 + l.elem_next));
  w.put64(e1 + l.elem_next, dm(e2 + l.elem_next));
  auto element = [&](uint64_t elem, uint64_t storage, uint64_t owner, uint32_t value) {
    w.put64(elem + l.elem_storage, dm(storage));
    w.put64(elem + l.elem_smap, dm(map));
    w.put32(elem + l.elem_data, value);
    w.put64(storage + l.storage_owner, owner);
  };
  element(e1, s1, dm(0x5000), 0x11111111);
  element(e2, s2, 0, 0x22222222);
  element(e3, s3, dm(0x5100), 0x33333333);
  w.arg(0, dm(map));
  w.arg(1, 8);
  w.arg(2, 64);
  out.push_back(w.seed("two_buckets"));
  return out;
}

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(local_storage, local_storage_seeds) {
  auto guest = open_image(data);
  if (!guest->kernel) return;
  uint32_t value_size = guest->arg32(1);
  if (value_size == 0 || value_size > ktest::freeze::kMaxGuestRead) return;  // MapFill::check_sizes
  std::size_t bound = guest->arg(2) % 8192;
  const auto layout = *ktest::freeze::testing::small_layout().local_storage;
  std::vector<ktest::freeze::LocalStorageElement> elements;
  ktest::Status status = ktest::freeze::collect_local_storage(*guest->kernel, guest->arg(0), value_size,
                                                              layout, bound, elements);
  fuzz_check(status.ok() || !status.error().message.empty(), "a failed walk says why");
  fuzz_check(elements.size() <= bound, "a walk keeps to its bound");
  for (const auto& e : elements) {
    fuzz_check(e.value.size() == value_size, "every element's value has value_size bytes");
    fuzz_check(e.owner != 0, "elements without an owner are skipped");
  }
}
