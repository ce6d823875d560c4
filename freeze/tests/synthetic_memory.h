// Synthetic guest RAM and the small KernelLayout that the freeze tests and
// the memory-walker fuzz targets (fuzz/) lay their guests out with. No
// test framework here: the fuzz targets include it too.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "freeze/bpf_maps.h"
#include "freeze/guest_kernel.h"

namespace ktest::freeze::testing {

inline constexpr uint64_t kPob = 0xffff888000000000ULL;  // page_offset_base

struct Ram final : PhysicalMemory {
  std::vector<uint8_t> bytes;
  explicit Ram(std::size_t size = 1 << 20) : bytes(size) {}
  uint64_t size() const override { return bytes.size(); }
  Status read(uint64_t gpa, uint8_t* out, uint64_t len) override {
    if (gpa > bytes.size() || len > bytes.size() - gpa) return fail("outside RAM");
    std::memcpy(out, bytes.data() + gpa, len);
    return {};
  }
  void put64(uint64_t gpa, uint64_t v) { std::memcpy(bytes.data() + gpa, &v, 8); }
  void put32(uint64_t gpa, uint32_t v) { std::memcpy(bytes.data() + gpa, &v, 4); }
};

// bpf_array/bpf_htab/bpf_local_storage_map fields right after the bpf_map ones.
inline KernelLayout small_layout() {
  KernelLayout l;
  l.idr_xarray = 0;
  l.xarray = {8, 0, 8, 4};
  l.map_name = 0;
  l.map_type = 16;
  l.map_key_size = 20;
  l.map_value_size = 24;
  l.map_max_entries = 28;
  l.map_btf = 32;
  l.map_btf_key_type = 40;
  l.map_btf_value_type = 44;
  l.map_id = 48;
  l.array_value = 64;
  l.htab_buckets = 64;
  l.htab_n_buckets = 72;
  l.bucket_size = 16;
  l.elem_key = 16;
  l.btf_data = 0;
  l.btf_data_size = 8;
  l.btf_base = 16;
  // As in 7.2: sdata cacheline-aligned after the two nodes, storage, rcu, state.
  l.local_storage = KernelLayout::LocalStorage{64, 72, 16, 0, 0, 32, 64, 72, 136, 0x100};
  return l;
}

}  // namespace ktest::freeze::testing
