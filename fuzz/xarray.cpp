// xarray / map_idr: collect_xarray_entries over a mutated image, with the
// kernel's xa_node shape (64 slots) and the small tests' one (4 slots).
//   arg 0  kva of the xarray to walk besides map_idr's (0: map_idr only)
//   arg 1  the entry bound (mod 4096)
#include "fuzz/guest_image.h"

namespace ktest::fuzz {
namespace {

// idr.idr_rt at 0, xarray.xa_head at 8, xa_node.shift at 0, slots at 40.
constexpr freeze::XarrayLayout kKernelShape{8, 0, 40, 64};

void walk(ImageGuest& g, uint64_t xarray, const freeze::XarrayLayout& layout, std::size_t bound) {
  auto entries = freeze::collect_xarray_entries(*g.kernel, xarray, layout, bound);
  if (!entries) {
    fuzz_check(!entries.error().message.empty(), "a failed walk says why");
    return;
  }
  fuzz_check(entries->size() <= bound, "a walk keeps to its bound");
  for (uint64_t e : *entries) fuzz_check(e != 0 && (e & 3) == 0, "only pointer entries are kept");
}

std::vector<Seed> xarray_seeds() {
  std::vector<Seed> out;
  {
    // map_idr with one node at the root: entries in slots 0, 1 and 5.
    ImageWriter w;
    uint64_t node = 0x2000;
    w.put64(kMapIdr + kKernelShape.head, dm(node) | 2);
    w.put8(node + kKernelShape.node_shift, 0);
    w.put64(node + kKernelShape.node_slots + 0 * 8, dm(0x3000));
    w.put64(node + kKernelShape.node_slots + 1 * 8, dm(0x3100));
    w.put64(node + kKernelShape.node_slots + 5 * 8, dm(0x3200));
    w.arg(1, 16);
    out.push_back(w.seed("one_node"));
  }
  {
    // Two levels: a shift-6 root whose slots 0 and 2 hold leaf nodes; a
    // value entry (bit 0) and a retry entry (internal) are skipped.
    ImageWriter w;
    uint64_t root = 0x2000, leaf_a = 0x2400, leaf_b = 0x2800;
    w.put64(kMapIdr + kKernelShape.head, dm(root) | 2);
    w.put8(root + kKernelShape.node_shift, 6);
    w.put64(root + kKernelShape.node_slots + 0 * 8, dm(leaf_a) | 2);
    w.put64(root + kKernelShape.node_slots + 2 * 8, dm(leaf_b) | 2);
    w.put64(leaf_a + kKernelShape.node_slots + 3 * 8, dm(0x3000));
    w.put64(leaf_a + kKernelShape.node_slots + 4 * 8, 0x11);  // a value entry
    w.put64(leaf_b + kKernelShape.node_slots + 63 * 8, dm(0x3100));
    w.put64(leaf_b + kKernelShape.node_slots + 62 * 8, 0x102);  // XA_RETRY_ENTRY
    w.arg(1, 64);
    out.push_back(w.seed("two_levels"));
  }
  {
    // A single entry at index 0 is stored in xa_head itself; the second
    // xarray (small shape) has a node at a vmalloc address.
    ImageWriter w;
    uint64_t next = 0x4000;
    w.put64(kMapIdr + kKernelShape.head, dm(0x3000));
    uint64_t small = 0x2000, vnode = 0xffffc90000002000ULL;
    auto layout = freeze::testing::small_layout().xarray;
    w.put64(small + layout.head, vnode | 2);
    w.map_page(vnode, 0x2800, &next);
    w.put64(0x2800 + layout.node_slots + 8, dm(0x3100));
    w.arg(0, dm(small));
    w.arg(1, 8);
    out.push_back(w.seed("head_entry"));
  }
  return out;
}

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(xarray, xarray_seeds) {
  auto guest = open_image(data);
  if (!guest->kernel) return;
  std::size_t bound = guest->arg(1) % 4096;
  walk(*guest, image_va(kMapIdr), kKernelShape, bound);
  if (guest->arg(0) != 0) {
    walk(*guest, guest->arg(0), kKernelShape, bound);
    walk(*guest, guest->arg(0), ktest::freeze::testing::small_layout().xarray, bound);
  }
}
