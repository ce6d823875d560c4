// PID-1 duties: kernel filesystems, the userspace layout, console, power-off.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "kvm/agent/agent.h"

namespace ktest::agent {

void console_log(std::string_view text) {
  // Boot-time stamp, comparable with the kernel's "[    2.036979]" prefix.
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  char stamp[48];
  std::snprintf(stamp, sizeof stamp, "ktest-agent [%5ld.%03ld]: ", static_cast<long>(ts.tv_sec),
                ts.tv_nsec / 1000000);
  std::string line = stamp + std::string(text) + "\n";
  // One write keeps lines whole when workloads share the console.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

void mount_kernel_filesystems() {
  struct Mount {
    const char* source;
    const char* target;
    const char* type;
  };
  // Order matters: sysfs before the filesystems mounted inside it.
  static const Mount kMounts[] = {
      {"proc", "/proc", "proc"},
      {"sysfs", "/sys", "sysfs"},
      {"devtmpfs", "/dev", "devtmpfs"},
      {"tmpfs", "/tmp", "tmpfs"},
      {"tmpfs", "/run", "tmpfs"},  // scx schedulers' stats sockets: /var/run/scx/<name>/stats
      {"bpf", "/sys/fs/bpf", "bpf"},
      {"cgroup2", "/sys/fs/cgroup", "cgroup2"},
      {"debugfs", "/sys/kernel/debug", "debugfs"},
      {"tracefs", "/sys/kernel/tracing", "tracefs"},
  };
  for (const auto& m : kMounts) {
    ::mkdir(m.target, 0755);  // may already exist, or live on a read-only fs
    if (::mount(m.source, m.target, m.type, 0, nullptr) != 0 && errno != EBUSY)
      console_log(std::string("mount ") + m.type + " on " + m.target + ": " + std::strerror(errno));
  }
}

void prepare_userspace() {
  // The release is the guest's own: the host cannot know it for sure.
  utsname uts{};
  const std::string config(kvm::kKernelConfigGuestPath);
  if (::access(config.c_str(), R_OK) == 0 && ::uname(&uts) == 0) {
    ::mkdir("/boot", 0755);
    const std::string link = std::string("/boot/config-") + uts.release;
    if (::symlink(config.c_str(), link.c_str()) != 0 && errno != EEXIST)
      console_log("symlink " + link + ": " + std::strerror(errno));
  }
  ::mkdir("/var", 0755);
  if (::symlink("/run", "/var/run") != 0 && errno != EEXIST)
    console_log(std::string("symlink /var/run -> /run: ") + std::strerror(errno));
  // Inherited by everything the agent starts: BPF loaders lock memory
  // (older kernels charge maps to RLIMIT_MEMLOCK) and open many fds.
  const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  if (::setrlimit(RLIMIT_MEMLOCK, &unlimited) != 0)
    console_log(std::string("RLIMIT_MEMLOCK: ") + std::strerror(errno));
  const rlimit files{kGuestMaxOpenFiles, kGuestMaxOpenFiles};
  if (::setrlimit(RLIMIT_NOFILE, &files) != 0)
    console_log(std::string("RLIMIT_NOFILE: ") + std::strerror(errno));
}

void attach_console() {
  int fd = ::open("/dev/console", O_RDWR | O_NOCTTY);
  if (fd < 0) return;  // keep whatever the kernel gave us
  for (int target = 0; target <= 2; ++target) ::dup2(fd, target);
  if (fd > 2) ::close(fd);
}

[[noreturn]] void power_off() {
  ::sync();
  ::reboot(RB_POWER_OFF);
  // Machines without a power-off path: with -no-reboot QEMU exits on reset.
  ::reboot(RB_AUTOBOOT);
  ::_exit(1);  // panics the kernel (init died); panic=-1 resets, which also ends QEMU
}

Result<std::string> read_text_file(const std::string& path, std::size_t max_bytes, bool head) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(path + ": " + std::strerror(errno));
  std::string out;
  char buf[65536];
  while (!head || out.size() < max_bytes) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes && !head) {
      ::close(fd);
      return fail(path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, std::min(static_cast<std::size_t>(n), max_bytes - out.size()));
  }
  ::close(fd);
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t start = 0;
  while (start < s.size() && (s[start] == ' ' || s[start] == '\t')) ++start;
  return s.substr(start);
}

}  // namespace ktest::agent
