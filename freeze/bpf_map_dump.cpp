// Reading each bpf_map's contents and the ReportSection that runs it.
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "freeze/bpf_maps.h"
#include "freeze/map_reader.h"
#include "freeze/vmlinux.h"

namespace ktest::freeze {
namespace {

uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t load_u32(const uint8_t* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint64_t round8(uint64_t n) { return (n + 7) & ~7ULL; }

}  // namespace

std::string_view global_section_of(std::string_view name) {
  auto dot = name.find('.');
  if (dot == std::string_view::npos) return {};
  std::string_view section = name.substr(dot);
  if (dot == 0) {
    // libbpf gives custom sections (".data.<x>", ".rodata.<x>") no prefix.
    for (std::string_view known : {".data.", ".rodata."}) {
      if (section.substr(0, known.size()) == known) return section;
    }
    return {};
  }
  for (std::string_view known : {".bss", ".data", ".rodata", ".kconfig"}) {
    if (section.substr(0, known.size()) == known) return section;
  }
  return {};
}

// libbpf names global-section maps "<obj name prefix>.<section>".
std::string section_map_prefix(std::string_view name) {
  auto dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || global_section_of(name).empty()) return "";
  return std::string(name.substr(0, dot));
}

Result<MapHeader> read_map_header(GuestKernel& kernel, const KernelLayout& l, uint64_t kva) {
  uint64_t end = std::max({l.map_name + l.map_name_len, l.map_btf + 8, l.map_type + 4,
                           l.map_key_size + 4, l.map_value_size + 4, l.map_max_entries + 4,
                           l.map_btf_key_type + 4, l.map_btf_value_type + 4});
  KTEST_ASSIGN(auto raw, kernel.read(kva, end));
  MapHeader h;
  h.kva = kva;
  const char* name = reinterpret_cast<const char*>(raw.data() + l.map_name);
  h.name.assign(name, strnlen(name, l.map_name_len));
  h.type = load_u32(raw.data() + l.map_type);
  h.key_size = load_u32(raw.data() + l.map_key_size);
  h.value_size = load_u32(raw.data() + l.map_value_size);
  h.max_entries = load_u32(raw.data() + l.map_max_entries);
  h.btf_kva = load_u64(raw.data() + l.map_btf);
  h.key_type = load_u32(raw.data() + l.map_btf_key_type);
  h.value_type = load_u32(raw.data() + l.map_btf_value_type);
  return h;
}

Result<const btf::Btf*> MapBtfCache::get(uint64_t kva) {
  auto it = btfs_.find(kva);
  if (it == btfs_.end()) it = btfs_.emplace(kva, load(kva)).first;
  if (!it->second) return fail(it->second.error());
  return &*it->second;
}

Result<btf::Btf> MapBtfCache::load(uint64_t kva) {
  KTEST_ASSIGN(uint64_t data, kernel_.read_u64(kva + layout_.btf_data));
  KTEST_ASSIGN(uint32_t size, kernel_.read_u32(kva + layout_.btf_data_size));
  KTEST_ASSIGN(uint64_t base, kernel_.read_u64(kva + layout_.btf_base));
  if (size == 0 || size > kMaxMapBtfBytes) return fail(fmt::format("BTF size {} is implausible", size));
  KTEST_ASSIGN(auto blob, kernel_.read(data, size));
  std::string origin = fmt::format("guest BTF at {:#x}", kva);
  if (base == 0) return btf::Btf::from_bytes(blob, origin);
  return btf::Btf::split_bytes(blob, vmlinux_, origin);
}

namespace {

class MapReader {
 public:
  explicit MapReader(MapReadContext& ctx) : ctx_(ctx), btfs_(ctx.kernel, ctx.layout, ctx.vmlinux) {
    options_.reader = &ctx.kernel;
  }

  Result<MapHeader> header(uint64_t kva) { return read_map_header(ctx_.kernel, ctx_.layout, kva); }

  MapDump dump(const MapHeader& h) {
    MapDump d;
    d.name = h.name;
    d.map_kva = h.kva;
    d.map_type = h.type;
    d.value_size = h.value_size;
    d.max_entries = h.max_entries;
    d.program = section_map_prefix(h.name);
    if (Status s = fill(h, d); !s) d.error = s.error().to_string();
    return d;
  }

 private:
  Status fill(const MapHeader& h, MapDump& d) {
    bool supported = h.type == kMapTypeArray || h.type == kMapTypePercpuArray ||
                     h.type == kMapTypeHash || h.type == kMapTypeLruHash ||
                     h.type == kMapTypePercpuHash || h.type == kMapTypeLruPercpuHash ||
                     h.type == kMapTypeTaskStorage;
    if (!supported) {
      return fail(fmt::format("map type {} is not supported: ktest reads hash and array maps "
                              "(and their per-CPU/LRU variants) and task storage only",
                              h.type));
    }
    if (h.value_size == 0 || h.value_size > kMaxGuestRead || h.key_size > 512) {
      return fail(fmt::format("implausible sizes (key {}, value {})", h.key_size, h.value_size));
    }
    btf_ = nullptr;
    if (h.btf_kva != 0) {
      auto loaded = btfs_.get(h.btf_kva);
      if (!loaded) return fail(loaded.error().with_context("reading the map's BTF"));
      btf_ = *loaded;
    }
    switch (h.type) {
      case kMapTypeArray: return fill_array(h, d, false);
      case kMapTypePercpuArray: return fill_array(h, d, true);
      case kMapTypeHash:
      case kMapTypeLruHash: return fill_hash(h, d, false);
      case kMapTypePercpuHash:
      case kMapTypeLruPercpuHash: return fill_hash(h, d, true);
      case kMapTypeTaskStorage: return fill_task_storage(h, d);
      default: return fail(fmt::format("map type {} is not supported", h.type));
    }
  }

  std::optional<RenderedValue> render(uint32_t type, std::span<const uint8_t> bytes) {
    if (!btf_ || type == 0) return std::nullopt;
    return btf::render(*btf_, type, bytes, options_);
  }

  std::vector<std::optional<RenderedValue>> percpu_values(const MapHeader& h, uint64_t pptr) {
    std::vector<std::optional<RenderedValue>> out;
    for (uint64_t offset : ctx_.per_cpu_offsets) {
      auto bytes = ctx_.kernel.read(pptr + offset, h.value_size);
      out.push_back(bytes ? render(h.value_type, *bytes) : std::nullopt);
    }
    return out;
  }

  Status fill_array(const MapHeader& h, MapDump& d, bool percpu) {
    uint32_t shown = std::min(h.max_entries, kMaxArrayEntries);
    uint64_t base = h.kva + ctx_.layout.array_value;
    uint64_t stride = percpu ? 8 : round8(h.value_size);
    if (shown * stride > kMaxGuestRead) return fail("the array is too large to read");
    KTEST_ASSIGN(auto raw, ctx_.kernel.read(base, shown * stride));
    for (uint32_t i = 0; i < shown; ++i) {
      const uint8_t* slot = raw.data() + i * stride;
      if (percpu) {
        d.percpu_entries.push_back({i, percpu_values(h, load_u64(slot))});
        continue;
      }
      std::span<const uint8_t> value(slot, h.value_size);
      if (i == 0) d.value = render(h.value_type, value);
      if (h.max_entries > 1) {
        uint8_t key[4];
        std::memcpy(key, &i, sizeof key);
        d.entries.push_back({render(h.key_type, key), hex_bytes(key, 4), render(h.value_type, value),
                             hex_bytes(value.data(), value.size()), std::nullopt});
      }
    }
    if (shown < h.max_entries) {
      return fail(fmt::format("showing the first {} of {} elements", shown, h.max_entries));
    }
    return {};
  }

  Status fill_hash(const MapHeader& h, MapDump& d, bool percpu) {
    const KernelLayout& l = ctx_.layout;
    KTEST_ASSIGN(uint64_t buckets, ctx_.kernel.read_u64(h.kva + l.htab_buckets));
    KTEST_ASSIGN(uint32_t n_buckets, ctx_.kernel.read_u32(h.kva + l.htab_n_buckets));
    std::size_t limit = std::min<std::size_t>(uint64_t{h.max_entries} + 64, kMaxHashEntries);
    KTEST_ASSIGN(auto elems, collect_hash_elements(ctx_.kernel, buckets, n_buckets, l, limit));
    uint64_t value_at = l.elem_key + round8(h.key_size);
    uint64_t elem_len = value_at + (percpu ? 8 : h.value_size);
    for (uint64_t elem : elems) {
      KTEST_ASSIGN(auto raw, ctx_.kernel.read(elem, elem_len));
      std::span<const uint8_t> key(raw.data() + l.elem_key, h.key_size);
      std::string key_hex = hex_bytes(key.data(), key.size());
      if (percpu) {
        d.percpu_hash_entries.push_back(
            {render(h.key_type, key), key_hex, percpu_values(h, load_u64(raw.data() + value_at))});
        continue;
      }
      std::span<const uint8_t> value(raw.data() + value_at, h.value_size);
      d.entries.push_back({render(h.key_type, key), std::move(key_hex), render(h.value_type, value),
                           hex_bytes(value.data(), value.size()), std::nullopt});
    }
    return {};
  }

  // Keyed by the owner's pid: the map's own key type is the fd userspace
  // passes, which means nothing in a snapshot.
  Status fill_task_storage(const MapHeader& h, MapDump& d) {
    const auto& layout = ctx_.layout.local_storage;
    if (!layout) {
      return fail(fmt::format("task storage cannot be read on this kernel: {}",
                              ctx_.layout.local_storage_unavailable));
    }
    std::vector<TaskStorageElement> elems;
    Status status = collect_task_storage(ctx_.kernel, h.kva, h.value_size, *layout,
                                         kMaxHashEntries, elems);
    for (const auto& e : elems) {
      uint8_t key[4];
      std::memcpy(key, &e.pid, sizeof key);
      d.entries.push_back({make_int(32, e.pid), hex_bytes(key, sizeof key),
                           render(h.value_type, e.value), hex_bytes(e.value.data(), e.value.size()),
                           std::nullopt});
    }
    return status;
  }

  MapReadContext& ctx_;
  btf::RenderOptions options_;
  const btf::Btf* btf_ = nullptr;
  MapBtfCache btfs_;  // parsed once per capture per struct btf
};

}  // namespace

Result<std::vector<MapDump>> read_bpf_maps(MapReadContext& ctx) {
  KTEST_ASSIGN(uint64_t idr, ctx.kernel.symbol("map_idr"));
  KTEST_ASSIGN(auto maps, collect_xarray_entries(ctx.kernel, idr + ctx.layout.idr_xarray,
                                                 ctx.layout.xarray, kMaxMaps));
  MapReader reader(ctx);
  std::vector<MapDump> out;
  // Maps of one BPF object share its struct btf; the global-section maps
  // ("<obj prefix>.bss") name the object for the others.
  std::vector<uint64_t> btf_of;
  std::map<uint64_t, std::string> program_of_btf;
  for (uint64_t kva : maps) {
    auto header = reader.header(kva);
    if (!header) {
      MapDump d;
      d.map_kva = kva;
      d.name = fmt::format("map@{:#x}", kva);
      d.error = header.error().message;
      out.push_back(std::move(d));
      btf_of.push_back(0);
      continue;
    }
    out.push_back(reader.dump(*header));
    btf_of.push_back(header->btf_kva);
    if (header->btf_kva != 0 && !out.back().program.empty()) {
      program_of_btf.emplace(header->btf_kva, out.back().program);
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto it = program_of_btf.find(btf_of[i]);
    if (out[i].program.empty() && it != program_of_btf.end()) out[i].program = it->second;
  }
  return out;
}

namespace {

class BpfMapsSection final : public ReportSection {
 public:
  BpfMapsSection(std::shared_ptr<const Vmlinux> vmlinux, std::string unavailable,
                 std::shared_ptr<const SharedSymbols> symbols)
      : vmlinux_(std::move(vmlinux)), unavailable_(std::move(unavailable)), symbols_(std::move(symbols)) {}

  std::string_view name() const override { return "bpf maps"; }

  Status fill(kvm::Machine& machine, Report& report) override {
    auto symbols = symbols_ ? symbols_->get() : nullptr;
    if (!symbols) return fail("the guest's kallsyms has not arrived yet; maps cannot be located");
    if (!vmlinux_) return fail(unavailable_);
    KTEST_ASSIGN(auto frozen, open_frozen_kernel(machine, *symbols));
    MapReadContext ctx{*frozen.kernel, vmlinux_->maps, vmlinux_->btf, {}};
    KTEST_ASSIGN(ctx.per_cpu_offsets, frozen.kernel->per_cpu_offsets(machine.vcpu_count()));
    KTEST_ASSIGN(auto maps, read_bpf_maps(ctx));
    auto active = find_active_object(ctx, maps);
    for (auto& m : maps) report.maps.push_back(std::move(m));
    if (!active) return fail(active.error().with_context("finding the attached scheduler's maps"));
    if (*active) {
      if (!(*active)->obj_name.empty()) report.active_obj_name = (*active)->obj_name;
      report.active_map_kvas = std::move((*active)->map_kvas);
    }
    return {};
  }

 private:
  std::shared_ptr<const Vmlinux> vmlinux_;
  std::string unavailable_;
  std::shared_ptr<const SharedSymbols> symbols_;
};

}  // namespace

std::unique_ptr<ReportSection> make_bpf_maps_section(std::shared_ptr<const Vmlinux> vmlinux,
                                                     std::string unavailable,
                                                     std::shared_ptr<const SharedSymbols> symbols) {
  return std::make_unique<BpfMapsSection>(std::move(vmlinux), std::move(unavailable), std::move(symbols));
}

}  // namespace ktest::freeze
