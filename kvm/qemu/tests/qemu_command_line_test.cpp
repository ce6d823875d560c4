// The QEMU command line: machine type, topology, NUMA nodes and CPU model.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kvm/qemu/qemu_command_line.h"

using namespace ktest::kvm;

namespace {

// The value after the first (or n-th) occurrence of `flag`.
std::string after(const std::vector<std::string>& args, const std::string& flag, int nth = 0) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag && nth-- == 0) return args[i + 1];
  return "<none>";
}

std::size_t count(const std::vector<std::string>& args, const std::string& flag) {
  return static_cast<std::size_t>(std::count(args.begin(), args.end(), flag));
}

MachineConfig eight_cpus_two_nodes() {
  MachineConfig c;
  c.cpus = 8;
  c.memory_mib = 512;
  c.topology = CpuTopology{2, 2, 2};
  c.numa = {NumaNode{{0, 1, 2, 3}, 256}, NumaNode{{4, 5, 6, 7}, 256}};
  return c;
}

}  // namespace

TEST_CASE("no NUMA: microvm with one RAM backend; the engine default CPU model per accelerator") {
  MachineConfig c;
  c.cpus = 4;
  auto args = qemu_arguments(c, QemuLaunch{"/tmp/s", {7}, false, std::nullopt});
  CHECK(after(args, "-M") == "microvm,pcie=on,memory-backend=ram");
  CHECK(after(args, "-object") == "memory-backend-file,id=ram,size=512M,mem-path=/proc/self/fd/7,share=on");
  CHECK(after(args, "-smp") == "4");
  CHECK(after(args, "-cpu") == "qemu64");
  CHECK(count(args, "-numa") == 0);
  CHECK(machine_info(c, true).cpu_model == "host");
  CHECK(machine_info(c, true).accel == "kvm");
  c.cpu_model = "Skylake-Client,-xsaves";
  CHECK(after(qemu_arguments(c, QemuLaunch{"/tmp/s", {7}, true, std::nullopt}), "-cpu") == "Skylake-Client,-xsaves");
}

TEST_CASE("a topology goes into -smp and stays on microvm") {
  MachineConfig c;
  c.cpus = 8;
  c.topology = CpuTopology{2, 2, 2};
  CHECK(check_shape(c).empty());
  auto args = qemu_arguments(c, QemuLaunch{"/tmp/s", {3}, false, std::nullopt});
  CHECK(after(args, "-smp") == "8,sockets=2,cores=2,threads=2");
  CHECK(machine_info(c, false).machine == "microvm");
  c.topology = CpuTopology{2, 2, 1};
  CHECK(check_shape(c) == "topology 2 sockets x 2 cores x 1 threads is 4 cpus, not 8");
}

TEST_CASE("NUMA nodes: q35, one backend per node in order, cpus ranges per node") {
  MachineConfig c = eight_cpus_two_nodes();
  c.numa[1].cpus = {4, 5, 6, 7};
  CHECK(check_shape(c).empty());
  auto args = qemu_arguments(c, QemuLaunch{"/tmp/s", {10, 11}, false, std::nullopt});
  CHECK(after(args, "-M") == "q35");
  CHECK(after(args, "-object", 0) == "memory-backend-file,id=ram0,size=256M,mem-path=/proc/self/fd/10,share=on");
  CHECK(after(args, "-object", 1) == "memory-backend-file,id=ram1,size=256M,mem-path=/proc/self/fd/11,share=on");
  CHECK(after(args, "-numa", 0) == "node,nodeid=0,memdev=ram0,cpus=0-3");
  CHECK(after(args, "-numa", 1) == "node,nodeid=1,memdev=ram1,cpus=4-7");
  CHECK(machine_info(c, false).machine == "q35");
  // Devices the engine needs are on either machine type.
  CHECK(count(args, "ivshmem-doorbell,chardev=ivsh,vectors=1") == 1);
  CHECK(count(args, "virtio-serial-pci,id=vser") == 1);

  c.numa = {NumaNode{{0, 2, 4, 6}, 256}, NumaNode{{1, 3, 5, 7}, 256}};
  args = qemu_arguments(c, QemuLaunch{"/tmp/s", {10, 11}, false, std::nullopt});
  CHECK(after(args, "-numa", 0) == "node,nodeid=0,memdev=ram0,cpus=0,cpus=2,cpus=4,cpus=6");
}

TEST_CASE("inconsistent NUMA nodes are named") {
  MachineConfig c = eight_cpus_two_nodes();
  c.numa[1].memory_mib = 128;
  CHECK(check_shape(c) == "the NUMA nodes hold 384 MiB, the guest 512 MiB");
  c = eight_cpus_two_nodes();
  c.numa[1].cpus = {3, 4, 5, 6, 7};
  CHECK(check_shape(c) == "cpu 3 is in two NUMA nodes");
  c = eight_cpus_two_nodes();
  c.numa[1].cpus = {4, 5, 6};
  CHECK(check_shape(c) == "cpu 7 is in no NUMA node");
  c.numa[1].cpus = {4, 5, 6, 7, 8};
  CHECK(check_shape(c) == "NUMA node 1 names cpu 8 of 8");
}

TEST_CASE("CPU model names: model tokens and features pass, anything else does not") {
  for (const char* ok : {"qemu64", "host", "max", "Skylake-Client-v4", "EPYC", "host,-xsaves",
                         "qemu64,+topoext,pmu=off", "kvm64,level=0xd"})
    CHECK_MESSAGE(valid_cpu_model(ok), ok);
  for (const char* bad : {"", "-cpu", "qemu64,", "qemu64 -smp 1", "host;rm", ",host", "a,,b", "a,+",
                          "a,b=", "$(x)", "qemu64\n"})
    CHECK_MESSAGE(!valid_cpu_model(bad), bad);
  CHECK(!valid_cpu_model(std::string(129, 'a')));
}
