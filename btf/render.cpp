// BTF renderer (see render.h for the contract).
//
// Values are filled in place: each node is constructed once where it ends
// up (a member, an array element, a `partial`, a `deref`) and never moved.
// What a type id means for rendering comes from its plan (render_plan.h),
// worked out once per BTF rather than on every node.
#include "btf/render.h"

#include <bpf/btf.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "btf/btf.h"
#include "btf/render_plan.h"
#include "btf/type_util.h"
#include "snapshot/report.h"

namespace ktest::btf {
namespace {

using Bytes = std::span<const uint8_t>;

std::string id_text(uint32_t id) { return "type id " + std::to_string(id); }

// The report reader refuses values nested deeper than kMaxJsonDepth: what
// the renderer makes by default must read back.
static_assert(RenderOptions{}.max_depth + 2 < kMaxJsonDepth);

// Turns `out` into a `truncated` node and returns its (empty) partial.
RenderedValue& truncated(RenderedValue& out, uint64_t needed, uint64_t had) {
  out.kind = ValueKind::Truncated;
  RenderedDetail& d = out.mutable_detail();
  d.needed = needed;
  d.had = had;
  d.partial = std::make_shared<RenderedValue>();
  return *d.partial;
}

class Renderer {
 public:
  Renderer(const struct ::btf* btf, RenderPlans& plans, const RenderOptions& options)
      : btf_(btf), plans_(plans), opt_(options) {}

  // A container cut short is wrapped in `truncated`: one more level of the
  // value tree (and of its JSON) above its children, so it counts.
  static uint32_t child_depth(uint32_t depth, bool truncated) { return depth + (truncated ? 2 : 1); }

  // Renders type `id` over `bytes` into `out`, a default-constructed node.
  void value(RenderedValue& out, uint32_t id, Bytes bytes, uint32_t depth) {
    if (depth > opt_.max_depth) {
      set_unsupported(out, "nesting deeper than " + std::to_string(opt_.max_depth) + " levels");
      return;
    }
    const TypePlan* plan = plans_.find(id);
    if (plan == nullptr) {  // out of range: peel() words the error
      set_unsupported(out, peel(btf_, id).error().message);
      return;
    }
    planned(out, *plan, bytes, depth);
  }

 private:
  // A value of a found plan at a depth already checked.
  void planned(RenderedValue& out, const TypePlan& plan, Bytes bytes, uint32_t depth) {
    switch (plan.kind) {
      case PlanKind::Int: return integer(out, plan, bytes);
      case PlanKind::Enum: return enumeration(out, plan, bytes);
      case PlanKind::Float: return floating(out, plan, bytes);
      case PlanKind::Ptr: return pointer(out, plan, bytes, depth);
      case PlanKind::Struct: return aggregate(out, plan, bytes, depth);
      case PlanKind::Array: return array(out, plan, bytes, depth);
      case PlanKind::Datasec: return datasec(out, plan, bytes, depth);
      case PlanKind::Fwd: return set_bytes(out, hex_bytes(bytes.data(), bytes.size()));
      case PlanKind::Unsupported: return set_unsupported(out, plan.reason);
    }
  }

  // Scalars of `size` bytes: truncated with the raw bytes when short.
  static bool short_scalar(RenderedValue& out, uint64_t size, Bytes bytes) {
    if (bytes.size() >= size) return false;
    set_bytes(truncated(out, size, bytes.size()), hex_bytes(bytes.data(), bytes.size()));
    return true;
  }

  // An int of plan `p` holding `raw` in its low nbits (whole ints, bitfields).
  static void int_bits(RenderedValue& out, const TypePlan& p, uint128_t raw, uint32_t nbits) {
    if (p.int_bool) return set_bool(out, raw != 0);
    if (p.int_char && nbits <= 8) return set_char(out, static_cast<uint8_t>(raw));
    if (p.int_signed) return set_int(out, nbits, sign_extend(raw, nbits));
    set_uint(out, nbits, raw);
  }

  void integer(RenderedValue& out, const TypePlan& p, Bytes bytes) {
    if (short_scalar(out, p.size, bytes)) return;
    if (!p.reason.empty()) return set_unsupported(out, p.reason);
    // Most ints fill their bytes: a plain load.
    const uint128_t raw = p.int_off == 0 && p.int_bits == p.size * 8
                              ? load_le(bytes.data(), p.size)
                              : load_bits(bytes.data(), p.int_off, p.int_bits);
    int_bits(out, p, raw, p.int_bits);
  }

  void enum_bits(RenderedValue& out, const TypePlan& p, uint128_t raw, uint32_t nbits) {
    render_enum(out, btf_, btf__type_by_id(btf_, p.id), raw, nbits);
  }

  void enumeration(RenderedValue& out, const TypePlan& p, Bytes bytes) {
    if (!p.reason.empty()) return set_unsupported(out, p.reason);
    if (short_scalar(out, p.size, bytes)) return;
    enum_bits(out, p, load_le(bytes.data(), p.size), static_cast<uint32_t>(p.size * 8));
  }

  void floating(RenderedValue& out, const TypePlan& p, Bytes bytes) {
    if (short_scalar(out, p.size, bytes)) return;
    switch (p.size) {
      case 2:
        return set_float(out, 16, half_to_double(static_cast<uint16_t>(load_le(bytes.data(), 2))));
      case 4: {
        float f;
        std::memcpy(&f, bytes.data(), 4);
        return set_float(out, 32, f);
      }
      case 8: {
        double d;
        std::memcpy(&d, bytes.data(), 8);
        return set_float(out, 64, d);
      }
      default:
        // x87 long double and friends: keep the bytes, not a lossy guess.
        return set_bytes(out, hex_bytes(bytes.data(), p.size));
    }
  }

  void pointer(RenderedValue& out, const TypePlan& p, Bytes bytes, uint32_t depth) {
    if (short_scalar(out, p.size, bytes)) return;
    const auto address = static_cast<uint64_t>(load_le(bytes.data(), p.size));
    if (opt_.reader == nullptr) return set_ptr(out, address);
    auto skipped = [&](std::string why) { set_ptr(out, address, nullptr, std::move(why)); };
    if (address == 0) return skipped("null pointer");
    auto target = peel(btf_, p.elem_type);
    if (!target) return skipped(target.error().message);
    if (*target == 0) return skipped("void pointer: pointee type unknown");
    const struct btf_type* pt = btf__type_by_id(btf_, *target);
    if (btf_is_func_proto(pt) || btf_is_func(pt)) return skipped("function pointer");
    if (btf_is_fwd(pt)) return skipped("pointee is an opaque (forward-declared) type");
    if (chain_.size() >= opt_.max_deref_depth) {
      return skipped("pointer depth limit " + std::to_string(opt_.max_deref_depth) + " reached");
    }
    for (const auto& [addr, type] : chain_) {
      if (addr == address && type == *target) return skipped("cycle: already rendering this object");
    }
    auto size = type_size(btf_, *target);
    if (!size) return skipped(size.error().message);
    if (*size > opt_.max_deref_bytes) {
      return skipped("pointee is " + std::to_string(*size) + " bytes, over the " +
                     std::to_string(opt_.max_deref_bytes) + "-byte limit");
    }
    auto data = opt_.reader->read(address, static_cast<size_t>(*size));
    if (!data) return skipped("read failed: " + data.error().to_string());
    if (data->size() != *size) {
      return skipped("short read: " + std::to_string(data->size()) + " of " +
                     std::to_string(*size) + " bytes");
    }
    auto deref = std::make_shared<RenderedValue>();
    chain_.emplace_back(address, *target);
    value(*deref, *target, *data, depth + 1);
    chain_.pop_back();
    set_ptr(out, address, std::move(deref));
  }

  // A struct/union member that is a bitfield.
  void bitfield(RenderedValue& out, uint32_t member_type, Bytes bytes, uint32_t bit_off,
                uint32_t nbits) {
    const TypePlan* p = plans_.find(member_type);
    if (p == nullptr || p->peel_failed) {
      return set_unsupported(out, p != nullptr ? p->reason : peel(btf_, member_type).error().message);
    }
    if (p->kind != PlanKind::Int && p->kind != PlanKind::Enum) {
      return set_unsupported(out, "bitfield of a type that is neither int nor enum");
    }
    const uint128_t raw = load_bits(bytes.data(), bit_off, nbits);
    if (p->kind == PlanKind::Enum) return enum_bits(out, *p, raw, nbits);
    int_bits(out, *p, raw, nbits);
  }

  void aggregate(RenderedValue& out, const TypePlan& p, Bytes bytes, uint32_t depth) {
    const uint64_t size = p.size;
    const Bytes own = bytes.first(std::min<uint64_t>(bytes.size(), size));
    if (p.cpumask_bits) return cpumask(out, *p.cpumask_bits, own, size);
    const bool cut_short = bytes.size() < size;
    RenderedValue& agg = cut_short ? truncated(out, size, bytes.size()) : out;
    const uint32_t inner = child_depth(depth, cut_short);
    agg.kind = ValueKind::Struct;
    agg.type_name = p.type_name;
    std::vector<RenderedMember>& members = agg.members;
    members.reserve(p.members.size());
    for (const MemberPlan& m : p.members) {
      if (m.nbits != 0) {
        if (m.nbits > 128) {
          set_unsupported(add_member(members, m), "bitfield wider than 128 bits");
          continue;
        }
        if ((static_cast<uint64_t>(m.bit_off) + m.nbits + 7) / 8 > own.size()) break;
        bitfield(add_member(members, m), m.type, own, m.bit_off, m.nbits);
        continue;
      }
      if (m.bit_off % 8 != 0) {
        set_unsupported(add_member(members, m), "member not byte-aligned");
        continue;
      }
      const uint64_t off = m.bit_off / 8;
      if (off > own.size() || (off == own.size() && off < size)) break;
      const uint64_t avail = own.size() - off;
      value(add_member(members, m), m.type, own.subspan(off, std::min(avail, m.size)), inner);
      if (m.size > avail) break;  // this member was cut short; later ones too
    }
  }

  static RenderedValue& add_member(std::vector<RenderedMember>& members, const MemberPlan& m) {
    RenderedMember& added = members.emplace_back();
    added.name = m.name;
    return added.value;
  }

  // cpumask-like structs: the set bits of the bit array the plan located
  // (directly, or inside a nested cpumask-like member).
  static void cpumask(RenderedValue& out, std::pair<uint64_t, uint64_t> bits, Bytes own,
                      uint64_t size) {
    const auto [off, len] = bits;
    if (off + len > own.size()) {
      // The CPUs whose bits did arrive (none when the cut is before them).
      const Bytes have = own.size() > off ? own.subspan(off) : Bytes{};
      return set_cpu_list(truncated(out, size, own.size()), cpu_list_from_bitmap(have));
    }
    set_cpu_list(out, cpu_list_from_bitmap(own.subspan(off, len)));
  }

  void array(RenderedValue& out, const TypePlan& p, Bytes bytes, uint32_t depth) {
    if (!p.reason.empty()) return set_unsupported(out, p.reason);
    const uint64_t total = p.size;
    const uint64_t fit = p.elem_size == 0 ? p.nelems : bytes.size() / p.elem_size;
    const uint64_t keep = std::min({p.nelems, opt_.max_array_elements, fit});
    const bool cut_short = bytes.size() < total;
    RenderedValue& arr = cut_short ? truncated(out, total, bytes.size()) : out;
    const uint32_t inner = child_depth(depth, cut_short);
    arr.kind = ValueKind::Array;
    arr.len = p.nelems;
    arr.elements.resize(keep);
    // Every element has the same depth and plan: checked and found once.
    const TypePlan* elem = inner <= opt_.max_depth ? plans_.find(p.elem_type) : nullptr;
    if (elem != nullptr && elem->kind == PlanKind::Int) {
      // Arrays of ints and chars (comm[], counters[]) are the common case:
      // each element rendered inline in this loop, with no dispatch.
      for (uint64_t i = 0; i < keep; ++i) {
        integer(arr.elements[i], *elem, bytes.subspan(i * p.elem_size, p.elem_size));
      }
    } else {
      for (uint64_t i = 0; i < keep; ++i) {
        const Bytes elem_bytes = bytes.subspan(i * p.elem_size, p.elem_size);
        if (elem != nullptr) {
          planned(arr.elements[i], *elem, elem_bytes, inner);
        } else {
          value(arr.elements[i], p.elem_type, elem_bytes, inner);
        }
      }
    }
    if (p.char_elems) arr.text = text_until_nul(bytes.first(std::min<uint64_t>(bytes.size(), total)));
  }

  void datasec(RenderedValue& out, const TypePlan& p, Bytes bytes, uint32_t depth) {
    const uint64_t needed = p.size;
    const bool cut_short = bytes.size() < needed;
    RenderedValue& sec = cut_short ? truncated(out, needed, bytes.size()) : out;
    const uint32_t inner = child_depth(depth, cut_short);
    sec.kind = ValueKind::Struct;
    sec.type_name = p.type_name;
    for (const VarPlan& v : p.vars) {
      if (v.offset > bytes.size()) break;
      const uint64_t avail = std::min<uint64_t>(v.size, bytes.size() - v.offset);
      RenderedMember& member = sec.members.emplace_back();
      member.name = v.name;
      value(member.value, v.type, bytes.subspan(v.offset, avail), inner);
      if (avail < v.size) break;
    }
  }

  const struct ::btf* btf_;
  RenderPlans& plans_;
  const RenderOptions& opt_;
  // Pointers being dereferenced right now: (address, pointee type).
  std::vector<std::pair<uint64_t, uint32_t>> chain_;
};

// Why `btf` cannot be rendered from `type_id` at all, if it cannot.
std::optional<std::string> unrenderable(const struct ::btf* btf, uint32_t type_id) {
  if (btf == nullptr) return "no BTF";
  if (btf__endianness(btf) != BTF_LITTLE_ENDIAN) return "big-endian BTF is not rendered";
  if (!valid_type_id(btf, type_id)) {
    return id_text(type_id) + " out of range (BTF has " + std::to_string(btf__type_cnt(btf)) +
           " types)";
  }
  return std::nullopt;
}

RenderedValue render_with(const struct ::btf* btf, RenderPlans& plans, uint32_t type_id,
                          std::span<const uint8_t> bytes, const RenderOptions& options) {
  RenderedValue out;
  if (auto why = unrenderable(btf, type_id)) {
    set_unsupported(out, std::move(*why));
    return out;
  }
  Renderer(btf, plans, options).value(out, type_id, bytes, 0);
  return out;
}

}  // namespace

RenderedValue render(const struct ::btf* btf, uint32_t type_id, std::span<const uint8_t> bytes,
                     const RenderOptions& options) {
  RenderPlans plans(btf);
  return render_with(btf, plans, type_id, bytes, options);
}

RenderedValue render(const Btf& btf, uint32_t type_id, std::span<const uint8_t> bytes,
                     const RenderOptions& options) {
  return render_with(btf.get(), btf.render_plans(), type_id, bytes, options);
}

namespace {

// Memoized over type ids: a DAG of structs is visited once per id, so even
// a hostile BTF costs at most one visit per type.
class PointerSearch {
 public:
  PointerSearch(RenderPlans& plans, uint32_t max_depth) : plans_(plans), max_depth_(max_depth) {}

  bool holds_pointer(uint32_t id, uint32_t depth) {
    if (depth > max_depth_) return true;
    auto [it, fresh] = seen_.try_emplace(id, State::Visiting);
    if (!fresh) return it->second != State::No;  // a cycle (Visiting) counts as yes
    bool found = search(id, depth);
    seen_[id] = found ? State::Yes : State::No;
    return found;
  }

 private:
  enum class State : uint8_t { Visiting, Yes, No };

  bool search(uint32_t id, uint32_t depth) {
    const TypePlan* plan = plans_.find(id);
    if (plan == nullptr) return false;
    switch (plan->kind) {
      case PlanKind::Ptr: return true;
      case PlanKind::Struct:
        return std::any_of(plan->members.begin(), plan->members.end(),
                           [&](const MemberPlan& m) { return holds_pointer(m.type, depth + 1); });
      case PlanKind::Array: return holds_pointer(plan->elem_type, depth + 1);
      case PlanKind::Datasec:
        return std::any_of(plan->vars.begin(), plan->vars.end(),
                           [&](const VarPlan& v) { return holds_pointer(v.type, depth + 1); });
      case PlanKind::Int:
      case PlanKind::Enum:
      case PlanKind::Float:
      case PlanKind::Fwd:
      case PlanKind::Unsupported: return false;
    }
    return true;
  }

  RenderPlans& plans_;
  uint32_t max_depth_;
  std::unordered_map<uint32_t, State> seen_;
};

}  // namespace

bool reads_memory(const Btf& btf, uint32_t type_id, const RenderOptions& options) {
  if (unrenderable(btf.get(), type_id)) return false;
  return PointerSearch(btf.render_plans(), options.max_depth).holds_pointer(type_id, 0);
}

uint64_t percpu_stride(uint64_t value_size) { return (value_size + 7) & ~uint64_t{7}; }

std::vector<RenderedValue> render_percpu(const struct ::btf* btf, uint32_t type_id,
                                         std::span<const uint8_t> blob, uint32_t nr_cpus,
                                         const RenderOptions& options) {
  std::vector<RenderedValue> out;
  auto size = type_size(btf, type_id);
  if (!size) {
    out.assign(nr_cpus, make_unsupported(size.error().message));
    return out;
  }
  RenderPlans plans(btf);  // one set for every CPU's value
  const uint64_t stride = percpu_stride(*size);
  out.reserve(nr_cpus);
  for (uint64_t cpu = 0; cpu < nr_cpus; ++cpu) {
    const uint64_t off = cpu * stride;  // < 2^32 * 2^33: cannot overflow
    if (stride == 0 || off >= blob.size()) {
      if (*size == 0) {
        out.push_back(render_with(btf, plans, type_id, {}, options));
      } else {
        out.push_back(make_truncated(*size, 0, make_bytes("")));
      }
      continue;
    }
    const uint64_t avail = std::min<uint64_t>(*size, blob.size() - off);
    out.push_back(render_with(btf, plans, type_id, blob.subspan(off, avail), options));
  }
  return out;
}

}  // namespace ktest::btf
