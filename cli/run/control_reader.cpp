#include "cli/run/control_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace ktest::cli {

ControlReader::ControlReader(int fd, Notes& notes, Handler on_message)
    : fd_(fd), notes_(notes), on_message_(std::move(on_message)) {
  if (fd_ >= 0) ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

void ControlReader::read_available() {
  if (fd_ < 0) return;
  char buf[65536];
  std::size_t taken = 0;
  while (taken < kControlReadBudget) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) closed_ = true;
    if (n <= 0) break;
    taken += static_cast<std::size_t>(n);
    auto out = splitter_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    for (const auto& e : out.errors) notes_.add("control channel: " + e);
    for (const auto& line : out.lines) {
      auto message = kvm::control::decode_message(line);
      if (!message) {
        notes_.add("control channel: " + message.error().to_string());
        continue;
      }
      on_message_(*message);
    }
  }
}

bool ControlReader::read_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline) {
  read_available();
  // A closed channel polls readable at once: stop rather than spin.
  while (fd_ >= 0 && !closed_ && !done() && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10) > 0) read_available();
  }
  return done();
}

}  // namespace ktest::cli
