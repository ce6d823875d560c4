// find_active_object(): which BPF object is the attached scheduler.
//
// Why the links: a link-attached struct_ops map (what sched_ext requires)
// stays in state READY whether or not it is registered, so the map alone
// cannot tell; the live bpf_struct_ops_link pointing at it can. Its map's
// struct btf is shared by every map of the same BPF object.
#include <fmt/format.h>

#include "freeze/bpf_maps.h"

namespace ktest::freeze {

Result<std::optional<ActiveObject>> find_active_object(MapReadContext& ctx,
                                                       const std::vector<MapDump>& maps) {
  const KernelLayout& l = ctx.layout;
  if (!l.links) return fail("the kernel's BTF lacks what struct_ops links need: " + l.links_unavailable);
  KTEST_ASSIGN(uint64_t link_idr, ctx.kernel.symbol("link_idr"));
  KTEST_ASSIGN(auto links, collect_xarray_entries(ctx.kernel, link_idr + l.idr_xarray, l.xarray, kMaxLinks));
  std::optional<uint64_t> scheduler_map;
  for (uint64_t link : links) {
    KTEST_ASSIGN(uint32_t type, ctx.kernel.read_u32(link + l.links->link_type));
    if (type != kLinkTypeStructOps) continue;
    KTEST_ASSIGN(uint64_t map, ctx.kernel.read_u64(link + l.links->struct_ops_map));
    if (map == 0) continue;  // detached
    KTEST_ASSIGN(uint32_t value_type, ctx.kernel.read_u32(map + l.map_vmlinux_value_type));
    if (value_type != l.links->sched_ext_value_type) continue;  // not a sched_ext_ops
    if (scheduler_map && *scheduler_map != map) {
      return fail(fmt::format("two live sched_ext struct_ops links (maps {:#x} and {:#x})", *scheduler_map, map));
    }
    scheduler_map = map;
  }
  if (!scheduler_map) return std::optional<ActiveObject>();
  KTEST_ASSIGN(uint64_t btf, ctx.kernel.read_u64(*scheduler_map + l.map_btf));
  ActiveObject active;
  for (const auto& m : maps) {
    bool same_object = m.map_kva == *scheduler_map;
    if (!same_object && btf != 0) {
      auto map_btf = ctx.kernel.read_u64(m.map_kva + l.map_btf);
      same_object = map_btf && *map_btf == btf;
    }
    if (!same_object) continue;
    active.map_kvas.push_back(m.map_kva);
    if (active.obj_name.empty()) active.obj_name = m.program;
  }
  return std::optional<ActiveObject>(std::move(active));
}

}  // namespace ktest::freeze
