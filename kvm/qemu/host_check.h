// What this host offers the QEMU engine: KVM and its flavour, QEMU and the
// devices ktest's guest needs, shared guest memory, free RAM.
//
// Contract:
// - probe_kvm() looks at /dev/kvm and the loaded KVM modules under `root`
//   ("" = the real filesystem; tests point it at a fake tree). KvmProbe::
//   usable() is the one rule for "use KVM": the device opens read-write,
//   answers KVM_GET_API_VERSION with 12, and is backed by hardware
//   virtualization (kvm_intel or kvm_amd). kvm_pvm (a paravirtual flavour
//   in some cloud VMs) runs only PVM-built guests, so it does not count.
// - probe_qemu() runs the QEMU binary (--version, -machine help, -device
//   help, each bounded by a timeout) and lists what ktest needs that is
//   missing: the microvm machine, ivshmem-doorbell, virtio-serial-pci and
//   virtserialport.
// - probe_shared_memory() creates a memfd of the guest's size, as the engine
//   does, and checks /dev/shm; probe_memory() reads MemAvailable.
// - host_tsc_khz() is the frequency of the host's TSC, which a TCG guest's
//   TSC counts at (QEMU reads the host's), measured once per process.
// None of them changes anything on the host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace ktest::kvm {

inline constexpr int kKvmApiVersion = 12;

struct KvmProbe {
  bool device_present = false;
  std::string module;        // "kvm_intel", "kvm_amd", "kvm_pvm" or "" (none loaded)
  int open_errno = 0;        // 0 when /dev/kvm opened read-write
  int api_version = -1;      // KVM_GET_API_VERSION; -1 when not asked (not opened / not KVM)
  std::string device_group;  // the group owning /dev/kvm ("" when unknown)
  bool user_in_group = false;
  bool is_root = false;

  bool hardware() const { return module == "kvm_intel" || module == "kvm_amd"; }
  bool usable() const {
    return device_present && open_errno == 0 && api_version == kKvmApiVersion && hardware();
  }
  // One line: "kvm_amd, /dev/kvm usable" / "absent: no /dev/kvm" / ...
  std::string describe() const;
  // How to make KVM usable, "" when it is or nothing on this host can help.
  std::string fix() const;
};
KvmProbe probe_kvm(const std::string& root = "");

struct QemuProbe {
  std::string binary;                 // as asked for
  std::string version;                // "7.2.22" ("" when it did not run)
  std::optional<Error> run_error;     // it could not be run at all
  std::vector<std::string> missing;   // "machine microvm", "device ivshmem-doorbell", ...
  bool ok() const { return !run_error && missing.empty(); }
};
QemuProbe probe_qemu(const std::string& binary);

// The QEMU version from `--version` output ("QEMU emulator version 7.2.22 (...)").
std::string parse_qemu_version(const std::string& text);
// Names from `-machine help` / `-device help` output: the first word of
// machine lines, the quoted name of device lines (name "virtio-serial-pci").
std::vector<std::string> parse_qemu_machines(const std::string& text);
std::vector<std::string> parse_qemu_devices(const std::string& text);

// A memfd of `bytes` (sized, not touched) and a writable /dev/shm.
Status probe_shared_memory(uint64_t bytes);
// MemAvailable from /proc/meminfo under `root`, in bytes.
Result<uint64_t> probe_available_memory(const std::string& root = "");

// The host's TSC in kHz, against CLOCK_MONOTONIC_RAW over 10 ms the first
// time (later calls return that); nullopt on a host that is not x86-64 or
// when no clean reading came in 10 tries.
std::optional<uint32_t> host_tsc_khz();

}  // namespace ktest::kvm
