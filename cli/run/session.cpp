#include "cli/run/session.h"

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <map>
#include <set>

#include "cli/report/events_log.h"
#include "cli/report/from_dsl.h"
#include "cli/report/report.h"
#include "cli/run/control_reader.h"
#include "cli/run/guest_image.h"
#include "cli/run/guest_output.h"
#include "cli/run/json_output.h"
#include "cli/run/kallsyms_cache.h"
#include "cli/run/guest_plan.h"
#include "cli/run/scheduler_exits.h"
#include "cli/run/terminal_bridge.h"
#include "freeze/bpf_globals.h"
#include "freeze/bpf_maps.h"
#include "freeze/coordinator.h"
#include "freeze/error_trigger.h"
#include "freeze/scx_state.h"
#include "freeze/vmlinux.h"
#include "kvm/control_protocol.h"
#include "kvm/kernel/kernel.h"
#include "kvm/machine.h"
#include "snapshot/bridge.h"
#include "util/atomic_file.h"
#include "util/interrupt.h"

namespace ktest::cli {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
namespace control = kvm::control;

namespace {

// With nokaslr the kernel image starts here; the agent's _text must agree.
constexpr uint64_t kNoKaslrText = 0xffffffff81000000ull;
// How long the agent may take to power off after it said `done`.
constexpr auto kPoweroffGrace = std::chrono::seconds(10);
// A person's shell has no timeout; the machine's watchdog only stops a
// session forgotten for this long.
constexpr auto kShellRunTimeout = std::chrono::hours(24 * 7);
std::string step_subject(const kvm::Step& step) {
  return std::visit(
      [](const auto& s) -> std::string {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, kvm::AttachScheduler> ||
                      std::is_same_v<T, kvm::ReplaceScheduler>) {
          return s.name.empty() ? fs::path(s.loader() ? s.command[0] : s.object).filename().string() : s.name;
        } else if constexpr (std::is_same_v<T, kvm::Spawn> || std::is_same_v<T, kvm::Kill>) {
          return s.name;
        } else if constexpr (std::is_same_v<T, kvm::Run>) {
          return fmt::format("{}", fmt::join(s.argv, " "));
        } else if constexpr (std::is_same_v<T, kvm::Sleep>) {
          return fmt::format("{}ms", s.ms);
        } else if constexpr (std::is_same_v<T, kvm::CaptureSnapshot>) {
          if (s.series()) return fmt::format("{} every {}ms, {} captures", s.name, s.every_ms, s.count);
          return s.name;
        } else if constexpr (std::is_same_v<T, kvm::WatchSnapshot>) {
          return fmt::format("{} on {}", s.name, s.symbol);
        } else if constexpr (std::is_same_v<T, kvm::LoadBpf>) {
          return s.name;
        } else if constexpr (std::is_same_v<T, kvm::DetachScheduler>) {
          return "";
        } else {
          static_assert(std::is_same_v<T, void>, "every plan step has a subject");
        }
      },
      step);
}

// What a LoadBpf step did: "attached: a, b; ran: fill = 0"; "" for other steps.
std::string load_summary(const control::StepDetails& d) {
  std::vector<std::string> parts;
  if (!d.programs_attached.empty()) parts.push_back(fmt::format("attached: {}", fmt::join(d.programs_attached, ", ")));
  std::vector<std::string> runs;
  for (const auto& run : d.programs_run) runs.push_back(fmt::format("{} = {}", run.name, run.retval));
  if (!runs.empty()) parts.push_back(fmt::format("ran: {}", fmt::join(runs, ", ")));
  return fmt::format("{}", fmt::join(parts, "; "));
}

kvm::Accel engine_accel(Accel accel) {
  switch (accel) {
    case Accel::Kvm: return kvm::Accel::Kvm;
    case Accel::Tcg: return kvm::Accel::Tcg;
    case Accel::Auto: break;
  }
  return kvm::Accel::Auto;
}

kvm::Millis millis(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<kvm::Millis>(d);
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Everything one running guest needs on the host side.
class Session {
 public:
  Session(const dsl::Scenario& scenario, const SessionOptions& options)
      : scenario_(scenario), options_(options) {
    // The scenario names at most kMaxCaptures (dsl-checked): more means a guest asked for them.
    bridge_.add_eviction_observer([this](const std::string& name) {
      notes_.add(fmt::format("snapshot '{}' was dropped: the guest asked for more than the {} captures a "
                             "scenario takes",
                             name, dsl::kMaxCaptures));
    });
    result_.name = scenario.name;
    result_.file = scenario.file;
    result_.output_dir = options.scenario_dir;
  }

  // booted: a machine already running the agent (tests); nullptr: boot one.
  SessionResult run(kvm::Machine* booted = nullptr) {
    auto start = Clock::now();
    Status status = booted ? run_booted(*booted) : run_guest();
    if (!status) {
      result_.outcome = Outcome::Error;
      result_.error = status.error().to_string();
      if (out_.failure == SessionFailure::None) out_.failure = SessionFailure::Internal;
    }
    guest_output_.finish();
    save_snapshots();
    evaluate();
    finish_outcome();
    result_.duration = Clock::now() - start;
    out_.result = std::move(result_);
    return std::move(out_);
  }

 private:
  // Shown on a terminal, and always kept in the scenario's events.log
  // (seconds since the session began): how a failed run is understood later.
  // Guest-chosen text (a capture's name, an agent's log) is made one line
  // of printable text: no escape sequence reaches the terminal, no line of
  // its own reaches events.log.
  void progress(const std::string& raw) {
    std::string line = sanitize_text(raw);
    std::replace(line.begin(), line.end(), '\n', ' ');
    if (options_.progress && !shell_open_) options_.progress(fmt::format("[{}] {}", scenario_.name, line));
    if (events_log_) {
      std::chrono::duration<double> since = Clock::now() - session_started_;
      std::fputs(format_event_line(since.count(), line).c_str(), events_log_.get());
      std::fflush(events_log_.get());
    }
  }

  Unexpected fail_with(SessionFailure failure, Error error) {
    out_.failure = failure;
    return fail(std::move(error));
  }

  void init_steps(const GuestPlan& plan) {
    for (std::size_t i = 0; i < plan.plan.steps.size(); ++i) {
      StepResult step;
      step.op = std::string(kvm::step_op(plan.plan.steps[i]));
      step.description = step_subject(plan.plan.steps[i]);
      step.line = plan.step_lines[i];
      result_.steps.push_back(std::move(step));
    }
    step_json_ = plan.step_json;
  }

  // The booted machine in the report and the progress line:
  // "vm: tcg, cpu qemu64 (engine default), microvm, 8 vCPUs = 2 sockets x 2 cores x 2 threads".
  void record_vm(const kvm::MachineInfo& info) {
    VmResult vm;
    vm.accel = info.accel;
    vm.cpu_model = info.cpu_model;
    vm.cpu_model_source = shape_.cpu_model_source;
    vm.machine = info.machine;
    vm.cpus = shape_.cpus;
    vm.memory_mib = shape_.memory_mib;
    if (shape_.topology)
      vm.topology = fmt::format("{} sockets x {} cores x {} threads", shape_.topology->sockets,
                                shape_.topology->cores, shape_.topology->threads);
    vm.numa_nodes = shape_.numa.size();
    std::string line = fmt::format("vm: {}, cpu {} ({}), {}, {} vCPUs", vm.accel, vm.cpu_model,
                                   vm.cpu_model_source, vm.machine, vm.cpus);
    if (!vm.topology.empty()) line += " = " + vm.topology;
    if (vm.numa_nodes) line += fmt::format(", {} NUMA nodes", vm.numa_nodes);
    progress(line);
    result_.vm = std::move(vm);
  }

  // The shape, the plan and the step results: what a run needs before a guest.
  Result<GuestPlan> prepare() {
    auto decided = decide_vm_shape(scenario_, options_.vm);
    if (!decided) return fail_with(SessionFailure::InvalidInput, decided.error());
    shape_ = std::move(*decided);
    auto loaded_plan = build_guest_plan(scenario_, options_.object_path);
    if (!loaded_plan) return fail_with(SessionFailure::InvalidInput, loaded_plan.error());
    GuestPlan plan = std::move(*loaded_plan);
    auto& step_timeout = plan.plan.settings.step_timeout_ms;
    step_timeout = static_cast<uint32_t>(
        std::min<int64_t>(step_timeout, millis(options_.timeouts.step).count()));
    plan.plan.settings.offer_shell = options_.shell != ShellMode::Never;
    init_steps(plan);
    kallsyms_ended_ = !plan.plan.settings.send_kallsyms;  // nothing to wait for
    std::error_code ec;
    fs::create_directories(options_.scenario_dir, ec);
    events_log_.reset(std::fopen((fs::path(options_.scenario_dir) / "events.log").c_str(), "we"));
    return plan;
  }

  Status run_booted(kvm::Machine& machine) {
    KTEST_TRY(prepare());
    machine_ = &machine;
    boot_started_ = Clock::now();
    return drive_booted();
  }

  Status drive_booted() {
    record_vm(machine_->info());
    deadline_ = Clock::now() + scenario_.vm.timeout;
    return drive();
  }

  Status run_guest() {
    KTEST_ASSIGN(GuestPlan plan, prepare());

    auto kernel = resolve_guest_kernel(scenario_, options_.kernel);
    if (!kernel) return fail_with(SessionFailure::VmUnavailable, kernel.error());
    kernel_version_ = kernel->version;
    kernel_hz_ = read_kernel_hz(*kernel);
    const bool kallsyms_cached = use_cached_kallsyms(plan, *kernel);
    auto vmlinux_btf = kvm::vmlinux_btf_path(*kernel);
    if (!vmlinux_btf) no_vmlinux(vmlinux_btf.error());
    auto initrd = build_guest_initramfs(plan, *kernel, options_.agent_binary);
    if (!initrd) return fail_with(SessionFailure::Internal, initrd.error());

    kvm::MachineConfig config;
    config.kernel_image = kernel->boot_image;
    config.initrd = *initrd;
    apply_vm_shape(shape_, config);
    config.accel = engine_accel(options_.accel);
    config.run_dir = options_.scenario_dir;
    config.boot_timeout = millis(options_.timeouts.boot);
    config.command_timeout = millis(options_.timeouts.capture);  // bounds the freeze rendezvous
    config.run_timeout = millis(std::min(options_.timeouts.run, scenario_.vm.timeout));
    config.terminal = options_.shell != ShellMode::Never;
    if (config.terminal) config.run_timeout = millis(kShellRunTimeout);  // the session's deadline_ bounds the steps
    result_.console_log = (fs::path(options_.scenario_dir) / "console.log").string();

    auto machine = kvm::make_machine("qemu");
    if (!machine) return fail_with(SessionFailure::Internal, machine.error());
    owned_machine_ = std::move(*machine);
    machine_ = owned_machine_.get();
    progress(fmt::format("booting {} ({} vCPUs, {} MiB)", kernel->version, config.cpus,
                         config.memory_mib));
    boot_started_ = std::chrono::steady_clock::now();
    if (Status booted = machine_->boot(config); !booted) {
      return fail_with(SessionFailure::VmUnavailable, booted.error().with_context("booting the guest"));
    }
    // Parsed once, while the guest boots (not while QEMU starts: on two
    // cores that would slow its start): the capture sections, the
    // BPF-global resolver and the error trigger share them (drive() waits).
    if (kallsyms_cached)
      cached_kallsyms_ = std::async(std::launch::async, load_cached_kallsyms, kallsyms_cache_, kNoKaslrText);
    if (vmlinux_btf) vmlinux_loading_ = std::async(std::launch::async, freeze::load_vmlinux, *vmlinux_btf);
    return drive_booted();
  }

  // A kernel booted before: its kallsyms come from the cache (parsed while
  // the guest boots), and the agent does not send them. True when cached.
  bool use_cached_kallsyms(GuestPlan& plan, const kvm::KernelImage& kernel) {
    kallsyms_cache_ = kallsyms_cache_path(kernel);
    if (kallsyms_cache_.empty() || !plan.plan.settings.send_kallsyms || !fs::exists(kallsyms_cache_)) return false;
    plan.plan.settings.send_kallsyms = false;
    kallsyms_ended_ = true;
    return true;
  }

  void no_vmlinux(const Error& why) {
    vmlinux_unavailable_ = why.to_string();
    notes_.add("BPF maps will not be captured: " + vmlinux_unavailable_);
  }

  // The event loop: doorbells, watchpoints, control messages, exit.
  Status drive() {
    if (vmlinux_loading_.valid()) {
      auto loaded = vmlinux_loading_.get();
      if (loaded) vmlinux_ = std::move(*loaded);
      else no_vmlinux(loaded.error());
    }
    freeze::FreezeCoordinator coordinator(*machine_, bridge_, {kernel_version_});
    coordinator.add_section(freeze::make_bpf_maps_section(vmlinux_, vmlinux_unavailable_, symbols_));
    coordinator.add_section(freeze::make_scx_section(vmlinux_, vmlinux_unavailable_, symbols_, kernel_hz_));
    coordinator.set_bpf_globals(std::make_unique<freeze::BpfGlobalResolver>(vmlinux_, vmlinux_unavailable_));
    freeze::ErrorTrigger trigger(*machine_, vmlinux_, vmlinux_unavailable_, symbols_,
                                 [this](const std::string& line) { progress(line); });
    coordinator_ = &coordinator;
    if (cached_kallsyms_.valid()) {
      if (auto table = cached_kallsyms_.get())
        cached_symbols_ = std::make_shared<control::SymbolTable>(std::move(*table));
      else  // this run has no symbols; the next one has the agent send them
        notes_.add("kallsyms: " + table.error().to_string() + "; watches and symbolized addresses fail");
    }
    ControlReader control(machine_->control_channel(), notes_,
                          [this](const control::Message& m) { handle_message(m); });
    control_ = &control;

    std::optional<kvm::ExitEvent> exit;
    while (!exit) {
      if (shell_open_ && !terminal_.running()) {
        terminal_.stop();  // the terminal is the person's again
        shell_open_ = false;
        if (terminal_.escaped()) {
          exit = machine_->kill();
          exit->detail = "stopped from the terminal (Ctrl-] q)";
          break;
        }
      }
      if (interrupt_requested()) {
        exit = machine_->kill();
        exit->detail = fmt::format("ktest was interrupted ({})", interrupt_signal_name());
        break;
      }
      auto now = Clock::now();
      if (now > deadline_ || (done_at_ && now > *done_at_ + kPoweroffGrace)) {
        exit = machine_->kill();
        if (now > deadline_) {
          exit->reason = kvm::ExitReason::Timeout;
          exit->detail = fmt::format("the scenario did not finish within {}",
                                     dsl::format_duration(scenario_.vm.timeout));
        } else {
          exit->detail = "the agent finished but the guest did not power off";
        }
        break;
      }
      auto event = machine_->wait_event(kvm::Millis(10));
      if (!event) {
        exit = machine_->kill();
        exit->detail = event.error().to_string();
        break;
      }
      if (*event) {
        if (auto* bell = std::get_if<kvm::DoorbellEvent>(&**event)) {
          catch_up_before_doorbell();
          // The last chance to capture a death the exit watch has not delivered yet.
          if (bell->kind == static_cast<uint32_t>(doorbell::RequestKind::Goodbye))
            trigger.settle(coordinator, Clock::now());
          handle_doorbell(*bell);
        } else if (auto* hit = std::get_if<kvm::WatchpointHit>(&**event)) {
          if (!trigger.on_watchpoint(coordinator, *hit)) {
            progress(fmt::format("{} on vCPU {}", kEventWatchpointPrefix, hit->cpu));
            if (Status s = coordinator.on_watchpoint(*hit); !s) notes_.add(s.error().to_string());
            if (auto names = bridge_.names(); !names.empty()) save_live(names.back());
          }
        } else {
          exit = std::get<kvm::ExitEvent>(**event);
        }
      }
      control.read_available();
      if (!exit) trigger.poll(coordinator, Clock::now());
    }
    terminal_.stop();
    shell_open_ = false;
    control.read_available();
    coordinator_ = nullptr;
    control_ = nullptr;
    record_scheduler_exits(trigger);
    record_captures(coordinator);
    return conclude(*exit);
  }

  void handle_doorbell(const kvm::DoorbellEvent& bell) {
    if (bell.kind == static_cast<uint32_t>(doorbell::RequestKind::Goodbye)) return say_goodbye(bell);
    if (bell.kind == static_cast<uint32_t>(doorbell::RequestKind::Shell)) return offer_shell(bell);
    const bool capture = bell.kind == static_cast<uint32_t>(doorbell::RequestKind::Capture);
    const std::string name = capture ? std::string(bell.payload.begin(), bell.payload.end()) : "";
    if (capture) {
      progress(std::string(kEventCapturePrefix) + name);
      if (shell_phase_ && !shell_captures_.contains(name) && bridge_.contains(name))
        return reply(bell, doorbell::ReplyStatus::Error,
                     fmt::format("the scenario took a snapshot named '{}' already: name this one differently", name));
    } else {
      progress(fmt::format("doorbell request {} (kind {})", bell.serial, bell.kind));
    }
    if (Status s = coordinator_->on_doorbell(bell); !s) {
      notes_.add("doorbell reply failed: " + s.error().to_string());
    }
    if (capture && bridge_.contains(name)) {
      if (shell_phase_) shell_captures_.insert(name);
      save_live(name);
    }
    progress(fmt::format("doorbell request {} answered", bell.serial));
  }

  void reply(const kvm::DoorbellEvent& bell, doorbell::ReplyStatus status, const std::string& text) {
    std::vector<uint8_t> bytes(text.begin(), text.end());
    if (Status s = machine_->reply_doorbell(bell.serial, status, bytes); !s)
      notes_.add("doorbell reply failed: " + s.error().to_string());
  }

  // Written as soon as it is taken, so `ktest snapshot` reads a live run.
  void save_live(const std::string& name) {
    auto named = bridge_.copy(name);
    if (!named) return;
    std::string dir = (fs::path(options_.scenario_dir) / "snapshots").string();
    if (auto saved = save_run_reports(dir, {*named}); !saved)
      notes_.add("saving snapshot " + name + ": " + saved.error().to_string());
  }

  // The agent's question once its steps ended (kvm/doorbell_abi.h Shell):
  // read their results, decide (SessionOptions::shell), and join the
  // person's terminal to the guest's before answering.
  void offer_shell(const kvm::DoorbellEvent& bell) {
    nlohmann::json ask = nlohmann::json::parse(bell.payload.begin(), bell.payload.end(), nullptr, false);
    const bool steps_ok = ask.is_object() && ask.value("ok", false);
    uint64_t steps_run = result_.steps.size();
    if (ask.is_object() && ask.contains("steps_run") && ask["steps_run"].is_number_unsigned())
      steps_run = std::min<uint64_t>(ask["steps_run"].get<uint64_t>(), steps_run);
    control_->read_until([&] { return steps_finished_ >= steps_run; }, wait_limit());
    shell_phase_ = true;
    std::optional<std::string> why = shell_reason(steps_ok);
    nlohmann::json answer = {{"shell", false}};
    if (why && machine_->terminal_channel() >= 0) {
      TerminalSize size = TerminalBridge::size();
      answer = {{"shell", true}, {"rows", size.rows}, {"cols", size.cols}, {"term", TerminalBridge::term_name()}};
      answer["banner"] = fmt::format(
          "ktest shell in the guest of scenario '{}' (run directory {})\n"
          "  ktest-capture NAME | ktest-watch NAME SYMBOL | ktest-attach [OBJECT | -- COMMAND] | ktest-detach\n"
          "  exit (or Ctrl-D) powers the guest off; Ctrl-] then q stops it at once",
          scenario_.name, options_.scenario_dir);
      std::fprintf(stderr, "%s", why->c_str());
      std::fflush(stderr);
      shell_open_ = true;
      progress("shell: opened");  // events.log only, from here on
      deadline_ = Clock::time_point::max();
      const int control_fd = machine_->control_channel();
      terminal_.start(machine_->terminal_channel(), [control_fd](TerminalSize now) {
        std::string line = control::resize_line({now.rows, now.cols});
        [[maybe_unused]] ssize_t n = ::write(control_fd, line.data(), line.size());
      });
    }
    reply(bell, doorbell::ReplyStatus::Ok, answer.dump());
  }

  // Whether a shell opens (SessionOptions::shell), and what the person
  // reads first: the failed steps or assertions.
  std::optional<std::string> shell_reason(bool steps_ok) const {
    std::string failed;
    for (std::size_t i = 0; i < result_.steps.size(); ++i) {
      const StepResult& step = result_.steps[i];
      if (step.outcome == Outcome::Failed || step.outcome == Outcome::Error)
        failed += fmt::format("ktest: step {} {} {} failed: {}\n", i + 1, step.op, step.description, step.error);
    }
    if (!steps_ok && failed.empty()) failed = "ktest: the guest agent reported a failure\n";
    switch (options_.shell) {
      case ShellMode::Never: return std::nullopt;
      case ShellMode::Always: return failed;
      case ShellMode::OnFailure: break;
    }
    if (failed.empty()) {
      for (const auto& a : check_assertions(bridge_.copy_all())) {
        if (a.outcome != Outcome::Failed && a.outcome != Outcome::Error) continue;
        failed += fmt::format("ktest: assertion '{}' {}", a.name, outcome_name(a.outcome));
        if (a.name != a.expression) failed += ": " + a.expression;
        if (!a.actual.empty() || !a.expected.empty()) failed += fmt::format(" (left {}, right {})", a.actual, a.expected);
        if (!a.error.empty()) failed += ": " + a.error;
        failed += "\n";
      }
    }
    if (failed.empty()) return std::nullopt;
    return failed + "ktest: opening a shell in the guest (--shell-on-fail): the scheduler and the workloads are "
                    "as the steps left them\n";
  }

  // The agent's last request before power-off: answer once `done` has been
  // read (bounded), so nothing it sent is still queued in the guest.
  void say_goodbye(const kvm::DoorbellEvent& bell) {
    bool done = control_->read_until([this] { return agent_done_.has_value(); }, wait_limit());
    auto status = done ? doorbell::ReplyStatus::Ok : doorbell::ReplyStatus::Error;
    if (Status s = machine_->reply_doorbell(bell.serial, status, {}); !s) {
      notes_.add("goodbye reply failed: " + s.error().to_string());
    }
  }

  // The agent sends kallsyms before any step, but a doorbell can overtake
  // it (the control bytes may still be queued in the guest); a capture or
  // watch needs the symbols, so read the channel until kallsyms_end came,
  // within the capture timeout. Once only: a guest that never ends its
  // kallsyms (no agent, or a hostile one) must not hold every doorbell.
  void catch_up_before_doorbell() {
    if (kallsyms_waited_) return;
    kallsyms_waited_ = true;
    control_->read_until([this] { return kallsyms_ended_; }, wait_limit());
  }

  // How long a doorbell may wait for what the guest sends: the capture
  // timeout, and never past the scenario's deadline (the loop's only check).
  Clock::time_point wait_limit() const { return std::min(Clock::now() + options_.timeouts.capture, deadline_); }

  void handle_message(const control::Message& message) {
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, control::Hello>) {
            progress(fmt::format("agent ready (kernel {})", m.kernel_release));
            if (result_.vm)
              result_.vm->ready = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - boot_started_);
            if (m.text_address != 0 && m.text_address != kNoKaslrText) {
              notes_.add(fmt::format(
                  "the guest's _text is {:#x}, not {:#x}: KASLR is active", m.text_address,
                  kNoKaslrText));
            }
            if (!m.doorbell_ready) notes_.add("the agent found no ready doorbell device");
            // Cached symbols are published once the kernel has booted, as sent
            // ones would be: readers of per-CPU data must not start earlier.
            if (cached_symbols_ && m.text_address == kNoKaslrText) {
              coordinator_symbols(std::move(cached_symbols_));
            } else if (cached_symbols_) {
              notes_.add("kallsyms: the cached ones do not match this boot's _text; not used");
              cached_symbols_.reset();
            }
          } else if constexpr (std::is_same_v<T, control::KallsymsChunk>) {
            if (Status s = kallsyms_.add(m); !s) notes_.add("kallsyms: " + s.error().to_string());
          } else if constexpr (std::is_same_v<T, control::KallsymsEnd>) {
            kallsyms_ended_ = true;
            std::string frame;
            auto table = kallsyms_.finish(m, &frame);
            if (table) {
              const auto* text = table->find("_text");
              if (!kallsyms_cache_.empty() && text != nullptr && text->address == kNoKaslrText)
                if (Status kept = store_kallsyms(kallsyms_cache_, frame); !kept)
                  notes_.add("kallsyms not cached: " + kept.error().to_string());
              coordinator_symbols(std::make_shared<control::SymbolTable>(std::move(*table)));
            } else {
              notes_.add("kallsyms: " + table.error().to_string());
            }
          } else if constexpr (std::is_same_v<T, control::StepStarted>) {
            guest_output_.step_started(m.index);
            if (m.index < result_.steps.size()) {
              const auto& step = result_.steps[m.index];
              progress(fmt::format("{}{}/{} {} {}", kEventStepPrefix, m.index + 1, result_.steps.size(), step.op,
                                   step.description));
            }
          } else if constexpr (std::is_same_v<T, control::StepFinished>) {
            finish_step(m);
          } else if constexpr (std::is_same_v<T, control::Workload>) {
            workload_pids_.emplace_back(m.name, std::vector<int64_t>(m.pids.begin(), m.pids.end()));
          } else if constexpr (std::is_same_v<T, control::StepOutput>) {
            guest_output_.output_chunk(m);
          } else if constexpr (std::is_same_v<T, control::Log>) {
            if (guest_output_.log(m.text)) progress("agent: " + m.text);
          } else if constexpr (std::is_same_v<T, control::Done>) {
            agent_done_ = m;
            done_at_ = Clock::now();
          } else {
            static_assert(std::is_same_v<T, void>, "every control message is handled");
          }
        },
        message);
  }

  void coordinator_symbols(std::shared_ptr<const control::SymbolTable> table) {
    symbols_->set(table);
    if (coordinator_) coordinator_->set_symbols(std::move(table));
  }

  void finish_step(const control::StepFinished& m) {
    std::string received;
    std::string output_file = guest_output_.step_finished(m, &received);
    if (m.index >= result_.steps.size()) {
      notes_.add(fmt::format("the agent reported step {} of {}", m.index, result_.steps.size()));
      return;
    }
    ++steps_finished_;
    StepResult& step = result_.steps[m.index];
    step.output_file = std::move(output_file);
    step.summary = load_summary(m.details);
    step.outcome = m.ok ? Outcome::Passed : Outcome::Failed;
    step.duration = std::chrono::milliseconds(m.duration_ms);
    step.error = m.error;
    if (!m.details.verifier_log.empty()) step.error += "\nverifier log:\n" + m.details.verifier_log;
    if (!m.ok && !m.details.output_tail.empty()) step.error += "\noutput:\n" + m.details.output_tail;
    if (m.ok && m.index < step_json_.size() && !step_json_[m.index].empty())
      record_json(step, step_json_[m.index], received);
  }

  // A Run step's `json: name`: its output becomes stats("name"), or the step fails.
  void record_json(StepResult& step, const std::string& name, const std::string& output) {
    auto doc = parse_json_output(output);
    if (doc) {
      json_docs_.emplace_back(name, std::move(*doc));
      return;
    }
    step.outcome = Outcome::Failed;
    step.error = fmt::format("json: {}: {}", name, doc.error().to_string());
  }

  // What the error-trigger pipeline saw; the verdict is finish_outcome()'s.
  void record_scheduler_exits(const freeze::ErrorTrigger& trigger) {
    for (const auto& p : trigger.problems()) notes_.add(p);
    failure_dump_ = trigger.failure_dump();
    result_.scheduler_exits = exit_results(trigger.exits(), scenario_.expect_scheduler_exit);
  }

  void record_captures(const freeze::FreezeCoordinator& coordinator) {
    for (const auto& stats : coordinator.stats()) {
      // A capture the trigger dropped (the exit was no death) is not listed.
      if (stats.trigger == freeze::Trigger::SchedulerExit && !failure_dump_.late) continue;
      if (stats.trigger == freeze::Trigger::Stall && !failure_dump_.early) continue;
      CaptureResult capture;
      capture.name = stats.name;
      capture.degraded = stats.degraded;
      capture.at = stats.frozen_at - session_started_;
      capture.duration = stats.freeze_window;
      capture.error = stats.degraded_reason;
      capture.accel_counters = stats.accel_counters;
      capture.section_errors = stats.section_errors;
      result_.captures.push_back(std::move(capture));
    }
  }

  Status conclude(const kvm::ExitEvent& exit) {
    bool clean = exit.reason == kvm::ExitReason::Poweroff && agent_done_.has_value();
    if (clean) return {};
    out_.failure = SessionFailure::VmUnavailable;
    std::string what = fmt::format("the guest ended early ({}{}{})", kvm::to_string(exit.reason),
                                   exit.detail.empty() ? "" : ": ", exit.detail);
    if (exit.reason == kvm::ExitReason::Poweroff && !agent_done_) {
      what = "the guest powered off before the agent finished its plan";
    }
    std::string hint = "see the console log: " + result_.console_log;
    // The agent is the guest's init: when it ends, the kernel panics so.
    bool agent_died = std::any_of(exit.console_tail.begin(), exit.console_tail.end(), [](const std::string& l) {
      return l.find("Attempted to kill init!") != std::string::npos;
    });
    if (agent_died) {
      what = "the guest agent died (it is the guest's init: the kernel panicked when it ended), " + what;
      hint += " (the lines before the panic say how the agent ended: a segfault, a signal, an OOM kill)";
    }
    // Nested KVM with -cpu host: the guest's FPU setup meets features the
    // outer hypervisor does not really provide.
    bool fpstate = std::any_of(exit.console_tail.begin(), exit.console_tail.end(),
                               [](const std::string& l) { return l.find("fpstate_reset") != std::string::npos; });
    if (fpstate && result_.vm && result_.vm->cpu_model.rfind("host", 0) == 0)
      hint += fmt::format("; the guest died in fpstate_reset with -cpu {} ({}), as under nested KVM: "
                          "name another model with vm.cpu_model, [vm] cpu_model or --cpu-model, e.g. qemu64",
                          result_.vm->cpu_model, result_.vm->cpu_model_source);
    return fail(what + "\nconsole tail:\n" + join_lines(exit.console_tail), "", hint);
  }

  void save_snapshots() {
    std::string dir = (fs::path(options_.scenario_dir) / "snapshots").string();
    auto triggered = save_failure_dump(failure_dump_, options_.scenario_dir, dir, result_.scheduler_exits, notes_);
    auto stepped = bridge_.drain();
    // One at a time: a write that fails (a full disk) loses no other, and a
    // capture names a file only when one is on disk (this write, or the
    // one made when it was taken).
    std::map<std::string, std::string> on_disk;  // name → its file
    for (const auto& named : stepped) {
      auto saved = save_run_reports(dir, {named});
      if (saved) {
        on_disk.emplace(named.name, saved->front());
        continue;
      }
      notes_.add("saving snapshots: " + saved.error().to_string());
      std::string path = report_file_in(dir, named.name);
      std::error_code ec;
      for (std::string file : {path, path + std::string(kCompressedReportSuffix)})
        if (fs::is_regular_file(file, ec)) on_disk.emplace(named.name, std::move(file));
    }
    for (auto& capture : result_.captures) {
      for (const auto& named : stepped) {
        if (named.name != capture.name) continue;
        if (auto file = on_disk.find(named.name); file != on_disk.end()) capture.report_path = file->second;
        capture.maps = named.report.maps.size();
      }
      for (const auto& named : triggered) {
        if (named.name != capture.name) continue;
        capture.report_path = (fs::path(dir) / kFailureDumpFile).string();
        capture.maps = named.report.maps.size();
      }
    }
    // The default snapshot (the last) stays the last one a step captured.
    reports_ = std::move(triggered);
    reports_.insert(reports_.end(), stepped.begin(), stepped.end());
  }

  void evaluate() {
    bool finished = agent_done_ && agent_done_->ok && result_.outcome != Outcome::Error;
    if (!finished) {
      for (const auto& assertion : scenario_.assertions) {
        AssertionResult skipped;
        skipped.name = assertion.name;
        skipped.expression = assertion.text;
        skipped.line = assertion.loc.line;
        skipped.message = assertion.message;
        result_.assertions.push_back(std::move(skipped));
      }
      return;
    }
    std::vector<NamedReport> scenario_reports;
    for (const auto& named : reports_)
      if (!shell_captures_.contains(named.name)) scenario_reports.push_back(named);
    result_.assertions = check_assertions(std::move(scenario_reports));
  }

  std::vector<AssertionResult> check_assertions(std::vector<NamedReport> reports) const {
    dsl::EvalContext ctx = dsl::EvalContext::from_reports(std::move(reports));
    ctx.workload_pids = workload_pids_;
    ctx.json_docs = json_docs_;
    ctx.nr_cpus = shape_.cpus;  // the count the guest booted with (vm_shape.h)
    return from_dsl(dsl::check_assertions(scenario_, std::move(ctx)));
  }

  // The verdict is derive_outcome()'s (cli/report/results.h), as for every
  // reporter and the exit code; notes are kept beside it.
  void finish_outcome() {
    result_.notes = notes_.lines();
    // An agent that failed with no step to show for it (a module the kernel
    // refused, a plan it could not run) is the scenario's error.
    bool step_says_why = std::any_of(result_.steps.begin(), result_.steps.end(), [](const StepResult& s) {
      return s.outcome == Outcome::Failed || s.outcome == Outcome::Error;
    });
    if (agent_done_ && !agent_done_->ok && !step_says_why && result_.error.empty())
      result_.error = agent_done_->error.empty() ? "the guest agent reported a failure" : agent_done_->error;
    result_.outcome = derive_outcome(result_);
  }

  const dsl::Scenario& scenario_;
  const SessionOptions& options_;
  ScenarioResult result_;
  SessionResult out_;
  std::unique_ptr<kvm::Machine> owned_machine_;  // the one run_guest() booted
  kvm::Machine* machine_ = nullptr;
  VmShape shape_;  // decided first thing in run_guest()
  SnapshotBridge bridge_{dsl::kMaxCaptures};
  freeze::FreezeCoordinator* coordinator_ = nullptr;
  std::string kernel_version_;
  std::chrono::steady_clock::time_point boot_started_{};  // QEMU launch, for VmResult::ready
  const Clock::time_point session_started_ = Clock::now();
  struct CloseFile {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, CloseFile> events_log_;  // <scenario dir>/events.log
  uint32_t kernel_hz_ = 0;  // CONFIG_HZ; 0 when the kernel's config is not at hand
  freeze::FailureDump failure_dump_;
  // The guest kernel's vmlinux BTF and layouts; nullptr when the kernel has
  // none or it could not be loaded (maps are not captured), and then why.
  std::shared_ptr<const freeze::Vmlinux> vmlinux_;
  std::future<Result<std::shared_ptr<const freeze::Vmlinux>>> vmlinux_loading_;  // run_guest() → drive()
  std::string vmlinux_unavailable_ = freeze::kNoVmlinuxBtf;
  std::shared_ptr<freeze::SharedSymbols> symbols_ = std::make_shared<freeze::SharedSymbols>();
  Clock::time_point deadline_;
  std::optional<Clock::time_point> done_at_;
  ControlReader* control_ = nullptr;  // while drive() runs
  control::KallsymsAssembler kallsyms_;
  std::optional<control::Done> agent_done_;
  bool kallsyms_ended_ = false;
  std::string kallsyms_cache_;  // "" when the kernel's cannot be kept
  std::future<Result<control::SymbolTable>> cached_kallsyms_;
  std::shared_ptr<const control::SymbolTable> cached_symbols_;  // until the hello
  bool kallsyms_waited_ = false;  // catch_up_before_doorbell() waited
  std::vector<std::pair<std::string, std::vector<int64_t>>> workload_pids_;
  std::vector<std::string> step_json_;  // GuestPlan::step_json
  std::vector<std::pair<std::string, std::shared_ptr<const nlohmann::json>>> json_docs_;
  std::vector<NamedReport> reports_;
  Notes notes_;
  GuestOutput guest_output_{options_.scenario_dir, notes_};
  std::size_t steps_finished_ = 0;  // step_finished messages read
  // The shell (SessionOptions::shell): asked about (phase), open on the
  // person's terminal, and the snapshots taken from it.
  bool shell_phase_ = false;
  bool shell_open_ = false;
  TerminalBridge terminal_;
  std::set<std::string> shell_captures_;
};

}  // namespace

SessionResult run_scenario(const dsl::Scenario& scenario, const SessionOptions& options) {
  return Session(scenario, options).run();
}

SessionResult run_scenario_on(const dsl::Scenario& scenario, const SessionOptions& options,
                              kvm::Machine& booted) {
  return Session(scenario, options).run(&booted);
}

}  // namespace ktest::cli
