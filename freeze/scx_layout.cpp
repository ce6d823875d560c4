// ScxLayout: sched_ext struct offsets and enum values from vmlinux BTF.
#include <bpf/btf.h>
#include <fmt/format.h>

#include "freeze/scx_state.h"

namespace ktest::freeze {
namespace {

// The value of enumerator `e` of enum/enum64 type `t`, signedness from kflag.
int64_t enumerator_value(const struct btf_type* t, uint16_t i) {
  if (btf_is_enum64(t)) return static_cast<int64_t>(btf_enum64_value(btf_enum64(t) + i));
  int32_t raw = btf_enum(t)[i].val;
  return btf_kflag(t) ? raw : static_cast<int64_t>(static_cast<uint32_t>(raw));
}

const char* enumerator_name(const struct ::btf* btf, const struct btf_type* t, uint16_t i) {
  uint32_t off = btf_is_enum64(t) ? btf_enum64(t)[i].name_off : btf_enum(t)[i].name_off;
  return btf__name_by_offset(btf, off);
}

// Every enumerator of the enum (32- or 64-bit) named `name`.
Result<std::vector<ScxEnumValue>> named_enum(const btf::Btf& v, std::string_view name) {
  const struct ::btf* btf = v.get();
  for (int kind : {static_cast<int>(BTF_KIND_ENUM), static_cast<int>(BTF_KIND_ENUM64)}) {
    int id = btf__find_by_name_kind(btf, std::string(name).c_str(), kind);
    if (id <= 0) continue;
    const struct btf_type* t = btf__type_by_id(btf, static_cast<uint32_t>(id));
    std::vector<ScxEnumValue> out;
    for (uint16_t i = 0; i < btf_vlen(t); ++i) {
      const char* n = enumerator_name(btf, t, i);
      out.push_back({enumerator_value(t, i), n ? n : ""});
    }
    return out;
  }
  return fail(fmt::format("{}: no enum '{}'", v.origin(), name));
}

// The value of enumerator `name` in any enum (also anonymous ones).
Result<int64_t> enum_constant(const btf::Btf& v, std::string_view name) {
  const struct ::btf* btf = v.get();
  uint32_t count = v.type_count();
  for (uint32_t id = 1; id < count; ++id) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (!t || !(btf_is_enum(t) || btf_is_enum64(t))) continue;
    for (uint16_t i = 0; i < btf_vlen(t); ++i) {
      const char* n = enumerator_name(btf, t, i);
      if (n && name == n) return enumerator_value(t, i);
    }
  }
  return fail(fmt::format("{}: no enumerator '{}'", v.origin(), name));
}

Result<int64_t> value_of(const std::vector<ScxEnumValue>& values, std::string_view name) {
  for (const auto& e : values) {
    if (e.name == name) return e.value;
  }
  return fail(fmt::format("no enumerator '{}'", name));
}

// A positive constant no larger than `max` (the kernel's buffer sizes).
Result<uint32_t> bounded_constant(const btf::Btf& v, std::string_view name, int64_t max) {
  KTEST_ASSIGN(int64_t value, enum_constant(v, name));
  if (value <= 0 || value > max) {
    return fail(fmt::format("{}: {} = {} is outside 1..{}", v.origin(), name, value, max));
  }
  return static_cast<uint32_t>(value);
}

Result<ScxLayout> layout_from_btf(const btf::Btf& v) {
  ScxLayout l;
  auto off = [&](std::string_view s, std::string_view path) -> Result<uint64_t> {
    KTEST_ASSIGN(MemberInfo m, member_info(v, s, path));
    return m.offset;
  };
  auto sized = [&](std::string_view s) -> Result<uint64_t> {
    KTEST_ASSIGN(uint64_t size, struct_size(v, s));
    if (size == 0 || size > kMaxScxStructBytes) {
      return fail(fmt::format("{}: struct {} has an implausible size {}", v.origin(), s, size));
    }
    return size;
  };
  KTEST_ASSIGN(l.sched_size, sized("scx_sched"));
  KTEST_ASSIGN(MemberInfo name, member_info(v, "scx_sched", "ops.name"));
  l.sched_ops_name = name.offset;
  const struct btf_type* name_type = btf__type_by_id(v.get(), name.type_id);
  if (!name_type || !btf_is_array(name_type) || btf_array(name_type)->nelems == 0 ||
      btf_array(name_type)->nelems > 1024) {
    return fail(fmt::format("{}: sched_ext_ops.name is not a plausible char array", v.origin()));
  }
  l.ops_name_len = btf_array(name_type)->nelems;
  KTEST_ASSIGN(l.sched_ops_flags, off("scx_sched", "ops.flags"));
  KTEST_ASSIGN(l.sched_ops_timeout_ms, off("scx_sched", "ops.timeout_ms"));
  KTEST_ASSIGN(l.sched_ops_exit_dump_len, off("scx_sched", "ops.exit_dump_len"));
  KTEST_ASSIGN(l.sched_watchdog_timeout, off("scx_sched", "watchdog_timeout"));
  KTEST_ASSIGN(l.sched_bypass_depth, off("scx_sched", "bypass_depth"));
  KTEST_ASSIGN(l.sched_exit_kind, off("scx_sched", "exit_kind"));
  KTEST_ASSIGN(l.sched_exit_info, off("scx_sched", "exit_info"));
  KTEST_ASSIGN(l.sched_dsq_hash, off("scx_sched", "dsq_hash"));
  KTEST_ASSIGN(l.sched_pnode, off("scx_sched", "pnode"));
  KTEST_ASSIGN(l.sched_pcpu, off("scx_sched", "pcpu"));
  KTEST_ASSIGN(l.pcpu_bypass_dsq, off("scx_sched_pcpu", "bypass_dsq"));
  KTEST_ASSIGN(l.pnode_global_dsq, off("scx_sched_pnode", "global_dsq"));

  KTEST_ASSIGN(l.ei_size, sized("scx_exit_info"));
  KTEST_ASSIGN(l.ei_kind, off("scx_exit_info", "kind"));
  KTEST_ASSIGN(l.ei_exit_code, off("scx_exit_info", "exit_code"));
  KTEST_ASSIGN(l.ei_reason, off("scx_exit_info", "reason"));
  KTEST_ASSIGN(l.ei_bt, off("scx_exit_info", "bt"));
  KTEST_ASSIGN(l.ei_bt_len, off("scx_exit_info", "bt_len"));
  KTEST_ASSIGN(l.ei_msg, off("scx_exit_info", "msg"));
  KTEST_ASSIGN(l.ei_dump, off("scx_exit_info", "dump"));

  KTEST_ASSIGN(l.rq_size, sized("rq"));
  KTEST_ASSIGN(l.rq_curr, off("rq", "curr"));
  KTEST_ASSIGN(l.rq_local_dsq, off("rq", "scx.local_dsq"));
  KTEST_ASSIGN(l.rq_runnable_list, off("rq", "scx.runnable_list"));
  KTEST_ASSIGN(l.rq_nr_running, off("rq", "scx.nr_running"));
  KTEST_ASSIGN(l.rq_flags, off("rq", "scx.flags"));

  KTEST_ASSIGN(l.dsq_list, off("scx_dispatch_q", "list"));
  KTEST_ASSIGN(l.dsq_nr, off("scx_dispatch_q", "nr"));
  KTEST_ASSIGN(l.dsq_id, off("scx_dispatch_q", "id"));
  KTEST_ASSIGN(l.dsq_hash_node, off("scx_dispatch_q", "hash_node"));

  KTEST_ASSIGN(l.task_pid, off("task_struct", "pid"));
  KTEST_ASSIGN(MemberInfo comm, member_info(v, "task_struct", "comm"));
  l.task_comm = comm.offset;
  const struct btf_type* comm_type = btf__type_by_id(v.get(), comm.type_id);
  if (comm_type && btf_is_array(comm_type) && btf_array(comm_type)->nelems > 0 &&
      btf_array(comm_type)->nelems <= 256) {
    l.comm_len = btf_array(comm_type)->nelems;
  }
  KTEST_ASSIGN(l.task_sched_class, off("task_struct", "sched_class"));
  KTEST_ASSIGN(l.task_dsq, off("task_struct", "scx.dsq"));
  KTEST_ASSIGN(l.task_runnable_node, off("task_struct", "scx.runnable_node"));
  KTEST_ASSIGN(l.task_runnable_at, off("task_struct", "scx.runnable_at"));
  KTEST_ASSIGN(l.task_dsq_list_node, off("task_struct", "scx.dsq_list.node"));
  KTEST_ASSIGN(uint64_t lnode_node, off("scx_dsq_list_node", "node"));
  KTEST_ASSIGN(uint64_t lnode_flags, off("scx_dsq_list_node", "flags"));
  l.lnode_flags = lnode_flags - lnode_node;

  KTEST_ASSIGN(l.rht_tbl, off("rhashtable", "tbl"));
  KTEST_ASSIGN(l.tbl_size, off("bucket_table", "size"));
  KTEST_ASSIGN(l.tbl_nest, off("bucket_table", "nest"));
  KTEST_ASSIGN(l.tbl_future_tbl, off("bucket_table", "future_tbl"));
  KTEST_ASSIGN(l.tbl_buckets, off("bucket_table", "buckets"));

  KTEST_ASSIGN(l.exit_kinds, named_enum(v, "scx_exit_kind"));
  KTEST_ASSIGN(l.enable_states, named_enum(v, "scx_enable_state"));
  KTEST_ASSIGN(l.exit_none, value_of(l.exit_kinds, "SCX_EXIT_NONE"));
  KTEST_ASSIGN(l.exit_done, value_of(l.exit_kinds, "SCX_EXIT_DONE"));
  KTEST_ASSIGN(auto dsq_ids, named_enum(v, "scx_dsq_id_flags"));
  KTEST_ASSIGN(int64_t global, value_of(dsq_ids, "SCX_DSQ_GLOBAL"));
  KTEST_ASSIGN(int64_t local, value_of(dsq_ids, "SCX_DSQ_LOCAL"));
  KTEST_ASSIGN(int64_t bypass, value_of(dsq_ids, "SCX_DSQ_BYPASS"));
  l.dsq_global = static_cast<uint64_t>(global);
  l.dsq_local = static_cast<uint64_t>(local);
  l.dsq_bypass = static_cast<uint64_t>(bypass);
  KTEST_ASSIGN(int64_t cursor, enum_constant(v, "SCX_DSQ_LNODE_ITER_CURSOR"));
  l.lnode_iter_cursor = static_cast<uint32_t>(cursor);
  KTEST_ASSIGN(l.exit_bt_len, bounded_constant(v, "SCX_EXIT_BT_LEN", 4096));
  KTEST_ASSIGN(l.exit_msg_len, bounded_constant(v, "SCX_EXIT_MSG_LEN", 1 << 20));
  KTEST_ASSIGN(l.exit_dump_default_len,
               bounded_constant(v, "SCX_EXIT_DUMP_DFL_LEN", 1LL << 30));
  return l;
}

}  // namespace

std::string scx_enum_name(const std::vector<ScxEnumValue>& values, int64_t value) {
  for (const auto& e : values) {
    if (e.value == value) return e.name;
  }
  return "";
}

Result<ScxLayout> ScxLayout::from_btf(const btf::Btf& vmlinux) {
  if (btf__find_by_name_kind(vmlinux.get(), "scx_sched", BTF_KIND_STRUCT) <= 0) {
    return fail(fmt::format("{}: the guest kernel has no sched_ext (no struct scx_sched in its BTF)",
                            vmlinux.origin()),
                "", "use a kernel built with CONFIG_SCHED_CLASS_EXT=y");
  }
  auto layout = layout_from_btf(vmlinux);
  if (!layout) return std::move(layout).context("reading the sched_ext layout from vmlinux BTF");
  return layout;
}

}  // namespace ktest::freeze
