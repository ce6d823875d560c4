// Internal to btf/: per-type render plans. Not part of the module's
// contract (see render.h, which they serve).
//
// A plan is what the renderer needs to know about one BTF type id: the
// kind after peeling typedefs and modifiers, sizes, the member layout and
// names. Working that out walks the BTF (peel chains, nested array sizes,
// name lookups); a plan does it once per type id and keeps the result, with
// the same bounds and the same error texts as doing it on every render.
// Plans hold no pointers into the BTF, only values, so a plan can never
// make the renderer read outside the BTF or the bytes it is handed.
//
// RenderPlans is thread-safe: lookups of built plans take no lock (one
// acquire load per level), building one takes a mutex. A Btf keeps one for
// its lifetime (Btf::render_plans()); render() on a bare struct btf makes a
// short-lived one.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "snapshot/optional_text.h"

struct btf;

namespace ktest::btf {

enum class PlanKind : uint8_t {
  Unsupported,  // reason says why (bad id, long chain, void, function, unknown kind)
  Int,
  Enum,
  Float,
  Ptr,
  Struct,  // struct or union
  Array,
  Datasec,
  Fwd,
};

struct MemberPlan {
  std::string name;   // empty for anonymous members
  uint32_t type = 0;  // the member's type id as written (rendered through its own plan)
  uint32_t bit_off = 0;
  uint32_t nbits = 0;  // bitfield width; 0 for plain members
  uint64_t size = 0;   // the member type's size; 0 when it has none
};

struct VarPlan {
  std::string name;
  uint32_t type = 0;
  uint32_t offset = 0;
  uint32_t size = 0;
};

struct TypePlan {
  PlanKind kind = PlanKind::Unsupported;
  uint32_t id = 0;          // the peeled type id (0: void or a failed peel)
  bool peel_failed = false;  // reason is peel()'s error
  // Unsupported: why. Int: set when the int cannot be rendered whole (bad
  // size or bit layout; bitfields of it still can). Enum: bad size. Array:
  // the element size error or the overflow.
  std::string reason;
  // Int/Enum/Float/Struct: t->size. Ptr: pointer size. Array: total size.
  // Datasec: the bytes its variables need.
  uint64_t size = 0;

  // Int: how its bits are shown (BTF encoding, and the name "char").
  bool int_bool = false;
  bool int_char = false;  // shown as a char when at most 8 bits are used
  bool int_signed = false;
  uint32_t int_off = 0;
  uint32_t int_bits = 0;

  OptionalText type_name;  // Struct (empty for anonymous); Datasec
  std::vector<MemberPlan> members;       // Struct
  // Struct named like a cpumask whose bit array was found within it.
  std::optional<std::pair<uint64_t, uint64_t>> cpumask_bits;

  uint32_t elem_type = 0;  // Array
  uint64_t elem_size = 0;
  uint64_t nelems = 0;
  bool char_elems = false;  // Array of char: also gets `text`

  std::vector<VarPlan> vars;  // Datasec
};

class RenderPlans {
 public:
  explicit RenderPlans(const struct ::btf* btf);
  ~RenderPlans();
  RenderPlans(const RenderPlans&) = delete;
  RenderPlans& operator=(const RenderPlans&) = delete;

  // The plan of `id`, built on first use; nullptr when `id` is out of range.
  const TypePlan* find(uint32_t id) {
    if (id >= count_) return nullptr;
    const Chunk* chunk = chunks_[id / kChunk].load(std::memory_order_acquire);
    if (chunk != nullptr) {
      if (const TypePlan* p = chunk->slots[id % kChunk].load(std::memory_order_acquire)) return p;
    }
    return build(id);
  }
  // Type ids covered (the BTF's type count when the plans were made).
  uint32_t type_count() const { return count_; }

 private:
  static constexpr uint32_t kChunk = 256;
  struct Chunk {
    std::atomic<const TypePlan*> slots[kChunk] = {};
  };

  const TypePlan* build(uint32_t id);
  const TypePlan* build_locked(uint32_t id);
  void make(TypePlan& plan, uint32_t id);
  void store(uint32_t id, const TypePlan* plan);

  const struct ::btf* btf_;
  uint32_t count_;
  std::unique_ptr<std::atomic<Chunk*>[]> chunks_;
  std::mutex mutex_;  // guards building, owned_ and owned_chunks_
  std::vector<std::unique_ptr<TypePlan>> owned_;
  std::vector<std::unique_ptr<Chunk>> owned_chunks_;
};

}  // namespace ktest::btf
