// End-to-end test of the guest agent (kvm/agent/agent.h): boots the real
// kernel under QEMU through the kvm/qemu engine with the static agent as
// /init, runs plans against the fixture schedulers, answers the doorbell
// like the freeze coordinator would, and checks the control-channel
// messages decoded with kvm/control_protocol.h.
// Needs KTEST_AGENT_KERNEL, KTEST_AGENT_BINARY and KTEST_AGENT_SCHED_*;
// exits 77 (skip) naming what is missing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "kvm/control_protocol.h"
#include "kvm/initramfs/initramfs.h"
#include "kvm/machine.h"
#include "kvm/plan.h"

using namespace ktest::kvm;
namespace ctl = ktest::kvm::control;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_kernel, g_agent, g_sched, g_sched_global, g_sched_bad, g_work;
// The scheduler-death fixtures (scenarios/schedulers/ktest_sched.bpf.c).
std::string g_sched_error, g_sched_stall, g_sched_die;

// What one guest run produced on the control channel.
struct RunRecord {
  std::vector<ctl::Message> messages;
  std::vector<std::string> decode_errors;
  std::vector<std::string> doorbell_requests;  // "<kind>:<payload>"
  std::optional<ctl::SymbolTable> symbols;
  std::string kallsyms_error;
  ExitEvent exit;
  double seconds = 0;

  template <typename T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& m : messages)
      if (auto* v = std::get_if<T>(&m)) out.push_back(*v);
    return out;
  }
  std::optional<ctl::StepFinished> finished(uint32_t index) const {
    for (const auto& f : all<ctl::StepFinished>())
      if (f.index == index) return f;
    return std::nullopt;
  }
};

std::string console_text(const std::vector<std::string>& tail) {
  std::string out;
  for (const auto& l : tail) out += l + "\n";
  return out;
}

RunRecord run_plan(const std::string& name, const Plan& plan) {
  Initramfs fs;
  REQUIRE(fs.add_base_layout().ok());
  REQUIRE(fs.add_busybox().ok());
  REQUIRE(fs.add_host_file("/init", g_agent, 0755).ok());
  REQUIRE(fs.add_host_file("/ktest/sched/ktest_sched.bpf.o", g_sched, 0644).ok());
  REQUIRE(fs.add_host_file("/ktest/sched/ktest_sched_global.bpf.o", g_sched_global, 0644).ok());
  REQUIRE(fs.add_host_file("/ktest/sched/ktest_sched_bad.bpf.o", g_sched_bad, 0644).ok());
  REQUIRE(fs.add_host_file("/ktest/sched/ktest_sched_error.bpf.o", g_sched_error, 0644).ok());
  REQUIRE(fs.add_host_file("/ktest/sched/ktest_sched_stall.bpf.o", g_sched_stall, 0644).ok());
  REQUIRE(fs.add_host_file("/ktest/sched/ktest_sched_die.bpf.o", g_sched_die, 0644).ok());
  REQUIRE(fs.add_file(std::string(kPlanGuestPath), plan_to_json(plan)).ok());
  std::string initrd = g_work + "/" + name + ".cpio";
  std::ofstream(initrd, std::ios::binary) << fs.archive().value();

  MachineConfig config;
  config.kernel_image = g_kernel;
  config.initrd = initrd;
  config.cpus = 2;
  config.memory_mib = 512;
  config.run_dir = g_work + "/" + name;
  config.run_timeout = std::chrono::seconds(300);
  // Debugging knob, e.g. KTEST_AGENT_EXTRA_CMDLINE=loglevel=7 to see the whole boot.
  if (const char* extra = std::getenv("KTEST_AGENT_EXTRA_CMDLINE")) config.extra_cmdline = extra;
  auto made = make_machine("qemu");
  REQUIRE(made.ok());
  Machine& m = **made;
  auto start = Clock::now();
  auto booted = m.boot(config);
  REQUIRE_MESSAGE(booted.ok(), booted.error().to_string());

  RunRecord rec;
  ctl::ControlStream stream;
  auto deadline = Clock::now() + std::chrono::seconds(280);
  bool exited = false;
  while (!exited && Clock::now() < deadline) {
    auto ev = m.wait_event(std::chrono::milliseconds(10));
    REQUIRE_MESSAGE(ev.ok(), ev.error().to_string());
    if (ev->has_value()) {
      if (auto* d = std::get_if<DoorbellEvent>(&**ev)) {
        std::string payload(d->payload.begin(), d->payload.end());
        rec.doorbell_requests.push_back(std::to_string(d->kind) + ":" + payload);
        std::string reply = "stored " + payload;
        REQUIRE(m.reply_doorbell(d->serial, ktest::doorbell::ReplyStatus::Ok,
                                 std::vector<uint8_t>(reply.begin(), reply.end())).ok());
      } else if (auto* x = std::get_if<ExitEvent>(&**ev)) {
        rec.exit = *x;
        exited = true;
      }
    }
    int fd = m.control_channel();
    pollfd p{fd, POLLIN, 0};
    while (fd >= 0 && ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
      char buf[65536];
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      auto out = stream.feed(std::string_view(buf, static_cast<size_t>(n)));
      for (auto& e : out.errors) rec.decode_errors.push_back(e);
      for (auto& msg : out.messages) rec.messages.push_back(std::move(msg));
    }
  }
  rec.symbols = stream.symbols();
  rec.kallsyms_error = stream.kallsyms_error();
  if (!exited) rec.exit = m.kill();
  rec.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  MESSAGE(name << ": guest ran " << rec.seconds << " s, exit " << to_string(rec.exit.reason));
  for (const auto& log : rec.all<ctl::Log>()) MESSAGE(name << ": agent log: " << log.text);
  INFO("console tail:\n" << console_text(rec.exit.console_tail));
  CHECK(rec.exit.reason == ExitReason::Poweroff);
  CHECK(rec.decode_errors.empty());
  return rec;
}

AttachScheduler attach(const std::string& file, const std::string& name) {
  return AttachScheduler{{"/ktest/sched/" + file, std::string("ktest_ops"), name}};
}

}  // namespace

TEST_CASE("attach, spawn, run, capture, watch, replace and detach a scheduler") {
  Plan plan;
  plan.steps = {
      attach("ktest_sched.bpf.o", "ktest_sched"),
      Spawn{"spinner", {"@spin"}, 2, {1}, 3},
      Spawn{"shell_loop", {"while true; do :; done"}, 1, {1}, 5},
      Run{{"cat", "/sys/kernel/sched_ext/root/ops"}, 0, 5000},
      Sleep{200},
      CaptureSnapshot{"busy"},
      WatchSnapshot{"on_enqueue", "nr_enqueued", "w", 8},
      ReplaceScheduler{{"/ktest/sched/ktest_sched_global.bpf.o", std::nullopt, "global"}},
      Run{{"cat /sys/kernel/sched_ext/root/ops"}, 0, 5000},
      DetachScheduler{},
      Run{{"cat", "/sys/kernel/sched_ext/state"}, 0, 5000},
      // Built-in workloads carry the Spawn name as comm, pinned and niced.
      Run{{"for p in $(pidof spinner); do echo $(grep Cpus_allowed_list /proc/$p/status | cut -f2)"
           " $(cut -d' ' -f19 /proc/$p/stat); done"}, 0, 5000},
  };
  RunRecord rec = run_plan("happy", plan);
  INFO("console tail:\n" << console_text(rec.exit.console_tail));

  auto hellos = rec.all<ctl::Hello>();
  REQUIRE(hellos.size() == 1);
  const auto& hello = hellos[0];
  CHECK(hello.kernel_release.find("7.2") == 0);
  CHECK(hello.protocol == ctl::kProtocolVersion);
  CHECK(hello.nr_cpus == 2);
  CHECK(hello.text_address == 0xffffffff81000000ull);  // nokaslr
  CHECK_FALSE(hello.doorbell_device.empty());
  CHECK(hello.doorbell_ready);

  REQUIRE_MESSAGE(rec.symbols.has_value(), rec.kallsyms_error);
  CHECK(rec.symbols->symbols().size() > 50000);
  REQUIRE(rec.symbols->find("_text") != nullptr);
  CHECK(rec.symbols->find("_text")->address == hello.text_address);
  CHECK(rec.symbols->find("scx_bpf_dsq_insert") != nullptr);
  auto ends = rec.all<ctl::KallsymsEnd>();
  REQUIRE(ends.size() == 1);
  MESSAGE("kallsyms: " << ends[0].raw_bytes << " bytes, " << ends[0].compressed_bytes
                       << " compressed, " << ends[0].chunks << " chunks");

  REQUIRE(rec.all<ctl::StepStarted>().size() == plan.steps.size());
  REQUIRE(rec.all<ctl::StepFinished>().size() == plan.steps.size());
  for (const auto& f : rec.all<ctl::StepFinished>()) {
    CHECK_MESSAGE(f.ok, "step " << f.index << " " << f.op << ": " << f.error);
    CHECK(f.op == step_op(plan.steps[f.index]));
  }
  auto attached = rec.finished(0);
  CHECK(attached->details.scheduler_state == "enabled");
  CHECK(attached->details.scheduler_ops == "ktest_sched");
  CHECK(rec.finished(1)->details.pids.size() == 2);
  CHECK(rec.finished(2)->details.pids.size() == 1);
  auto workloads = rec.all<ctl::Workload>();
  REQUIRE(workloads.size() == 2);
  CHECK(workloads[0].name == "spinner");
  CHECK(workloads[0].pids == rec.finished(1)->details.pids);
  CHECK(rec.finished(3)->details.exit_code == 0);
  CHECK(rec.finished(3)->details.output_tail == "ktest_sched\n");
  CHECK(rec.finished(4)->duration_ms >= 200);
  CHECK(rec.finished(5)->details.reply_status == 0);
  CHECK(rec.finished(5)->details.reply_text == "stored busy");
  REQUIRE(rec.doorbell_requests.size() == 4);
  CHECK(rec.doorbell_requests[0] == "3:");  // ping: the host has read kallsyms before the first step
  CHECK(rec.doorbell_requests[1] == "1:busy");
  CHECK(rec.doorbell_requests[2].find("2:{") == 0);
  CHECK(rec.doorbell_requests[2].find("\"symbol\":\"nr_enqueued\"") != std::string::npos);
  CHECK(rec.doorbell_requests[3] == "4:");  // goodbye, after `done`
  CHECK(rec.finished(7)->details.scheduler_ops == "ktest_sched_global");
  CHECK(rec.finished(8)->details.output_tail == "ktest_sched_global\n");
  CHECK(rec.finished(9)->details.scheduler_state == "disabled");
  CHECK(rec.finished(10)->details.output_tail == "disabled\n");
  CHECK(rec.finished(11)->details.output_tail == "1 3\n1 3\n");

  auto done = rec.all<ctl::Done>();
  REQUIRE(done.size() == 1);
  CHECK(done[0].ok);
  CHECK(done[0].steps_run == plan.steps.size());
  CHECK(std::holds_alternative<ctl::Done>(rec.messages.back()));
}

TEST_CASE("failures are reported with their reason; stop and continue policies") {
  Plan plan;
  plan.settings.on_failure = OnFailure::Continue;
  plan.settings.send_kallsyms = false;
  plan.steps = {
      attach("ktest_sched_bad.bpf.o", "bad"),
      AttachScheduler{{"/ktest/sched/ktest_sched.bpf.o", std::string("no_such_ops"), "typo"}},
      Run{{"exit 3"}, 0, 5000},
      Run{{"sleep 30"}, 0, 300},
      Spawn{"pinned", {"@sleep"}, 1, {7}, 0},
      Run{{"no-such-command"}, 0, 5000},
      CaptureSnapshot{"still_works"},
      DetachScheduler{},
  };
  RunRecord rec = run_plan("failures", plan);
  CHECK(rec.all<ctl::KallsymsEnd>().empty());
  REQUIRE(rec.all<ctl::StepFinished>().size() == plan.steps.size());

  auto bad = rec.finished(0);
  CHECK_FALSE(bad->ok);
  CHECK(bad->error.find("loading /ktest/sched/ktest_sched_bad.bpf.o") != std::string::npos);
  CHECK_MESSAGE(bad->details.verifier_log.find("invalid mem access") != std::string::npos,
                bad->details.verifier_log);
  CHECK(bad->details.scheduler_state == "disabled");
  auto typo = rec.finished(1);
  CHECK_FALSE(typo->ok);
  CHECK(typo->error.find("no struct_ops map named \"no_such_ops\"") != std::string::npos);
  CHECK(typo->error.find("ktest_ops") != std::string::npos);  // the hint lists the real one
  CHECK(rec.finished(2)->details.exit_code == 3);
  CHECK_FALSE(rec.finished(2)->ok);
  auto timed_out = rec.finished(3);
  CHECK_FALSE(timed_out->ok);
  CHECK(timed_out->error.find("timed out") != std::string::npos);
  CHECK(timed_out->duration_ms < 5000);
  CHECK(rec.finished(4)->error.find("CPU 7 is not online") != std::string::npos);
  CHECK(rec.finished(5)->details.exit_code == 127);
  CHECK(rec.finished(6)->ok);
  CHECK(rec.finished(7)->error.find("no scheduler is attached") != std::string::npos);
  auto done = rec.all<ctl::Done>();
  REQUIRE(done.size() == 1);
  CHECK_FALSE(done[0].ok);
  CHECK(done[0].steps_run == plan.steps.size());
  CHECK(done[0].error.find("step 1 (AttachScheduler)") == 0);

  // The default policy stops at the first failure.
  Plan stop;
  stop.settings.send_kallsyms = false;
  stop.steps = {Run{{"false"}, 0, 5000}, Sleep{1}};
  RunRecord stopped = run_plan("stop", stop);
  CHECK(stopped.all<ctl::StepStarted>().size() == 1);
  auto stop_done = stopped.all<ctl::Done>();
  REQUIRE(stop_done.size() == 1);
  CHECK_FALSE(stop_done[0].ok);
  CHECK(stop_done[0].steps_run == 1);
}

bool has(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

TEST_CASE("a scheduler that exits fails the step in progress at once, with the kernel's words") {
  // ktest_sched_error: healthy until boom runs, then scx_bpf_error; the
  // long Sleep ends within seconds, and the plan stops there.
  Plan plan;
  plan.settings.send_kallsyms = false;
  plan.steps = {
      attach("ktest_sched_error.bpf.o", "error"),
      Run{{"cat", "/sys/kernel/sched_ext/state"}, 0, 5000},
      Sleep{500},
      Spawn{"boom", {"@spin"}, 1, {}, 0},
      Sleep{60000},
      Run{{"true"}, 0, 5000},
  };
  plan.settings.step_timeout_ms = 120000;
  RunRecord rec = run_plan("error-unexpected", plan);
  REQUIRE(rec.all<ctl::StepFinished>().size() == 5);
  CHECK(rec.finished(0)->ok);
  CHECK(rec.finished(1)->details.output_tail == "enabled\n");
  CHECK(rec.finished(2)->ok);
  CHECK(rec.finished(3)->ok);
  auto slept = rec.finished(4);
  CHECK_FALSE(slept->ok);
  MESSAGE("error variant: the Sleep failed after " << slept->duration_ms << " ms: " << slept->error);
  CHECK(slept->duration_ms < 10000);
  CHECK(has(slept->error, "the scheduler \"ktest_sched_error\" exited: "));
  CHECK(has(slept->error, "sched_ext: BPF scheduler \"ktest_sched_error\" disabled"));
  CHECK(has(slept->error, "ktest_sched_error: boom was scheduled 20 times"));
  auto done = rec.all<ctl::Done>();
  REQUIRE(done.size() == 1);
  CHECK_FALSE(done[0].ok);
  CHECK(done[0].error.find("step 5 (Sleep)") == 0);
  for (const auto& log : rec.all<ctl::Log>()) CHECK_FALSE(has(log.text, "cleanup"));

  // ktest_sched_stall: the watchdog's SCX_EXIT_ERROR_STALL interrupts a Run.
  Plan stall;
  stall.settings.send_kallsyms = false;
  stall.settings.step_timeout_ms = 120000;
  stall.steps = {
      attach("ktest_sched_stall.bpf.o", "stall"),
      Spawn{"stallme", {"@spin"}, 1, {}, 0},
      Run{{"sleep 60"}, 0, 90000},
  };
  RunRecord stalled = run_plan("stall-unexpected", stall);
  REQUIRE(stalled.all<ctl::StepFinished>().size() == 3);
  auto run = stalled.finished(2);
  CHECK_FALSE(run->ok);
  MESSAGE("stall variant: the Run failed after " << run->duration_ms << " ms: " << run->error);
  CHECK(run->duration_ms >= 2500);
  CHECK(run->duration_ms < 15000);
  CHECK(has(run->error, "the command was killed: the scheduler \"ktest_sched_stall\" exited: "));
  CHECK(has(run->error, "(runnable task stall)"));
  CHECK(has(run->error, "stallme["));
}

TEST_CASE("an expected exit is logged; a dead scheduler is replaced and never detached") {
  Plan plan;
  plan.settings.send_kallsyms = false;
  plan.settings.on_failure = OnFailure::Continue;
  plan.settings.scheduler_exit_expected = true;
  plan.steps = {
      attach("ktest_sched_die.bpf.o", "die"),
      attach("ktest_sched_error.bpf.o", "error"),
      Spawn{"boom", {"@sleep"}, 1, {}, 0},
      Sleep{3000},
      Run{{"cat", "/sys/kernel/sched_ext/state"}, 0, 5000},
      attach("ktest_sched_global.bpf.o", "global"),
      ReplaceScheduler{{"/ktest/sched/ktest_sched.bpf.o", std::string("ktest_ops"), "ktest_sched"}},
      Run{{"cat", "/sys/kernel/sched_ext/root/ops"}, 0, 5000},
  };
  RunRecord rec = run_plan("expected-exits", plan);
  REQUIRE(rec.all<ctl::StepFinished>().size() == plan.steps.size());
  auto died = rec.finished(0);
  CHECK_FALSE(died->ok);
  MESSAGE("die variant: AttachScheduler failed after " << died->duration_ms << " ms: " << died->error);
  CHECK(died->duration_ms < 10000);
  CHECK(has(died->error, "sched_ext: BPF scheduler \"ktest_sched_die\" disabled"));
  CHECK(has(died->error, "ktest_sched_die: ops.init fails on purpose"));
  CHECK(died->details.scheduler_state == "disabled");
  for (uint32_t i = 1; i < plan.steps.size(); ++i)
    CHECK_MESSAGE(rec.finished(i)->ok, "step " << i << ": " << rec.finished(i)->error);
  CHECK(rec.finished(4)->details.output_tail == "disabled\n");
  CHECK(rec.finished(5)->details.scheduler_ops == "ktest_sched_global");
  CHECK(rec.finished(6)->details.scheduler_ops == "ktest_sched");
  CHECK(rec.finished(7)->details.output_tail == "ktest_sched\n");
  int exits = 0;
  for (const auto& log : rec.all<ctl::Log>()) {
    CHECK_FALSE(has(log.text, "cleanup"));
    if (has(log.text, "the scheduler \"ktest_sched_error\" exited: ")) {
      ++exits;
      CHECK(has(log.text, "boom was scheduled 20 times"));
    }
  }
  CHECK(exits == 1);
  auto done = rec.all<ctl::Done>();
  REQUIRE(done.size() == 1);
  CHECK(done[0].error.find("step 1 (AttachScheduler)") == 0);
}

int main(int argc, char** argv) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  g_kernel = env("KTEST_AGENT_KERNEL");
  g_agent = env("KTEST_AGENT_BINARY");
  g_sched = env("KTEST_AGENT_SCHED_KTEST_SCHED");
  g_sched_global = env("KTEST_AGENT_SCHED_KTEST_SCHED_GLOBAL");
  g_sched_bad = env("KTEST_AGENT_SCHED_KTEST_SCHED_BAD");
  g_sched_error = env("KTEST_AGENT_SCHED_KTEST_SCHED_ERROR");
  g_sched_stall = env("KTEST_AGENT_SCHED_KTEST_SCHED_STALL");
  g_sched_die = env("KTEST_AGENT_SCHED_KTEST_SCHED_DIE");
  if (g_kernel.empty() || ::access(g_kernel.c_str(), R_OK) != 0) {
    std::printf("SKIP: no kernel (KTEST_AGENT_KERNEL=%s); configure with -Dkernel_dir=<fetched kernel>\n",
                g_kernel.c_str());
    return 77;
  }
  for (const auto& [what, path] : {std::pair{"agent", g_agent}, {"ktest_sched", g_sched},
                                   {"ktest_sched_global", g_sched_global},
                                   {"ktest_sched_bad", g_sched_bad}, {"ktest_sched_error", g_sched_error},
                                   {"ktest_sched_stall", g_sched_stall}, {"ktest_sched_die", g_sched_die}}) {
    if (path.empty() || ::access(path.c_str(), R_OK) != 0) {
      std::printf("SKIP: %s not built (path \"%s\")\n", what, path.c_str());
      return 77;
    }
  }
  if (::access("/bin/busybox", X_OK) != 0) {
    std::printf("SKIP: /bin/busybox missing (apt-get install busybox-static)\n");
    return 77;
  }
  if (std::system("qemu-system-x86_64 --version >/dev/null 2>&1") != 0) {
    std::printf("SKIP: qemu-system-x86_64 is not installed\n");
    return 77;
  }
  char dir[] = "/tmp/ktest-agent-e2e-XXXXXX";
  if (!::mkdtemp(dir)) return 1;
  g_work = dir;
  doctest::Context context(argc, argv);
  int rc = context.run();
  std::printf("run dirs kept in %s\n", g_work.c_str());
  return rc;
}
