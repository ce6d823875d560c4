// Executes the plan's steps in order and reports each over the channel.
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "kvm/agent/agent.h"
#include "kvm/doorbell_abi.h"

namespace ktest::agent {
namespace {

namespace ctl = kvm::control;
using std::chrono::milliseconds;

// How often Sleep and Run look at the scheduler, and how long a dying one
// may take to reach "disabled" (when the kernel has logged why).
constexpr milliseconds kWatchInterval(20);
constexpr milliseconds kExitSettle(5000);

struct Context {
  const kvm::PlanSettings& settings;
  Channel& channel;
  Doorbell& doorbell;
  SchedulerSlot scheduler;
  LoadedObjects objects;  // LoadBpf's: kept until power-off (see agent.h)
  std::vector<int> workload_pids;
  std::map<std::string, std::vector<int>> workloads;  // Spawn name → pids
  std::optional<kvm::SchedulerSpec> last_attached;    // what a bare ktest-attach attaches again
  std::vector<std::pair<uint32_t, std::unique_ptr<CaptureSeries>>> series;  // step index → series
  bool interactive = false;  // in the shell: a loader's output goes to the command's answer
};

// A loader the step stopped (or that failed to enable): its output goes to
// the host with this step, named after it. One output per step: when a
// Replace stops one loader and the next fails, the first one's is sent
// (the failure's text quotes the second one's tail).
void send_loader_output(Context& ctx, uint32_t index, const SchedulerReport& report, ctl::StepDetails& d) {
  if (!report.loader || d.output_bytes) return;
  if (ctx.interactive) {
    d.output_tail = report.loader->output_tail;
    return;
  }
  const RunOutcome& r = *report.loader;
  ctl::for_each_output_chunk(index, r.output, [&ctx](const ctl::StepOutput& chunk) { ctx.channel.send(chunk); });
  d.output_bytes = r.output.size();
  d.output_dropped = r.output_dropped;
  d.output_name = report.loader_output_name;
  if (r.exited) d.exit_code = r.exit_code;
  else if (r.signal != 0) d.signal = r.signal;
}

Status attach(Context& ctx, uint32_t index, const kvm::SchedulerSpec& s, ctl::StepDetails& d,
              milliseconds timeout) {
  SchedulerReport report;
  Status st = ctx.scheduler.attach(s, report, timeout);
  d.verifier_log = std::move(report.verifier_log);
  d.scheduler_state = std::move(report.state);
  d.scheduler_ops = std::move(report.ops);
  send_loader_output(ctx, index, report, d);
  if (st) ctx.last_attached = s;
  return st;
}

Status doorbell_step(Context& ctx, doorbell::RequestKind kind, const std::string& payload,
                     ctl::StepDetails& d, milliseconds timeout) {
  KTEST_ASSIGN(auto reply, ctx.doorbell.request(static_cast<uint32_t>(kind), payload, timeout));
  d.reply_status = reply.status;
  d.reply_text = reply.payload;
  return host_accepted(reply);
}

// The attached scheduler's unplanned exit (see agent.h): an error to fail
// the step in progress with, or only a log line when the plan expects it.
Status watch_scheduler(Context& ctx) {
  auto exit = ctx.scheduler.check_exit(kExitSettle);
  if (!exit) return {};
  console_log(*exit);
  if (ctx.settings.scheduler_exit_expected) {
    ctx.channel.send(ctl::Log{*exit});
    return {};
  }
  return fail(*exit, "", "if the scenario means the scheduler to exit, say so with expect_scheduler_exit");
}

// One overload per step type: std::visit makes a step type without one a
// compile error.
struct StepRunner {
  Context& ctx;
  uint32_t index;
  ctl::StepDetails& d;
  milliseconds timeout;

  Status operator()(const kvm::AttachScheduler& s) { return attach(ctx, index, s, d, timeout); }

  Status operator()(const kvm::ReplaceScheduler& s) {
    if (ctx.scheduler.attached()) {
      SchedulerReport report;
      Status st = ctx.scheduler.detach(report, timeout);
      send_loader_output(ctx, index, report, d);
      if (!st) return std::move(st).context("detaching the previous scheduler");
    }
    return attach(ctx, index, s, d, timeout);
  }

  Status operator()(const kvm::DetachScheduler&) {
    SchedulerReport report;
    Status st = ctx.scheduler.detach(report, timeout);
    d.scheduler_state = std::move(report.state);
    d.scheduler_ops = std::move(report.ops);
    send_loader_output(ctx, index, report, d);
    return st;
  }

  Status operator()(const kvm::Spawn& s) {
    for (uint32_t i = 0; i < s.count; ++i) {
      auto pid = spawn_process(s.argv, s.cpus, s.nice, -1, s.name);
      if (!pid) return std::move(pid).context("spawning copy " + std::to_string(i) + " of " + s.name);
      d.pids.push_back(*pid);
      ctx.workload_pids.push_back(*pid);
    }
    auto& pids = ctx.workloads[s.name];
    pids.insert(pids.end(), d.pids.begin(), d.pids.end());
    ctx.channel.send(ctl::Workload{s.name, d.pids});
    return {};
  }

  Status operator()(const kvm::Kill& s) {
    auto it = ctx.workloads.find(s.name);
    if (it == ctx.workloads.end()) return fail("no workload named '" + s.name + "' was spawned");
    for (int pid : it->second) {
      // Each copy leads its own process group: signal what it started too.
      if (::kill(-pid, s.signal) != 0 && ::kill(pid, s.signal) != 0 && errno != ESRCH)
        return fail("cannot signal pid " + std::to_string(pid) + ": " + std::strerror(errno));
    }
    d.pids = it->second;
    return {};
  }

  Status operator()(const kvm::Run& s) {
    Status scheduler_exit;
    auto interrupt = [&] {
      scheduler_exit = watch_scheduler(ctx);
      return !scheduler_exit.ok();
    };
    KTEST_ASSIGN(auto r, run_process(s.argv, std::min(timeout, milliseconds(s.timeout_ms)), interrupt));
    if (r.exited) d.exit_code = r.exit_code;
    if (!r.exited && !r.timed_out && !r.interrupted) d.signal = r.signal;
    d.output_tail = r.output_tail;
    // The whole output goes before step_finished, which says how much came.
    ctl::for_each_output_chunk(index, r.output, [this](const ctl::StepOutput& chunk) { ctx.channel.send(chunk); });
    d.output_bytes = r.output.size();
    d.output_dropped = r.output_dropped;
    if (r.interrupted) return std::move(scheduler_exit).context("the command was killed");
    if (r.exited && r.exit_code == s.expect_exit) return {};
    const bool not_found = r.exited && r.exit_code == 127;
    return fail("command " + outcome_summary(r) + ", expected exit " + std::to_string(s.expect_exit), "",
                not_found ? tools_hint() : "");
  }

  Status operator()(const kvm::LoadBpf& s) {
    LoadReport report;
    Status st = ctx.objects.load(s, report);
    d.verifier_log = std::move(report.verifier_log);
    d.programs_attached = std::move(report.attached);
    d.programs_run = std::move(report.ran);
    return st;
  }

  // Sleeps in kWatchInterval slices, watching the scheduler between them.
  Status operator()(const kvm::Sleep& s) {
    const auto end = Clock::now() + std::min(timeout, milliseconds(s.ms));
    while (true) {
      KTEST_TRY(watch_scheduler(ctx));
      auto left = end - Clock::now();
      if (left <= Clock::duration::zero()) break;
      std::this_thread::sleep_for(std::min<Clock::duration>(left, kWatchInterval));
    }
    if (milliseconds(s.ms) > timeout)
      return fail("sleep of " + std::to_string(s.ms) + " ms exceeds the step timeout");
    return {};
  }

  Status operator()(const kvm::CaptureSnapshot& s) {
    if (!s.series()) return doorbell_step(ctx, doorbell::RequestKind::Capture, s.name, d, timeout);
    if (index == kvm::kNoStepIndex) return fail("a series runs only from the scenario's steps");
    ctx.series.emplace_back(index, std::make_unique<CaptureSeries>(ctx.doorbell, s, timeout));
    return {};
  }

  Status operator()(const kvm::WatchSnapshot& s) {
    nlohmann::json payload = {{"name", s.name}, {"symbol", s.symbol},
                              {"access", s.access}, {"len", s.len}, {"step", index}};
    return doorbell_step(ctx, doorbell::RequestKind::RegisterWatch, payload.dump(), d, timeout);
  }
};

Status run_step(Context& ctx, uint32_t index, const kvm::Step& step, ctl::StepDetails& d) {
  Status st = std::visit(StepRunner{ctx, index, d, milliseconds(ctx.settings.step_timeout_ms)}, step);
  // A scheduler that died during a quick step: that step fails (or logs).
  if (st) return watch_scheduler(ctx);
  if (auto late = watch_scheduler(ctx); !late) ctx.channel.send(ctl::Log{late.error().to_string()});
  return st;
}

// What one of the guest's ktest-* commands asked for, as a step. A bare
// ktest-attach means the scheduler attached last.
Result<kvm::Step> guest_request_step(const Context& ctx, const std::string& text) {
  nlohmann::json request = nlohmann::json::parse(text, nullptr, false);
  if (request.is_object() && request.value("op", "") == "AttachScheduler" && !request.contains("object") &&
      !request.contains("command")) {
    if (!ctx.last_attached) return fail("no scheduler was attached yet", "", "name one: ktest-attach OBJECT or ktest-attach -- COMMAND");
    return kvm::Step{kvm::AttachScheduler{*ctx.last_attached}};
  }
  auto step = kvm::step_from_json(text);
  if (!step) return step;
  if (std::holds_alternative<kvm::Spawn>(*step) || std::holds_alternative<kvm::Run>(*step) ||
      std::holds_alternative<kvm::Kill>(*step) || std::holds_alternative<kvm::Sleep>(*step))
    return fail("the shell runs that itself", "", "type the command at the prompt");
  return step;
}

// The answer a ktest-* command prints: what the step did.
std::string guest_request_answer(const kvm::Step& step, const ctl::StepDetails& d) {
  if (!d.reply_text.empty()) return d.reply_text;  // capture, watch: the host's words
  std::string text = std::holds_alternative<kvm::DetachScheduler>(step) ? "detached" : "attached";
  if (!d.scheduler_ops.empty()) text += " " + d.scheduler_ops;
  if (!d.scheduler_state.empty()) text += " (sched_ext " + d.scheduler_state + ")";
  if (!d.output_tail.empty()) text += "\nloader output (tail):\n" + d.output_tail;
  return text;
}

// Waits for the plan's series (a stopped plan cancels theirs); a series
// that missed a capture fails the run like a failed step.
void finish_series(Context& ctx, ctl::Done& done, bool cancel) {
  for (auto& [index, series] : ctx.series) {
    for (const auto& problem : series->finish(cancel)) {
      std::string text = "step " + std::to_string(index + 1) + " (CaptureSnapshot series " + series->name() +
                         "): " + problem;
      console_log(text);
      ctx.channel.send(ctl::Log{text});
      if (done.ok) done.error = text;
      done.ok = false;
    }
  }
  ctx.series.clear();
}

// The interactive phase (PlanSettings::offer_shell): the host decides; a
// shell on the terminal port, and the guest's ktest-* commands run as steps
// (each logged to the host) until the shell exits. The scheduler and the
// workloads are as the steps left them.
void offer_shell(Context& ctx, const ctl::Done& done) {
  nlohmann::json ask = {{"ok", done.ok}, {"steps_run", done.steps_run}};
  auto reply = ctx.doorbell.request(static_cast<uint32_t>(doorbell::RequestKind::Shell), ask.dump(),
                                    std::chrono::seconds(60));
  if (!reply) return console_log("shell: " + reply.error().to_string());
  nlohmann::json answer = nlohmann::json::parse(reply->payload, nullptr, false);
  if (!answer.is_object() || !answer.value("shell", false)) return;
  ShellTerminal terminal{answer.value<uint16_t>("rows", 0), answer.value<uint16_t>("cols", 0),
                         answer.value("term", ""), answer.value("banner", "")};
  CommandServer server;
  if (Status s = server.open(); !s) ctx.channel.send(ctl::Log{"shell: no ktest-* commands: " + s.error().to_string()});
  auto shell = start_shell(terminal);
  if (!shell) return ctx.channel.send(ctl::Log{"shell: " + shell.error().to_string()});
  ctx.interactive = true;
  ctx.channel.send(ctl::Log{"shell: started (pid " + std::to_string(*shell) + ")"});
  while (::waitpid(*shell, nullptr, WNOHANG) == 0) {
    if (auto request = server.next(milliseconds(50))) {
      auto step = guest_request_step(ctx, request->text);
      ctl::StepDetails d;
      Status st = step ? run_step(ctx, kvm::kNoStepIndex, *step, d) : Status(fail(step.error()));
      std::string said = st ? guest_request_answer(*step, d) : st.error().to_string();
      ctx.channel.send(ctl::Log{"shell: " + (step ? std::string(kvm::step_op(*step)) : "request") + ": " + said});
      server.answer(*request, st.ok(), said);
    }
    for (const auto& line : ctx.channel.read_lines())
      if (auto size = ctl::parse_resize(line)) resize_terminal(size->rows, size->cols);
    if (auto exit = ctx.scheduler.check_exit(kExitSettle)) {
      console_log(*exit);
      ctx.channel.send(ctl::Log{*exit});
    }
  }
  ctx.interactive = false;
  ctx.channel.send(ctl::Log{"shell: exited"});
}

}  // namespace

bool execute_plan(const kvm::Plan& plan, Channel& channel, Doorbell& doorbell) {
  Context ctx{plan.settings, channel, doorbell, {}, {}, {}, {}, {}, {}, false};
  ctl::Done done{true, 0, ""};
  for (uint32_t i = 0; i < plan.steps.size(); ++i) {
    const auto& step = plan.steps[i];
    std::string op(kvm::step_op(step));
    channel.send(ctl::StepStarted{i, op});
    console_log("step " + std::to_string(i) + " " + op);
    auto start = Clock::now();
    ctl::StepFinished finished;
    finished.index = i;
    finished.op = op;
    Status st = run_step(ctx, i, step, finished.details);
    finished.duration_ms = static_cast<uint64_t>(
        std::chrono::duration_cast<milliseconds>(Clock::now() - start).count());
    finished.ok = st.ok();
    if (!st) finished.error = st.error().to_string();
    channel.send(finished);
    ++done.steps_run;
    reap_zombies(ctx.scheduler.loader_pid());
    if (!st) {
      console_log("step " + std::to_string(i) + " " + op + " failed: " + finished.error);
      if (done.ok) done.error = "step " + std::to_string(i + 1) + " (" + op + "): " + finished.error;
      done.ok = false;
      if (plan.settings.on_failure == kvm::OnFailure::Stop) break;
    }
  }
  finish_series(ctx, done, !done.ok && plan.settings.on_failure == kvm::OnFailure::Stop);
  if (plan.settings.offer_shell) offer_shell(ctx, done);
  // An exit no step saw (after the last one, or once the plan stopped).
  if (auto exit = ctx.scheduler.check_exit(kExitSettle)) channel.send(ctl::Log{*exit});
  kill_processes(ctx.workload_pids, std::chrono::seconds(5));
  if (ctx.scheduler.attached()) {
    SchedulerReport report;
    Status st = ctx.scheduler.detach(report, std::chrono::seconds(5));
    if (!st) channel.send(ctl::Log{"cleanup: " + st.error().to_string()});
    // No step is left to carry a loader's output (the host plans a
    // DetachScheduler for a loader; this is a plan that stopped early).
    if (report.loader)
      channel.send(ctl::Log{"cleanup: stopped " + report.loader_output_name + ", which " +
                            outcome_summary(*report.loader) + "; output tail:\n" + report.loader->output_tail});
  }
  channel.send(done);
  return done.ok;
}

}  // namespace ktest::agent
