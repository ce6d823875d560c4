// The QEMU command line of a ktest guest (engine-internal, pure).
//
// Contract: qemu_arguments() builds argv for qemu-system-x86_64 from a
// MachineConfig and the host resources the engine created: a microvm with
// PCIe (q35 when NUMA nodes are asked for: only it has an ACPI SRAT), the
// CPU topology in -smp, guest RAM from inherited memfds (/proc/self/fd/N,
// share=on; one per NUMA node, else one, laid out from GPA 0 in order, so
// the engine maps them back to back and sees guest memory at offset ==
// GPA), the serial console on stdout, QMP/gdbstub/control/ivshmem sockets
// in socket_dir, started paused (-S) so the engine connects before the
// guest runs. The ivshmem doorbell and the virtio-serial control port are
// PCI devices on the root bus of either machine type.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kvm/machine.h"

namespace ktest::kvm {

struct QemuLaunch {
  std::string socket_dir;  // short path: UNIX socket paths are limited to 107 bytes
  // memfds inherited by QEMU: one per MachineConfig::numa node (sized as
  // the node), or one of memory_mib MiB when there are no nodes.
  std::vector<int> ram_fds;
  bool use_kvm = false;
  // TCG: the host's TSC frequency (host_tsc_khz()), the rate the guest's
  // TSC counts at; nullopt: unknown, the guest calibrates its own.
  std::optional<uint32_t> tsc_khz;
};

// probe_kvm().usable() (kvm/qemu/host_check.h): /dev/kvm opens read-write,
// is KVM and is backed by hardware virtualization, not merely present.
bool kvm_usable();
bool resolve_use_kvm(Accel accel);

std::string kernel_cmdline(const MachineConfig& config, const QemuLaunch& launch);
// The machine type, CPU model and accelerator QEMU is started with (MachineInfo).
MachineInfo machine_info(const MachineConfig& config, bool use_kvm);
// "" when the topology and NUMA nodes are consistent with cpus/memory_mib,
// else what is wrong (the scenario loader reports these with locations;
// this guards the engine against other callers).
std::string check_shape(const MachineConfig& config);
std::vector<std::string> qemu_arguments(const MachineConfig& config, const QemuLaunch& launch);

// The socket names inside socket_dir.
inline constexpr const char* kQmpSocket = "qmp.sock";
inline constexpr const char* kGdbSocket = "gdb.sock";
inline constexpr const char* kControlSocket = "ctl.sock";
inline constexpr const char* kIvshmemSocket = "ivshmem.sock";
inline constexpr const char* kControlPortName = "ktest.ctl";
inline constexpr const char* kTerminalSocket = "term.sock";
inline constexpr const char* kTerminalPortName = "ktest.term";

}  // namespace ktest::kvm
