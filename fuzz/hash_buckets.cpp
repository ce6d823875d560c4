// Hash buckets: collect_hash_elements (a bpf_htab's hlist_nulls chains)
// and collect_hlist_elements (plain hlist chains, as local storage and
// hash-of-maps use them) over a mutated image.
//   args 0, 1  htab buckets kva, n_buckets
//   args 2, 3  hlist buckets kva, bucket count
//   arg  4     the element bound (mod 8192)
#include "fuzz/guest_image.h"

namespace ktest::fuzz {
namespace {

// small_layout(): a 16-byte bucket with the chain head at 0, the node's
// next at 0 in the element. The hlist side: 8-byte heads, node at 8.
constexpr uint64_t kHlistStride = 8, kHlistNodeOffset = 8;

void check(const Result<std::vector<uint64_t>>& elements, std::size_t bound) {
  if (!elements) {
    fuzz_check(!elements.error().message.empty(), "a failed walk says why");
    return;
  }
  fuzz_check(elements->size() <= bound, "a walk keeps to its bound");
}

std::vector<Seed> hash_seeds() {
  auto layout = freeze::testing::small_layout();
  std::vector<Seed> out;
  {
    // 4 htab buckets: a chain of two, an empty one (nulls marker), a chain of one.
    ImageWriter w;
    uint64_t buckets = 0x2000;
    uint64_t e1 = 0x3000, e2 = 0x3100, e3 = 0x3200;
    w.put64(buckets + 0 * layout.bucket_size + layout.bucket_head, dm(e1 + layout.elem_next));
    w.put64(e1 + layout.elem_next, dm(e2 + layout.elem_next));
    w.put64(e2 + layout.elem_next, (1 << 1) | 1);  // nulls marker for bucket 1
    w.put64(buckets + 1 * layout.bucket_size + layout.bucket_head, (1 << 1) | 1);
    w.put64(buckets + 2 * layout.bucket_size + layout.bucket_head, dm(e3 + layout.elem_next));
    w.put64(e3 + layout.elem_next, (2 << 1) | 1);
    w.put64(buckets + 3 * layout.bucket_size + layout.bucket_head, (3 << 1) | 1);
    w.arg(0, dm(buckets));
    w.arg(1, 4);
    w.arg(4, 64);
    out.push_back(w.seed("htab"));
  }
  {
    // 2 hlist buckets: a chain of three (one at a vmalloc address), one empty.
    ImageWriter w;
    uint64_t next = 0x5000;
    uint64_t heads = 0x2000;
    uint64_t n1 = 0x3000 + kHlistNodeOffset, n2 = 0x3100 + kHlistNodeOffset;
    uint64_t vn3 = 0xffffc90000004000ULL + kHlistNodeOffset;
    w.map_page(vn3 & ~0xfffULL, 0x4000, &next);
    w.put64(heads, dm(n1));
    w.put64(n1, dm(n2));
    w.put64(n2, vn3);
    w.put64(0x4000 + kHlistNodeOffset, 0);
    w.arg(2, dm(heads));
    w.arg(3, 2);
    w.arg(4, 64);
    out.push_back(w.seed("hlist"));
  }
  return out;
}

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(hash_buckets, hash_seeds) {
  auto guest = open_image(data);
  if (!guest->kernel) return;
  auto layout = ktest::freeze::testing::small_layout();
  std::size_t bound = guest->arg(4) % 8192;
  check(ktest::freeze::collect_hash_elements(*guest->kernel, guest->arg(0), guest->arg32(1), layout,
                                             bound),
        bound);
  ktest::freeze::HlistBuckets heads{guest->arg(2), guest->arg32(3), kHlistStride, 0};
  check(ktest::freeze::collect_hlist_elements(*guest->kernel, heads, kHlistNodeOffset,
                                              ktest::freeze::ChainEnd::Null, bound),
        bound);
}
