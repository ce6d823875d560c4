#include "kvm/qemu/host_check.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "util/subprocess.h"

namespace ktest::kvm {

namespace {

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// The module backing /dev/kvm. A hardware one wins over kvm_pvm when both
// are loaded, since /dev/kvm then belongs to the hardware backend.
std::string kvm_module(const std::string& root) {
  for (const char* m : {"kvm_intel", "kvm_amd", "kvm_pvm"})
    if (exists(root + "/sys/module/" + m)) return m;
  return "";
}

bool in_group(gid_t gid) {
  if (::getegid() == gid) return true;
  int n = ::getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  n = ::getgroups(n, groups.data());
  return n > 0 && std::find(groups.begin(), groups.begin() + n, gid) != groups.begin() + n;
}

std::string group_name(gid_t gid) {
  if (const group* g = ::getgrgid(gid)) return g->gr_name;
  return std::to_string(gid);
}

std::string errno_name(int err) { return std::strerror(err); }

}  // namespace

KvmProbe probe_kvm(const std::string& root) {
  KvmProbe p;
  p.is_root = ::geteuid() == 0;
  p.module = kvm_module(root);
  const std::string dev = root + "/dev/kvm";
  struct stat st{};
  if (::stat(dev.c_str(), &st) != 0) return p;
  p.device_present = true;
  p.device_group = group_name(st.st_gid);
  p.user_in_group = in_group(st.st_gid);
  int fd = ::open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    p.open_errno = errno;
    return p;
  }
  // Only a character device can be KVM; a stray file named kvm is not asked.
  if (S_ISCHR(st.st_mode)) p.api_version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  ::close(fd);
  return p;
}

std::string KvmProbe::describe() const {
  if (!device_present)
    return module.empty() ? "no /dev/kvm and no KVM module loaded" : "no /dev/kvm (" + module + " is loaded)";
  if (open_errno != 0) return "/dev/kvm cannot be opened read-write: " + errno_name(open_errno);
  if (api_version != kKvmApiVersion)
    return "/dev/kvm does not answer as KVM (API version " + std::to_string(api_version) + ", want " +
           std::to_string(kKvmApiVersion) + ")";
  if (module == "kvm_pvm")
    return "/dev/kvm is kvm_pvm, a paravirtual flavour that runs only PVM-built guests";
  if (!hardware()) return "/dev/kvm answers, but neither kvm_intel nor kvm_amd is loaded";
  return module + ": /dev/kvm is usable";
}

std::string KvmProbe::fix() const {
  if (usable()) return "";
  if (device_present && (open_errno == EACCES || open_errno == EPERM) && !is_root) {
    if (!user_in_group && !device_group.empty() && device_group != "root")
      return "add yourself to the " + device_group + " group: sudo usermod -aG " + device_group +
             " \"$USER\", then log in again";
    return "give this user read-write access to /dev/kvm (it is owned by group " + device_group + ")";
  }
  if (module == "kvm_pvm")
    return "this machine is itself a VM without nested virtualization; run on bare metal or a VM "
           "with nested KVM enabled";
  if (!device_present)
    return "enable virtualization (VT-x/AMD-V) in the firmware and load kvm_intel or kvm_amd "
           "(sudo modprobe kvm_intel, or kvm_amd); inside a cloud VM, enable nested virtualization";
  return "load kvm_intel or kvm_amd (sudo modprobe kvm_intel, or kvm_amd)";
}

std::string parse_qemu_version(const std::string& text) {
  static const std::regex re(R"(QEMU emulator version ([0-9]+\.[0-9]+(\.[0-9]+)?))");
  std::smatch m;
  return std::regex_search(text, m, re) ? m[1].str() : "";
}

std::vector<std::string> parse_qemu_machines(const std::string& text) {
  std::vector<std::string> names;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // "Supported machines are:"
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string first;
    if (words >> first) names.push_back(first);
  }
  return names;
}

std::vector<std::string> parse_qemu_devices(const std::string& text) {
  static const std::regex re(R"(^name \"([^\"]+)\")");
  std::vector<std::string> names;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, re)) names.push_back(m[1].str());
  return names;
}

QemuProbe probe_qemu(const std::string& binary) {
  QemuProbe p;
  p.binary = binary;
  ProcessOptions bounded;
  bounded.timeout = std::chrono::seconds(20);
  auto version = run_checked({binary, "--version"}, bounded);
  if (!version) {
    p.run_error = version.error();
    return p;
  }
  p.version = parse_qemu_version(version->out);
  auto machines = run_checked({binary, "-machine", "help"}, bounded);
  auto devices = run_checked({binary, "-device", "help"}, bounded);
  if (!machines || !devices) {
    p.run_error = machines ? devices.error() : machines.error();
    return p;
  }
  auto machine_names = parse_qemu_machines(machines->out);
  auto device_names = parse_qemu_devices(devices->out);
  auto has = [](const std::vector<std::string>& names, const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  if (!has(machine_names, "microvm")) p.missing.push_back("machine microvm");
  for (const char* d : {"ivshmem-doorbell", "virtio-serial-pci", "virtserialport"})
    if (!has(device_names, d)) p.missing.push_back(std::string("device ") + d);
  return p;
}

Status probe_shared_memory(uint64_t bytes) {
  int fd = ::memfd_create("ktest-doctor", MFD_CLOEXEC);
  if (fd < 0) return fail(std::string("memfd_create: ") + errno_name(errno), "",
                          "ktest needs memfd (Linux >= 3.17) to share guest RAM with QEMU");
  int rc = ::ftruncate(fd, static_cast<off_t>(bytes));
  int err = errno;
  ::close(fd);
  if (rc != 0)
    return fail("a memfd of " + std::to_string(bytes >> 20) + " MiB: " + errno_name(err), "",
                "check the memory limits of this session (ulimit -v, cgroup memory.max)");
  return {};
}

Result<uint64_t> probe_available_memory(const std::string& root) {
  std::ifstream in(root + "/proc/meminfo");
  if (!in) return fail(root + "/proc/meminfo cannot be read");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  return fail("no MemAvailable in " + root + "/proc/meminfo");
}

#if defined(__x86_64__)
namespace {

struct TscAt {
  int64_t ns = 0;
  uint64_t tsc = 0;
};

int64_t monotonic_raw_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// A TSC reading and the time it was taken, from two clock readings at most
// 2 µs apart around it (a preempted try is taken again).
std::optional<TscAt> tsc_at() {
  for (int i = 0; i < 10; ++i) {
    int64_t before = monotonic_raw_ns();
    uint64_t tsc = __rdtsc();
    int64_t after = monotonic_raw_ns();
    if (after - before <= 2000) return TscAt{before + (after - before) / 2, tsc};
  }
  return std::nullopt;
}

std::optional<uint32_t> measure_tsc_khz() {
  auto start = tsc_at();
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto end = tsc_at();
  if (!start || !end || end->ns <= start->ns || end->tsc <= start->tsc) return std::nullopt;
  double khz = static_cast<double>(end->tsc - start->tsc) * 1e6 / static_cast<double>(end->ns - start->ns);
  if (khz < 1e5 || khz > 1e8) return std::nullopt;  // 100 MHz .. 100 GHz: else not a TSC to trust
  return static_cast<uint32_t>(khz + 0.5);
}

}  // namespace

std::optional<uint32_t> host_tsc_khz() {
  static const std::optional<uint32_t> measured = measure_tsc_khz();
  return measured;
}
#else
std::optional<uint32_t> host_tsc_khz() { return std::nullopt; }
#endif

}  // namespace ktest::kvm
