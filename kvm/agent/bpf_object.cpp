// libbpf objects: the open/load/log capture that schedulers and LoadBpf
// share, and LoadBpf's load, attach and run.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "kvm/agent/agent.h"
#include "util/edit_distance.h"

namespace ktest::agent {
namespace {

namespace ctl = kvm::control;

// libbpf reports through a global print hook; collect it per operation.
std::string* g_libbpf_log = nullptr;

int collect_libbpf_output(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG || g_libbpf_log == nullptr) return 0;
  // One message may be a whole verifier log, whose end says what failed:
  // format all of it, then keep the tail.
  va_list measure;
  va_copy(measure, args);
  int n = std::vsnprintf(nullptr, 0, fmt, measure);
  va_end(measure);
  if (n <= 0) return 0;
  std::string text(static_cast<std::size_t>(n) + 1, '\0');
  std::vsnprintf(text.data(), text.size(), fmt, args);
  text.pop_back();
  std::string& log = *g_libbpf_log;
  log += text;
  if (log.size() > ctl::kMaxDetailTextBytes) log.erase(0, log.size() - ctl::kMaxDetailTextBytes);
  return 0;
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

LibbpfLog::LibbpfLog(std::string& sink) {
  g_libbpf_log = &sink;
  libbpf_set_print(collect_libbpf_output);
}

LibbpfLog::~LibbpfLog() { g_libbpf_log = nullptr; }

Result<bpf_object*> open_bpf_object(const std::string& path) {
  bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  if (obj == nullptr) return fail("opening " + path + ": " + errno_text(errno));
  return obj;
}

Status load_bpf_object(bpf_object* object, const std::string& path) {
  if (int err = bpf_object__load(object); err != 0)
    return fail("loading " + path + ": " + errno_text(err), "", "the verifier log is in the step details");
  return {};
}

Status LoadedObjects::load(const kvm::LoadBpf& step, LoadReport& report) {
  LibbpfLog capture(report.verifier_log);
  KTEST_ASSIGN(bpf_object * obj, open_bpf_object(step.object));
  std::vector<std::string> programs;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) programs.emplace_back(bpf_program__name(prog));
  for (const auto& name : step.run) {
    if (std::find(programs.begin(), programs.end(), name) != programs.end()) {
      // Naming it in `run` loads it even from a "?" (no autoload) section.
      bpf_program__set_autoload(bpf_object__find_program_by_name(obj, name.c_str()), true);
      continue;
    }
    bpf_object__close(obj);
    auto guess = nearest(name, programs);
    std::string listed = programs.empty() ? "it has none" : "programs: " + join(programs);
    return fail("no program named '" + name + "' in " + step.object, "",
                guess ? "did you mean '" + *guess + "'? (" + listed + ")" : listed);
  }
  if (Status loaded = load_bpf_object(obj, step.object); !loaded) {
    bpf_object__close(obj);
    return loaded;
  }
  std::vector<bpf_link*> links;
  auto release = [&] {
    for (bpf_link* link : links) bpf_link__destroy(link);
    bpf_object__close(obj);
  };
  bpf_object__for_each_program(prog, obj) {
    const std::string name = bpf_program__name(prog);
    if (bpf_program__fd(prog) < 0) continue;  // autoload off ("?" sections)
    if (std::find(step.run.begin(), step.run.end(), name) != step.run.end()) continue;
    bpf_link* link = bpf_program__attach(prog);
    if (link == nullptr) {
      int err = errno;
      if (err == EOPNOTSUPP) continue;  // no auto-attach for its section, e.g. SEC("syscall")
      release();
      return fail("attaching program " + name + " (SEC(\"" + bpf_program__section_name(prog) +
                  "\")): " + errno_text(err), "", "see the libbpf messages in the step details");
    }
    links.push_back(link);
    report.attached.push_back(name);
  }
  for (const auto& name : step.run) {
    bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
    bpf_test_run_opts opts{};  // no context, one run; LIBBPF_OPTS is not C++
    opts.sz = sizeof opts;
    if (int err = bpf_prog_test_run_opts(bpf_program__fd(p), &opts); err != 0) {
      release();
      return fail("running program " + name + ": " + errno_text(err), "",
                  "`run` takes SEC(\"syscall\") programs, which run without a context");
    }
    const auto retval = static_cast<int32_t>(opts.retval);
    report.ran.push_back({name, retval});
    if (retval != 0) {
      release();
      return fail("program " + name + " returned " + std::to_string(retval), "",
                  "a `run` program must return 0");
    }
  }
  objects_.push_back(obj);
  links_.insert(links_.end(), links.begin(), links.end());
  report.verifier_log.clear();  // only kept to explain failures
  return {};
}

}  // namespace ktest::agent
