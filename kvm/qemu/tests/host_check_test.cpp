#include <doctest/doctest.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include <cmath>

#include <filesystem>
#include <fstream>

#include "kvm/qemu/host_check.h"

using namespace ktest::kvm;
namespace fs = std::filesystem;

namespace {

// A fake root with the given modules, and /dev/kvm as a plain file when asked.
struct FakeRoot {
  fs::path dir;
  explicit FakeRoot(std::initializer_list<const char*> modules, bool device = false) {
    dir = fs::temp_directory_path() / ("ktest_host_check_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    for (const char* m : modules) fs::create_directories(dir / "sys/module" / m);
    fs::create_directories(dir / "dev");
    fs::create_directories(dir / "proc");
    if (device) std::ofstream(dir / "dev/kvm") << "";
  }
  ~FakeRoot() { fs::remove_all(dir); }
  std::string root() const { return dir.string(); }
};

}  // namespace

TEST_CASE("no /dev/kvm: not usable, and the fix names the modules to load") {
  FakeRoot host({"kvm_amd"});
  KvmProbe p = probe_kvm(host.root());
  CHECK_FALSE(p.device_present);
  CHECK(p.module == "kvm_amd");
  CHECK_FALSE(p.usable());
  CHECK(p.describe() == "no /dev/kvm (kvm_amd is loaded)");
  CHECK(p.fix().find("modprobe") != std::string::npos);
}

TEST_CASE("a /dev/kvm that is not a KVM device is not asked and not usable") {
  FakeRoot host({"kvm_intel"}, true);
  KvmProbe p = probe_kvm(host.root());
  CHECK(p.device_present);
  CHECK(p.open_errno == 0);
  CHECK(p.api_version == -1);
  CHECK_FALSE(p.usable());
  CHECK(p.describe().find("does not answer as KVM") != std::string::npos);
}

TEST_CASE("kvm_pvm is named as such; a hardware module wins when both are loaded") {
  KvmProbe pvm;
  pvm.device_present = true;
  pvm.module = "kvm_pvm";
  pvm.api_version = kKvmApiVersion;
  CHECK_FALSE(pvm.usable());
  CHECK(pvm.describe().find("paravirtual") != std::string::npos);
  CHECK(pvm.fix().find("nested") != std::string::npos);
  FakeRoot both({"kvm_pvm", "kvm_amd"});
  CHECK(probe_kvm(both.root()).module == "kvm_amd");
}

TEST_CASE("permission problems suggest the group") {
  KvmProbe p;
  p.device_present = true;
  p.module = "kvm_intel";
  p.open_errno = EACCES;
  p.device_group = "kvm";
  CHECK(p.fix() == "add yourself to the kvm group: sudo usermod -aG kvm \"$USER\", then log in again");
  p.open_errno = 0;
  p.api_version = kKvmApiVersion;
  CHECK(p.usable());
  CHECK(p.fix().empty());
  CHECK(p.describe() == "kvm_intel: /dev/kvm is usable");
}

TEST_CASE("QEMU's help output is parsed for versions, machines and devices") {
  CHECK(parse_qemu_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)\nCopyright") == "7.2.22");
  CHECK(parse_qemu_version("something else") == "");
  auto machines = parse_qemu_machines(
      "Supported machines are:\nmicrovm              microvm (i386)\npc                   Standard PC\n");
  CHECK(machines == std::vector<std::string>{"microvm", "pc"});
  auto devices = parse_qemu_devices(
      "Misc devices:\nname \"ivshmem-doorbell\", bus PCI, desc \"Inter-VM shared memory\"\n"
      "name \"virtserialport\", bus virtio-serial-bus\n");
  CHECK(devices == std::vector<std::string>{"ivshmem-doorbell", "virtserialport"});
}

TEST_CASE("the installed QEMU is probed, and a missing binary is an error") {
  QemuProbe missing = probe_qemu("ktest-no-such-qemu");
  CHECK_FALSE(missing.ok());
  REQUIRE(missing.run_error);
  CHECK(missing.run_error->message.find("cannot run ktest-no-such-qemu") != std::string::npos);
}

TEST_CASE("available memory comes from /proc/meminfo") {
  FakeRoot host({});
  std::ofstream(host.dir / "proc/meminfo") << "MemTotal:       24000000 kB\nMemFree:  100 kB\n"
                                              "MemAvailable:   2048 kB\n";
  CHECK(probe_available_memory(host.root()).value() == 2048 * 1024);
  std::ofstream(host.dir / "proc/meminfo") << "MemTotal: 1 kB\n";
  CHECK_FALSE(probe_available_memory(host.root()).ok());
  CHECK(probe_shared_memory(16ull << 20).ok());
}

#if defined(__x86_64__)
TEST_CASE("the host's TSC rate is what the TSC counts against the clock") {
  auto khz = host_tsc_khz();
  REQUIRE(khz.has_value());
  CHECK(host_tsc_khz() == khz);  // measured once
  // A second, longer look: 100 ms of TSC against CLOCK_MONOTONIC_RAW.
  auto now = [] {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  double ns0 = now();
  uint64_t tsc0 = __rdtsc();
  usleep(100'000);
  uint64_t tsc1 = __rdtsc();
  double ns1 = now();
  double seen_khz = static_cast<double>(tsc1 - tsc0) * 1e6 / (ns1 - ns0);
  CAPTURE(*khz);
  CAPTURE(seen_khz);
  CHECK(std::abs(seen_khz - *khz) < 0.01 * seen_khz);
}
#endif
