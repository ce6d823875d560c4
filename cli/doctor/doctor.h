// `ktest doctor`: whether this machine can run ktest, and how to fix what
// is missing.
//
// Contract: gather_host_facts() probes the host (kvm/qemu/host_check.h,
// the kernel ktest would boot, its config and BTF); diagnose() turns the
// facts into checks and one verdict, without touching the host, so the
// rules are unit-tested. A check fails only when `ktest run` would fail:
// no KVM is a warning (TCG is used), unless the configuration asks for
// accel = kvm. The verdict, the exit code (0 runnable, 69 not) and both
// renderings come from the same DoctorReport.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/config.h"
#include "kvm/kernel/kernel.h"
#include "kvm/qemu/host_check.h"
#include "util/result.h"

namespace ktest::cli {

struct HostFacts {
  kvm::KvmProbe kvm;
  kvm::QemuProbe qemu;
  std::optional<kvm::KernelImage> kernel;   // the kernel `ktest run` would boot
  std::optional<Error> kernel_error;        // why there is none
  std::optional<kvm::ConfigReport> config;  // its config, when one was found
  std::optional<Error> config_error;
  std::optional<Error> btf_error;           // its vmlinux BTF cannot be found
  std::optional<Error> shared_memory_error;
  std::optional<uint64_t> available_memory;  // bytes; nullopt when unknown
};

HostFacts gather_host_facts(const Config& config, const std::string& qemu_binary);

enum class CheckLevel { Ok, Warn, Fail };
const char* check_level_name(CheckLevel level);  // "ok", "warn", "fail"

struct DoctorCheck {
  std::string name;    // "kvm", "qemu", "kernel", "kernel-config", "memfd", "memory"
  CheckLevel level = CheckLevel::Ok;
  std::string detail;  // what was found
  std::string fix;     // how to fix it; "" when nothing to do
};

struct DoctorReport {
  std::vector<DoctorCheck> checks;
  std::string accel;  // what `ktest run` would use: "kvm" or "tcg"
  bool runnable() const;
};

// QEMU's own overhead beside the guest's RAM, for the memory check.
inline constexpr uint64_t kQemuOverheadBytes = 256ull << 20;

DoctorReport diagnose(const HostFacts& facts, const Config& config);
std::string render_doctor_text(const DoctorReport& report);
std::string render_doctor_json(const DoctorReport& report);

}  // namespace ktest::cli
