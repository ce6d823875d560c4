// vm.topology, vm.numa and vm.cpu_model: the model they load into and
// every validation error, with golden line:col, message and hint.
#include <doctest/doctest.h>

#include "dsl/scenario.h"
#include "dsl/tests/diagnostics_of.h"

using namespace ktest::dsl;

namespace {

using test::errors_of;
using test::Lines;

const char* kTwoSockets =
    "vm:\n"
    "  cpus: 8\n"
    "  memory: 512M\n"
    "  topology: {sockets: 2, cores: 2, threads: 2}\n"
    "  numa:\n"
    "    - {cpus: \"0-3\", memory: 256M}\n"
    "    - {cpus: \"4-7\", memory: 256M}\n"
    "  cpu_model: qemu64\n";

}  // namespace

TEST_CASE("topology, numa and cpu_model load into VmConfig") {
  auto load = load_scenario_text(kTwoSockets, "t.yaml");
  REQUIRE(load.ok());
  const VmConfig& vm = load.scenario->vm;
  CHECK(vm.cpus == 8);
  REQUIRE(vm.topology);
  CHECK(vm.topology->sockets == 2);
  CHECK(vm.topology->cores == 2);
  CHECK(vm.topology->threads == 2);
  REQUIRE(vm.numa.size() == 2);
  CHECK(vm.numa[1].cpus == std::vector<uint32_t>{4, 5, 6, 7});
  CHECK(vm.numa[1].cpus_text == "4-7");
  CHECK(vm.numa[0].memory_bytes == 256ull << 20);
  CHECK(vm.cpu_model == "qemu64");
  CHECK(vm.cpu_model_loc.line == 8);

  // Unwritten cpus follow the topology, unwritten memory the nodes.
  load = load_scenario_text("vm:\n  topology: {sockets: 2, threads: 2}\n"
                            "  numa: [{cpus: \"0,2\", memory: 128M}, {cpus: \"1,3\", memory: 96M}]\n",
                            "t.yaml");
  REQUIRE(load.ok());
  CHECK(load.scenario->vm.cpus == 4);
  CHECK(load.scenario->vm.topology->cores == 1);
  CHECK(load.scenario->vm.memory_bytes == 224ull << 20);
  CHECK_FALSE(load.scenario->vm.cpu_model);
}

TEST_CASE("a topology must multiply out to vm.cpus") {
  CHECK(errors_of("vm: {cpus: 6, topology: {sockets: 2, cores: 2, threads: 2}}\n") ==
        Lines{"1:25: topology 2 sockets x 2 cores x 2 threads is 8 cpus, but vm.cpus is 6 | make sockets x "
              "cores x threads equal vm.cpus (or leave cpus out: it follows the topology)"});
  CHECK(errors_of("vm: {topology: {sockets: 2, cors: 4}}\n") ==
        Lines{"1:29: unknown key 'cors' in vm.topology | did you mean 'cores'?"});
  CHECK(errors_of("vm: {topology: {sockets: 0}}\n").size() == 1);
  CHECK(errors_of("vm: {topology: 8}\n").size() == 1);
}

TEST_CASE("numa cpu lists cover every cpu once and stay below vm.cpus") {
  CHECK(errors_of("vm:\n  cpus: 4\n  numa:\n    - {cpus: \"0-2\", memory: 256M}\n"
                  "    - {cpus: \"2-3\", memory: 256M}\n") ==
        Lines{"5:14: cpu 2 is already in NUMA node 0 | give each cpu to exactly one node"});
  CHECK(errors_of("vm:\n  cpus: 4\n  numa:\n    - {cpus: \"0\", memory: 256M}\n"
                  "    - {cpus: \"3\", memory: 256M}\n") ==
        Lines{"4:5: cpus 1,2 are in no NUMA node | the nodes' cpu lists must cover 0-3 exactly once"});
  CHECK(errors_of("vm:\n  cpus: 4\n  numa:\n    - {cpus: \"0-1\", memory: 256M}\n"
                  "    - {cpus: \"2-4\", memory: 256M}\n") ==
        Lines{"5:14: cpu 4 does not exist: the vm has 4 cpus | use cpus within 0-3, or raise vm.cpus"});
}

TEST_CASE("numa node memory sums to vm.memory") {
  CHECK(errors_of("vm:\n  cpus: 2\n  memory: 1G\n  numa:\n    - {cpus: \"0\", memory: 256M}\n"
                  "    - {cpus: \"1\", memory: 512M}\n") ==
        Lines{"3:11: vm.memory is 1G, but the NUMA nodes hold 256M + 512M = 768M | make the nodes' memory sum "
              "to vm.memory, or write memory: 768M (or leave it out)"});
  CHECK(errors_of("vm:\n  cpus: 2\n  numa:\n    - {cpus: \"0\", memory: 16M}\n    - {cpus: \"1\"}\n") ==
        Lines{"4:27: a NUMA node's memory must be a whole number of MiB, at least 32M, not 16M | use e.g. "
              "memory: 256M",
              "5:7: a vm.numa node needs 'memory' | write - {cpus: \"0-3\", memory: 256M}"});
  CHECK(errors_of("vm: {numa: []}\n") ==
        Lines{"1:12: 'numa' must be a non-empty list of nodes | write numa: [{cpus: \"0-3\", memory: 256M}, "
              "{cpus: \"4-7\", memory: 256M}]"});
}

namespace {

// `nodes` NUMA nodes of `memory` each, node i holding cpu i (vm.cpus and
// vm.memory follow from the nodes).
std::string numa_nodes(int nodes, const std::string& memory) {
  std::string yaml = "vm:\n  cpus: " + std::to_string(nodes) + "\n  numa:\n";
  for (int i = 0; i < nodes; ++i) yaml += "    - {cpus: \"" + std::to_string(i) + "\", memory: " + memory + "}\n";
  return yaml;
}

}  // namespace

TEST_CASE("numa: 64 nodes of 32M each are accepted; a 65th node or a node under 32M is refused") {
  auto load = load_scenario_text(numa_nodes(64, "32M"), "t.yaml");
  REQUIRE(load.ok());
  CHECK(load.scenario->vm.numa.size() == 64);
  CHECK(load.scenario->vm.numa[63].cpus == std::vector<uint32_t>{63});
  CHECK(load.scenario->vm.memory_bytes == 64ull * (32ull << 20));

  // A 65th node needs a 65th cpu, refused as well; the node count is said on its own.
  CHECK(errors_of(numa_nodes(65, "32M")) ==
        Lines{"2:9: 'cpus' is 65, outside 1..64 | use a number from 1 to 64",
              "4:5: 'numa' has 65 nodes, more than 64 | use fewer nodes"});
  CHECK(errors_of("vm:\n  cpus: 2\n  numa:\n    - {cpus: \"0\", memory: 31M}\n"
                  "    - {cpus: \"1\", memory: 32M}\n") ==
        Lines{"4:27: a NUMA node's memory must be a whole number of MiB, at least 32M, not 31M | use e.g. "
              "memory: 256M"});
}

TEST_CASE("cpu_model is a QEMU model token") {
  CHECK(errors_of("vm: {cpu_model: \"host,-xsaves\"}\n").empty());
  CHECK(errors_of("vm: {cpu_model: \"qemu64 -smp 64\"}\n") ==
        Lines{"1:17: 'cpu_model' 'qemu64 -smp 64' is not a QEMU CPU model name | write a name as "
              "`qemu-system-x86_64 -cpu help` lists it, e.g. qemu64 or host, optionally with features: "
              "host,-xsaves"});
}

TEST_CASE("vm.modules and vm.files load into VmConfig") {
  auto load = load_scenario_text(
      "vm:\n"
      "  modules: [kvm-amd, dummy]\n"
      "  files: [/usr/share/qemu, data/, {host: a.bin, guest: /opt/a.bin}]\n",
      "/s/t.yaml", "/s");
  REQUIRE(load.ok());
  const VmConfig& vm = load.scenario->vm;
  REQUIRE(vm.modules.size() == 2);
  CHECK(vm.modules[0].name == "kvm-amd");
  CHECK(vm.modules[1].loc.line == 2);
  REQUIRE(vm.files.size() == 3);
  CHECK(vm.files[0].host == "/usr/share/qemu");
  CHECK(vm.files[0].guest == "/usr/share/qemu");
  CHECK(vm.files[1].host == "/s/data");  // relative to the scenario; the trailing '/' dropped
  CHECK(vm.files[1].guest == "/s/data");
  CHECK(vm.files[2].host == "/s/a.bin");
  CHECK(vm.files[2].guest == "/opt/a.bin");
}

TEST_CASE("vm.modules and vm.files errors, with line:col and hint") {
  CHECK(errors_of("vm: {modules: kvm}\n") ==
        Lines{"1:15: 'modules' must be a list of kernel module names | write modules: [kvm-amd]"});
  CHECK(errors_of("vm: {modules: [kvm-amd, kvm_amd]}\n") ==
        Lines{"1:25: module 'kvm_amd' is listed twice (first at line 1) | delete one of them"});
  CHECK(errors_of("vm: {modules: [\"kvm amd\"]}\n") ==
        Lines{"1:16: 'kvm amd' is not a module name | write the name modprobe takes (letters, digits, '-' and "
              "'_'), e.g. modules: [kvm-amd]"});
  CHECK(errors_of("vm: {files: [/tmp/x]}\n") ==
        Lines{"1:14: '/tmp/x' would land in /tmp, which the guest mounts over at boot | give it another guest "
              "path: {host: /tmp/x, guest: /opt/x}"});
  CHECK(errors_of("vm: {files: [{host: /a, guest: rel}]}\n") ==
        Lines{"1:32: guest path 'rel' is not absolute | write where it goes, e.g. /opt/data"});
  CHECK(errors_of("vm: {files: [{host: /a, guest: /run}]}\n").size() == 1);
  CHECK(errors_of("vm: {files: [{host: /a}]}\n").size() == 1);  // guest is required
  auto twice = errors_of("vm: {files: [/a, {host: /b, guest: /a}]}\n");
  REQUIRE(twice.size() == 1);
  CHECK(twice[0] == "1:18: guest path '/a' is given twice (first at line 1) | delete one of them, or give one "
                    "another guest path");
  CHECK(errors_of("vm: {files: [/]}\n").size() == 1);
}
