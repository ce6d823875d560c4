// QemuMachine's monitor thread: everything QEMU says, its exit, and the
// deadlines (run timeout, panic grace, SIGTERM→SIGKILL escalation).
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "kvm/qemu/qemu_machine.h"

namespace ktest::kvm {

using doorbell::DoorbellPage;

namespace {

constexpr auto kPanicGrace = std::chrono::seconds(5);  // panic=-1 + -no-reboot should exit at once
constexpr auto kTermGrace = std::chrono::seconds(3);
constexpr size_t kStderrTailBytes = 2048;
constexpr size_t kMaxQmpLine = 16u << 20;

// Reads whatever is available on a non-blocking fd; false on EOF/error.
bool read_available(int fd, std::string& out) {
  char chunk[8192];
  while (true) {
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n > 0) {
      out.append(chunk, static_cast<size_t>(n));
      if (out.size() > (1u << 20)) return true;  // let the caller consume first
      continue;
    }
    if (n < 0 && (errno == EINTR)) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

}  // namespace

void QemuMachine::handle_console(int fd) {
  std::string bytes;
  bool open = read_available(fd, bytes);
  if (!bytes.empty()) {
    console_log_.append(bytes);
    std::lock_guard lk(mu_);
    console_tail_.feed(bytes, [&](const std::string& line) {
      if (panic_line_.empty() && line.find("Kernel panic - not syncing") != std::string::npos) {
        panic_line_ = line;
        panic_deadline_ = Clock::now() + kPanicGrace;
      }
    });
  }
  if (!open) console_fd_.reset();
}

void QemuMachine::handle_stderr(int fd) {
  std::string bytes;
  bool open = read_available(fd, bytes);
  if (!bytes.empty()) {
    [[maybe_unused]] ssize_t w = ::write(qemu_log_.get(), bytes.data(), bytes.size());
    std::lock_guard lk(mu_);
    stderr_tail_ += bytes;
    if (stderr_tail_.size() > kStderrTailBytes)
      stderr_tail_.erase(0, stderr_tail_.size() - kStderrTailBytes);
    while (!stderr_tail_.empty() && (stderr_tail_.back() == '\n')) stderr_tail_.pop_back();
  }
  if (!open) stderr_fd_.reset();
}

void QemuMachine::handle_qmp(int fd) {
  std::string bytes;
  bool open = read_available(fd, bytes);
  std::lock_guard lk(mu_);
  qmp_partial_ += bytes;
  size_t nl;
  while ((nl = qmp_partial_.find('\n')) != std::string::npos) {
    std::string line = qmp_partial_.substr(0, nl);
    qmp_partial_.erase(0, nl + 1);
    auto msg = qmp::parse_qmp_message(line);
    if (!msg) continue;  // QEMU does not send garbage; a bad line is dropped, not fatal
    switch (msg->type) {
      case qmp::MessageType::Return:
      case qmp::MessageType::Error:
        if (msg->id) qmp_replies_[*msg->id] = {std::move(*msg), vm_resumes_};
        break;
      case qmp::MessageType::Event:
        if (msg->event == "RESUME") ++vm_resumes_;
        if (msg->event == "SHUTDOWN" && msg->data.is_object())
          shutdown_reason_ = msg->data.value("reason", "");
        if (msg->event == "GUEST_PANICKED" && panic_line_.empty()) {
          panic_line_ = "guest panicked (QMP GUEST_PANICKED)";
          panic_deadline_ = Clock::now() + kPanicGrace;
        }
        break;
      case qmp::MessageType::Greeting:
        break;
    }
  }
  if (qmp_partial_.size() > kMaxQmpLine) qmp_partial_.clear();
  cv_.notify_all();
  if (!open) qmp_ready_ = false;  // the fd stays open: a caller may be writing to it
}

void QemuMachine::handle_gdb(int fd) {
  std::string bytes;
  bool open = read_available(fd, bytes);
  gdb_decoder_.feed(bytes);
  std::lock_guard lk(mu_);
  while (auto packet = gdb_decoder_.next()) {
    {
      // Ack (or nack a corrupt packet) right away: see qemu_machine.h.
      std::lock_guard wl(gdb_write_mu_);
      [[maybe_unused]] ssize_t w = ::send(fd, packet->ok() ? "+" : "-", 1, MSG_NOSIGNAL);
    }
    if (!packet->ok()) continue;
    const std::string& payload = **packet;
    if (!gdb::is_stop_reply(payload)) {
      gdb_replies_.push_back(payload);
      continue;
    }
    auto stop = gdb::parse_stop_reply(payload);
    if (!stop || !stop->watch_addr) continue;  // a QMP stop also yields a stop reply (T02)
    WatchpointHit hit;
    hit.addr = *stop->watch_addr;
    hit.cpu = stop->thread ? *stop->thread - 1 : -1;
    for (const auto& [id, w] : watches_) {
      if (hit.addr >= w.addr && hit.addr < w.addr + w.len) hit.id = id;
    }
    events_.push_back(hit);
  }
  cv_.notify_all();
  if (!open) gdb_ready_ = false;
}

void QemuMachine::handle_doorbell() {
  if (ivshmem_->drain_host_eventfd() == 0) return;
  auto* page = reinterpret_cast<DoorbellPage*>(shm_);
  std::lock_guard lk(mu_);
  auto ev = take_doorbell_request(*page, last_doorbell_serial_, events_.size());
  if (!ev) return;
  events_.push_back(std::move(*ev));
  cv_.notify_all();
}

void QemuMachine::check_deadlines() {
  std::lock_guard lk(mu_);
  if (reaped_) return;
  auto now = Clock::now();
  if (run_deadline_ && now > *run_deadline_ && !kill_deadline_) {
    if (!forced_reason_) forced_reason_ = ExitReason::Timeout;
    send_signal(SIGTERM);
    kill_deadline_ = now + kTermGrace;
  }
  if (panic_deadline_ && now > *panic_deadline_ && !kill_deadline_) {
    send_signal(SIGTERM);
    kill_deadline_ = now + kTermGrace;
  }
  if (kill_deadline_ && now > *kill_deadline_) send_signal(SIGKILL);
}

void QemuMachine::reap_if_exited() {
  if (reaped_ || pid_ <= 0) return;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return;
  // Drain what QEMU wrote before it died (the panic message, its error).
  if (console_fd_.valid()) handle_console(console_fd_.get());
  if (stderr_fd_.valid()) handle_stderr(stderr_fd_.get());
  finalize_exit(status);
}

void QemuMachine::finalize_exit(int wait_status) {
  std::lock_guard lk(mu_);
  reaped_ = true;
  ExitEvent exit;
  exit.exit_status = WIFEXITED(wait_status)   ? WEXITSTATUS(wait_status)
                     : WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status)
                                                : -1;
  console_tail_.finish();
  exit.console_tail.assign(console_tail_.lines().begin(), console_tail_.lines().end());
  if (!panic_line_.empty()) {
    exit.reason = ExitReason::Panic;
    exit.detail = panic_line_;
  } else if (forced_reason_) {
    exit.reason = *forced_reason_;
    exit.detail = *forced_reason_ == ExitReason::Timeout
                      ? fmt::format("no exit within the run timeout of {} s",
                                    std::chrono::duration_cast<std::chrono::seconds>(config_.run_timeout).count())
                      : "stopped by ktest";
  } else if (shutdown_reason_ == "guest-shutdown" && exit.exit_status == 0) {
    exit.reason = ExitReason::Poweroff;
  } else {
    exit.reason = ExitReason::Crashed;
    std::string last = stderr_tail_.substr(stderr_tail_.rfind('\n') == std::string::npos ? 0 : stderr_tail_.rfind('\n') + 1);
    std::string how = WIFSIGNALED(wait_status)
                          ? fmt::format("QEMU was killed by signal {} (SIG{})", WTERMSIG(wait_status),
                                        sigabbrev_np(WTERMSIG(wait_status)) ? sigabbrev_np(WTERMSIG(wait_status)) : "?")
                          : fmt::format("QEMU exited with status {}", exit.exit_status);
    exit.detail = fmt::format("{}{}{}{}", how,
                              shutdown_reason_.empty() ? "" : " after " + shutdown_reason_,
                              last.empty() ? "" : ": ", last);
  }
  exit_ = exit;
  events_.push_back(std::move(exit));
  cv_.notify_all();
}

void QemuMachine::monitor_loop() {
  enum Source { kWake, kConsole, kStderr, kPid, kListen, kDoorbell, kQmp, kGdb };
  while (!reaped_) {
    std::vector<pollfd> fds;
    std::vector<Source> sources;
    auto add = [&](int fd, Source s) {
      if (fd < 0) return;
      fds.push_back(pollfd{fd, POLLIN, 0});
      sources.push_back(s);
    };
    add(wake_fd_.get(), kWake);
    add(console_fd_.get(), kConsole);
    add(stderr_fd_.get(), kStderr);
    add(pidfd_.get(), kPid);
    add(ivshmem_->client_connected() ? -1 : ivshmem_->listen_fd(), kListen);
    add(ivshmem_->host_eventfd(), kDoorbell);
    {
      std::lock_guard lk(mu_);
      if (qmp_ready_) add(qmp_fd_.get(), kQmp);
      if (gdb_ready_) add(gdb_fd_.get(), kGdb);
    }
    int n = ::poll(fds.data(), fds.size(), 50);
    if (n < 0 && errno != EINTR) break;
    for (size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      switch (sources[i]) {
        case kWake: {
          uint64_t v;
          [[maybe_unused]] ssize_t r = ::read(wake_fd_.get(), &v, sizeof(v));
          break;
        }
        case kConsole: handle_console(fds[i].fd); break;
        case kStderr: handle_stderr(fds[i].fd); break;
        case kPid: break;  // reaped below
        case kListen: {
          std::lock_guard lk(mu_);
          if (auto st = ivshmem_->accept_client(); !st) stderr_tail_ += "\n" + st.error().to_string();
          cv_.notify_all();
          break;
        }
        case kDoorbell: handle_doorbell(); break;
        case kQmp: handle_qmp(fds[i].fd); break;
        case kGdb: handle_gdb(fds[i].fd); break;
      }
    }
    check_deadlines();
    reap_if_exited();
    if (stop_monitor_ && pid_ <= 0) break;
  }
}

}  // namespace ktest::kvm
