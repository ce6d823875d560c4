// Workloads and commands: fork/exec with affinity, nice and bounded waits.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

constexpr const char* kBusybox = "/bin/busybox";
char kPathEnv[] = "PATH=/bin:/sbin:/usr/bin:/usr/sbin";
char kHomeEnv[] = "HOME=/";
char* kEnv[] = {kPathEnv, kHomeEnv, nullptr};

// The exec'd argv: "@name" → the agent's built-in workload; one string →
// a shell command; otherwise argv itself (busybox applets as fallback).
std::vector<std::string> resolve_argv(const std::vector<std::string>& argv,
                                      const std::string& name) {
  if (argv.size() == 1 && argv[0].starts_with("@"))
    return {"/proc/self/exe", "--workload", argv[0].substr(1), name};
  if (argv.size() == 1) return {kBusybox, "sh", "-c", argv[0]};
  return argv;
}

[[noreturn]] void exec_child(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  if (argv[0].find('/') != std::string::npos) {
    ::execve(argv[0].c_str(), args.data(), kEnv);
  } else {
    for (const char* dir : {"/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"})
      ::execve((std::string(dir) + argv[0]).c_str(), args.data(), kEnv);
    // busybox picks the applet from argv[0].
    ::execve(kBusybox, args.data(), kEnv);
  }
  std::string msg = "ktest-agent: exec " + argv[0] + ": " + std::strerror(errno) + "\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg.data(), msg.size());
  ::_exit(127);
}

}  // namespace

Result<int> spawn_process(const std::vector<std::string>& argv, const std::vector<uint32_t>& cpus,
                          int nice, int output_fd, const std::string& name) {
  if (argv.empty()) return fail("empty argv");
  auto resolved = resolve_argv(argv, name);
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
  pid_t pid = ::fork();
  if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
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
    if (!cpus.empty() && ::sched_setaffinity(0, sizeof set, &set) != 0) ::_exit(126);
    if (nice != 0 && ::setpriority(PRIO_PROCESS, 0, nice) != 0) ::_exit(126);
    exec_child(resolved);
  }
  ::setpgid(pid, pid);  // also from the parent: no race with an early kill
  return static_cast<int>(pid);
}

Result<RunOutcome> run_process(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout) {
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
  bool pipe_open = true;
  char buf[4096];
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
    if (pipe_open) {
      pollfd p{pipe_fds[0], POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
        if (n > 0) out.output_tail.append(buf, static_cast<std::size_t>(n));
        else if (n == 0) pipe_open = false;
      }
      if (out.output_tail.size() > 2 * kOutputTailBytes)
        out.output_tail.erase(0, out.output_tail.size() - kOutputTailBytes);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // Drain what the child wrote before exiting, without waiting on any
  // grandchild that still holds the pipe.
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  for (ssize_t n; pipe_open && (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) {
    out.output_tail.append(buf, static_cast<std::size_t>(n));
    if (out.output_tail.size() > 2 * kOutputTailBytes)
      out.output_tail.erase(0, out.output_tail.size() - kOutputTailBytes);
  }
  ::close(pipe_fds[0]);
  if (out.output_tail.size() > kOutputTailBytes)
    out.output_tail.erase(0, out.output_tail.size() - kOutputTailBytes);
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

void reap_zombies() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
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
