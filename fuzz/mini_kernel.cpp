#include "fuzz/mini_kernel.h"

#include <bpf/btf.h>

#include "btf/render.h"
#include "fuzz/btf_writer.h"
#include "fuzz/fuzz_target.h"
#include "snapshot/report.h"

namespace ktest::fuzz {
namespace {

// Every struct a freeze layout names, at compact offsets (the unit tests'
// small_layout() ones where they overlap); the kernel-only members nothing
// reads are left out.
std::vector<uint8_t> vmlinux_blob() {
  BtfWriter w;
  int u8 = w.integer("u8", 1), u16 = w.integer("u16", 2), s16 = w.integer("s16", 2, BTF_INT_SIGNED);
  int u32 = w.integer("u32", 4), s32 = w.integer("int", 4, BTF_INT_SIGNED), u64 = w.integer("u64", 8);
  int chr = w.integer("char", 1, BTF_INT_CHAR);
  int vptr = w.pointer(0);
  int name16 = w.array(chr, 16);
  int bytes0 = w.array(u8, 0);
  (void)u16;
  int xarray = w.composite("xarray", 16, {{"xa_lock", u32, 0}, {"xa_flags", u32, 4}, {"xa_head", vptr, 8}});
  w.composite("idr", 24, {{"idr_rt", xarray, 0}, {"idr_base", u32, 16}, {"idr_next", u32, 20}});
  w.composite("xa_node", 136, {{"shift", u8, 0}, {"offset", u8, 1}, {"slots", w.array(vptr, 16), 8}});
  int bpf_map = w.composite("bpf_map", 64,
                            {{"name", name16, 0}, {"map_type", u32, 16}, {"key_size", u32, 20},
                             {"value_size", u32, 24}, {"max_entries", u32, 28}, {"btf", vptr, 32},
                             {"btf_key_type_id", u32, 40}, {"btf_value_type_id", u32, 44},
                             {"id", u32, 48}, {"btf_vmlinux_value_type_id", u32, 52}});
  w.composite("bpf_array", 64, {{"map", bpf_map, 0}, {"value", bytes0, 64}});
  w.composite("bpf_htab", 80, {{"map", bpf_map, 0}, {"buckets", vptr, 64}, {"n_buckets", u32, 72}});
  int nulls_head = w.composite("hlist_nulls_head", 8, {{"first", vptr, 0}});
  w.composite("bucket", 16, {{"head", nulls_head, 0}, {"raw_lock", u32, 8}});
  int nulls_node = w.composite("hlist_nulls_node", 16, {{"next", vptr, 0}, {"pprev", vptr, 8}});
  w.composite("htab_elem", 16, {{"hash_node", nulls_node, 0}, {"key", bytes0, 16}});
  w.composite("btf", 24, {{"data", vptr, 0}, {"data_size", u32, 8}, {"base_btf", vptr, 16}});
  int link = w.composite("bpf_link", 16, {{"refcnt", u64, 0}, {"type", u32, 8}});
  w.composite("bpf_struct_ops_link", 24, {{"link", link, 0}, {"map", vptr, 16}});
  int proto = w.func_pointer(s32);
  int ops = w.composite("sched_ext_ops", 32, {{"enqueue", proto, 0}, {"dispatch", proto, 8}, {"name", name16, 16}});
  w.composite("bpf_struct_ops_sched_ext_ops", 40, {{"refcnt", u64, 0}, {"data", ops, 8}});
  int hlist_head = w.composite("hlist_head", 8, {{"first", vptr, 0}});
  int hlist_node = w.composite("hlist_node", 16, {{"next", vptr, 0}, {"pprev", vptr, 8}});
  w.composite("bpf_local_storage_map", 80, {{"map", bpf_map, 0}, {"buckets", vptr, 64}, {"bucket_log", u32, 72}});
  w.composite("bpf_local_storage_map_bucket", 16, {{"list", hlist_head, 0}, {"lock", u32, 8}});
  int sdata = w.composite("bpf_local_storage_data", 8, {{"smap", vptr, 0}, {"data", bytes0, 8}});
  w.composite("bpf_local_storage_elem", 72, {{"map_node", hlist_node, 0}, {"snode", hlist_node, 16},
                                             {"local_storage", vptr, 32}, {"sdata", sdata, 64}});
  w.composite("bpf_local_storage", 144, {{"owner", vptr, 136}});
  w.composite("task_struct", 0x108, {{"pid", s32, 0x100}});
  w.composite("cgroup", 8, {{"kn", vptr, 0}});
  w.composite("kernfs_node", 32, {{"id", u64, 8}, {"__parent", vptr, 16}, {"name", vptr, 24}});
  w.composite("inode", 0x48, {{"i_ino", u64, 0x40}});
  int common = w.composite("sock_common", 0x58, {{"skc_cookie", u64, 0x50}});
  w.composite("sock", 0x58, {{"__sk_common", common, 0}});
  w.composite("bpf_queue_stack", 80, {{"map", bpf_map, 0}, {"head", u32, 64}, {"tail", u32, 68},
                                      {"size", u32, 72}, {"elements", bytes0, 80}});
  w.composite("bpf_struct_ops_map", 136, {{"map", bpf_map, 0}, {"uvalue", vptr, 64}, {"kvalue", u64, 128}});
  w.composite("bpf_prog", 24, {{"aux", vptr, 0x10}});
  w.composite("bpf_prog_aux", 48, {{"id", u32, 0}, {"name", name16, 8}, {"used_map_cnt", u32, 0x18},
                                   {"used_maps", vptr, 0x20}, {"btf", vptr, 0x28}});
  w.composite("bpf_arena", 0x60, {{"map", bpf_map, 0}, {"user_vm_start", u64, 0x40}, {"user_vm_end", u64, 0x48},
                                  {"kern_vm", vptr, 0x50}, {"scratch_page", vptr, 0x58}});
  w.composite("vm_struct", 16, {{"next", vptr, 0}, {"addr", vptr, 8}});
  w.composite("bpf_insn", 8, {{"code", u8, 0}, {"off", s16, 2}, {"imm", s32, 4}});
  w.composite("page", 64, {{"flags", u64, 0}});
  w.composite("bpf_ringbuf_map", 0x48, {{"map", bpf_map, 0}, {"rb", vptr, 0x40}});
  w.composite("bpf_ringbuf", 0x1000,
              {{"mask", u64, 0}, {"consumer_pos", u64, 8}, {"producer_pos", u64, 0x10},
               {"pending_pos", u64, 0x18}, {"overwrite_mode", u8, 0x20}, {"overwrite_pos", u64, 0x28},
               {"data", w.array(chr, 0), 0x1000}});
  w.enumeration("bpf_map_type",
                {{"BPF_MAP_TYPE_UNSPEC", 0}, {"BPF_MAP_TYPE_HASH", kMapTypeHash},
                 {"BPF_MAP_TYPE_ARRAY", kMapTypeArray}, {"BPF_MAP_TYPE_PERF_EVENT_ARRAY", 4},
                 {"BPF_MAP_TYPE_PERCPU_HASH", kMapTypePercpuHash},
                 {"BPF_MAP_TYPE_PERCPU_ARRAY", kMapTypePercpuArray},
                 {"BPF_MAP_TYPE_LRU_HASH", kMapTypeLruHash},
                 {"BPF_MAP_TYPE_LRU_PERCPU_HASH", kMapTypeLruPercpuHash},
                 {"BPF_MAP_TYPE_ARRAY_OF_MAPS", kMapTypeArrayOfMaps},
                 {"BPF_MAP_TYPE_HASH_OF_MAPS", kMapTypeHashOfMaps}, {"BPF_MAP_TYPE_QUEUE", kMapTypeQueue},
                 {"BPF_MAP_TYPE_STACK", kMapTypeStack}, {"BPF_MAP_TYPE_SK_STORAGE", kMapTypeSkStorage},
                 {"BPF_MAP_TYPE_STRUCT_OPS", kMapTypeStructOps}, {"BPF_MAP_TYPE_RINGBUF", kMapTypeRingbuf},
                 {"BPF_MAP_TYPE_INODE_STORAGE", kMapTypeInodeStorage},
                 {"BPF_MAP_TYPE_TASK_STORAGE", kMapTypeTaskStorage},
                 {"BPF_MAP_TYPE_USER_RINGBUF", kMapTypeUserRingbuf},
                 {"BPF_MAP_TYPE_CGRP_STORAGE", kMapTypeCgrpStorage}, {"BPF_MAP_TYPE_ARENA", kMapTypeArena}});
  return w.raw();
}

// sched_ext at compact offsets; the enums as the kernel numbers them.
freeze::ScxLayout compact_scx_layout() {
  freeze::ScxLayout l;
  l.sched_size = 0x60;
  l.sched_ops_name = 0x00, l.ops_name_len = 32, l.sched_ops_flags = 0x20;
  l.sched_ops_timeout_ms = 0x28, l.sched_ops_exit_dump_len = 0x2c;
  l.sched_watchdog_timeout = 0x30, l.sched_bypass_depth = 0x38, l.sched_exit_kind = 0x3c;
  l.sched_exit_info = 0x40, l.sched_dsq_hash = 0x48, l.sched_pnode = 0x50, l.sched_pcpu = 0x58;
  l.pcpu_bypass_dsq = 0, l.pnode_global_dsq = 0;
  l.ei_size = 0x38, l.ei_kind = 0, l.ei_exit_code = 8, l.ei_reason = 0x10, l.ei_bt = 0x18;
  l.ei_bt_len = 0x20, l.ei_msg = 0x28, l.ei_dump = 0x30;
  l.rq_size = 0x58, l.rq_curr = 0x00, l.rq_local_dsq = 0x10, l.rq_runnable_list = 0x40;
  l.rq_nr_running = 0x50, l.rq_flags = 0x54;
  l.dsq_list = 0x00, l.dsq_nr = 0x10, l.dsq_id = 0x18, l.dsq_hash_node = 0x20;
  l.task_pid = 0x00, l.task_comm = 0x08, l.comm_len = 16, l.task_sched_class = 0x18;
  l.task_dsq = 0x20, l.task_dsq_list_node = 0x28, l.lnode_flags = 16, l.task_runnable_node = 0x40;
  l.task_runnable_at = 0x50;
  l.rht_tbl = 0, l.tbl_size = 0, l.tbl_nest = 4, l.tbl_future_tbl = 8, l.tbl_buckets = 0x10;
  l.exit_kinds = {{0, "SCX_EXIT_NONE"},       {1, "SCX_EXIT_DONE"},        {64, "SCX_EXIT_UNREG"},
                  {65, "SCX_EXIT_UNREG_BPF"}, {66, "SCX_EXIT_UNREG_KERN"}, {67, "SCX_EXIT_SYSRQ"},
                  {1024, "SCX_EXIT_ERROR"},   {1025, "SCX_EXIT_ERROR_BPF"}, {1026, "SCX_EXIT_ERROR_STALL"}};
  l.enable_states = {{0, "SCX_ENABLING"}, {1, "SCX_ENABLED"}, {2, "SCX_DISABLING"}, {3, "SCX_DISABLED"}};
  l.exit_none = 0, l.exit_done = 1;
  l.dsq_global = (1ULL << 63) | 1, l.dsq_local = (1ULL << 63) | 2, l.dsq_bypass = (1ULL << 63) | 3;
  return l;
}

}  // namespace

std::shared_ptr<const freeze::Vmlinux> mini_vmlinux() {
  static const std::shared_ptr<const freeze::Vmlinux> vmlinux = [] {
    auto btf = btf::Btf::from_bytes(vmlinux_blob(), "fuzz vmlinux BTF");
    fuzz_check(btf.ok(), "the fuzz vmlinux BTF parses");
    auto layout = freeze::KernelLayout::from_btf(*btf);
    fuzz_check(layout.ok(), "KernelLayout::from_btf reads the fuzz vmlinux");
    fuzz_check(layout->links && layout->local_storage && layout->cgroup_owner && layout->inode_ino &&
                   layout->sock_cookie && layout->queue_stack && layout->struct_ops,
               "the fuzz vmlinux has every optional layout part");
    return std::make_shared<const freeze::Vmlinux>(
        freeze::Vmlinux{std::move(*btf), std::move(*layout), compact_scx_layout(), ""});
  }();
  return vmlinux;
}

uint32_t sched_ext_ops_value_type() { return mini_vmlinux()->maps.links->sched_ext_value_type; }

uint32_t sched_ext_ops_value_size() {
  auto size = btf::type_size(mini_vmlinux()->btf.get(), sched_ext_ops_value_type());
  fuzz_check(size.ok(), "bpf_struct_ops_sched_ext_ops has a size");
  return static_cast<uint32_t>(*size);
}

ProgramBtf program_btf() {
  BtfWriter w;
  ProgramBtf p;
  int s32 = w.integer("int", 4, BTF_INT_SIGNED), u64 = w.integer("unsigned long long", 8);
  p.point = static_cast<uint32_t>(w.composite("pt", 8, {{"x", s32, 0}, {"y", s32, 4}}));
  int point_ptr = w.pointer(static_cast<int>(p.point));
  p.event_record = static_cast<uint32_t>(
      w.composite("events_record", 16, {{"ts", u64, 0}, {"pid", s32, 8}, {"cpu", s32, 12}}));
  p.bss = static_cast<uint32_t>(w.datasec(
      ".bss", 24,
      {{"nr_events", u64, 0}, {"last", static_cast<int>(p.point), 8}, {"where", point_ptr, 16}}));
  p.arena_section = static_cast<uint32_t>(w.datasec(".addr_space.1", 8, {{"arena_counter", u64, 0}}));
  p.bytes = w.raw();
  return p;
}

}  // namespace ktest::fuzz
