// The guest kernel's vmlinux BTF and the kernel layouts read from it,
// loaded once per run and shared by everything in freeze/ that reads the
// guest: the bpf maps and sched_ext capture sections, the BPF-global
// resolver and the error trigger.
//
// Contract:
// - load_vmlinux() parses the BTF (an ELF's .BTF section) once and builds
//   KernelLayout and ScxLayout from it. A parse or KernelLayout failure is
//   an Error; a kernel without sched_ext still loads, with `scx` unset and
//   `scx_unavailable` saying why (only the sched_ext readers need it).
// - The result is immutable and shared (std::shared_ptr<const Vmlinux>);
//   the consumers take it with a reason string they report when it is
//   nullptr (kNoVmlinuxBtf when the kernel has no BTF at all).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "btf/btf.h"
#include "freeze/bpf_maps.h"
#include "freeze/scx_state.h"
#include "util/result.h"

namespace ktest::freeze {

// Why the consumers cannot work when the kernel has no vmlinux BTF.
inline constexpr const char* kNoVmlinuxBtf = "no vmlinux BTF for the guest kernel";

struct Vmlinux {
  btf::Btf btf;
  KernelLayout maps;
  std::optional<ScxLayout> scx;
  std::string scx_unavailable;  // why `scx` is unset ("" when it is set)
};

Result<std::shared_ptr<const Vmlinux>> load_vmlinux(const std::string& btf_path);

}  // namespace ktest::freeze
