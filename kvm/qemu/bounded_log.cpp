#include "kvm/qemu/bounded_log.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include <fmt/format.h>

namespace ktest::kvm {

BoundedLog::~BoundedLog() {
  finish();
  if (fd_ >= 0) ::close(fd_);
}

void BoundedLog::reset(int fd, uint64_t cap) {
  finish();
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  cap_ = cap;
  written_ = 0;
  dropped_ = 0;
  finished_ = false;
}

void BoundedLog::append(std::string_view bytes) {
  if (fd_ < 0 || bytes.empty()) return;
  uint64_t room = written_ < cap_ ? cap_ - written_ : 0;
  std::string_view kept = bytes.substr(0, static_cast<std::size_t>(std::min<uint64_t>(room, bytes.size())));
  write_all(kept);
  written_ += kept.size();
  if (kept.size() == bytes.size()) return;
  if (dropped_ == 0)
    write_all(fmt::format("\n[ktest: the log stops here: it keeps the first {} bytes]\n", cap_));
  dropped_ += bytes.size() - kept.size();
}

void BoundedLog::finish() {
  if (fd_ < 0 || finished_) return;
  finished_ = true;
  if (dropped_ != 0) write_all(fmt::format("[ktest: {} more bytes dropped]\n", dropped_));
}

void BoundedLog::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace ktest::kvm
