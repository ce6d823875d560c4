#include "kvm/qemu/socket_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ktest::kvm {

Unexpected errno_fail(const std::string& what) {
  return fail(fmt::format("{}: {}", what, std::strerror(errno)));
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_fail("write to QEMU socket");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<UniqueFd> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return fail("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno_fail("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return errno_fail("connect " + path);
  return fd;
}

// Reads one '\n'-terminated line from a blocking fd, bounded by a deadline.
Result<std::string> read_line(int fd, std::string& buffer,
                              std::chrono::steady_clock::time_point deadline) {
  while (true) {
    if (size_t nl = buffer.find('\n'); nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail("timed out waiting for QEMU's reply");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return errno_fail("poll");
    if (!(p.revents & (POLLIN | POLLHUP))) continue;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n == 0) return fail("QEMU closed the socket");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno_fail("read");
    }
    if (buffer.size() > (1u << 20)) return fail("QEMU sent an over-long line");
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace ktest::kvm
