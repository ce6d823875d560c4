// A synthetic guest for the map-reading tests: 1 MiB of RAM under the
// no-KASLR direct map (freeze/tests/synthetic_memory.h), and the symbol,
// map and BTF writers the tests share.
#pragma once

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include <bpf/btf.h>

#include "freeze/bpf_maps.h"
#include "freeze/tests/synthetic_memory.h"

namespace ktest::freeze::testing {

// Symbols for GuestKernel::open: phys_base at 0x1000, page_offset_base at
// 0x1008 (set to kPob) and `extra` ("ffffffff80002000 d map_idr\n", ...).
inline kvm::control::SymbolTable guest_symbols(Ram& ram, const std::string& extra) {
  ram.put64(0x1008, kPob);
  auto symbols = kvm::control::SymbolTable::parse(
      "ffffffff81000000 T _text\nffffffff80001000 D phys_base\n"
      "ffffffff80001008 D page_offset_base\n" + extra);
  REQUIRE(symbols);
  return std::move(*symbols);
}

// A struct bpf_map at `gpa`; its key and value BTF types default to 1.
inline void put_map(Ram& ram, uint64_t gpa, const char* name, uint32_t type, uint32_t key_size,
                    uint32_t value_size, uint32_t max_entries, uint64_t btf_kva) {
  std::strncpy(reinterpret_cast<char*>(ram.bytes.data() + gpa), name, 15);
  ram.put32(gpa + 16, type);
  ram.put32(gpa + 20, key_size);
  ram.put32(gpa + 24, value_size);
  ram.put32(gpa + 28, max_entries);
  ram.put64(gpa + 32, btf_kva);
  ram.put32(gpa + 40, 1);
  ram.put32(gpa + 44, 1);
}

// The raw bytes of a BTF built by `build` on an empty one.
template <typename Build>
std::vector<uint8_t> btf_blob(Build build) {
  struct ::btf* raw = btf__new_empty();
  REQUIRE(raw);
  build(raw);
  uint32_t size = 0;
  const auto* data = static_cast<const uint8_t*>(btf__raw_data(raw, &size));
  REQUIRE(data);
  std::vector<uint8_t> out(data, data + size);
  btf__free(raw);
  return out;
}

// A struct btf at `gpa` whose data is `blob`, copied to `blob_gpa`.
inline void put_btf(Ram& ram, uint64_t gpa, uint64_t blob_gpa, const std::vector<uint8_t>& blob) {
  ram.put64(gpa, kPob + blob_gpa);
  ram.put32(gpa + 8, static_cast<uint32_t>(blob.size()));
  std::memcpy(ram.bytes.data() + blob_gpa, blob.data(), blob.size());
}

}  // namespace ktest::freeze::testing
