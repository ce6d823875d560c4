// What a guest kernel's configuration must have for ktest, and why.
#include <filesystem>
#include <fstream>
#include <map>

#include "kvm/kernel/kernel.h"
#include "util/atomic_file.h"

namespace ktest::kvm {

namespace {

struct Requirement {
  const char* option;
  const char* why;
};

// Everything is needed built in (=y): the initramfs carries no modules.
constexpr Requirement kRequirements[] = {
    {"CONFIG_64BIT", "ktest boots x86-64 guests"},
    {"CONFIG_SMP", "scenarios run workloads on several vCPUs"},
    {"CONFIG_BPF_SYSCALL", "schedulers and probes are loaded through the bpf() syscall"},
    {"CONFIG_BPF_JIT", "sched_ext struct_ops programs need the BPF JIT"},
    {"CONFIG_DEBUG_INFO_BTF",
     "the kernel's BTF drives CO-RE relocations and renders snapshots into typed values"},
    {"CONFIG_SCHED_CLASS_EXT", "sched_ext schedulers attach to this scheduling class"},
    {"CONFIG_KALLSYMS", "kernel symbols are resolved through kallsyms (Debian's vmlinux has no symbol table)"},
    {"CONFIG_KALLSYMS_ALL", "WatchSnapshot and globals need the addresses of data symbols too"},
    {"CONFIG_PVH", "QEMU boots the uncompressed vmlinux directly through its PVH entry point"},
    {"CONFIG_BLK_DEV_INITRD", "the guest's root filesystem is ktest's initramfs"},
    {"CONFIG_RD_ZSTD", "ktest's initramfs is zstd-compressed"},
    {"CONFIG_DEVTMPFS", "/dev is populated by devtmpfs in the guest"},
    {"CONFIG_BINFMT_ELF", "the guest agent and workloads are ELF executables"},
    {"CONFIG_BINFMT_SCRIPT", "/init and scenario commands may be #! scripts"},
    {"CONFIG_PROC_FS", "the agent finds tasks and CPUs through /proc"},
    {"CONFIG_SYSFS", "the agent finds PCI devices and sched_ext state through /sys"},
    {"CONFIG_TTY", "the serial console is a tty"},
    {"CONFIG_SERIAL_8250", "the microvm's serial port is an 8250 UART"},
    {"CONFIG_SERIAL_8250_CONSOLE", "boot messages and panics go to console=ttyS0"},
    {"CONFIG_PCI", "ktest's devices (virtio-serial, ivshmem doorbell) sit on the microvm's PCIe bus"},
    {"CONFIG_VIRTIO_PCI", "the agent's virtio-serial channel is a virtio PCI device"},
    {"CONFIG_VIRTIO_CONSOLE", "the host talks to the guest agent over virtio-serial"},
    {"CONFIG_DEVMEM", "the agent maps the ivshmem doorbell's PCI BAR through /dev/mem"},
};

// option -> value ("y", "m", a string...) or "not set".
std::map<std::string, std::string, std::less<>> parse_config(std::string_view text) {
  std::map<std::string, std::string, std::less<>> values;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.starts_with("CONFIG_")) {
      std::size_t eq = line.find('=');
      if (eq != std::string_view::npos) values[std::string(line.substr(0, eq))] = line.substr(eq + 1);
    } else if (line.starts_with("# CONFIG_") && line.ends_with(" is not set")) {
      values[std::string(line.substr(2, line.size() - 2 - 11))] = "not set";
    }
  }
  return values;
}

bool is_kernel_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(0x210, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  std::string_view bytes(head.data(), static_cast<std::size_t>(in.gcount()));
  return bytes.starts_with("\x7f" "ELF") || (bytes.size() > 0x206 && bytes.substr(0x202, 4) == "HdrS");
}

// The config that belongs to `path` (see check_kernel_config()).
Result<std::string> find_config(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(path);
  if (!fs::exists(p, ec)) return fail("no such file or directory: " + path, "", "check the path");
  fs::path dir = p;
  if (!fs::is_directory(p, ec)) {
    if (!is_kernel_image(path)) return path;  // a config file itself
    dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  }
  for (const char* name : {"config", ".config"}) {
    if (fs::is_regular_file(dir / name, ec)) return (dir / name).string();
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with("config-")) return entry.path().string();
  }
  return fail("no kernel config next to " + path, dir.string(),
              "put the kernel's .config beside it as 'config', or pass the config file itself");
}

}  // namespace

std::string ConfigProblem::to_string() const {
  return option + " is " + actual + ", ktest needs " + expected + ": " + why;
}

std::optional<std::string> config_value(std::string_view config_text, std::string_view option) {
  auto values = parse_config(config_text);
  auto it = values.find(option);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::vector<ConfigProblem> check_config_text(std::string_view config_text) {
  auto values = parse_config(config_text);
  std::vector<ConfigProblem> problems;
  for (const auto& req : kRequirements) {
    auto it = values.find(req.option);
    std::string actual = it == values.end() ? "absent" : it->second;
    if (actual == "y") continue;
    if (actual != "absent" && actual != "not set") actual = "=" + actual;
    problems.push_back({req.option, "=y", actual, req.why});
  }
  return problems;
}

Result<ConfigReport> check_kernel_config(const std::string& path) {
  KTEST_ASSIGN(std::string config_path, find_config(path));
  KTEST_ASSIGN(std::string text, read_file(config_path));
  if (text.find("CONFIG_") == std::string::npos) {
    return fail("this does not look like a kernel config (no CONFIG_ lines)", config_path,
                "pass a kernel directory, its .config, or a vmlinux/bzImage with 'config' beside it");
  }
  return ConfigReport{config_path, check_config_text(text)};
}

}  // namespace ktest::kvm
