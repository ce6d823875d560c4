// What a scenario's guest boots, decided and built before QEMU starts: the
// kernel (--kernel, else the scenario's kernel:, else the newest fetched)
// and the initramfs (the agent as /init, vm.tools with their libraries,
// busybox, the plan, vm.modules at their /lib/modules paths, the kernel's
// config for libbpf, vm.files), cached by content (kvm/initramfs).
#pragma once

#include <cstdint>
#include <string>

#include "cli/run/guest_plan.h"
#include "dsl/scenario.h"
#include "kvm/kernel/kernel.h"
#include "util/result.h"

namespace ktest::cli {

Result<kvm::KernelImage> resolve_guest_kernel(const dsl::Scenario& scenario, const std::string& kernel_flag);

// The cached initramfs' path; a missing agent or module is an error saying where.
Result<std::string> build_guest_initramfs(const GuestPlan& plan, const kvm::KernelImage& kernel,
                                          const std::string& agent_binary);

// CONFIG_HZ of the guest kernel (jiffies → ms in the scx section); 0 when unknown.
uint32_t read_kernel_hz(const kvm::KernelImage& kernel);

}  // namespace ktest::cli
