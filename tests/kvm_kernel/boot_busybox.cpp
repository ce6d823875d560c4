// End to end: an initramfs built through kvm/initramfs (busybox as /init,
// plus a dynamic host binary with its libraries) boots the fetched kernel
// under QEMU microvm; the guest prints markers and powers off.
// Exit: 0 pass, 1 fail, 77 skipped (no kernel or no QEMU), as meson expects.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "kvm/initramfs/initramfs.h"
#include "kvm/kernel/kernel.h"

extern char** environ;
namespace fs = std::filesystem;
using namespace ktest::kvm;

namespace {

constexpr const char* kInit =
    "#!/bin/sh\n"
    "mount -t proc proc /proc\n"
    "mount -t sysfs sys /sys\n"
    "echo KTEST-BUSYBOX-UP cpus=$(nproc) kernel=$(uname -r)\n"
    "/usr/bin/printf 'KTEST-DYNAMIC-%s\\n' ok\n"
    "nice -n 5 sh -c 'echo KTEST-NICE-$(cut -d\" \" -f19 /proc/self/stat)'\n"
    "poweroff -f\n";

int skip(const std::string& why) {
  std::printf("SKIPPED: %s\n", why.c_str());
  return 77;
}

// Runs argv with stdout+stderr captured, killing it after `limit`.
std::string run_with_limit(const std::vector<std::string>& argv, std::chrono::seconds limit, int& status) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    status = -1;
    return "cannot start " + argv[0];
  }
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      out += "\n[killed: time limit reached]\n";
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  waitpid(pid, &status, 0);
  return out;
}

}  // namespace

int main() {
  auto kernel = resolve_kernel(kernel_spec_from_choice(std::getenv("KTEST_KERNEL") ? std::getenv("KTEST_KERNEL") : ""));
  if (!kernel) return skip("no kernel: " + kernel.error().to_string());
  if (std::system("qemu-system-x86_64 --version >/dev/null 2>&1") != 0) return skip("qemu-system-x86_64 is not installed");

  char tmpl[] = "/tmp/ktest-boot-busybox.XXXXXX";
  std::string cache = mkdtemp(tmpl);
  Initramfs initramfs;
  auto built = [&]() -> ktest::Status {
    KTEST_TRY(initramfs.add_base_layout());
    KTEST_TRY(initramfs.add_busybox());
    KTEST_TRY(initramfs.add_elf_with_libraries("/usr/bin/printf", "/usr/bin/printf"));
    return initramfs.add_file("/init", kInit, 0755);
  }();
  if (!built) {
    std::printf("FAIL: building the initramfs: %s\n", built.error().to_string().c_str());
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto cached = write_cached(initramfs, cache);
  auto t1 = std::chrono::steady_clock::now();
  if (!cached) {
    std::printf("FAIL: %s\n", cached.error().to_string().c_str());
    return 1;
  }
  std::printf("initramfs: %s (%ju bytes, %zu entries) built in %.0f ms\n", cached->path.c_str(),
              static_cast<std::uintmax_t>(fs::file_size(cached->path)), initramfs.entry_count(),
              std::chrono::duration<double, std::milli>(t1 - t0).count());

  std::vector<std::string> qemu = {
      "qemu-system-x86_64", "-M", "microvm,pcie=on", "-accel", "tcg,thread=single", "-m", "512",
      "-smp", "2", "-nodefaults", "-no-reboot", "-nographic", "-serial", "stdio",
      "-kernel", kernel->boot_image, "-initrd", cached->path,
      "-append", "console=ttyS0 quiet panic=-1 nokaslr tsc_early_khz=2000000"};
  int status = 0;
  auto start = std::chrono::steady_clock::now();
  std::string out = run_with_limit(qemu, std::chrono::seconds(240), status);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fs::remove_all(cache);

  bool up = out.find("KTEST-BUSYBOX-UP cpus=2") != std::string::npos;
  bool dynamic = out.find("KTEST-DYNAMIC-ok") != std::string::npos;
  bool nice = out.find("KTEST-NICE-5") != std::string::npos;
  bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::printf("boot to poweroff: %.1f s (TCG), qemu exit status %d\n", seconds,
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  if (up && dynamic && nice && clean_exit) {
    std::printf("PASS: busybox init ran, a dynamic binary ran, nice works, the guest powered off\n");
    return 0;
  }
  std::printf("FAIL: up=%d dynamic=%d nice=%d clean_exit=%d; guest output:\n%s\n", up, dynamic, nice,
              clean_exit, out.c_str());
  return 1;
}
