// ktest-agent: /init of the test VM (contract in kvm/agent/agent.h).
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>

#include "kvm/agent/agent.h"
#include "kvm/doorbell_abi.h"

namespace ktest::agent {
namespace {

namespace ctl = kvm::control;

constexpr std::size_t kMaxKallsymsRead = ctl::kMaxKallsymsBytes;
constexpr std::size_t kKallsymsHeadBytes = 256 * 1024;  // text_address() scans 4096 lines

uint64_t text_address(std::string_view kallsyms) {
  // "_text" is near the top; scan the first lines only.
  std::size_t pos = 0;
  for (int line = 0; line < 4096 && pos < kallsyms.size(); ++line) {
    auto nl = kallsyms.find('\n', pos);
    std::string_view l = kallsyms.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (l.size() > 19 && l.substr(16) == " T _text") return std::strtoull(std::string(l.substr(0, 16)).c_str(), nullptr, 16);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return 0;
}

// The host answers a doorbell only once it has read the kallsyms sent
// before it, so after this ping it can watch a scheduler's exit: on a slow
// host (nested KVM, a loaded CI machine) a scheduler that dies in its
// first seconds would otherwise go unwatched. Best effort: a host that
// does not answer is the capture steps' problem, not the plan's.
void wait_for_host(const kvm::Plan& plan, Doorbell& doorbell) {
  if (!plan.settings.send_kallsyms || !doorbell.ready()) return;
  auto pong = doorbell.request(static_cast<uint32_t>(ktest::doorbell::RequestKind::Ping), "",
                               std::chrono::seconds(60));
  if (!pong) console_log("waiting for the host: " + pong.error().to_string());
}

void send_kallsyms(Channel& channel, const std::string& text, const std::string& read_error) {
  if (!read_error.empty()) {
    ctl::KallsymsEnd end;
    end.error = read_error;
    channel.send(end);
    return;
  }
  auto start = Clock::now();
  auto frame = ktest::zstd_compress(text, 1);
  if (!frame) {
    ctl::KallsymsEnd end;
    end.error = frame.error().to_string();
    channel.send(end);
    return;
  }
  for (const auto& m : ctl::kallsyms_messages(text, *frame)) channel.send(m);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  channel.send(ctl::Log{"kallsyms: " + std::to_string(text.size()) + " bytes, zstd " +
                        std::to_string(frame->size()) + " bytes, compressed and sent in " +
                        std::to_string(ms) + " ms"});
}

int agent_main() {
  if (::getpid() == 1) {
    mount_kernel_filesystems();
    prepare_userspace();
    attach_console();
  }
  auto boot = Clock::now();
  Channel channel = Channel::open(std::chrono::seconds(5));
  Doorbell doorbell;
  Status probed = doorbell.probe();

  ctl::Hello hello;
  hello.agent_version = std::string(kAgentVersion);
  utsname uts{};
  if (::uname(&uts) == 0) hello.kernel_release = uts.release;
  hello.nr_cpus = static_cast<uint32_t>(std::max(0L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  hello.doorbell_device = doorbell.device();
  hello.doorbell_ready = doorbell.ready();
  // The kernel formats /proc/kallsyms as it is read (seconds under TCG):
  // the hello needs only _text, near the top; the rest only when sent.
  if (auto head = read_text_file("/proc/kallsyms", kKallsymsHeadBytes, true)) hello.text_address = text_address(*head);
  channel.send(hello);
  if (!probed) channel.send(ctl::Log{"doorbell probe: " + probed.error().to_string()});

  auto plan_text = read_text_file(std::string(kvm::kPlanGuestPath), 16u << 20);
  auto plan = plan_text ? kvm::plan_from_json(*plan_text) : Result<kvm::Plan>(fail(plan_text.error()));
  if (!plan || plan->settings.send_kallsyms) {
    auto kallsyms = read_text_file("/proc/kallsyms", kMaxKallsymsRead);
    send_kallsyms(channel, kallsyms ? *kallsyms : std::string(),
                  kallsyms ? std::string() : kallsyms.error().to_string());
  }

  bool ok = false;
  Status modules = plan ? load_modules(plan->modules) : Status{};
  if (!plan || !modules) {
    std::string err = !plan ? "reading the plan: " + plan.error().to_string()
                            : "loading vm.modules: " + modules.error().to_string();
    console_log(err);
    channel.send(ctl::Done{false, 0, err});
  } else {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - boot).count();
    channel.send(ctl::Log{"agent ready after " + std::to_string(ms) + " ms; " +
                          std::to_string(plan->steps.size()) + " steps; control on " +
                          (channel.is_port() ? channel.path() : std::string("console"))});
    wait_for_host(*plan, doorbell);
    ok = execute_plan(*plan, channel, doorbell);
  }
  if (doorbell.ready()) {
    auto bye = doorbell.request(static_cast<uint32_t>(ktest::doorbell::RequestKind::Goodbye), "",
                                std::chrono::seconds(10));
    if (!bye) console_log("goodbye: " + bye.error().to_string() + "; the host may miss the last messages");
  }
  console_log(ok ? "plan finished: ok; powering off" : "plan finished: FAILED; powering off");
  if (::getpid() == 1) power_off();
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace ktest::agent

int main(int argc, char** argv) {
  std::string_view self = argv[0];
  if (auto slash = self.rfind('/'); slash != std::string_view::npos) self.remove_prefix(slash + 1);
  if (ktest::agent::is_guest_command(self)) return ktest::agent::guest_command_main(argc, argv);
  if ((argc == 3 || argc == 4) && std::strcmp(argv[1], "--workload") == 0)
    ktest::agent::run_builtin_workload(argv[2], argc == 4 ? argv[3] : "");
  return ktest::agent::agent_main();
}
