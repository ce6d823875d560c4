// The guest's shape: one decision for cpus, memory, topology, NUMA and
// CPU model, with command line > scenario > ktest.toml > engine default.
#include <doctest/doctest.h>

#include "cli/run/vm_shape.h"

using namespace ktest;
using namespace ktest::cli;

namespace {

dsl::Scenario load(const std::string& yaml) {
  auto loaded = dsl::load_scenario_text(yaml, "s.yaml");
  REQUIRE(loaded.ok());
  return *loaded.scenario;
}

const char* kNuma =
    "vm:\n"
    "  topology: {sockets: 2, cores: 2, threads: 2}\n"
    "  numa:\n"
    "    - {cpus: \"0-3\", memory: 256M}\n"
    "    - {cpus: \"4-7\", memory: 256M}\n";

}  // namespace

TEST_CASE("cpus and memory: the flag wins over the scenario") {
  auto s = load("vm: {cpus: 3, memory: 256M}\n");
  auto shape = decide_vm_shape(s, {});
  REQUIRE(shape.ok());
  CHECK(shape->cpus == 3);
  CHECK(shape->memory_mib == 256);
  CHECK_FALSE(shape->topology);
  shape = decide_vm_shape(s, VmOverrides{5, 1ull << 30, "", ""});
  REQUIRE(shape.ok());
  CHECK(shape->cpus == 5);
  CHECK(shape->memory_mib == 1024);
}

TEST_CASE("cpus and memory: ktest.toml's [vm] sizes a scenario that does not decide") {
  VmOverrides config_file;
  config_file.config_cpus = 4;
  config_file.config_memory_bytes = 1ull << 30;
  auto shape = decide_vm_shape(load("steps: [{Sleep: 1s}]\n"), config_file);
  REQUIRE(shape.ok());
  CHECK(shape->cpus == 4);
  CHECK(shape->memory_mib == 1024);
  // The scenario decides: its vm: wins over the file.
  shape = decide_vm_shape(load("vm: {cpus: 3, memory: 256M}\n"), config_file);
  REQUIRE(shape.ok());
  CHECK(shape->cpus == 3);
  CHECK(shape->memory_mib == 256);
  shape = decide_vm_shape(load(kNuma), config_file);  // topology and nodes decide both
  REQUIRE(shape.ok());
  CHECK(shape->cpus == 8);
  CHECK(shape->memory_mib == 512);
  // A flag wins over both.
  config_file.cpus = 2;
  shape = decide_vm_shape(load("vm: {cpus: 3}\n"), config_file);
  REQUIRE(shape.ok());
  CHECK(shape->cpus == 2);
  CHECK(shape->memory_mib == 1024);
  // Neither: the dsl's defaults.
  shape = decide_vm_shape(load("steps: [{Sleep: 1s}]\n"), {});
  REQUIRE(shape.ok());
  CHECK(shape->cpus == dsl::VmConfig{}.cpus);
  CHECK(shape->memory_mib == dsl::VmConfig{}.memory_bytes >> 20);
}

TEST_CASE("topology and NUMA nodes reach the machine; a contradicting flag is an error at the key") {
  auto s = load(kNuma);
  auto shape = decide_vm_shape(s, {});
  REQUIRE(shape.ok());
  CHECK(shape->cpus == 8);
  CHECK(shape->memory_mib == 512);
  REQUIRE(shape->topology);
  CHECK(shape->topology->threads == 2);
  REQUIRE(shape->numa.size() == 2);
  CHECK(shape->numa[1].cpus == std::vector<uint32_t>{4, 5, 6, 7});
  CHECK(shape->numa[1].memory_mib == 256);
  kvm::MachineConfig config;
  apply_vm_shape(*shape, config);
  CHECK(config.cpus == 8);
  CHECK(config.numa.size() == 2);

  auto bad = decide_vm_shape(s, VmOverrides{4, 0, "", ""});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message == "--cpus 4 contradicts the scenario's vm.topology, which is 8 cpus");
  CHECK(bad.error().location == "s.yaml:2:13");
  bad = decide_vm_shape(s, VmOverrides{0, 1ull << 30, "", ""});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().location == "s.yaml:4:7");
  CHECK(decide_vm_shape(s, VmOverrides{8, 512ull << 20, "", ""}).ok());  // agreeing flags are fine
}

TEST_CASE("cpu_model: --cpu-model > vm.cpu_model > ktest.toml > engine default") {
  auto plain = load("vm: {cpus: 2}\n");
  auto with_model = load("vm: {cpu_model: max}\n");
  auto shape = decide_vm_shape(plain, {});
  CHECK(shape->cpu_model.empty());
  CHECK(shape->cpu_model_source == "engine default");
  shape = decide_vm_shape(plain, VmOverrides{0, 0, "", "qemu64"});
  CHECK(shape->cpu_model == "qemu64");
  CHECK(shape->cpu_model_source == "config file");
  shape = decide_vm_shape(with_model, VmOverrides{0, 0, "", "qemu64"});
  CHECK(shape->cpu_model == "max");
  CHECK(shape->cpu_model_source == "vm.cpu_model");
  shape = decide_vm_shape(with_model, VmOverrides{0, 0, "host,-xsaves", "qemu64"});
  CHECK(shape->cpu_model == "host,-xsaves");
  CHECK(shape->cpu_model_source == "--cpu-model");
}
