// The agent's control channel, host side: reads what the fd holds (at most
// kControlReadBudget bytes per call, so the event loop stays fair), splits
// it into lines, decodes each message and hands it to the session. Lines
// that are too long or do not decode become notes, never errors: the
// channel carries what a guest wrote.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>

#include "cli/run/guest_output.h"
#include "kvm/control_protocol.h"

namespace ktest::cli {

inline constexpr std::size_t kControlReadBudget = 1 << 20;

class ControlReader {
 public:
  using Handler = std::function<void(const kvm::control::Message&)>;
  // fd < 0: no channel (every read is a no-op). The fd is made non-blocking.
  ControlReader(int fd, Notes& notes, Handler on_message);

  void read_available();
  // Reads until `done()` holds, `deadline` passes (waiting 10 ms at a time
  // for more) or the channel is closed; returns done().
  bool read_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline);
  // The guest's end of the channel is gone (QEMU exited): nothing more comes.
  bool closed() const { return closed_; }

 private:
  int fd_;
  Notes& notes_;
  Handler on_message_;
  kvm::control::LineSplitter splitter_;
  bool closed_ = false;
};

}  // namespace ktest::cli
