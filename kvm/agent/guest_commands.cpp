// The guest's ktest-* commands (agent.h): each sends one plan step to the
// agent over kGuestCommandSocket and prints the agent's answer.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

constexpr int kUsage = 2;

struct Command {
  const char* name;
  const char* usage;
};

constexpr Command kCommands[] = {
    {"ktest-capture", "ktest-capture NAME\n  capture a snapshot of the BPF state now (the host freezes the guest)"},
    {"ktest-watch", "ktest-watch NAME SYMBOL [r|w|rw] [LEN]\n  arm a one-shot watchpoint; its hit captures NAME"},
    {"ktest-attach", "ktest-attach [OBJECT [OPS] | -- COMMAND [ARG...]]\n"
                     "  attach a scheduler: a BPF object, a loader command, or (no argument)\n"
                     "  the last one the scenario or this shell attached"},
    {"ktest-detach", "ktest-detach\n  detach the attached scheduler"},
};

int usage(const std::string& name, const std::string& why) {
  if (!why.empty()) std::cerr << name << ": " << why << "\n";
  for (const auto& c : kCommands)
    if (name == c.name) std::cerr << "usage: " << c.usage << "\n";
  return kUsage;
}

// The request, as a plan step; nullopt after printing a usage error.
std::optional<nlohmann::json> request_for(const std::string& name, const std::vector<std::string>& args) {
  using nlohmann::json;
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) return std::nullopt;
  if (name == "ktest-capture" && args.size() == 1) return json{{"op", "CaptureSnapshot"}, {"name", args[0]}};
  if (name == "ktest-watch" && args.size() >= 2 && args.size() <= 4) {
    json step{{"op", "WatchSnapshot"}, {"name", args[0]}, {"symbol", args[1]}};
    if (args.size() >= 3) step["access"] = args[2];
    if (args.size() == 4) {
      char* end = nullptr;
      unsigned long len = std::strtoul(args[3].c_str(), &end, 10);
      if (end == args[3].c_str() || *end != '\0') return std::nullopt;
      step["len"] = len;
    }
    return step;
  }
  if (name == "ktest-attach") {
    json step{{"op", "AttachScheduler"}};
    if (!args.empty() && args[0] == "--") {
      if (args.size() < 2) return std::nullopt;
      step["command"] = std::vector<std::string>(args.begin() + 1, args.end());
    } else if (args.size() == 1 || args.size() == 2) {
      step["object"] = args[0];
      if (args.size() == 2) step["ops"] = args[1];
    } else if (!args.empty()) {
      return std::nullopt;
    }
    return step;
  }
  if (name == "ktest-detach" && args.empty()) return json{{"op", "DetachScheduler"}};
  return std::nullopt;
}

}  // namespace

bool is_guest_command(std::string_view name) {
  for (std::string_view c : kvm::kGuestCommands)
    if (name == c) return true;
  return false;
}

int guest_command_main(int argc, char** argv) {
  std::string name = argv[0];
  if (auto slash = name.rfind('/'); slash != std::string::npos) name.erase(0, slash + 1);
  std::vector<std::string> args(argv + 1, argv + argc);
  auto request = request_for(name, args);
  if (!request) return usage(name, args.empty() || args[0] == "-h" || args[0] == "--help" ? "" : "bad arguments");

  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, kGuestCommandSocket, sizeof addr.sun_path - 1);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::cerr << name << ": cannot reach the ktest agent at " << kGuestCommandSocket << ": "
              << std::strerror(errno) << "\n  (it listens only in a ktest shell: ktest shell, or ktest run "
              << "--shell-on-fail)\n";
    return kUsage;
  }
  std::string text = request->dump();
  if (::send(fd, text.data(), text.size(), MSG_NOSIGNAL) < 0) {
    std::cerr << name << ": sending to the agent: " << std::strerror(errno) << "\n";
    return kUsage;
  }
  // No timeout: the agent answers when the step is done, bounded by the step timeout.
  std::string reply(kMaxGuestCommandBytes, '\0');
  ssize_t n = ::recv(fd, reply.data(), reply.size(), 0);
  ::close(fd);
  if (n <= 0) {
    std::cerr << name << ": the agent closed the connection without an answer\n";
    return kUsage;
  }
  reply.resize(static_cast<std::size_t>(n));
  bool ok = reply.starts_with("ok ");
  std::string body = reply.substr(reply.find(' ') == std::string::npos ? reply.size() : reply.find(' ') + 1);
  (ok ? std::cout : std::cerr) << (ok ? "" : name + ": ") << body << "\n";
  return ok ? 0 : 1;
}

}  // namespace ktest::agent
