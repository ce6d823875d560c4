// The guest machine's shape, decided once per scenario: vCPU count,
// memory, CPU topology, NUMA nodes and CPU model, from the command line,
// the scenario's vm: and ktest.toml. Everything that needs the vCPU count
// (the MachineConfig, the assertions' nr_cpus) reads it from here.
//
// Precedence: command line > scenario > ktest.toml > default.
// cpus and memory: --cpus/--memory, else what the scenario's vm: decided
// (vm.cpus/vm.memory, or its topology/numa), else ktest.toml's [vm]
// cpus/memory, else the dsl's defaults (dsl::VmConfig). cpu_model: --cpu-model, else
// vm.cpu_model, else ktest.toml's [vm] cpu_model, else "" (the engine
// picks: host under KVM, qemu64 under TCG; kvm/machine.h MachineInfo).
// A --cpus or --memory that contradicts the scenario's vm.topology or
// vm.numa is an error located at the scenario's key: the topology is the
// test's subject, so it is not silently reshaped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dsl/scenario.h"
#include "kvm/machine.h"
#include "util/result.h"

namespace ktest::cli {

struct VmOverrides {
  unsigned cpus = 0;               // --cpus; 0 = not given
  std::uint64_t memory_bytes = 0;  // --memory; 0 = not given
  std::string cpu_model;           // --cpu-model; "" = not given
  std::string config_cpu_model;    // ktest.toml [vm] cpu_model; "" = none
  unsigned config_cpus = 0;               // ktest.toml [vm] cpus; 0 = none
  std::uint64_t config_memory_bytes = 0;  // ktest.toml [vm] memory; 0 = none
};

struct VmShape {
  uint32_t cpus = 0;
  uint32_t memory_mib = 0;
  std::optional<kvm::CpuTopology> topology;
  std::vector<kvm::NumaNode> numa;
  std::string cpu_model;  // "" = engine default
  // Where the model came from, for the report: "--cpu-model", "vm.cpu_model",
  // "config file" (ktest.toml [vm]) or "engine default".
  std::string cpu_model_source;
};

Result<VmShape> decide_vm_shape(const dsl::Scenario& scenario, const VmOverrides& overrides);

// Copies the shape into the engine's config.
void apply_vm_shape(const VmShape& shape, kvm::MachineConfig& config);

}  // namespace ktest::cli
