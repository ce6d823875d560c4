// What the QEMU engine's monitor thread keeps of what the guest sends it
// outside the control channel: the console's last lines (for errors) and
// doorbell requests (to be served). Both are hostile input, so both are
// bounded here.
//
// Contract:
// - ConsoleTail keeps the last kConsoleTailLines complete console lines,
//   the oldest dropped first; a line longer than kMaxConsoleLineBytes keeps
//   its first kMaxConsoleLineBytes bytes. '\r' is dropped. finish() adds the
//   unfinished last line (at exit).
// - take_doorbell_request() turns the request on the doorbell page into an
//   event: nothing when its serial is the last one taken (a ring without a
//   new request) or when kMaxPendingDoorbells events already wait (a guest
//   that floods is not served; the request is taken on a later ring once
//   the queue drains). The payload length is clamped to kPayloadMax.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "kvm/doorbell_abi.h"
#include "kvm/machine.h"

namespace ktest::kvm {

inline constexpr std::size_t kConsoleTailLines = 40;
inline constexpr std::size_t kMaxConsoleLineBytes = 4096;
inline constexpr std::size_t kMaxPendingDoorbells = 1024;

class ConsoleTail {
 public:
  // Appends console bytes; `on_line` sees each line they complete (as kept).
  void feed(std::string_view bytes, const std::function<void(const std::string&)>& on_line);
  void finish();
  const std::deque<std::string>& lines() const { return lines_; }

 private:
  std::deque<std::string> lines_;
  std::string partial_;
};

// `last_serial` is the serial of the request taken before (updated when
// one is taken); `pending` how many events wait to be delivered.
std::optional<DoorbellEvent> take_doorbell_request(doorbell::DoorbellPage& page, uint64_t& last_serial,
                                                   std::size_t pending);

}  // namespace ktest::kvm
