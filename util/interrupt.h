// Ctrl-C (SIGINT) and SIGTERM while ktest runs guests.
//
// Contract: while an InterruptScope lives, the first SIGINT or SIGTERM
// only records itself: interrupt_requested() turns true and every session
// tears its guest down and keeps what it wrote, the run writes its partial
// results and exits with 130 (ExitCode::Interrupted). The handler then
// restores the default action, so a second one ends ktest at once (QEMU
// follows it: it dies with its parent). The scope restores the previous
// handlers when it ends.
#pragma once

namespace ktest {

class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
};

bool interrupt_requested();
// The signal's name ("SIGINT"), or "" when none came.
const char* interrupt_signal_name();

}  // namespace ktest
