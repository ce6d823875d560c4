// Reading each bpf_map (header, BTF, dispatch to its type's reader in
// map_<type>.cpp: freeze/map_types.h) and the ReportSection that runs it.
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include <bpf/btf.h>
#include <fmt/format.h>

#include "freeze/bpf_maps.h"
#include "freeze/map_arena.h"
#include "freeze/map_reader.h"
#include "freeze/map_types.h"
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

Result<std::shared_ptr<const btf::Btf>> MapBtfCache::get(uint64_t kva) {
  auto it = btfs_.find(kva);
  if (it == btfs_.end()) {
    auto loaded = load(kva);
    if (!loaded) it = btfs_.emplace(kva, fail(std::move(loaded).error())).first;
    else it = btfs_.emplace(kva, std::make_shared<const btf::Btf>(std::move(*loaded))).first;
  }
  return it->second;
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

std::optional<RenderedValue> MapFill::render(uint32_t type, std::span<const uint8_t> bytes) const {
  if (!btf || type == 0) return std::nullopt;
  if (deferred != nullptr) return deferred->render(btf, type, bytes, options);
  return btf::render(*btf, type, bytes, options);
}

EntryCopies* MapFill::copy_entries(std::size_t key_size) const {
  if (deferred == nullptr) return nullptr;
  return deferred->copy_entries(h.kva, btf, h.key_type, h.value_type, key_size, h.value_size, options);
}

std::vector<std::optional<RenderedValue>> MapFill::percpu_values(uint64_t pptr) const {
  std::vector<std::optional<RenderedValue>> out;
  for (uint64_t offset : per_cpu_offsets) {
    auto bytes = kernel.read(pptr + offset, h.value_size);
    out.push_back(bytes ? render(h.value_type, *bytes) : std::nullopt);
  }
  return out;
}

Status MapFill::check_sizes() const {
  if (h.value_size == 0 || h.value_size > kMaxGuestRead || h.key_size > 512) {
    return fail(fmt::format("implausible sizes (key {}, value {})", h.key_size, h.value_size));
  }
  return {};
}

std::string map_type_enum_name(const btf::Btf& vmlinux, uint32_t type) {
  int id = btf__find_by_name_kind(vmlinux.get(), "bpf_map_type", BTF_KIND_ENUM);
  const struct btf_type* t = id > 0 ? btf__type_by_id(vmlinux.get(), static_cast<uint32_t>(id)) : nullptr;
  if (t == nullptr) return "";
  const struct btf_enum* e = btf_enum(t);
  for (uint16_t i = 0; i < btf_vlen(t); ++i, ++e) {
    if (static_cast<uint32_t>(e->val) != type) continue;
    const char* name = btf__name_by_offset(vmlinux.get(), e->name_off);
    return name ? name : "";
  }
  return "";
}

// Map types are guest data (any u32), so the switch has a default: the
// type names ktest does not read, with the reason.
Status read_map_contents(MapFill& fill, MapDump& d) {
  switch (fill.h.type) {
    case kMapTypeArray: return read_array(fill, d, false);
    case kMapTypePercpuArray: return read_array(fill, d, true);
    case kMapTypeHash:
    case kMapTypeLruHash: return read_hash(fill, d, false);
    case kMapTypePercpuHash:
    case kMapTypeLruPercpuHash: return read_hash(fill, d, true);
    case kMapTypeQueue: return read_queue_stack(fill, d, PopOrder::Fifo);
    case kMapTypeStack: return read_queue_stack(fill, d, PopOrder::Lifo);
    case kMapTypeArrayOfMaps: return read_array_of_maps(fill, d);
    case kMapTypeHashOfMaps: return read_hash_of_maps(fill, d);
    case kMapTypeStructOps: return read_struct_ops(fill, d);
    case kMapTypeTaskStorage: return read_local_storage(fill, d, StorageOwner::Task);
    case kMapTypeCgrpStorage: return read_local_storage(fill, d, StorageOwner::Cgroup);
    case kMapTypeInodeStorage: return read_local_storage(fill, d, StorageOwner::Inode);
    case kMapTypeSkStorage: return read_local_storage(fill, d, StorageOwner::Socket);
    case kMapTypeArena: return read_arena(fill, d);
    case kMapTypeRingbuf:
    case kMapTypeUserRingbuf: return read_ringbuf(fill, d);
    default: break;
  }
  std::string name = d.type_name.empty() ? fmt::format("map type {}", fill.h.type) : d.type_name;
  return fail(fmt::format("{} is not read: ktest has no reader for this map type (the types it "
                          "reads are listed in ktest-snapshot(1), Map types)",
                          name));
}

namespace {

class MapReader {
 public:
  MapReader(MapReadContext& ctx, DeferredRenders* deferred)
      : ctx_(ctx), deferred_(deferred), btfs_(ctx.kernel, ctx.layout, ctx.vmlinux), tables_(ctx.kernel, ctx.layout),
        arena_reader_(ctx.kernel, [&ctx] { return find_arenas(ctx.kernel, ctx.layout, ctx.vmlinux); }) {}

  Result<MapHeader> header(uint64_t kva) { return read_map_header(ctx_.kernel, ctx_.layout, kva); }

  MapDump dump(const MapHeader& h) {
    MapDump d;
    d.name = h.name;
    d.map_kva = h.kva;
    d.map_type = h.type;
    d.type_name = type_name(h.type);
    d.value_size = h.value_size;
    d.max_entries = h.max_entries;
    d.program = section_map_prefix(h.name);
    if (Status s = fill(h, d); !s) d.error = s.error().to_string();
    return d;
  }

 private:
  Status fill(const MapHeader& h, MapDump& d) {
    MapFill fill{h, ctx_.kernel, ctx_.layout, ctx_.vmlinux, ctx_.per_cpu_offsets, tables_, nullptr, {}, deferred_};
    fill.options.reader = &arena_reader_;
    if (h.btf_kva != 0) {
      auto loaded = btfs_.get(h.btf_kva);
      if (!loaded) return fail(loaded.error().with_context("reading the map's BTF"));
      fill.btf = *loaded;
    }
    return read_map_contents(fill, d);
  }

  // The enum lookup searches all of vmlinux's types by name: once per type.
  const std::string& type_name(uint32_t type) {
    auto it = type_names_.find(type);
    if (it == type_names_.end()) it = type_names_.emplace(type, map_type_enum_name(ctx_.vmlinux, type)).first;
    return it->second;
  }

  MapReadContext& ctx_;
  DeferredRenders* deferred_;
  std::map<uint32_t, std::string> type_names_;
  MapBtfCache btfs_;      // parsed once per capture per struct btf
  CaptureTables tables_;  // prog_idr etc., read once per capture when needed
  ArenaPointerReader arena_reader_;  // `__arena` pointers lead into their arena
};

}  // namespace

Result<std::vector<MapDump>> read_bpf_maps(MapReadContext& ctx, bool* more_maps, DeferredRenders* deferred) {
  KTEST_ASSIGN(uint64_t idr, ctx.kernel.symbol("map_idr"));
  KTEST_ASSIGN(auto prefix, collect_xarray_prefix(ctx.kernel, idr + ctx.layout.idr_xarray,
                                                  ctx.layout.xarray, kMaxMaps));
  if (more_maps) *more_maps = prefix.more;
  const std::vector<uint64_t>& maps = prefix.entries;
  MapReader reader(ctx, deferred);
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
    deferred_.clear();
    KTEST_ASSIGN(auto frozen, open_frozen_kernel(machine, *symbols));
    MapReadContext ctx{*frozen.kernel, vmlinux_->maps, vmlinux_->btf, {}};
    KTEST_ASSIGN(ctx.per_cpu_offsets, frozen.kernel->per_cpu_offsets(machine.vcpu_count()));
    bool more_maps = false;
    KTEST_ASSIGN(auto maps, read_bpf_maps(ctx, &more_maps, &deferred_));
    auto active = find_active_object(ctx, maps);
    for (auto& m : maps) report.maps.push_back(std::move(m));
    // Maps left out are said whatever else went wrong.
    std::string left_out = more_maps ? fmt::format("more than {} BPF maps; the rest are left out", kMaxMaps) : "";
    if (!active) {
      active.error().with_context("finding the attached scheduler's maps");
      if (left_out.empty()) return fail(active.error());
      return fail(left_out + "; " + active.error().to_string());
    }
    if (*active) {
      if (!(*active)->obj_name.empty()) report.active_obj_name = (*active)->obj_name;
      report.active_map_kvas = std::move((*active)->map_kvas);
    }
    if (!left_out.empty()) return fail(left_out);
    return {};
  }

  // The pointer-free values read in the pause, rendered from their copies.
  Status finish(Report& report) override { return deferred_.place(report.maps); }

 private:
  std::shared_ptr<const Vmlinux> vmlinux_;
  std::string unavailable_;
  std::shared_ptr<const SharedSymbols> symbols_;
  DeferredRenders deferred_;  // from fill() to finish() of one capture
};

}  // namespace

std::unique_ptr<ReportSection> make_bpf_maps_section(std::shared_ptr<const Vmlinux> vmlinux,
                                                     std::string unavailable,
                                                     std::shared_ptr<const SharedSymbols> symbols) {
  return std::make_unique<BpfMapsSection>(std::move(vmlinux), std::move(unavailable), std::move(symbols));
}

}  // namespace ktest::freeze
