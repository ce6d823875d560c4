// A log file the guest writes into (console.log), kept within a size cap.
//
// Contract: append() writes bytes until `cap` bytes are in the file, then
// writes one line saying the log stops there and counts what it drops;
// finish() (also run by the destructor) ends the file with the count. A
// guest that floods its console cannot fill the run directory's disk (a
// tmpfs there is the host's memory). Write errors are ignored: the log is
// best effort, the console tail in errors does not depend on it.
#pragma once

#include <cstdint>
#include <string_view>

namespace ktest::kvm {

inline constexpr uint64_t kMaxConsoleLogBytes = 64u << 20;

class BoundedLog {
 public:
  // fd: an open file the log owns from now on (-1: nothing is written).
  explicit BoundedLog(int fd = -1, uint64_t cap = kMaxConsoleLogBytes) : fd_(fd), cap_(cap) {}
  BoundedLog(const BoundedLog&) = delete;
  BoundedLog& operator=(const BoundedLog&) = delete;
  ~BoundedLog();

  void reset(int fd, uint64_t cap = kMaxConsoleLogBytes);
  bool valid() const { return fd_ >= 0; }
  void append(std::string_view bytes);
  void finish();
  uint64_t dropped() const { return dropped_; }

 private:
  void write_all(std::string_view bytes);

  int fd_ = -1;
  uint64_t cap_;
  uint64_t written_ = 0;
  uint64_t dropped_ = 0;
  bool finished_ = false;
};

}  // namespace ktest::kvm
