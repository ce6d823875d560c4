// The person's terminal, joined to the guest's (kvm::Machine::terminal_channel()).
//
// Contract: start() copies stdin to the guest and the guest to stdout on a
// thread of its own until the guest side closes (the guest powered off),
// stop() is called, or the person types the escape (Ctrl-] then q), which
// escaped() reports. When stdin is a terminal it is put in raw mode for
// the while, so ^C, ^Z and ^D are bytes for the guest's tty (its line
// discipline signals the guest's foreground job; ktest gets no SIGINT),
// and restored on stop() and on destruction. A change of the terminal's
// size is passed on through `on_resize` (the guest's tty is resized).
// Nothing here knows about QEMU: the guest side is a connected byte stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace ktest::cli {

struct TerminalSize {
  uint16_t rows = 0, cols = 0;  // 0 when stdin is no terminal
};

class TerminalBridge {
 public:
  static constexpr unsigned char kEscapeByte = 0x1d;  // Ctrl-]
  static constexpr char kQuitKey = 'q';

  TerminalBridge() = default;
  TerminalBridge(const TerminalBridge&) = delete;
  TerminalBridge& operator=(const TerminalBridge&) = delete;
  ~TerminalBridge();

  static TerminalSize size();       // of stdin
  static std::string term_name();   // $TERM, or "" when unset

  void start(int guest_fd, std::function<void(TerminalSize)> on_resize = {});
  void stop();
  bool running() const { return running_; }
  bool escaped() const { return escaped_; }

 private:
  void copy_loop(int guest_fd);

  std::thread thread_;
  int wake_pipe_[2] = {-1, -1};
  std::atomic<bool> running_{false};
  std::atomic<bool> escaped_{false};
  bool raw_ = false;
  std::function<void(TerminalSize)> on_resize_;
};

}  // namespace ktest::cli
