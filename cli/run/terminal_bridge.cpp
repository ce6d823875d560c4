#include "cli/run/terminal_bridge.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace ktest::cli {
namespace {

// The terminal's mode before raw mode; restored even when ktest dies by a
// signal it handles (see restore_terminal()).
termios saved_mode{};
std::atomic<bool> mode_saved{false};

void restore_terminal() {
  if (mode_saved.exchange(false)) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_mode);
}

bool write_all(int fd, const unsigned char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// The window size is polled, not signalled: SIGWINCH goes to whichever
// thread, and this is cheap.
constexpr int kPollMs = 250;

}  // namespace

TerminalSize TerminalBridge::size() {
  winsize ws{};
  if (::isatty(STDIN_FILENO) && ::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) return {ws.ws_row, ws.ws_col};
  return {};
}

std::string TerminalBridge::term_name() {
  const char* term = std::getenv("TERM");
  return term ? term : "";
}

TerminalBridge::~TerminalBridge() { stop(); }

void TerminalBridge::start(int guest_fd, std::function<void(TerminalSize)> on_resize) {
  if (running_ || guest_fd < 0) return;
  on_resize_ = std::move(on_resize);
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) return;
  if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved_mode) == 0) {
    mode_saved = true;
    std::atexit(restore_terminal);
    termios raw = saved_mode;
    ::cfmakeraw(&raw);
    raw_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  running_ = true;
  thread_ = std::thread([this, guest_fd] { copy_loop(guest_fd); });
}

void TerminalBridge::stop() {
  if (thread_.joinable()) {
    [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], "x", 1);
    thread_.join();
  }
  for (int& fd : wake_pipe_)
    if (fd >= 0) ::close(fd), fd = -1;
  if (raw_) restore_terminal();
  raw_ = false;
  running_ = false;
}

void TerminalBridge::copy_loop(int guest_fd) {
  unsigned char buf[4096];
  bool escape_pending = false;
  bool stdin_open = true;
  TerminalSize last = size();
  while (true) {
    pollfd fds[3] = {{guest_fd, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}, {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
    int ready = ::poll(fds, 3, kPollMs);
    if (ready < 0 && errno != EINTR) break;
    if (fds[1].revents) break;
    if (TerminalSize now = size(); on_resize_ && (now.rows != last.rows || now.cols != last.cols)) {
      last = now;
      on_resize_(now);
    }
    if (fds[0].revents) {
      ssize_t n = ::read(guest_fd, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;  // the guest is gone
      if (n > 0 && !write_all(STDOUT_FILENO, buf, static_cast<std::size_t>(n))) break;
    }
    if (fds[2].revents) {
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n == 0) {
        // No more input (a pipe or file): the guest's shell sees end of input.
        stdin_open = false;
        const unsigned char eot = 0x04;
        write_all(guest_fd, &eot, 1);
        continue;
      }
      if (n < 0) continue;
      unsigned char out[sizeof buf + 1];
      std::size_t used = 0;
      for (ssize_t i = 0; i < n; ++i) {
        if (escape_pending) {
          escape_pending = false;
          if (buf[i] == kQuitKey) {
            escaped_ = true;
            running_ = false;
            return;
          }
          out[used++] = kEscapeByte;
        } else if (buf[i] == kEscapeByte && raw_) {
          escape_pending = true;
          continue;
        }
        out[used++] = buf[i];
        if (used >= sizeof buf) {
          write_all(guest_fd, out, used);
          used = 0;
        }
      }
      if (used > 0 && !write_all(guest_fd, out, used)) break;
    }
  }
  running_ = false;
}

}  // namespace ktest::cli
