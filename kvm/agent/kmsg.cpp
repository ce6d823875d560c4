// The kernel log since a point in time, read from /dev/kmsg, so scheduler
// failures can carry the kernel's own words (contract in agent.h).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kvm/agent/agent.h"
#include "util/hex.h"

namespace ktest::agent {
namespace {

// The kernel writes non-printable bytes and '\' itself as "\xNN".
std::string unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && text[i + 1] == 'x') {
      int hi = hex_digit(text[i + 2]);
      int lo = hex_digit(text[i + 3]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 3;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace

std::optional<std::string> kmsg_record_text(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.empty() || line.front() == ' ') return std::nullopt;  // continuation: " KEY=value"
  auto semi = line.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  // "<prio>,<seq>,<usec>,<flags>[,caller=...]": three numbers, then the rest.
  std::string_view header = line.substr(0, semi);
  for (int field = 0; field < 3; ++field) {
    auto comma = header.find(',');
    if (comma == 0 || comma == std::string_view::npos) return std::nullopt;
    for (char c : header.substr(0, comma))
      if (c < '0' || c > '9') return std::nullopt;
    header.remove_prefix(comma + 1);
  }
  return unescape(line.substr(semi + 1));
}

KmsgReader::~KmsgReader() { close(); }

void KmsgReader::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pending_.clear();
}

Status KmsgReader::open(const std::string& path) {
  close();
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(path + ": " + std::strerror(errno));
  if (::lseek(fd, 0, SEEK_END) < 0) {
    int err = errno;
    ::close(fd);
    return fail(path + ": seeking to the end: " + std::strerror(err));
  }
  fd_ = fd;
  return {};
}

std::vector<std::string> KmsgReader::read_new() {
  std::vector<std::string> messages;
  if (fd_ < 0) return messages;
  auto take_lines = [&](bool all) {
    std::size_t start = 0;
    while (true) {
      auto nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      if (auto text = kmsg_record_text(std::string_view(pending_).substr(start, nl - start))) {
        messages.push_back(std::move(*text));
        if (messages.size() > kMaxKmsgKept) messages.erase(messages.begin());
      }
      start = nl + 1;
    }
    pending_.erase(0, start);
    if (all && !pending_.empty()) {  // a file's last line without '\n'
      if (auto text = kmsg_record_text(pending_)) messages.push_back(std::move(*text));
      pending_.clear();
    }
  };
  // /dev/kmsg hands out one record per read(); a plain file (the tests)
  // many lines, or part of one. The kernel's records stay under 8 KiB.
  char buf[16384];
  for (std::size_t reads = 0; reads < kMaxKmsgRecords; ++reads) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) continue;  // records overwritten before we read them
    if (n <= 0) break;                      // EAGAIN: nothing new; 0: end of a file
    pending_.append(buf, static_cast<std::size_t>(n));
    if (pending_.size() > 2 * sizeof buf) pending_.erase(0, pending_.size() - 2 * sizeof buf);
    take_lines(false);
  }
  take_lines(true);
  return messages;
}

std::string sched_ext_lines(const std::vector<std::string>& messages) {
  std::string out;
  for (const auto& m : messages) {
    if (m.rfind("sched_ext:", 0) != 0) continue;
    if (!out.empty()) out += "; ";
    out += m;
    if (out.size() > kMaxKmsgTextBytes) {
      out.resize(kMaxKmsgTextBytes);
      out += "...";
      break;
    }
  }
  return out;
}

}  // namespace ktest::agent
