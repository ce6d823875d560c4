// BTF renderer (see render.h for the contract).
#include "btf/render.h"

#include <bpf/btf.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "btf/btf.h"
#include "btf/type_util.h"
#include "snapshot/report.h"

namespace ktest::btf {
namespace {

using Bytes = std::span<const uint8_t>;

std::string id_text(uint32_t id) { return "type id " + std::to_string(id); }

const char* name_of(const struct ::btf* btf, uint32_t name_off) {
  const char* name = btf__name_by_offset(btf, name_off);
  return name != nullptr ? name : "";
}

bool is_cpumask_name(std::string_view name) {
  return name == "cpumask" || name == "bpf_cpumask" || name == "scx_bitmap" ||
         name == "scx_cpumask" || name == "sdt_cpumask";
}

// The report reader refuses values nested deeper than kMaxJsonDepth: what
// the renderer makes by default must read back.
static_assert(RenderOptions{}.max_depth + 2 < kMaxJsonDepth);

class Renderer {
 public:
  Renderer(const struct ::btf* btf, const RenderOptions& options) : btf_(btf), opt_(options) {}

  // A container cut short is wrapped in `truncated`: one more level of the
  // value tree (and of its JSON) above its children, so it counts.
  static uint32_t child_depth(uint32_t depth, bool truncated) { return depth + (truncated ? 2 : 1); }

  RenderedValue value(uint32_t id, Bytes bytes, uint32_t depth) {
    if (depth > opt_.max_depth) {
      return make_unsupported("nesting deeper than " + std::to_string(opt_.max_depth) + " levels");
    }
    auto peeled = peel(btf_, id);
    if (!peeled) return make_unsupported(peeled.error().message);
    id = *peeled;
    if (id == 0) return make_unsupported("void has no value");
    const struct btf_type* t = btf__type_by_id(btf_, id);
    switch (btf_kind(t)) {
      case BTF_KIND_INT: return integer(t, bytes);
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64: return enumeration(t, bytes);
      case BTF_KIND_FLOAT: return floating(t, bytes);
      case BTF_KIND_PTR: return pointer(t, bytes, depth);
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION: return aggregate(id, t, bytes, depth);
      case BTF_KIND_ARRAY: return array(t, bytes, depth);
      case BTF_KIND_DATASEC: return datasec(t, bytes, depth);
      case BTF_KIND_FWD: return make_bytes(hex_bytes(bytes.data(), bytes.size()));
      case BTF_KIND_FUNC:
      case BTF_KIND_FUNC_PROTO: return make_unsupported("a function type has no value");
      default:
        return make_unsupported("BTF kind " + std::to_string(btf_kind(t)) + " of " + id_text(id) +
                                " is not rendered");
    }
  }

 private:
  // Scalars of `size` bytes: truncated with the raw bytes when short.
  static std::optional<RenderedValue> short_scalar(uint64_t size, Bytes bytes) {
    if (bytes.size() >= size) return std::nullopt;
    return make_truncated(size, bytes.size(), make_bytes(hex_bytes(bytes.data(), bytes.size())));
  }

  RenderedValue integer(const struct btf_type* t, Bytes bytes) {
    if (auto s = short_scalar(t->size, bytes)) return *s;
    return render_int(btf_, t, bytes.data());
  }

  RenderedValue enumeration(const struct btf_type* t, Bytes bytes) {
    if (t->size == 0 || t->size > 8) {
      return make_unsupported("enum of " + std::to_string(t->size) + " bytes");
    }
    if (auto s = short_scalar(t->size, bytes)) return *s;
    const uint128_t raw = load_le(bytes.data(), t->size);
    return render_enum(btf_, t, raw, t->size * 8);
  }

  RenderedValue floating(const struct btf_type* t, Bytes bytes) {
    if (auto s = short_scalar(t->size, bytes)) return *s;
    switch (t->size) {
      case 2: return make_float(16, half_to_double(static_cast<uint16_t>(load_le(bytes.data(), 2))));
      case 4: {
        float f;
        std::memcpy(&f, bytes.data(), 4);
        return make_float(32, f);
      }
      case 8: {
        double d;
        std::memcpy(&d, bytes.data(), 8);
        return make_float(64, d);
      }
      default:
        // x87 long double and friends: keep the bytes, not a lossy guess.
        return make_bytes(hex_bytes(bytes.data(), t->size));
    }
  }

  RenderedValue pointer(const struct btf_type* t, Bytes bytes, uint32_t depth) {
    size_t psize = btf__pointer_size(btf_);
    if (psize != 4 && psize != 8) psize = 8;
    if (auto s = short_scalar(psize, bytes)) return *s;
    const auto address = static_cast<uint64_t>(load_le(bytes.data(), psize));
    if (opt_.reader == nullptr) return make_ptr(address);
    auto skipped = [&](std::string why) { return make_ptr(address, nullptr, std::move(why)); };
    if (address == 0) return skipped("null pointer");
    auto target = peel(btf_, t->type);
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
    chain_.emplace_back(address, *target);
    auto deref = std::make_shared<RenderedValue>(value(*target, *data, depth + 1));
    chain_.pop_back();
    return make_ptr(address, std::move(deref));
  }

  // A struct/union member that is a bitfield.
  RenderedValue bitfield(uint32_t member_type, Bytes bytes, uint32_t bit_off, uint32_t nbits) {
    auto peeled = peel(btf_, member_type);
    if (!peeled) return make_unsupported(peeled.error().message);
    const struct btf_type* t = *peeled != 0 ? btf__type_by_id(btf_, *peeled) : nullptr;
    if (t == nullptr || !(btf_is_int(t) || btf_is_any_enum(t))) {
      return make_unsupported("bitfield of a type that is neither int nor enum");
    }
    const uint128_t raw = load_bits(bytes.data(), bit_off, nbits);
    if (btf_is_any_enum(t)) return render_enum(btf_, t, raw, nbits);
    return int_from_bits(btf_, t, raw, nbits);
  }

  RenderedValue aggregate(uint32_t id, const struct btf_type* t, Bytes bytes, uint32_t depth) {
    const char* type_name = name_of(btf_, t->name_off);
    const uint64_t size = t->size;
    Bytes own = bytes.first(std::min<uint64_t>(bytes.size(), size));
    if (btf_is_struct(t) && is_cpumask_name(type_name)) {
      if (auto mask = cpumask(id, own, size)) return *mask;
    }
    const uint32_t inner = child_depth(depth, bytes.size() < size);
    std::vector<RenderedMember> members;
    const struct btf_member* m = btf_members(t);
    const uint16_t vlen = btf_vlen(t);
    members.reserve(vlen);
    for (uint16_t i = 0; i < vlen; ++i, ++m) {
      const uint32_t bit_off = btf_member_bit_offset(t, i);
      const uint32_t nbits = btf_member_bitfield_size(t, i);
      std::string name = name_of(btf_, m->name_off);
      if (nbits != 0) {
        if (nbits > 128) {
          members.push_back({std::move(name), make_unsupported("bitfield wider than 128 bits")});
          continue;
        }
        if ((static_cast<uint64_t>(bit_off) + nbits + 7) / 8 > own.size()) break;
        members.push_back({std::move(name), bitfield(m->type, own, bit_off, nbits)});
        continue;
      }
      if (bit_off % 8 != 0) {
        members.push_back({std::move(name), make_unsupported("member not byte-aligned")});
        continue;
      }
      const uint64_t off = bit_off / 8;
      if (off > own.size() || (off == own.size() && off < size)) break;
      const uint64_t msize = type_size(btf_, m->type).value_or(0);
      const uint64_t avail = own.size() - off;
      members.push_back(
          {std::move(name), value(m->type, own.subspan(off, std::min(avail, msize)), inner)});
      if (msize > avail) break;  // this member was cut short; later ones too
    }
    RenderedValue out = make_struct(type_name[0] != '\0' ? std::optional<std::string>(type_name)
                                                         : std::nullopt,
                                    std::move(members));
    if (bytes.size() < size) return make_truncated(size, bytes.size(), std::move(out));
    return out;
  }

  // cpumask-like structs: locate the bit array (directly, or inside a
  // nested cpumask-like member) and list the set bits.
  std::optional<RenderedValue> cpumask(uint32_t id, Bytes own, uint64_t size) {
    auto bits = find_cpumask_bits(btf_, id, 0);
    if (!bits) return std::nullopt;
    const auto [off, len] = *bits;
    if (off + len > size) return std::nullopt;
    if (off + len > own.size()) {
      // The CPUs whose bits did arrive (none when the cut is before them).
      const Bytes have = own.size() > off ? own.subspan(off) : Bytes{};
      return make_truncated(size, own.size(), make_cpu_list(cpu_list_from_bitmap(have)));
    }
    return make_cpu_list(cpu_list_from_bitmap(own.subspan(off, len)));
  }

  RenderedValue array(const struct btf_type* t, Bytes bytes, uint32_t depth) {
    const struct btf_array* info = btf_array(t);
    auto elem_size = type_size(btf_, info->type);
    if (!elem_size) return make_unsupported("array element: " + elem_size.error().message);
    const uint64_t nelems = info->nelems;
    const uint64_t total = nelems * *elem_size;  // bounded by type_size of elements
    if (*elem_size != 0 && total / *elem_size != nelems) {
      return make_unsupported("array size overflows 64 bits");
    }
    const uint64_t fit = *elem_size == 0 ? nelems : bytes.size() / *elem_size;
    const uint64_t keep = std::min({nelems, opt_.max_array_elements, fit});
    const uint32_t inner = child_depth(depth, bytes.size() < total);
    std::vector<RenderedValue> elements;
    elements.reserve(keep);
    for (uint64_t i = 0; i < keep; ++i) {
      elements.push_back(value(info->type, bytes.subspan(i * *elem_size, *elem_size), inner));
    }
    RenderedValue out = make_array(nelems, std::move(elements));
    if (is_char_type(btf_, info->type)) {
      const uint64_t avail = std::min<uint64_t>(bytes.size(), total);
      out.text = text_until_nul(bytes.first(avail));
    }
    if (bytes.size() < total) return make_truncated(total, bytes.size(), std::move(out));
    return out;
  }

  RenderedValue datasec(const struct btf_type* t, Bytes bytes, uint32_t depth) {
    std::vector<RenderedMember> members;
    const struct btf_var_secinfo* v = btf_var_secinfos(t);
    const uint16_t vlen = btf_vlen(t);
    uint64_t needed = t->size;
    for (uint16_t i = 0; i < vlen; ++i) {
      needed = std::max(needed, static_cast<uint64_t>(v[i].offset) + v[i].size);
    }
    const uint32_t inner = child_depth(depth, bytes.size() < needed);
    bool cut = false;
    for (uint16_t i = 0; i < vlen; ++i, ++v) {
      if (cut) continue;
      std::string name;
      if (valid_type_id(btf_, v->type) && v->type != 0) {
        name = name_of(btf_, btf__type_by_id(btf_, v->type)->name_off);
      }
      if (v->offset > bytes.size()) {
        cut = true;
        continue;
      }
      const uint64_t avail = std::min<uint64_t>(v->size, bytes.size() - v->offset);
      members.push_back({std::move(name), value(v->type, bytes.subspan(v->offset, avail), inner)});
      if (avail < v->size) cut = true;
    }
    RenderedValue out = make_struct(std::string(name_of(btf_, t->name_off)), std::move(members));
    if (bytes.size() < needed) return make_truncated(needed, bytes.size(), std::move(out));
    return out;
  }

  const struct ::btf* btf_;
  const RenderOptions& opt_;
  // Pointers being dereferenced right now: (address, pointee type).
  std::vector<std::pair<uint64_t, uint32_t>> chain_;
};

}  // namespace

RenderedValue render(const struct ::btf* btf, uint32_t type_id, std::span<const uint8_t> bytes,
                     const RenderOptions& options) {
  if (btf == nullptr) return make_unsupported("no BTF");
  if (btf__endianness(btf) != BTF_LITTLE_ENDIAN) {
    return make_unsupported("big-endian BTF is not rendered");
  }
  if (!valid_type_id(btf, type_id)) {
    return make_unsupported(id_text(type_id) + " out of range (BTF has " +
                            std::to_string(btf__type_cnt(btf)) + " types)");
  }
  Renderer renderer(btf, options);
  return renderer.value(type_id, bytes, 0);
}

RenderedValue render(const Btf& btf, uint32_t type_id, std::span<const uint8_t> bytes,
                     const RenderOptions& options) {
  return render(btf.get(), type_id, bytes, options);
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
  const uint64_t stride = percpu_stride(*size);
  out.reserve(nr_cpus);
  for (uint64_t cpu = 0; cpu < nr_cpus; ++cpu) {
    const uint64_t off = cpu * stride;  // < 2^32 * 2^33: cannot overflow
    if (stride == 0 || off >= blob.size()) {
      if (*size == 0) {
        out.push_back(render(btf, type_id, {}, options));
      } else {
        out.push_back(make_truncated(*size, 0, make_bytes("")));
      }
      continue;
    }
    const uint64_t avail = std::min<uint64_t>(*size, blob.size() - off);
    out.push_back(render(btf, type_id, blob.subspan(off, avail), options));
  }
  return out;
}

}  // namespace ktest::btf
