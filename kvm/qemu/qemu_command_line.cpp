#include "kvm/qemu/qemu_command_line.h"

#include "kvm/qemu/host_check.h"

#include <fmt/format.h>

namespace ktest::kvm {

bool kvm_usable() { return probe_kvm().usable(); }

bool resolve_use_kvm(Accel accel) {
  switch (accel) {
    case Accel::Kvm: return true;
    case Accel::Tcg: return false;
    case Accel::Auto: break;
  }
  return kvm_usable();
}

std::string kernel_cmdline(const MachineConfig& config, const QemuLaunch& launch) {
  // panic=-1 resets at once after a panic, and -no-reboot turns the reset
  // into QEMU's exit. reboot=t resets by triple fault: with the kernel's
  // default order (the ACPI reset register first), about one panicked guest
  // in five under TCG (a scheduler attached, a CPU spinning) never reset.
  std::string line = "console=ttyS0 quiet panic=-1 reboot=t nokaslr";
  // Under TCG the guest's TSC counts at the host's rate, and the guest's own
  // calibration of it is unreliable: it is told the rate. (A fixed 2 GHz
  // made a guest on a 2.6 GHz host run its clock 1.3 times too fast.)
  if (!launch.use_kvm && launch.tsc_khz) line += fmt::format(" tsc_early_khz={}", *launch.tsc_khz);
  if (!config.extra_cmdline.empty()) line += " " + config.extra_cmdline;
  return line;
}

MachineInfo machine_info(const MachineConfig& config, bool use_kvm) {
  MachineInfo info;
  info.accel = use_kvm ? "kvm" : "tcg";
  info.cpu_model = !config.cpu_model.empty() ? config.cpu_model : use_kvm ? "host" : "qemu64";
  info.machine = config.numa.empty() ? "microvm" : "q35";
  return info;
}

std::string check_shape(const MachineConfig& config) {
  if (config.topology) {
    const CpuTopology& t = *config.topology;
    uint64_t product = uint64_t{t.sockets} * t.cores * t.threads;
    if (product != config.cpus)
      return fmt::format("topology {} sockets x {} cores x {} threads is {} cpus, not {}", t.sockets,
                         t.cores, t.threads, product, config.cpus);
  }
  if (config.numa.empty()) return "";
  std::vector<bool> seen(config.cpus, false);
  uint64_t memory = 0;
  for (std::size_t i = 0; i < config.numa.size(); ++i) {
    const NumaNode& node = config.numa[i];
    if (node.memory_mib == 0) return fmt::format("NUMA node {} has no memory", i);
    memory += node.memory_mib;
    for (uint32_t cpu : node.cpus) {
      if (cpu >= config.cpus) return fmt::format("NUMA node {} names cpu {} of {}", i, cpu, config.cpus);
      if (seen[cpu]) return fmt::format("cpu {} is in two NUMA nodes", cpu);
      seen[cpu] = true;
    }
  }
  for (uint32_t cpu = 0; cpu < config.cpus; ++cpu)
    if (!seen[cpu]) return fmt::format("cpu {} is in no NUMA node", cpu);
  if (memory != config.memory_mib)
    return fmt::format("the NUMA nodes hold {} MiB, the guest {} MiB", memory, config.memory_mib);
  return "";
}

namespace {

std::string smp_argument(const MachineConfig& config) {
  if (!config.topology) return std::to_string(config.cpus);
  const CpuTopology& t = *config.topology;
  return fmt::format("{},sockets={},cores={},threads={}", config.cpus, t.sockets, t.cores, t.threads);
}

// "0-3" style ranges for -numa node,cpus= (one cpus= per range).
std::vector<std::string> cpu_ranges(const std::vector<uint32_t>& cpus) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    out.push_back(i == j ? std::to_string(cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]));
    i = j + 1;
  }
  return out;
}

std::string ram_backend(const std::string& id, uint32_t mib, int fd) {
  return fmt::format("memory-backend-file,id={},size={}M,mem-path=/proc/self/fd/{},share=on", id, mib, fd);
}

// -M and the RAM backends: microvm with one backend, or q35 with one per node.
void add_machine_and_ram(const MachineConfig& config, const QemuLaunch& launch,
                         std::vector<std::string>& args) {
  if (config.numa.empty()) {
    args.insert(args.end(), {"-M", "microvm,pcie=on,memory-backend=ram", "-object",
                             ram_backend("ram", config.memory_mib, launch.ram_fds.at(0))});
    return;
  }
  args.insert(args.end(), {"-M", "q35"});
  for (std::size_t i = 0; i < config.numa.size(); ++i) {
    std::string id = fmt::format("ram{}", i);
    args.insert(args.end(), {"-object", ram_backend(id, config.numa[i].memory_mib, launch.ram_fds.at(i))});
    std::string node = fmt::format("node,nodeid={},memdev={}", i, id);
    for (const auto& range : cpu_ranges(config.numa[i].cpus)) node += ",cpus=" + range;
    args.insert(args.end(), {"-numa", node});
  }
}

}  // namespace

std::vector<std::string> qemu_arguments(const MachineConfig& config, const QemuLaunch& launch) {
  const std::string& dir = launch.socket_dir;
  MachineInfo info = machine_info(config, launch.use_kvm);
  std::vector<std::string> args = {config.qemu_binary};
  add_machine_and_ram(config, launch, args);
  args.insert(args.end(), {
      // thread=single: multi-threaded TCG panics the guest now and then.
      "-accel", launch.use_kvm ? "kvm" : "tcg,thread=single",
      "-cpu", info.cpu_model,
      "-smp", smp_argument(config),
      "-m", fmt::format("{}M", config.memory_mib),
      "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-S",
      "-serial", "stdio",
      "-kernel", config.kernel_image,
      "-append", kernel_cmdline(config, launch),
      "-chardev", fmt::format("socket,id=qmp,path={}/{},server=on,wait=off", dir, kQmpSocket),
      "-mon", "chardev=qmp,mode=control",
      "-gdb", fmt::format("unix:{}/{},server=on,wait=off", dir, kGdbSocket),
      "-chardev", fmt::format("socket,id=ivsh,path={}/{}", dir, kIvshmemSocket),
      "-device", "ivshmem-doorbell,chardev=ivsh,vectors=1",
      "-device", "virtio-serial-pci,id=vser",
      "-chardev", fmt::format("socket,id=ctl,path={}/{},server=on,wait=off", dir, kControlSocket),
      "-device", fmt::format("virtserialport,bus=vser.0,chardev=ctl,name={}", kControlPortName),
  });
  if (config.terminal) {
    // virtconsole, not virtserialport: the guest gets a tty (hvc0) with
    // job control and a window size, as a person's shell needs.
    args.insert(args.end(), {
        "-chardev", fmt::format("socket,id=term,path={}/{},server=on,wait=off", dir, kTerminalSocket),
        "-device", fmt::format("virtconsole,bus=vser.0,chardev=term,name={}", kTerminalPortName),
    });
  }
  if (!config.initrd.empty()) {
    args.push_back("-initrd");
    args.push_back(config.initrd);
  }
  return args;
}

}  // namespace ktest::kvm
