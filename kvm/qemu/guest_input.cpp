#include "kvm/qemu/guest_input.h"

#include <algorithm>
#include <atomic>

namespace ktest::kvm {

void ConsoleTail::feed(std::string_view bytes, const std::function<void(const std::string&)>& on_line) {
  for (char c : bytes) {
    if (c == '\r') continue;
    if (c != '\n') {
      if (partial_.size() < kMaxConsoleLineBytes) partial_.push_back(c);
      continue;  // past the cap the rest of the line is dropped
    }
    on_line(partial_);
    lines_.push_back(std::move(partial_));
    partial_.clear();
    while (lines_.size() > kConsoleTailLines) lines_.pop_front();
  }
}

void ConsoleTail::finish() {
  if (partial_.empty()) return;
  lines_.push_back(std::move(partial_));
  partial_.clear();
  while (lines_.size() > kConsoleTailLines) lines_.pop_front();
}

std::optional<DoorbellEvent> take_doorbell_request(doorbell::DoorbellPage& page, uint64_t& last_serial,
                                                   std::size_t pending) {
  uint64_t serial = std::atomic_ref<uint64_t>(page.request_serial).load(std::memory_order_acquire);
  if (serial == last_serial) return std::nullopt;  // a ring without a new request
  // One request is in flight by the ABI; a guest that floods is not served.
  if (pending >= kMaxPendingDoorbells) return std::nullopt;
  last_serial = serial;
  DoorbellEvent ev;
  ev.serial = serial;
  ev.kind = std::atomic_ref<uint32_t>(page.request_kind).load(std::memory_order_relaxed);
  uint32_t len = std::atomic_ref<uint32_t>(page.request_length).load(std::memory_order_relaxed);
  len = std::min(len, doorbell::kPayloadMax);  // hostile input
  ev.payload.assign(page.request_payload, page.request_payload + len);
  return ev;
}

}  // namespace ktest::kvm
