// Internal to freeze/: one bpf_map's header and the BTF it points at, read
// from frozen guest memory. Shared by read_bpf_maps (bpf_map_dump.cpp) and
// the BPF-globals resolver (bpf_globals.cpp); not part of freeze's interface.
//
// Contract:
// - read_map_header() reads only the bpf_map fields KernelLayout names; the
//   name is cut at its NUL or at map_name_len bytes. Nothing is checked:
//   every value is guest data for the caller to bound.
// - MapBtfCache parses each struct btf once (split over vmlinux when it has
//   a base), remembers failures as well, and refuses a data_size of 0 or
//   above kMaxMapBtfBytes.
// - global_section_of() recognises libbpf's global-section map names:
//   "<obj prefix>.bss" / ".data" / ".rodata" / ".kconfig" (and anything
//   starting so), and the unprefixed ".data.<x>" / ".rodata.<x>" libbpf
//   uses for custom sections.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "btf/btf.h"
#include "freeze/bpf_maps.h"
#include "freeze/guest_kernel.h"
#include "util/result.h"

namespace ktest::freeze {

struct MapHeader {
  uint64_t kva = 0;
  std::string name;
  uint32_t type = 0, key_size = 0, value_size = 0, max_entries = 0;
  uint64_t btf_kva = 0;
  uint32_t key_type = 0, value_type = 0;
};

Result<MapHeader> read_map_header(GuestKernel& kernel, const KernelLayout& layout, uint64_t kva);

// The section part of a global-section map's name (".bss", ".data.foo"),
// "" when the map is not one.
std::string_view global_section_of(std::string_view map_name);
// The object-name prefix of a global-section map ("ktest_sc" for
// "ktest_sc.bss"); "" for other maps and for unprefixed ".data.<x>" maps.
std::string section_map_prefix(std::string_view map_name);

class MapBtfCache {
 public:
  MapBtfCache(GuestKernel& kernel, const KernelLayout& layout, const btf::Btf& vmlinux)
      : kernel_(kernel), layout_(layout), vmlinux_(vmlinux) {}
  MapBtfCache(const MapBtfCache&) = delete;
  MapBtfCache& operator=(const MapBtfCache&) = delete;

  // The struct btf at `btf_kva`, parsed on first use (shared: a render
  // after the capture keeps it past the cache).
  Result<std::shared_ptr<const btf::Btf>> get(uint64_t btf_kva);

 private:
  Result<btf::Btf> load(uint64_t btf_kva);

  GuestKernel& kernel_;
  const KernelLayout& layout_;
  const btf::Btf& vmlinux_;
  std::map<uint64_t, Result<std::shared_ptr<const btf::Btf>>> btfs_;
};

}  // namespace ktest::freeze
