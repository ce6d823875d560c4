#include "kvm/qemu/qemu_command_line.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

namespace ktest::kvm {

bool kvm_usable() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  // /dev/kvm can be a paravirtual flavour (kvm_pvm inside a cloud VM) that
  // only runs specially built guests; QEMU then aborts on -cpu host. A
  // hardware backend registers kvm_intel or kvm_amd (also when built in).
  return ::access("/sys/module/kvm_intel", F_OK) == 0 || ::access("/sys/module/kvm_amd", F_OK) == 0;
}

bool resolve_use_kvm(Accel accel) {
  switch (accel) {
    case Accel::Kvm: return true;
    case Accel::Tcg: return false;
    case Accel::Auto: break;
  }
  return kvm_usable();
}

std::string kernel_cmdline(const MachineConfig& config, bool use_kvm) {
  std::string line = "console=ttyS0 quiet panic=-1 nokaslr";
  // TCG's TSC calibration is unreliable; a fixed frequency keeps time sane.
  if (!use_kvm) line += " tsc_early_khz=2000000";
  if (!config.extra_cmdline.empty()) line += " " + config.extra_cmdline;
  return line;
}

std::vector<std::string> qemu_arguments(const MachineConfig& config, const QemuLaunch& launch) {
  const std::string& dir = launch.socket_dir;
  std::vector<std::string> args = {
      config.qemu_binary,
      "-M", "microvm,pcie=on,memory-backend=ram",
      // thread=single: multi-threaded TCG panics the guest now and then.
      "-accel", launch.use_kvm ? "kvm" : "tcg,thread=single",
      "-cpu", launch.use_kvm ? "host" : "qemu64",
      "-smp", std::to_string(config.cpus),
      "-m", fmt::format("{}M", config.memory_mib),
      "-object", fmt::format("memory-backend-file,id=ram,size={}M,mem-path=/proc/self/fd/{},share=on",
                             config.memory_mib, launch.ram_fd),
      "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-S",
      "-serial", "stdio",
      "-kernel", config.kernel_image,
      "-append", kernel_cmdline(config, launch.use_kvm),
      "-chardev", fmt::format("socket,id=qmp,path={}/{},server=on,wait=off", dir, kQmpSocket),
      "-mon", "chardev=qmp,mode=control",
      "-gdb", fmt::format("unix:{}/{},server=on,wait=off", dir, kGdbSocket),
      "-chardev", fmt::format("socket,id=ivsh,path={}/{}", dir, kIvshmemSocket),
      "-device", "ivshmem-doorbell,chardev=ivsh,vectors=1",
      "-device", "virtio-serial-pci,id=vser",
      "-chardev", fmt::format("socket,id=ctl,path={}/{},server=on,wait=off", dir, kControlSocket),
      "-device", fmt::format("virtserialport,bus=vser.0,chardev=ctl,name={}", kControlPortName),
  };
  if (!config.initrd.empty()) {
    args.push_back("-initrd");
    args.push_back(config.initrd);
  }
  return args;
}

}  // namespace ktest::kvm
