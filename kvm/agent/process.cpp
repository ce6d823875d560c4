// Workloads and commands: fork/exec with affinity, nice and bounded waits.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

constexpr const char* kBusybox = "/bin/busybox";
// vm.tools land at their host paths (/usr/sbin/bpftool): they come before
// the busybox applets in /bin.
char kPathEnv[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
char kHomeEnv[] = "HOME=/";
char* kEnv[] = {kPathEnv, kHomeEnv, nullptr};
constexpr const char* kSearchDirs[] = {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"};
constexpr const char* kToolsHint = "command not found in the guest: add it to vm.tools";

// The exec'd argv: "@name" → the agent's built-in workload; one string →
// a shell command; otherwise argv itself.
std::vector<std::string> resolve_argv(const std::vector<std::string>& argv,
                                      const std::string& name) {
  if (argv.size() == 1 && argv[0].starts_with("@"))
    return {"/proc/self/exe", "--workload", argv[0].substr(1), name};
  if (argv.size() == 1) return {kBusybox, "sh", "-c", argv[0]};
  return argv;
}

bool is_executable(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Busybox applets not linked into /bin still run as `busybox <applet>`.
bool busybox_has_applet(const std::string& name) {
  static std::vector<std::string> applets = [] {
    std::vector<std::string> out;
    auto listed = run_process({kBusybox, "--list"}, std::chrono::seconds(5));
    if (!listed || !listed->exited) return out;
    std::string_view text = listed->output;
    while (!text.empty()) {
      auto nl = text.find('\n');
      if (nl != 0) out.emplace_back(text.substr(0, nl));
      if (nl == std::string_view::npos) break;
      text.remove_prefix(nl + 1);
    }
    return out;
  }();
  return std::find(applets.begin(), applets.end(), name) != applets.end();
}

// What execve gets as its path: argv[0] itself when it has a '/', else the
// first executable on the guest's PATH, else busybox for one of its
// applets; "" when nothing in the guest can run it.
std::string program_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return program;
  for (const char* dir : kSearchDirs)
    if (is_executable(dir + program)) return dir + program;
  if (busybox_has_applet(program)) return kBusybox;
  return {};
}

// Why a child could not become the program, sent to the parent over a
// close-on-exec pipe: a successful execve closes it with nothing written.
struct ChildFailure {
  enum Stage : int { Affinity, Nice, Exec } stage;
  int err;
};

[[noreturn]] void child_failed(int report_fd, ChildFailure::Stage stage) {
  ChildFailure failure{stage, errno};
  [[maybe_unused]] auto n = ::write(report_fd, &failure, sizeof failure);
  ::_exit(stage == ChildFailure::Exec ? 127 : 126);
}

Unexpected explain(const ChildFailure& failure, const std::string& program, int nice) {
  const std::string why = std::strerror(failure.err);
  switch (failure.stage) {
    case ChildFailure::Affinity: return fail("cannot pin '" + program + "' to its cpus: " + why);
    case ChildFailure::Nice:
      return fail("cannot set nice " + std::to_string(nice) + " for '" + program + "': " + why);
    case ChildFailure::Exec: break;
  }
  return fail("cannot run '" + program + "': " + why, "",
              failure.err == ENOENT ? kToolsHint : "is it a program the guest can execute?");
}

void keep_output(RunOutcome& out, const char* data, std::size_t n) {
  const std::size_t kept = std::min(n, kvm::control::kMaxRunOutputBytes - out.output.size());
  out.output.append(data, kept);
  out.output_dropped += n - kept;
  out.output_tail.append(data, n);
  if (out.output_tail.size() > 2 * kOutputTailBytes)
    out.output_tail.erase(0, out.output_tail.size() - kOutputTailBytes);
}

void finish_output(RunOutcome& out) {
  if (out.output_tail.size() > kOutputTailBytes)
    out.output_tail.erase(0, out.output_tail.size() - kOutputTailBytes);
}

}  // namespace

const char* tools_hint() { return kToolsHint; }

std::string outcome_summary(const RunOutcome& r) {
  if (r.timed_out) return "timed out";
  if (r.exited) return "exited with " + std::to_string(r.exit_code);
  return "killed by signal " + std::to_string(r.signal);
}

Result<int> spawn_process(const std::vector<std::string>& argv, const std::vector<uint32_t>& cpus,
                          int nice, int output_fd, const std::string& name) {
  if (argv.empty()) return fail("empty argv");
  auto resolved = resolve_argv(argv, name);
  const std::string path = program_path(resolved[0]);
  if (path.empty()) return explain({ChildFailure::Exec, ENOENT}, resolved[0], nice);
  cpu_set_t set;
  CPU_ZERO(&set);
  for (uint32_t cpu : cpus) {
    if (cpu >= CPU_SETSIZE) return fail("CPU id " + std::to_string(cpu) + " too large");
    CPU_SET(cpu, &set);
  }
  // Affinity is checked in the parent so a bad CPU list is a step error.
  if (!cpus.empty()) {
    cpu_set_t online;
    if (::sched_getaffinity(0, sizeof online, &online) == 0) {
      for (uint32_t cpu : cpus)
        if (!CPU_ISSET(cpu, &online))
          return fail("CPU " + std::to_string(cpu) + " is not online in the guest",
                      "", "use CPU ids below the VM's CPU count");
    }
  }
  std::vector<char*> args;
  for (const auto& a : resolved) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return fail(std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(report[0]);
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (output_fd >= 0) {
      ::dup2(output_fd, STDOUT_FILENO);
      ::dup2(output_fd, STDERR_FILENO);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (!cpus.empty() && ::sched_setaffinity(0, sizeof set, &set) != 0)
      child_failed(report[1], ChildFailure::Affinity);
    if (nice != 0 && ::setpriority(PRIO_PROCESS, 0, nice) != 0) child_failed(report[1], ChildFailure::Nice);
    ::execve(path.c_str(), args.data(), kEnv);
    child_failed(report[1], ChildFailure::Exec);
  }
  ::close(report[1]);
  ::setpgid(pid, pid);  // also from the parent: no race with an early kill
  ChildFailure failure{};
  ssize_t n;
  while ((n = ::read(report[0], &failure, sizeof failure)) < 0 && errno == EINTR) {
  }
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    ::waitpid(pid, nullptr, 0);  // it exits right after writing
    return explain(failure, resolved[0], nice);
  }
  return static_cast<int>(pid);
}

Result<RunOutcome> run_process(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout,
                               const std::function<bool()>& interrupt) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail(std::string("pipe: ") + std::strerror(errno));
  auto pid = spawn_process(argv, {}, 0, pipe_fds[1], "run");
  ::close(pipe_fds[1]);
  if (!pid) {
    ::close(pipe_fds[0]);
    return fail(std::move(pid.error()));
  }
  RunOutcome out;
  auto deadline = Clock::now() + timeout;
  auto next_interrupt_check = Clock::now();
  bool pipe_open = true;
  std::vector<char> buf(64 * 1024);
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(*pid, &status, WNOHANG);
    if (r == *pid) {
      out.exited = WIFEXITED(status);
      out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
      out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      break;
    }
    if (Clock::now() >= deadline) {
      out.timed_out = true;
      kill_processes({*pid}, std::chrono::seconds(2));
      break;
    }
    if (interrupt && Clock::now() >= next_interrupt_check) {  // at most every 20 ms
      next_interrupt_check = Clock::now() + std::chrono::milliseconds(20);
      if (interrupt()) {
        out.interrupted = true;
        kill_processes({*pid}, std::chrono::seconds(2));
        break;
      }
    }
    if (pipe_open) {
      pollfd p{pipe_fds[0], POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        ssize_t n = ::read(pipe_fds[0], buf.data(), buf.size());
        if (n > 0) keep_output(out, buf.data(), static_cast<std::size_t>(n));
        else if (n == 0) pipe_open = false;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // Drain what the child wrote before exiting, without waiting on any
  // grandchild that still holds the pipe.
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  for (ssize_t n; pipe_open && (n = ::read(pipe_fds[0], buf.data(), buf.size())) > 0;)
    keep_output(out, buf.data(), static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  finish_output(out);
  return out;
}

void kill_processes(const std::vector<int>& pids, std::chrono::milliseconds wait) {
  for (int pid : pids) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  auto deadline = Clock::now() + wait;
  for (int pid : pids) {
    while (true) {
      pid_t r = ::waitpid(pid, nullptr, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD) || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

void reap_zombies(int keep) {
  while (true) {
    // Look before reaping: `keep`'s status belongs to its owner. Others
    // wait behind it until the owner reaps it (after the next step).
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
    if (info.si_pid == keep) return;
    ::waitpid(info.si_pid, nullptr, WNOHANG);
  }
}

[[noreturn]] void run_builtin_workload(std::string_view kind, const std::string& name) {
  // The Spawn name as comm, so the guest's tools and the scheduler's
  // per-task state show "worker" rather than "exe".
  if (!name.empty()) ::prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
  if (kind == "spin") {
    volatile uint64_t counter = 0;
    while (true) counter = counter + 1;
  }
  if (kind == "yield") {
    while (true) ::sched_yield();
  }
  if (kind == "sleep") {
    while (true) ::usleep(1000);
  }
  console_log("unknown built-in workload \"" + std::string(kind) + "\" (spin, yield, sleep)");
  ::_exit(2);
}

}  // namespace ktest::agent
