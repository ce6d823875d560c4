// The ivshmem server's handshake, read by an in-process client the way
// QEMU's ivshmem-doorbell reads it (the e2e test runs it against QEMU).
#include <doctest/doctest.h>

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "kvm/qemu/ivshmem_server.h"

using namespace ktest::kvm;

namespace {

struct Message {
  int64_t value = 0;
  int fd = -1;
};

Message receive(int sock) {
  Message m;
  iovec iov{&m.value, sizeof(m.value)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  REQUIRE(::recvmsg(sock, &msg, 0) == static_cast<ssize_t>(sizeof(m.value)));
  if (cmsghdr* c = CMSG_FIRSTHDR(&msg); c && c->cmsg_type == SCM_RIGHTS)
    std::memcpy(&m.fd, CMSG_DATA(c), sizeof(int));
  return m;
}

int connect_to(const std::string& path) {
  int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  REQUIRE(::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  return s;
}

}  // namespace

TEST_CASE("ivshmem server: handshake order, shared memory, host peer eventfd") {
  char dir[] = "/tmp/ktest-ivshmem-test-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  std::string path = std::string(dir) + "/s";
  int shm = ::memfd_create("t", MFD_CLOEXEC);
  REQUIRE(::ftruncate(shm, 4096) == 0);
  auto server = IvshmemServer::listen(path, shm);
  REQUIRE(server.ok());

  int client = connect_to(path);
  REQUIRE(server->accept_client().ok());
  CHECK(server->client_connected());

  Message version = receive(client);
  CHECK(version.value == 0);
  CHECK(version.fd == -1);
  Message id = receive(client);
  CHECK(id.value == IvshmemServer::kGuestPeerId);
  CHECK(id.fd == -1);
  Message memory = receive(client);
  CHECK(memory.value == -1);
  REQUIRE(memory.fd >= 0);
  // The fd is the same shared memory: a write through it shows in ours.
  auto* theirs = static_cast<char*>(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memory.fd, 0));
  auto* ours = static_cast<char*>(::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, shm, 0));
  REQUIRE(theirs != MAP_FAILED);
  theirs[100] = 'k';
  CHECK(ours[100] == 'k');

  Message host_vector = receive(client);
  CHECK(host_vector.value == IvshmemServer::kHostPeerId);
  REQUIRE(host_vector.fd >= 0);
  Message own_vector = receive(client);
  CHECK(own_vector.value == IvshmemServer::kGuestPeerId);
  CHECK(own_vector.fd >= 0);

  // Ringing the host peer (what QEMU does on a doorbell write) wakes the host.
  CHECK(server->drain_host_eventfd() == 0);
  uint64_t one = 1;
  REQUIRE(::write(host_vector.fd, &one, sizeof(one)) == sizeof(one));
  REQUIRE(::write(host_vector.fd, &one, sizeof(one)) == sizeof(one));
  CHECK(server->drain_host_eventfd() == 2);

  // A second client is refused: its connection is closed without a byte.
  int second = connect_to(path);
  REQUIRE(server->accept_client().ok());
  char byte;
  CHECK(::read(second, &byte, 1) == 0);

  for (int fd : {client, second, memory.fd, host_vector.fd, own_vector.fd, shm}) ::close(fd);
  ::munmap(theirs, 4096);
  ::munmap(ours, 4096);
  ::unlink(path.c_str());
  ::rmdir(dir);
}

TEST_CASE("ivshmem server: a socket path that does not fit is an error") {
  int shm = ::memfd_create("t", MFD_CLOEXEC);
  auto server = IvshmemServer::listen("/tmp/" + std::string(200, 'x'), shm);
  CHECK_FALSE(server.ok());
  ::close(shm);
}
