#include "kvm/qemu/ivshmem_server.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "kvm/qemu/socket_io.h"

namespace ktest::kvm {

Result<IvshmemServer> IvshmemServer::listen(const std::string& socket_path, int shm_fd,
                                            uint32_t vectors) {
  IvshmemServer server;
  server.path_ = socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path))
    return fail(fmt::format("ivshmem socket path too long ({} bytes): {}", socket_path.size(), socket_path));
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);

  server.listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!server.listen_.valid()) return errno_fail("ivshmem server: socket");
  if (::bind(server.listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return errno_fail("ivshmem server: bind " + socket_path);
  if (::listen(server.listen_.get(), 1) != 0) return errno_fail("ivshmem server: listen");

  server.shm_.reset(::fcntl(shm_fd, F_DUPFD_CLOEXEC, 0));
  if (!server.shm_.valid()) return errno_fail("ivshmem server: dup shared memory fd");
  for (uint32_t v = 0; v < vectors; ++v) {
    UniqueFd host(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    UniqueFd guest(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!host.valid() || !guest.valid()) return errno_fail("ivshmem server: eventfd");
    server.host_vectors_.push_back(std::move(host));
    server.guest_vectors_.push_back(std::move(guest));
  }
  return server;
}

Status IvshmemServer::send_message(int fd, int64_t value, int passed_fd) {
  // The protocol's numbers are little-endian int64; x86-64 is little-endian.
  iovec iov{&value, sizeof(value)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (passed_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &passed_fd, sizeof(int));
  }
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof(value))) return errno_fail("ivshmem server: sendmsg");
  return {};
}

Status IvshmemServer::accept_client() {
  UniqueFd conn(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn.valid()) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {};
    return errno_fail("ivshmem server: accept");
  }
  if (client_.valid()) return {};  // one client only: `conn` closes on return
  // The socket is blocking: the messages are few and small, and QEMU reads
  // them synchronously while it realizes the device.
  int fd = conn.get();
  KTEST_TRY(send_message(fd, kProtocolVersion, -1));
  KTEST_TRY(send_message(fd, kGuestPeerId, -1));
  KTEST_TRY(send_message(fd, -1, shm_.get()));
  for (const auto& v : host_vectors_) KTEST_TRY(send_message(fd, kHostPeerId, v.get()));
  for (const auto& v : guest_vectors_) KTEST_TRY(send_message(fd, kGuestPeerId, v.get()));
  client_ = std::move(conn);
  return {};
}

uint64_t IvshmemServer::drain_host_eventfd() {
  uint64_t total = 0;
  for (const auto& v : host_vectors_) {
    uint64_t count = 0;
    while (::read(v.get(), &count, sizeof(count)) == sizeof(count)) total += count;
  }
  return total;
}

}  // namespace ktest::kvm
