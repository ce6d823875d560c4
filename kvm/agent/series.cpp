// A CaptureSnapshot series: count captures, every every_ms, in the background.
#include "kvm/agent/agent.h"
#include "kvm/doorbell_abi.h"

namespace ktest::agent {

CaptureSeries::CaptureSeries(Doorbell& doorbell, kvm::CaptureSnapshot spec,
                             std::chrono::milliseconds capture_timeout)
    : doorbell_(doorbell), spec_(std::move(spec)), capture_timeout_(capture_timeout),
      thread_([this](std::stop_token stop) { run(stop); }) {}

void CaptureSeries::run(std::stop_token stop) {
  const auto start = Clock::now();
  for (uint32_t k = 1; k <= spec_.count; ++k) {
    // On a fixed grid from the start: a late capture does not shift the rest.
    const auto due = start + std::chrono::milliseconds(uint64_t{spec_.every_ms} * (k - 1));
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, stop, due, [] { return false; });
      if (stop.stop_requested()) return;
    }
    const std::string member = kvm::series_member(spec_.name, k);
    auto reply = doorbell_.request(static_cast<uint32_t>(doorbell::RequestKind::Capture), member, capture_timeout_);
    Status answered = reply ? host_accepted(*reply) : Status(fail(reply.error()));
    std::lock_guard lock(mutex_);
    taken_ = k;
    if (!answered) problems_.push_back("capture " + member + ": " + answered.error().to_string());
  }
}

std::vector<std::string> CaptureSeries::finish(bool cancel) {
  if (cancel) thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  if (taken_ < spec_.count)
    problems_.push_back("cancelled after " + std::to_string(taken_) + " of " + std::to_string(spec_.count) +
                        " captures");
  return std::exchange(problems_, {});
}

}  // namespace ktest::agent
