// ktest's own ivshmem server and host peer (no Debian package ships one).
//
// Contract: IvshmemServer listens on a UNIX socket for exactly one client
// (QEMU's ivshmem-doorbell device). On accept it speaks the ivshmem
// client-server protocol (QEMU docs/specs/ivshmem-spec.rst): protocol
// version 0, the client's peer id, -1 with the shared-memory fd, a connect
// notification for the host peer (its vector eventfds), then the client's
// own vector eventfds — every number an 8-byte little-endian int64, fds by
// SCM_RIGHTS. The host peer is id kHostPeerId; when the guest writes
// (kHostPeerId << 16 | vector) to its doorbell register, host_eventfd()
// becomes readable. A second client is refused (connection closed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvm/qemu/unique_fd.h"
#include "util/result.h"

namespace ktest::kvm {

class IvshmemServer {
 public:
  static constexpr uint32_t kHostPeerId = 0;
  static constexpr uint32_t kGuestPeerId = 1;
  static constexpr int64_t kProtocolVersion = 0;

  // shm_fd: the shared memory every peer maps (dup'ed, caller keeps its own).
  static Result<IvshmemServer> listen(const std::string& socket_path, int shm_fd,
                                      uint32_t vectors = 1);

  int listen_fd() const { return listen_.get(); }
  int host_eventfd() const { return host_vectors_.front().get(); }
  bool client_connected() const { return client_.valid(); }
  int client_fd() const { return client_.get(); }

  // Accepts a pending connection and sends the whole handshake.
  Status accept_client();
  // Drains the host peer's eventfd; returns how many rings were counted.
  uint64_t drain_host_eventfd();

 private:
  IvshmemServer() = default;
  Status send_message(int fd, int64_t value, int passed_fd);

  std::string path_;
  UniqueFd listen_;
  UniqueFd client_;
  UniqueFd shm_;
  std::vector<UniqueFd> host_vectors_;
  std::vector<UniqueFd> guest_vectors_;
};

}  // namespace ktest::kvm
