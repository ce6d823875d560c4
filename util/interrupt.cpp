#include "util/interrupt.h"

#include <signal.h>

#include <atomic>

namespace ktest {
namespace {

std::atomic<int> received{0};
struct sigaction previous_int{}, previous_term{};

extern "C" void on_interrupt(int sig) {
  received.store(sig);
  ::signal(sig, SIG_DFL);  // the second one is not asked twice
}

}  // namespace

InterruptScope::InterruptScope() {
  received.store(0);
  struct sigaction action{};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &previous_int);
  ::sigaction(SIGTERM, &action, &previous_term);
}

InterruptScope::~InterruptScope() {
  ::sigaction(SIGINT, &previous_int, nullptr);
  ::sigaction(SIGTERM, &previous_term, nullptr);
}

bool interrupt_requested() { return received.load() != 0; }

const char* interrupt_signal_name() {
  switch (received.load()) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "";
  }
}

}  // namespace ktest
