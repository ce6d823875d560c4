// Kernel modules named by the plan (vm.modules), loaded before the first step.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

// <linux/module.h>: the kernel decompresses the file itself
// (CONFIG_MODULE_DECOMPRESS), so .ko.xz/.ko.zst/.ko.gz load as shipped.
constexpr unsigned kModuleInitCompressedFile = 4;

bool compressed(std::string_view path) {
  return path.ends_with(".xz") || path.ends_with(".zst") || path.ends_with(".gz");
}

// The kernel's own words about a refused module ("Unknown symbol ...").
std::string kernel_reason(KmsgReader& kmsg) {
  std::string out;
  for (const auto& line : kmsg.read_new()) {
    if (out.size() + line.size() > kMaxKmsgTextBytes) break;
    out += (out.empty() ? "" : "; ") + line;
  }
  return out.empty() ? "" : " (kernel: " + out + ")";
}

}  // namespace

Status load_modules(const std::vector<std::string>& paths) {
  KmsgReader kmsg;
  for (const auto& path : paths) {
    (void)kmsg.open();  // from here on; without /dev/kmsg the error lacks the kernel's reason
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail("cannot open kernel module " + path + ": " + std::strerror(errno));
    const unsigned flags = compressed(path) ? kModuleInitCompressedFile : 0;
    long rc = ::syscall(SYS_finit_module, fd, "", flags);
    int err = errno;
    ::close(fd);
    if (rc == 0) {
      console_log("loaded module " + path);
      continue;
    }
    if (err == EEXIST) continue;  // built in, or pulled in already
    return fail("the guest kernel refused module " + path + ": " + std::strerror(err) + kernel_reason(kmsg), "",
                err == ENOEXEC || err == EINVAL
                    ? "modules must come from the same kernel build as the guest: ktest kernel fetch --modules"
                    : "");
  }
  return {};
}

}  // namespace ktest::agent
