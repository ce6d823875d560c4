// The control channel: the virtio-serial port named "ktest.ctl".
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

// A host that stops reading must not stall the agent forever.
constexpr int kWriteStallMs = 10000;

std::string find_port() {
  DIR* dir = ::opendir("/sys/class/virtio-ports");
  if (dir == nullptr) return {};
  std::string found;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    auto name = read_text_file(std::string("/sys/class/virtio-ports/") + e->d_name + "/name", 256);
    if (name && trim(*name) == kvm::control::kControlPortName) {
      found = std::string("/dev/") + e->d_name;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, kWriteStallMs) <= 0) return false;
  }
  return true;
}

}  // namespace

Channel Channel::open(std::chrono::milliseconds wait) {
  Channel ch;
  auto deadline = Clock::now() + wait;
  std::string path;
  // devtmpfs creates /dev/vportNpM once the virtio driver probes the port.
  while ((path = find_port()).empty() || ::access(path.c_str(), W_OK) != 0) {
    if (Clock::now() >= deadline) {
      console_log("no virtio-serial port named ktest.ctl; control messages go to the console");
      return ch;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ch.fd_ = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (ch.fd_ < 0) console_log("open " + path + " failed; control messages go to the console");
  ch.path_ = path;
  return ch;
}

void Channel::send(const kvm::control::Message& m) {
  std::string line = kvm::control::encode(m);
  if (fd_ >= 0) {
    if (write_all(fd_, line)) return;
    console_log("control port stalled or failed; switching to the console");
    ::close(fd_);
    fd_ = -1;
  }
  line.insert(0, "KTEST-CTL ");
  write_all(STDOUT_FILENO, line);
}

std::vector<std::string> Channel::read_lines() {
  std::vector<std::string> lines;
  if (fd_ < 0) return lines;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(fd_, buf, sizeof buf)) > 0) {
    inbound_.append(buf, static_cast<std::size_t>(n));
    if (inbound_.size() > kMaxInboundBytes) inbound_.clear();  // no line is this long: drop it
  }
  std::size_t nl;
  while ((nl = inbound_.find('\n')) != std::string::npos) {
    lines.push_back(inbound_.substr(0, nl));
    inbound_.erase(0, nl + 1);
  }
  return lines;
}

}  // namespace ktest::agent
