#include "cli/run/vm_shape.h"

#include <fmt/format.h>

namespace ktest::cli {
namespace {

std::string where(const dsl::Scenario& scenario, dsl::Location loc) {
  return fmt::format("{}:{}:{}", scenario.file, loc.line, loc.col);
}

}  // namespace

Result<VmShape> decide_vm_shape(const dsl::Scenario& scenario, const VmOverrides& overrides) {
  const dsl::VmConfig& vm = scenario.vm;
  VmShape shape;
  // The flag; else the scenario's value when it decided it (or ktest.toml
  // says nothing), which is the dsl's default when neither did; else ktest.toml's.
  auto pick = [](auto flag, bool decided, auto written, auto config) {
    return flag ? flag : decided || !config ? written : config;
  };
  shape.cpus = pick(overrides.cpus, vm.cpus_written, vm.cpus, overrides.config_cpus);
  uint64_t memory = pick(overrides.memory_bytes, vm.memory_written, vm.memory_bytes, overrides.config_memory_bytes);
  shape.memory_mib = static_cast<uint32_t>(memory >> 20);
  if (vm.topology) {
    if (shape.cpus != vm.cpus)
      return fail(fmt::format("--cpus {} contradicts the scenario's vm.topology, which is {} cpus", shape.cpus,
                              vm.cpus),
                  where(scenario, vm.topology->loc), "drop --cpus, or run a scenario without vm.topology");
    shape.topology = kvm::CpuTopology{vm.topology->sockets, vm.topology->cores, vm.topology->threads};
  }
  if (!vm.numa.empty()) {
    if (shape.cpus != vm.cpus || memory != vm.memory_bytes)
      return fail(fmt::format("--cpus/--memory ({} cpus, {} MiB) contradict the scenario's vm.numa "
                              "({} cpus, {} MiB)",
                              shape.cpus, shape.memory_mib, vm.cpus, vm.memory_bytes >> 20),
                  where(scenario, vm.numa.front().loc), "drop --cpus and --memory for this scenario");
    for (const auto& node : vm.numa)
      shape.numa.push_back(kvm::NumaNode{node.cpus, static_cast<uint32_t>(node.memory_bytes >> 20)});
  }
  if (!overrides.cpu_model.empty()) {
    shape.cpu_model = overrides.cpu_model;
    shape.cpu_model_source = "--cpu-model";
  } else if (vm.cpu_model) {
    shape.cpu_model = *vm.cpu_model;
    shape.cpu_model_source = "vm.cpu_model";
  } else if (!overrides.config_cpu_model.empty()) {
    shape.cpu_model = overrides.config_cpu_model;
    shape.cpu_model_source = "config file";
  } else {
    shape.cpu_model_source = "engine default";
  }
  return shape;
}

void apply_vm_shape(const VmShape& shape, kvm::MachineConfig& config) {
  config.cpus = shape.cpus;
  config.memory_mib = shape.memory_mib;
  config.topology = shape.topology;
  config.numa = shape.numa;
  config.cpu_model = shape.cpu_model;
}

}  // namespace ktest::cli
