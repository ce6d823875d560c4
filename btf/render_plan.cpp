// Per-type render plans (see render_plan.h).
#include "btf/render_plan.h"

#include <bpf/btf.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "btf/btf.h"
#include "btf/render.h"
#include "btf/type_util.h"

namespace ktest::btf {
namespace {

std::string name_of(const struct ::btf* btf, uint32_t name_off) {
  const char* name = btf__name_by_offset(btf, name_off);
  return name != nullptr ? name : "";
}

bool is_cpumask_name(std::string_view name) {
  return name == "cpumask" || name == "bpf_cpumask" || name == "scx_bitmap" ||
         name == "scx_cpumask" || name == "sdt_cpumask";
}

}  // namespace

RenderPlans::RenderPlans(const struct ::btf* btf)
    : btf_(btf),
      count_(btf != nullptr ? btf__type_cnt(btf) : 0),
      chunks_(std::make_unique<std::atomic<Chunk*>[]>(count_ / kChunk + 1)) {}

RenderPlans::~RenderPlans() = default;

const TypePlan* RenderPlans::build(uint32_t id) {
  std::lock_guard lock(mutex_);
  return build_locked(id);
}

const TypePlan* RenderPlans::build_locked(uint32_t id) {
  if (const Chunk* chunk = chunks_[id / kChunk].load(std::memory_order_relaxed)) {
    if (const TypePlan* p = chunk->slots[id % kChunk].load(std::memory_order_relaxed)) return p;
  }
  const TypePlan* plan = nullptr;
  auto peeled = peel(btf_, id);
  if (peeled && *peeled != 0 && *peeled != id) {
    // Typedefs and modifiers share their target's plan (the target is
    // not peelable, so this recurses once).
    plan = build_locked(*peeled);
  } else {
    auto owned = std::make_unique<TypePlan>();
    if (!peeled) {
      owned->peel_failed = true;
      owned->reason = peeled.error().message;
    } else {
      make(*owned, *peeled);
    }
    plan = owned.get();
    owned_.push_back(std::move(owned));
  }
  store(id, plan);
  return plan;
}

void RenderPlans::store(uint32_t id, const TypePlan* plan) {
  Chunk* chunk = chunks_[id / kChunk].load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    owned_chunks_.push_back(std::make_unique<Chunk>());
    chunk = owned_chunks_.back().get();
    chunks_[id / kChunk].store(chunk, std::memory_order_release);
  }
  chunk->slots[id % kChunk].store(plan, std::memory_order_release);
}

void RenderPlans::make(TypePlan& plan, uint32_t id) {
  plan.id = id;
  if (id == 0) {
    plan.reason = "void has no value";
    return;
  }
  const struct btf_type* t = btf__type_by_id(btf_, id);
  switch (btf_kind(t)) {
    case BTF_KIND_INT: {
      plan.kind = PlanKind::Int;
      plan.size = t->size;
      plan.int_off = btf_int_offset(t);
      plan.int_bits = btf_int_bits(t);
      const uint8_t encoding = btf_int_encoding(t);
      plan.int_bool = (encoding & BTF_INT_BOOL) != 0;
      plan.int_char = t->size == 1 && ((encoding & BTF_INT_CHAR) != 0 ||
                                       name_of(btf_, t->name_off) == "char");
      plan.int_signed = (encoding & BTF_INT_SIGNED) != 0;
      const uint64_t size = t->size;
      if (size != 1 && size != 2 && size != 4 && size != 8 && size != 16) {
        plan.reason = "int of " + std::to_string(size) + " bytes";
      } else if (plan.int_bits == 0 || plan.int_bits > 128 ||
                 plan.int_off + plan.int_bits > size * 8) {
        plan.reason = "int with bad bit layout (" + std::to_string(plan.int_bits) + " bits at " +
                      std::to_string(plan.int_off) + ")";
      }
      return;
    }
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      plan.kind = PlanKind::Enum;
      plan.size = t->size;
      if (t->size == 0 || t->size > 8) plan.reason = "enum of " + std::to_string(t->size) + " bytes";
      return;
    case BTF_KIND_FLOAT:
      plan.kind = PlanKind::Float;
      plan.size = t->size;
      return;
    case BTF_KIND_PTR: {
      plan.kind = PlanKind::Ptr;
      const size_t psize = btf__pointer_size(btf_);
      plan.size = psize == 4 || psize == 8 ? psize : 8;
      plan.elem_type = t->type;
      return;
    }
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION: {
      plan.kind = PlanKind::Struct;
      plan.size = t->size;
      std::string name = name_of(btf_, t->name_off);
      if (btf_is_struct(t) && is_cpumask_name(name)) {
        auto bits = find_cpumask_bits(btf_, id, 0);
        if (bits && bits->first + bits->second <= plan.size) plan.cpumask_bits = bits;
      }
      if (!name.empty()) plan.type_name = std::move(name);
      const struct btf_member* m = btf_members(t);
      const uint16_t vlen = btf_vlen(t);
      plan.members.reserve(vlen);
      for (uint16_t i = 0; i < vlen; ++i, ++m) {
        MemberPlan& member = plan.members.emplace_back();
        member.name = name_of(btf_, m->name_off);
        member.type = m->type;
        member.bit_off = btf_member_bit_offset(t, i);
        member.nbits = btf_member_bitfield_size(t, i);
        member.size = type_size(btf_, m->type).value_or(0);
      }
      return;
    }
    case BTF_KIND_ARRAY: {
      plan.kind = PlanKind::Array;
      const struct btf_array* info = btf_array(t);
      plan.elem_type = info->type;
      plan.nelems = info->nelems;
      auto elem_size = type_size(btf_, info->type);
      if (!elem_size) {
        plan.reason = "array element: " + elem_size.error().message;
        return;
      }
      plan.elem_size = *elem_size;
      plan.size = plan.nelems * plan.elem_size;
      if (plan.elem_size != 0 && plan.size / plan.elem_size != plan.nelems) {
        plan.reason = "array size overflows 64 bits";
        return;
      }
      plan.char_elems = is_char_type(btf_, info->type);
      return;
    }
    case BTF_KIND_DATASEC: {
      plan.kind = PlanKind::Datasec;
      plan.type_name = name_of(btf_, t->name_off);
      const struct btf_var_secinfo* v = btf_var_secinfos(t);
      const uint16_t vlen = btf_vlen(t);
      plan.size = t->size;
      plan.vars.reserve(vlen);
      for (uint16_t i = 0; i < vlen; ++i, ++v) {
        plan.size = std::max(plan.size, static_cast<uint64_t>(v->offset) + v->size);
        VarPlan& var = plan.vars.emplace_back();
        if (valid_type_id(btf_, v->type) && v->type != 0) {
          var.name = name_of(btf_, btf__type_by_id(btf_, v->type)->name_off);
        }
        var.type = v->type;
        var.offset = v->offset;
        var.size = v->size;
      }
      return;
    }
    case BTF_KIND_FWD:
      plan.kind = PlanKind::Fwd;
      return;
    case BTF_KIND_FUNC:
    case BTF_KIND_FUNC_PROTO:
      plan.reason = "a function type has no value";
      return;
    default:
      plan.reason = "BTF kind " + std::to_string(btf_kind(t)) + " of type id " +
                    std::to_string(id) + " is not rendered";
      return;
  }
}

}  // namespace ktest::btf
