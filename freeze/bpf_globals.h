// WatchSnapshot targets that are global variables of loaded BPF objects,
// and how a `symbol:` chooses between them and kernel symbols.
//
// Contract:
// - collect_bpf_globals() walks `map_idr` (as read_bpf_maps does) and, for
//   every ARRAY map named like a libbpf global section ("<obj>.bss",
//   "<obj>.data", "<obj>.rodata", "<obj>.kconfig", ".data.<x>",
//   ".rodata.<x>"), reads the map's BTF and lists the variables of its
//   value type, a DATASEC: name, offset, size, and the guest address
//   map kva + bpf_array.value + offset. The object is the map name's prefix
//   before the first '.' ("ktest_sc" for "ktest_sc.bss"); an unprefixed
//   ".data.<x>" map takes the prefix of a map sharing its struct btf.
// - Guest data is hostile: a map whose value type is not a DATASEC, whose
//   BTF cannot be read, or whose variables lie outside the map's value
//   (offset + size > value_size) is left out whole and described in
//   `problems`; a map that is not a global section is never read. At most
//   kMaxMaps maps and kMaxBpfGlobals variables are listed: the maps past
//   them are left out, said in `problems`.
// - resolve_watch_symbol() decides, in this order:
//     1. a name without a '.' that kallsyms has is that kernel symbol (the
//        BPF globals are not read at all);
//     2. otherwise the BPF globals: "var" matches a variable of that name in
//        any object, "obj.var" one in object `obj`; exactly one must match
//        (several: an ambiguity error listing the `obj.var` candidates);
//     3. otherwise kallsyms again (dotted kernel names: "foo.isra.0");
//     4. otherwise an unknown-symbol error, with the nearest BPF global
//        name as a suggestion.
//   The watch (len 1, 2, 4 or 8) starts at the symbol and must be
//   naturally aligned; on a BPF global it must also fit in the variable.
//   Every error says what was asked, why it cannot be done and how to fix
//   it; a BPF-globals walk that failed is named in the errors it affects.
// - BpfGlobalResolver takes the vmlinux BTF and KernelLayout from the run's
//   shared Vmlinux (freeze/vmlinux.h: loaded once by the session); without
//   one (nullptr) every collect() fails with the reason it was given. It
//   reads the globals only with every vCPU paused (pause_all(), resume()
//   after, also on failure).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "btf/btf.h"
#include "freeze/bpf_maps.h"
#include "freeze/guest_kernel.h"
#include "kvm/control_protocol.h"
#include "kvm/machine.h"
#include "util/result.h"

namespace ktest::freeze {

inline constexpr std::size_t kMaxBpfGlobals = 65536;

struct BpfGlobal {
  std::string object;   // "ktest_sc"; "" when no map of the object names it
  std::string name;     // the variable
  std::string map;      // "ktest_sc.bss"
  uint64_t map_kva = 0;
  uint32_t offset = 0;  // in the map's value (the section)
  uint32_t size = 0;
  uint64_t address = 0;
  // "obj.var", or "var" when the object is unknown.
  std::string qualified() const;
};

struct BpfGlobals {
  std::vector<BpfGlobal> vars;        // in map_idr order, then section order
  std::vector<std::string> problems;  // one line per map left out
};

// Fails only when map_idr itself cannot be walked (a node cycle, unreadable).
Result<BpfGlobals> collect_bpf_globals(GuestKernel& kernel, const KernelLayout& layout,
                                       const btf::Btf& vmlinux);

// What a WatchSnapshot symbol resolved to.
struct WatchTarget {
  uint64_t address = 0;
  // "kernel symbol jiffies" or "BPF global ktest_sc.nr_enqueued
  // (ktest_sc.bss+0x8, 8 bytes)".
  std::string description;
  std::optional<BpfGlobal> global;  // set for a BPF global
};

// Reads the BPF globals when resolve_watch_symbol needs them; an empty
// function means they cannot be read in this run.
using BpfGlobalsSource = std::function<Result<BpfGlobals>()>;

Result<WatchTarget> resolve_watch_symbol(std::string_view symbol, uint32_t len,
                                         const kvm::control::SymbolTable& kallsyms,
                                         const BpfGlobalsSource& globals);

struct Vmlinux;  // freeze/vmlinux.h

class BpfGlobalResolver {
 public:
  // `unavailable`: why there is no `vmlinux` (used only when it is nullptr).
  BpfGlobalResolver(std::shared_ptr<const Vmlinux> vmlinux, std::string unavailable);

  // The globals of `machine`, read with every vCPU paused; `kallsyms` are
  // the guest's (map_idr, page_offset_base, ...).
  Result<BpfGlobals> collect(kvm::Machine& machine, const kvm::control::SymbolTable& kallsyms);
  // resolve_watch_symbol over collect(), which runs only when needed.
  Result<WatchTarget> resolve(kvm::Machine& machine, std::string_view symbol, uint32_t len,
                              const kvm::control::SymbolTable& kallsyms);

 private:
  std::shared_ptr<const Vmlinux> vmlinux_;
  std::string unavailable_;
};

}  // namespace ktest::freeze
