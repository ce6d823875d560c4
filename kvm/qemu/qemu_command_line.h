// The QEMU command line of a ktest guest (engine-internal, pure).
//
// Contract: qemu_arguments() builds argv for qemu-system-x86_64 from a
// MachineConfig and the host resources the engine created: a microvm with
// PCIe, guest RAM from an inherited memfd (/proc/self/fd/N, share=on, so
// the engine's mapping sees guest memory at file offset == GPA), the serial
// console on stdout, QMP/gdbstub/control/ivshmem sockets in socket_dir,
// started paused (-S) so the engine connects before the guest runs.
#pragma once

#include <string>
#include <vector>

#include "kvm/machine.h"

namespace ktest::kvm {

struct QemuLaunch {
  std::string socket_dir;  // short path: UNIX socket paths are limited to 107 bytes
  int ram_fd = -1;         // memfd of memory_mib MiB, inherited by QEMU
  bool use_kvm = false;
};

// True when /dev/kvm opens read-write and is backed by hardware
// virtualization (kvm_intel / kvm_amd), not merely present.
bool kvm_usable();
bool resolve_use_kvm(Accel accel);

std::string kernel_cmdline(const MachineConfig& config, bool use_kvm);
std::vector<std::string> qemu_arguments(const MachineConfig& config, const QemuLaunch& launch);

// The socket names inside socket_dir.
inline constexpr const char* kQmpSocket = "qmp.sock";
inline constexpr const char* kGdbSocket = "gdb.sock";
inline constexpr const char* kControlSocket = "ctl.sock";
inline constexpr const char* kIvshmemSocket = "ivshmem.sock";
inline constexpr const char* kControlPortName = "ktest.ctl";

}  // namespace ktest::kvm
