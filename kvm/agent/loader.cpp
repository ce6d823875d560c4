// Loader schedulers: a program that loads and attaches its sched_ext
// scheduler itself, as upstream's scx_* do; the agent starts it, waits for
// a new scheduler to be enabled, watches it and stops it (kvm/plan.h).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

using std::chrono::milliseconds;

// Grows by one each time sched_ext enables a scheduler (kernel/sched/ext.c).
constexpr const char* kEnableSeqPath = "/sys/kernel/sched_ext/enable_seq";
constexpr milliseconds kPollInterval(10);
constexpr milliseconds kKillWait(2000);  // after SIGKILL

std::optional<uint64_t> enable_seq() {
  auto text = read_text_file(kEnableSeqPath, 64);
  if (!text) return std::nullopt;
  char* end = nullptr;
  std::string digits = trim(*text);
  uint64_t value = std::strtoull(digits.c_str(), &end, 10);
  if (digits.empty() || end == nullptr || *end != '\0') return std::nullopt;
  return value;
}

// Reads up to `n` bytes at `offset`; short on EOF or error.
std::string read_at(int fd, off_t offset, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out.data() + got, n - got, offset + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

}  // namespace

RunOutcome loader_outcome(int wait_status, const std::string& output_path) {
  RunOutcome out;
  out.exited = WIFEXITED(wait_status);
  out.exit_code = out.exited ? WEXITSTATUS(wait_status) : 0;
  out.signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  int fd = ::open(output_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st{};
  const uint64_t size = ::fstat(fd, &st) == 0 && st.st_size > 0 ? static_cast<uint64_t>(st.st_size) : 0;
  // The head up to the cap, the tail apart: the file may be far larger.
  out.output = read_at(fd, 0, static_cast<std::size_t>(std::min<uint64_t>(size, kvm::control::kMaxRunOutputBytes)));
  out.output_dropped = size - out.output.size();
  const uint64_t tail = std::min<uint64_t>(size, kOutputTailBytes);
  out.output_tail = read_at(fd, static_cast<off_t>(size - tail), static_cast<std::size_t>(tail));
  ::close(fd);
  return out;
}

bool SchedulerSlot::loader_ended() {
  if (loader_.pid <= 0 || loader_.wait_status) return true;
  int status = 0;
  pid_t r = ::waitpid(loader_.pid, &status, WNOHANG);
  if (r == loader_.pid) loader_.wait_status = status;
  else if (r < 0 && errno == ECHILD) loader_.wait_status = 0;  // reaped elsewhere: status unknown
  return loader_.wait_status.has_value();
}

Status SchedulerSlot::attach_loader(const kvm::SchedulerSpec& spec, SchedulerReport& report) {
  const milliseconds timeout(spec.timeout_ms);
  // "A new scheduler": enable_seq grew. Without the file (an older kernel)
  // the state must go from not enabled to enabled.
  const std::optional<uint64_t> seq_before = enable_seq();
  const bool enabled_before = read_scheduler_state() == "enabled";
  const std::string program = spec.command.front();

  std::string output_path = "/tmp/ktest-scheduler-" + std::to_string(++loaders_started_) + ".log";
  int fd = ::open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail("creating " + output_path + ": " + std::strerror(errno));
  auto pid = spawn_process(spec.command, {}, 0, fd, spec.name);
  ::close(fd);
  if (!pid) {
    ::unlink(output_path.c_str());
    return fail(pid.error().with_context("starting the scheduler's loader"));
  }
  loader_ = Loader{*pid, spec.name, output_path, std::nullopt};

  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (loader_ended()) {
      std::string words = kernel_words(kmsg_);
      stop_loader(report);
      read_scheduler_state(report);
      return fail("the loader " + program + " " + outcome_summary(*report.loader) +
                      " before its scheduler was enabled" + words +
                      (report.loader->output_tail.empty() ? "; it wrote nothing"
                                                          : "; output tail:\n" + report.loader->output_tail),
                  "", "run it by hand in the guest (a Run step) to see why it fails");
    }
    const std::string state = read_scheduler_state();
    const std::optional<uint64_t> seq = enable_seq();
    const bool fresh = seq_before && seq ? *seq > *seq_before : !enabled_before;
    if (fresh && state == "enabled") {
      read_scheduler_state(report);
      if (!spec.ops || report.ops == *spec.ops) break;
    }
    if (Clock::now() >= deadline) {
      read_scheduler_state(report);
      std::string why = !fresh ? "no new sched_ext scheduler was enabled"
                        : state != "enabled"
                            ? "sched_ext state is \"" + state + "\""
                            : "the enabled scheduler is \"" + report.ops + "\", not \"" + spec.ops.value_or("") + "\"";
      std::string words = kernel_words(kmsg_);
      stop_loader(report);
      return fail("the loader " + program + " ran " + std::to_string(timeout.count()) + " ms and " + why +
                      words + "; output tail:\n" + report.loader->output_tail,
                  "", spec.ops ? "check `ops:` (the scheduler's sched_ext_ops.name) and the loader's output"
                               : "raise the scheduler's `timeout:`, or see the loader's output");
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  ops_name_ = report.ops;
  exited_ = false;
  kmsg_.read_new();  // from here on only what happens after enabling counts
  return {};
}

void SchedulerSlot::stop_loader(SchedulerReport& report) {
  if (loader_.pid <= 0) return;
  auto wait_until = [this](milliseconds bound) {
    const auto deadline = Clock::now() + bound;
    while (!loader_ended() && Clock::now() < deadline) std::this_thread::sleep_for(kPollInterval);
    return loader_ended();
  };
  if (!loader_ended()) {
    // Its process group: a loader's helpers stop with it.
    ::kill(-loader_.pid, SIGINT);
    if (!wait_until(milliseconds(kvm::kLoaderGraceMs))) {
      ::kill(-loader_.pid, SIGKILL);
      ::kill(loader_.pid, SIGKILL);
      if (!wait_until(kKillWait)) console_log("loader " + loader_.name + " did not die after SIGKILL");
    }
  }
  RunOutcome outcome = loader_outcome(loader_.wait_status.value_or(SIGKILL), loader_.output_path);
  outcome.timed_out = !loader_.wait_status.has_value();
  report.loader = std::move(outcome);
  report.loader_output_name = "scheduler-" + loader_.name;
  ::unlink(loader_.output_path.c_str());
  loader_ = Loader{};
}

}  // namespace ktest::agent
