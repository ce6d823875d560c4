// The interactive phase (agent.h): a person's shell on the terminal port,
// and the local socket the guest's ktest-* commands talk to.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

// The virtio console port "ktest.term" is the guest's only hvc device
// (the kernel console is ttyS0), so it is hvc0.
constexpr const char* kTerminalDevice = "/dev/hvc0";
constexpr auto kTerminalWait = std::chrono::seconds(5);
constexpr const char* kShells[] = {"/usr/bin/bash", "/bin/bash", "/bin/sh"};

bool exists(const char* path) {
  struct stat st{};
  return ::stat(path, &st) == 0;
}

[[noreturn]] void become_shell(const ShellTerminal& terminal) {
  ::setsid();
  int fd = ::open(kTerminalDevice, O_RDWR);  // the session leader's first tty: its controlling one
  if (fd < 0) ::_exit(126);
  ::ioctl(fd, TIOCSCTTY, 0);
  if (terminal.rows > 0 && terminal.cols > 0) {
    winsize size{};
    size.ws_row = terminal.rows;
    size.ws_col = terminal.cols;
    ::ioctl(fd, TIOCSWINSZ, &size);
  }
  termios mode{};
  if (::tcgetattr(fd, &mode) == 0) {
    // A fresh hvc line: make it a sane interactive terminal (^C, ^Z, echo, CR/LF).
    mode.c_iflag |= ICRNL | IXON;
    mode.c_oflag |= OPOST | ONLCR;
    mode.c_lflag |= ISIG | ICANON | ECHO | ECHOE | ECHOK | IEXTEN;
    ::tcsetattr(fd, TCSANOW, &mode);
  }
  for (int target = 0; target < 3; ++target) ::dup2(fd, target);
  if (fd > 2) ::close(fd);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::chdir("/");
  ::setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
  ::setenv("HOME", "/", 1);
  ::setenv("TERM", terminal.term.empty() ? "vt100" : terminal.term.c_str(), 1);
  ::setenv("PS1", "ktest-guest:\\w# ", 1);
  const char* shell = "/bin/sh";
  for (const char* candidate : kShells)
    if (exists(candidate)) {
      shell = candidate;
      break;
    }
  std::string banner = terminal.banner + "\n";
  [[maybe_unused]] auto n = ::write(STDOUT_FILENO, banner.data(), banner.size());
  ::execl(shell, shell, "-i", static_cast<char*>(nullptr));
  ::_exit(127);
}

}  // namespace

Result<int> start_shell(const ShellTerminal& terminal) {
  auto deadline = Clock::now() + kTerminalWait;
  while (!exists(kTerminalDevice)) {
    if (Clock::now() > deadline)
      return fail(std::string(kTerminalDevice) + " did not appear", "",
                  "the host must boot the guest with its terminal port (ktest shell, --shell-on-fail)");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_t pid = ::fork();
  if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) become_shell(terminal);
  return static_cast<int>(pid);
}

void resize_terminal(uint16_t rows, uint16_t cols) {
  int fd = ::open(kTerminalDevice, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  ::ioctl(fd, TIOCSWINSZ, &size);  // the kernel tells the foreground job (SIGWINCH)
  ::close(fd);
}

CommandServer::~CommandServer() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(kGuestCommandSocket);
  }
}

Status CommandServer::open() {
  ::mkdir("/run/ktest", 0755);
  ::unlink(kGuestCommandSocket);
  fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return fail(std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, kGuestCommandSocket, sizeof addr.sun_path - 1);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 4) != 0)
    return fail(std::string("binding ") + kGuestCommandSocket + ": " + std::strerror(errno));
  return {};
}

std::optional<CommandServer::Request> CommandServer::next(std::chrono::milliseconds wait) {
  pollfd p{fd_, POLLIN, 0};
  if (fd_ < 0 || ::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::nullopt;
  int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) return std::nullopt;
  // A client gets a second to send its one request: a stuck one cannot hold the agent.
  pollfd c{client, POLLIN, 0};
  std::string text(kMaxGuestCommandBytes, '\0');
  ssize_t n = ::poll(&c, 1, 1000) > 0 ? ::recv(client, text.data(), text.size(), 0) : -1;
  if (n <= 0) {
    ::close(client);
    return std::nullopt;
  }
  text.resize(static_cast<std::size_t>(n));
  return Request{client, std::move(text)};
}

void CommandServer::answer(Request& request, bool ok, const std::string& text) {
  std::string reply = (ok ? "ok " : "error ") + text;
  if (reply.size() > kMaxGuestCommandBytes) reply.resize(kMaxGuestCommandBytes);
  [[maybe_unused]] auto n = ::send(request.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  ::close(request.fd);
  request.fd = -1;
}

}  // namespace ktest::agent
