// The monitor thread's bounds on what the guest sends besides the control
// channel: the console tail kept for errors and the doorbell requests
// queued, each at its cap and one past it.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kvm/qemu/guest_input.h"

namespace ktest::kvm {
namespace {

std::string numbered_lines(std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += "line " + std::to_string(i) + "\r\n";
  return out;
}

TEST_CASE("ConsoleTail: kConsoleTailLines lines are kept; the next drops the oldest") {
  ConsoleTail tail;
  std::vector<std::string> seen;
  auto see = [&](const std::string& line) { seen.push_back(line); };
  tail.feed(numbered_lines(kConsoleTailLines), see);
  REQUIRE(tail.lines().size() == kConsoleTailLines);
  CHECK(tail.lines().front() == "line 0");
  CHECK(tail.lines().back() == "line " + std::to_string(kConsoleTailLines - 1));
  CHECK(seen.size() == kConsoleTailLines);

  tail.feed("one more\n", see);
  REQUIRE(tail.lines().size() == kConsoleTailLines);
  CHECK(tail.lines().front() == "line 1");
  CHECK(tail.lines().back() == "one more");

  // The unfinished last line joins at exit, within the same cap.
  tail.feed("no newline", see);
  CHECK(tail.lines().back() == "one more");
  tail.finish();
  REQUIRE(tail.lines().size() == kConsoleTailLines);
  CHECK(tail.lines().front() == "line 2");
  CHECK(tail.lines().back() == "no newline");
}

TEST_CASE("ConsoleTail: a line of kMaxConsoleLineBytes is kept whole; a longer one is cut there") {
  ConsoleTail tail;
  std::vector<std::string> seen;
  auto see = [&](const std::string& line) { seen.push_back(line); };
  const std::string at_limit(kMaxConsoleLineBytes, 'a');
  const std::string past = std::string(kMaxConsoleLineBytes, 'b') + "c";
  tail.feed(at_limit + "\n", see);
  // Fed in two pieces: the cut does not depend on how the bytes arrive.
  tail.feed(past.substr(0, 100), see);
  tail.feed(past.substr(100) + "\nshort\n", see);
  REQUIRE(tail.lines().size() == 3);
  CHECK(tail.lines()[0] == at_limit);
  CHECK(tail.lines()[1] == std::string(kMaxConsoleLineBytes, 'b'));
  CHECK(tail.lines()[2] == "short");  // the line after a cut one starts afresh
  CHECK(seen == std::vector<std::string>(tail.lines().begin(), tail.lines().end()));
}

// Puts a Capture request claiming `length` payload bytes under `serial`
// (the length is the guest's word; the array ends at kPayloadMax).
void request(doorbell::DoorbellPage& page, uint64_t serial, uint32_t length) {
  page.request_kind = static_cast<uint32_t>(doorbell::RequestKind::Capture);
  page.request_length = length;
  std::atomic_ref<uint64_t>(page.request_serial).store(serial, std::memory_order_release);
}

TEST_CASE("take_doorbell_request: a kPayloadMax payload is kept whole; a longer claimed length is cut") {
  auto page = std::make_unique<doorbell::DoorbellPage>();
  std::memset(page->request_payload, 'x', sizeof page->request_payload);
  uint64_t last = 0;
  request(*page, 1, doorbell::kPayloadMax);
  auto whole = take_doorbell_request(*page, last, 0);
  REQUIRE(whole);
  CHECK(whole->serial == 1);
  CHECK(whole->kind == static_cast<uint32_t>(doorbell::RequestKind::Capture));
  CHECK(whole->payload == std::vector<uint8_t>(doorbell::kPayloadMax, 'x'));
  CHECK(last == 1);

  CHECK_FALSE(take_doorbell_request(*page, last, 0));  // rung again, no new request

  request(*page, 2, doorbell::kPayloadMax + 1);
  auto cut = take_doorbell_request(*page, last, 0);
  REQUIRE(cut);
  CHECK(cut->payload.size() == doorbell::kPayloadMax);
  request(*page, 3, 0xffffffffU);
  auto hostile = take_doorbell_request(*page, last, 0);
  REQUIRE(hostile);
  CHECK(hostile->payload.size() == doorbell::kPayloadMax);
}

TEST_CASE("take_doorbell_request: taken while fewer than kMaxPendingDoorbells events wait; then not served") {
  auto page = std::make_unique<doorbell::DoorbellPage>();
  std::memcpy(page->request_payload, "snap", 4);
  uint64_t last = 0;
  request(*page, 1, 4);
  auto last_place = take_doorbell_request(*page, last, kMaxPendingDoorbells - 1);
  REQUIRE(last_place);  // it becomes the kMaxPendingDoorbells-th event
  CHECK(last_place->payload == std::vector<uint8_t>{'s', 'n', 'a', 'p'});

  request(*page, 2, 4);
  CHECK_FALSE(take_doorbell_request(*page, last, kMaxPendingDoorbells));
  CHECK(last == 1);  // not taken: a ring once the queue drains serves it
  auto later = take_doorbell_request(*page, last, 0);
  REQUIRE(later);
  CHECK(later->serial == 2);
}

}  // namespace
}  // namespace ktest::kvm
