// BTF renderer: (BTF, type id, bytes) -> RenderedValue tree.
//
// Contract: rendering is TOTAL. It never throws, never crashes, never
// reads outside `bytes`, and terminates on any BTF, corrupt ones included
// (ids are validated before lookup, every chain and recursion is bounded).
//   - Input shorter than the type gives `truncated` {needed, had, partial}
//     where partial holds what did decode: the struct members that fit, the
//     array elements that fit, or the raw bytes.
//   - Kinds that carry no value (func, func_proto, void) or exceed a bound
//     give `unsupported` with the reason; opaque types (fwd) and 16-byte
//     long doubles give `bytes`.
//   - ints up to 128 bits, bool, char; enum/enum64 (signed per BTF kflag,
//     variant empty when no name matches); structs and unions (anonymous
//     members have an empty name); bitfields (sign-extended when signed,
//     enum bitfields resolve their variant); arrays (multi-dimensional as
//     nested arrays; at most max_array_elements kept, `len` is the true
//     length; char arrays also get `text` up to the first NUL, invalid
//     UTF-8 replaced by U+FFFD); typedef/const/volatile/restrict/type_tag/
//     decl_tag/var are peeled (at most kMaxPeel links).
//   - Pointers keep the address. With a MemoryReader, non-null pointers to
//     sized types are read and rendered into `deref` up to max_deref_depth
//     levels; a pointer already being followed (a cycle) is cut. When a
//     reader was given but a deref was not done, deref_skipped_reason says
//     why (null, void/function/opaque pointee, depth, cycle, size, read
//     error). Without a reader pointers are left alone, with no reason.
//   - DATASEC renders as a struct named after the section, one member per
//     variable at its offset.
//   - cpumask-like structs (cpumask, bpf_cpumask, scx_bitmap, ...) render
//     as cpu_list ("0-2,5") from their bit array.
//   - Only little-endian BTF is rendered; big-endian gives unsupported.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "snapshot/rendered_value.h"
#include "util/result.h"

struct btf;

namespace ktest::btf {

class Btf;

// Reads guest (or any other) memory for pointer dereferences. The freeze
// layer implements it over a frozen guest; read() returns exactly `len`
// bytes or an Error (unmapped, out of range, ...). Implementations bound
// their own work; the renderer never asks for more than max_deref_bytes.
// read_into() fills exactly out.size() bytes; a reader that can do it
// without allocating overrides it (walks call it once per element).
class MemoryReader {
 public:
  virtual ~MemoryReader() = default;
  virtual Result<std::vector<uint8_t>> read(uint64_t address, std::size_t len) = 0;
  virtual Status read_into(uint64_t address, std::span<uint8_t> out) {
    KTEST_ASSIGN(std::vector<uint8_t> bytes, read(address, out.size()));
    if (bytes.size() != out.size()) return fail("a memory read returned the wrong number of bytes");
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return {};
  }
};

struct RenderOptions {
  MemoryReader* reader = nullptr;       // null: pointers are not followed
  uint32_t max_deref_depth = 2;         // pointer levels followed
  std::size_t max_deref_bytes = 64 * 1024;  // largest pointee read
  uint32_t max_depth = 64;              // levels of the value tree (a `truncated` wrapper counts)
  uint64_t max_array_elements = 4096;   // elements kept per array
};

// Links of typedef/modifier chains followed before giving up.
inline constexpr uint32_t kMaxPeel = 32;

RenderedValue render(const struct ::btf* btf, uint32_t type_id, std::span<const uint8_t> bytes,
                     const RenderOptions& options = {});
RenderedValue render(const Btf& btf, uint32_t type_id, std::span<const uint8_t> bytes,
                     const RenderOptions& options = {});

// Whether render() of `type_id` with a MemoryReader could read memory: the
// type holds a pointer (itself, or in a member, array element or DATASEC
// variable, through typedefs and modifiers). When false, render() gives the
// same tree with a reader or without, from `bytes` alone, so it can run
// later from a copy of them. Bounded like render(): an id out of range is
// false (it renders unsupported), nesting past max_depth or a cycle is true.
bool reads_memory(const Btf& btf, uint32_t type_id, const RenderOptions& options = {});

// Per-CPU map values: the kernel lays them out with a stride of
// round_up(value_size, 8). Renders `nr_cpus` values from `blob`; CPUs
// whose slot lies (partly) past the blob render as truncated.
uint64_t percpu_stride(uint64_t value_size);
std::vector<RenderedValue> render_percpu(const struct ::btf* btf, uint32_t type_id,
                                         std::span<const uint8_t> blob, uint32_t nr_cpus,
                                         const RenderOptions& options = {});

// Size in bytes of a type (peeling modifiers, bounded), or an Error for
// sizeless/corrupt types. Overflowing array sizes are errors.
Result<uint64_t> type_size(const struct ::btf* btf, uint32_t type_id);

// "0-2,5" from a little-endian bitmap (bit i of byte k is CPU 8k+i).
std::string cpu_list_from_bitmap(std::span<const uint8_t> bitmap);

}  // namespace ktest::btf
