// sched_ext schedulers through libbpf: open, load (bpf_object.cpp), attach
// struct_ops, detach.
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "kvm/agent/agent.h"

namespace ktest::agent {
namespace {

constexpr const char* kStatePath = "/sys/kernel/sched_ext/state";
constexpr const char* kOpsPath = "/sys/kernel/sched_ext/root/ops";

void read_state(SchedulerReport& report) {
  report.state = trim(read_text_file(kStatePath, 4096).value_or(""));
  report.ops = trim(read_text_file(kOpsPath, 4096).value_or(""));
}

// Enabling completes before the link is returned, disabling runs in a
// kernel worker: poll for the wanted state within the bound.
bool wait_for_state(std::string_view wanted, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (trim(read_text_file(kStatePath, 4096).value_or("")) == wanted) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

}  // namespace

Status SchedulerSlot::attach(const std::string& path, const std::string* ops,
                             SchedulerReport& report, std::chrono::milliseconds timeout) {
  if (attached()) return fail("a scheduler is already attached", "", "use ReplaceScheduler");
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
    read_state(report);
    return loaded;
  }
  object_ = obj;
  for (bpf_map* m : chosen) {
    bpf_link* link = bpf_map__attach_struct_ops(m);
    if (link == nullptr) {
      int err = errno;
      release();
      read_state(report);
      return fail(std::string("attaching struct_ops ") + bpf_map__name(m) + ": " + errno_text(err),
                  "", err == EBUSY || err == EEXIST ? "another sched_ext scheduler is enabled"
                                                    : "see the kernel log on the console");
    }
    links_.push_back(link);
  }
  bool enabled = wait_for_state("enabled", timeout);
  read_state(report);
  if (!enabled) {
    release();
    return fail("sched_ext state is \"" + report.state + "\" after attaching, not \"enabled\"",
                "", "the scheduler may have exited in init; see the kernel log");
  }
  report.verifier_log.clear();  // only kept to explain failures
  return {};
}

void SchedulerSlot::release() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
  if (object_ != nullptr) bpf_object__close(object_);
  object_ = nullptr;
}

Status SchedulerSlot::detach(SchedulerReport& report, std::chrono::milliseconds timeout) {
  if (!attached()) {
    read_state(report);
    return fail("no scheduler is attached", "", "DetachScheduler needs an earlier AttachScheduler");
  }
  release();
  bool disabled = wait_for_state("disabled", timeout);
  read_state(report);
  if (!disabled)
    return fail("sched_ext state is \"" + report.state + "\" " + std::to_string(timeout.count()) +
                " ms after detaching, not \"disabled\"");
  return {};
}

}  // namespace ktest::agent
