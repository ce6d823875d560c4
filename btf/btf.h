// BTF loading: owning handles over libbpf's struct btf.
//
// Contract: every loader returns a Btf that owns its struct btf (freed
// once, on destruction) or an Error naming the file and what went wrong
// (with a hint where one helps). A split Btf keeps its base alive for as
// long as it lives. A Btf from a BPF object (.bpf.o) carries the data
// section sizes and variable offsets libbpf fixes up when it opens the
// object, so DATASEC types render like the loaded program sees them.
// find_type() accepts a type name or a decimal id and checks ids against
// the type count; it never hands out an id btf__type_by_id would reject.
// A Btf also keeps the render plans of the types rendered through it
// (render_plan.h), shared by its copies; a Btf changed through get_mut()
// starts afresh, so change a Btf before rendering through its copies.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "util/result.h"

struct btf;

namespace ktest::btf {

class RenderPlans;  // render_plan.h (internal to btf/)

class Btf {
 public:
  // Whatever `path` is: a BPF object, an ELF with .BTF (vmlinux), or a
  // raw BTF blob (/sys/kernel/btf/*). Detected by the file's magic.
  static Result<Btf> load(const std::string& path);
  // A compiled BPF object (.bpf.o), opened through libbpf.
  static Result<Btf> from_object(const std::string& path);
  // An ELF file's .BTF section (vmlinux, modules, objects without fixups).
  static Result<Btf> from_elf(const std::string& path);
  // A raw BTF blob file.
  static Result<Btf> from_raw(const std::string& path);
  // A raw BTF blob in memory; `origin` names it in errors.
  static Result<Btf> from_bytes(std::span<const uint8_t> data, std::string_view origin);
  // The running kernel's BTF (/sys/kernel/btf/vmlinux).
  static Result<Btf> running_kernel();
  // Split BTF (a module's, or a blob built on vmlinux) on top of `base`.
  static Result<Btf> split_file(const std::string& path, const Btf& base);
  static Result<Btf> split_bytes(std::span<const uint8_t> data, const Btf& base,
                                 std::string_view origin);

  const struct ::btf* get() const { return handle_.get(); }
  struct ::btf* get_mut();
  // Where it was loaded from (for messages).
  const std::string& origin() const { return origin_; }
  // One past the last valid type id (ids start at 1; 0 is void).
  uint32_t type_count() const;
  // Name of a type, "" for anonymous ones or invalid ids.
  std::string type_name(uint32_t id) const;
  // A type by name (first match, any kind, preferring struct/union/
  // typedef/enum over others) or by decimal id. Errors suggest a close name.
  Result<uint32_t> find_type(std::string_view name_or_id) const;
  // The raw BTF blob (for handing on or dumping).
  std::span<const uint8_t> raw_data() const;
  // Per-type render plans for render(), built as types are rendered.
  RenderPlans& render_plans() const { return *plans_; }

 private:
  Btf(struct ::btf* handle, std::string origin, std::shared_ptr<struct ::btf> base = nullptr);

  // shared: copies share one handle (struct btf is immutable once loaded).
  std::shared_ptr<struct ::btf> handle_;
  std::shared_ptr<struct ::btf> base_;
  std::string origin_;
  std::shared_ptr<RenderPlans> plans_;
};

// True when `id` names an existing type (1 .. type_count()-1) or void (0).
bool valid_type_id(const struct ::btf* btf, uint32_t id);

}  // namespace ktest::btf
