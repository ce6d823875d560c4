// sched_ext schedulers through libbpf: open, load (bpf_object.cpp), attach
// struct_ops, detach, and noticing when one exits on its own. The loader
// form's own parts are in loader.cpp.
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

constexpr const char* kStatePath = "/sys/kernel/sched_ext/state";
constexpr const char* kOpsPath = "/sys/kernel/sched_ext/root/ops";
// How long a dying scheduler may take from "disabling" to "disabled".
constexpr std::chrono::milliseconds kSettle(5000);

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

}  // namespace

std::string read_scheduler_state() { return trim(read_text_file(kStatePath, 4096).value_or("")); }

void read_scheduler_state(SchedulerReport& report) {
  report.state = read_scheduler_state();
  report.ops = trim(read_text_file(kOpsPath, 4096).value_or(""));
}

bool is_exiting(std::string_view state) { return state == "disabling" || state == "disabled"; }

std::string wait_for_state(std::initializer_list<std::string_view> wanted,
                           std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    std::string state = read_scheduler_state();
    for (auto w : wanted)
      if (state == w) return state;
    if (Clock::now() >= deadline) return state;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string kernel_words(KmsgReader& kmsg) {
  std::string lines = sched_ext_lines(kmsg.read_new());
  return lines.empty() ? std::string() : " (kernel: " + lines + ")";
}

Status SchedulerSlot::attach(const kvm::SchedulerSpec& spec, SchedulerReport& report,
                             std::chrono::milliseconds timeout) {
  if (attached() && (exited_ || is_exiting(read_scheduler_state()) || (loader_.pid > 0 && loader_ended())))
    release();  // it died: nothing to replace
  if (attached()) return fail("a scheduler is already attached", "", "use ReplaceScheduler");
  // Best effort: without /dev/kmsg the errors just lack the kernel's words.
  [[maybe_unused]] Status kmsg_opened = kmsg_.open();
  return spec.loader() ? attach_loader(spec, report)
                       : attach_object(spec.object, spec.ops ? &*spec.ops : nullptr, report, timeout);
}

Status SchedulerSlot::attach_object(const std::string& path, const std::string* ops,
                                    SchedulerReport& report, std::chrono::milliseconds timeout) {
  LibbpfLog capture(report.verifier_log);
  KTEST_ASSIGN(bpf_object * obj, open_bpf_object(path));

  std::vector<bpf_map*> chosen;
  std::vector<std::string> available;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__type(map) != BPF_MAP_TYPE_STRUCT_OPS) continue;
    available.push_back(bpf_map__name(map));
    if (ops == nullptr || *ops == bpf_map__name(map)) chosen.push_back(map);
    else bpf_map__set_autocreate(map, false);
  }
  if (chosen.empty()) {
    bpf_object__close(obj);
    std::string names;
    for (const auto& n : available) names += (names.empty() ? "" : ", ") + n;
    return fail(ops ? "no struct_ops map named \"" + *ops + "\" in " + path
                    : "no struct_ops map in " + path,
                "", available.empty() ? "is it a sched_ext scheduler object?"
                                      : "struct_ops maps present: " + names);
  }
  if (Status loaded = load_bpf_object(obj, path); !loaded) {
    bpf_object__close(obj);
    read_scheduler_state(report);
    return loaded;
  }
  object_ = obj;
  for (bpf_map* m : chosen) {
    bpf_link* link = bpf_map__attach_struct_ops(m);
    if (link == nullptr) {
      int err = errno;
      release();
      read_scheduler_state(report);
      return fail(std::string("attaching struct_ops ") + bpf_map__name(m) + ": " + errno_text(err) +
                      kernel_words(kmsg_),
                  "", err == EBUSY || err == EEXIST ? "another sched_ext scheduler is enabled"
                                                    : "see the kernel log on the console");
    }
    links_.push_back(link);
  }
  // Enabling completes before the link is returned: a scheduler that is
  // already on its way out died while enabling (ops.init, say).
  std::string state = wait_for_state({"enabled", "disabling", "disabled"}, timeout);
  if (is_exiting(state)) wait_for_state({"disabled"}, std::min(timeout, kSettle));
  read_scheduler_state(report);
  if (state != "enabled") {
    std::string what = std::string("attaching struct_ops ") + bpf_map__name(chosen.front()) + ": ";
    std::string words = kernel_words(kmsg_);
    release();
    if (is_exiting(state))
      return fail(what + "the scheduler exited while it was being enabled" + words, "",
                  "see its ops.init and the kernel log on the console");
    return fail(what + "sched_ext state is \"" + report.state + "\", not \"enabled\"" + words, "",
                "see the kernel log on the console");
  }
  ops_name_ = report.ops.empty() ? std::string(bpf_map__name(chosen.front())) : report.ops;
  exited_ = false;
  kmsg_.read_new();  // from here on only what happens after enabling counts
  report.verifier_log.clear();  // only kept to explain failures
  return {};
}

void SchedulerSlot::release() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
  if (object_ != nullptr) bpf_object__close(object_);
  object_ = nullptr;
  if (loader_.pid > 0) {
    SchedulerReport dropped;  // it exited (check_exit quoted its tail), or the agent is ending
    stop_loader(dropped);
    if (dropped.loader && !dropped.loader->output_tail.empty())
      console_log("released " + dropped.loader_output_name + ", output tail:\n" + dropped.loader->output_tail);
  }
  exited_ = false;
  ops_name_.clear();
}

Status SchedulerSlot::detach(SchedulerReport& report, std::chrono::milliseconds timeout) {
  if (!attached()) {
    read_scheduler_state(report);
    return fail("no scheduler is attached", "", "DetachScheduler needs an earlier AttachScheduler");
  }
  const bool already_gone = exited_;
  if (loader_.pid > 0) stop_loader(report);
  release();
  kmsg_.close();
  bool disabled = wait_for_state({"disabled"}, already_gone ? std::chrono::milliseconds(0) : timeout) ==
                  "disabled";
  read_scheduler_state(report);
  if (already_gone) return {};  // it exited earlier: there was nothing left to disable
  if (!disabled)
    return fail("sched_ext state is \"" + report.state + "\" " + std::to_string(timeout.count()) +
                " ms after detaching, not \"disabled\"");
  return {};
}

std::optional<std::string> SchedulerSlot::check_exit(std::chrono::milliseconds settle) {
  if (!attached() || exited_) return std::nullopt;
  std::string state = read_scheduler_state();
  const bool loader_gone = loader_.pid > 0 && loader_ended();
  if (!is_exiting(state) && !loader_gone) return std::nullopt;
  exited_ = true;
  state = wait_for_state({"disabled"}, settle);
  std::string lines = sched_ext_lines(kmsg_.read_new());
  if (lines.empty()) lines = "sched_ext state is \"" + state + "\"; the kernel logged no sched_ext line";
  std::string text = "the scheduler \"" + ops_name_ + "\" exited: " + lines;
  if (loader_gone) {
    RunOutcome ended = loader_outcome(*loader_.wait_status, loader_.output_path);
    text += "; its loader " + loader_.name + " " + outcome_summary(ended) +
            (ended.output_tail.empty() ? "" : ", output tail:\n" + ended.output_tail);
  }
  return text;
}

}  // namespace ktest::agent
