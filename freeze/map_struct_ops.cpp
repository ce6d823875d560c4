// STRUCT_OPS maps: struct bpf_struct_ops_map keeps the kernel's copy of the
// value (kvalue: struct bpf_struct_ops_<ops>, vmlinux type
// bpf_map.btf_vmlinux_value_type_id) and the user's copy (uvalue), where
// bpf_struct_ops_map_update_elem() stores each function-pointer member's
// BPF program id. The value is kvalue rendered through vmlinux BTF, with
// each set callback replaced by {id, name, kva} of its program (prog_idr).
#include <cstring>

#include <bpf/btf.h>
#include <fmt/format.h>

#include "freeze/map_types.h"

namespace ktest::freeze {

Result<const std::map<uint32_t, ProgInfo>*> CaptureTables::programs() {
  if (!programs_) {
    programs_ = [&]() -> Result<std::map<uint32_t, ProgInfo>> {
      if (!layout_.struct_ops) return fail("the kernel's BTF lacks bpf_prog_aux: " + layout_.struct_ops_unavailable);
      const auto& l = *layout_.struct_ops;
      KTEST_ASSIGN(uint64_t idr, kernel_.symbol("prog_idr"));
      KTEST_ASSIGN(auto progs, collect_xarray_entries(kernel_, idr + layout_.idr_xarray, layout_.xarray, kMaxProgs));
      std::map<uint32_t, ProgInfo> out;
      for (uint64_t prog : progs) {
        // A program being freed may have a dangling aux: it is left out.
        auto aux = kernel_.read_u64(prog + l.prog_aux);
        if (!aux) continue;
        auto id = kernel_.read_u32(*aux + l.aux_id);
        auto name = kernel_.read(*aux + l.aux_name, l.aux_name_len);
        if (!id || !name) continue;
        const char* text = reinterpret_cast<const char*>(name->data());
        out[*id] = ProgInfo{prog, *id, std::string(text, strnlen(text, name->size()))};
      }
      return out;
    }();
  }
  if (!*programs_) return fail(programs_->error());
  return &**programs_;
}

namespace {

// A member whose type is a pointer to a function (a callback slot).
bool is_func_pointer(const struct ::btf* btf, uint32_t type) {
  int resolved = btf__resolve_type(btf, type);
  const struct btf_type* t = resolved > 0 ? btf__type_by_id(btf, static_cast<uint32_t>(resolved)) : nullptr;
  if (t == nullptr || !btf_is_ptr(t)) return false;
  int target = btf__resolve_type(btf, t->type);
  const struct btf_type* pt = target > 0 ? btf__type_by_id(btf, static_cast<uint32_t>(target)) : nullptr;
  return pt != nullptr && btf_is_func_proto(pt);
}

RenderedValue* member_of(RenderedValue& v, std::string_view name) {
  for (auto& m : v.members) {
    if (m.name == name) return &m.value;
  }
  return nullptr;
}

}  // namespace

Status read_struct_ops(MapFill& f, MapDump& d) {
  const MapHeader& h = f.h;
  if (!f.layout.struct_ops) {
    return fail(fmt::format("{} cannot be read on this kernel: {}", d.type_name, f.layout.struct_ops_unavailable));
  }
  const auto& l = *f.layout.struct_ops;
  const struct ::btf* vbtf = f.vmlinux.get();
  KTEST_ASSIGN(uint32_t value_type, f.kernel.read_u32(h.kva + f.layout.map_vmlinux_value_type));
  const struct btf_type* vt = btf__type_by_id(vbtf, value_type);
  if (value_type == 0 || vt == nullptr || !btf_is_struct(vt)) {
    return fail(fmt::format("btf_vmlinux_value_type_id {} is not a struct in vmlinux BTF", value_type));
  }
  if (vt->size != h.value_size || h.value_size > kMaxGuestRead) {
    return fail(fmt::format("value_size {} is not the size of its value type ({})", h.value_size, vt->size));
  }
  KTEST_ASSIGN(auto kvalue, f.kernel.read(h.kva + l.kvalue, h.value_size));
  btf::RenderOptions plain;  // callbacks are addresses of trampolines: not followed
  d.value = btf::render(f.vmlinux, value_type, kvalue, plain);
  // The ops struct is the value type's member "data".
  const char* vname = btf__name_by_offset(vbtf, vt->name_off);
  KTEST_ASSIGN(MemberInfo data, member_info(f.vmlinux, vname ? vname : "", "data"));
  RenderedValue* rendered_data = member_of(*d.value, "data");
  int ops_id = btf__resolve_type(vbtf, data.type_id);
  const struct btf_type* ops = ops_id > 0 ? btf__type_by_id(vbtf, static_cast<uint32_t>(ops_id)) : nullptr;
  if (rendered_data == nullptr || ops == nullptr || !btf_is_struct(ops)) {
    return fail(fmt::format("the value type {} has no struct member 'data'", vname ? vname : "?"));
  }
  KTEST_ASSIGN(uint64_t uvalue_kva, f.kernel.read_u64(h.kva + l.uvalue));
  auto uvalue = f.kernel.read(uvalue_kva, h.value_size);
  if (!uvalue) return std::move(uvalue).context("reading uvalue (the callbacks' program ids)");
  std::string first_missing;
  const struct btf_member* m = btf_members(ops);
  for (uint16_t i = 0; i < btf_vlen(ops); ++i, ++m) {
    if (!is_func_pointer(vbtf, m->type)) continue;
    uint64_t at = data.offset + btf_member_bit_offset(ops, i) / 8;
    if (at + 8 > uvalue->size()) continue;
    uint64_t id = 0;
    std::memcpy(&id, uvalue->data() + at, sizeof id);
    if (id == 0) continue;  // callback not set: the null pointer stays
    const char* name = btf__name_by_offset(vbtf, m->name_off);
    RenderedValue* slot = name ? member_of(*rendered_data, name) : nullptr;
    if (slot == nullptr) continue;
    KTEST_ASSIGN(const auto* progs, f.tables.programs());
    auto it = id <= UINT32_MAX ? progs->find(static_cast<uint32_t>(id)) : progs->end();
    if (it == progs->end()) {
      if (first_missing.empty()) first_missing = fmt::format("{} (prog id {})", name, id);
      *slot = object_ref("bpf_prog", static_cast<uint32_t>(id), "", 0);
      continue;
    }
    *slot = object_ref("bpf_prog", it->second.id, it->second.name, it->second.kva);
  }
  if (!first_missing.empty()) {
    return fail("a callback's program is not in prog_idr: " + first_missing);
  }
  return {};
}

}  // namespace ktest::freeze
