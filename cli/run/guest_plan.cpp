#include "cli/run/guest_plan.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace ktest::cli {

namespace fs = std::filesystem;

namespace {

uint32_t to_ms(std::chrono::nanoseconds d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 0) return 0;
  if (ms > UINT32_MAX) return UINT32_MAX;
  return static_cast<uint32_t>(ms);
}

std::string access_letters(dsl::WatchAccess access) {
  switch (access) {
    case dsl::WatchAccess::Read: return "r";
    case dsl::WatchAccess::ReadWrite: return "rw";
    case dsl::WatchAccess::Write: break;
  }
  return "w";
}

class PlanBuilder {
 public:
  PlanBuilder(const dsl::Scenario& scenario, const std::vector<std::string>& object_path)
      : scenario_(scenario), object_path_(object_path) {}

  Result<GuestPlan> build() {
    out_.plan.settings.step_timeout_ms = to_ms(scenario_.vm.timeout);
    // The agent goes on through an expected death instead of failing the step.
    out_.plan.settings.scheduler_exit_expected = scenario_.expect_scheduler_exit.has_value();
    for (const auto& tool : scenario_.vm.tools) {
      KTEST_ASSIGN(std::string path, find_tool(tool, "tool"));
      add_tool(path, where(tool.loc));
    }
    for (const auto& module : scenario_.vm.modules) out_.modules.push_back({module.name, where(module.loc)});
    KTEST_TRY(add_vm_files());
    if (scenario_.scheduler) {
      KTEST_ASSIGN(auto attach, attach_step<kvm::AttachScheduler>(*scenario_.scheduler));
      add(attach, scenario_.scheduler->loc.line);
    }
    for (const auto& step : scenario_.steps) KTEST_TRY(add_step(step));
    // A loader's output reaches the host with the step that stops it.
    if (scenario_.scheduler || loader_attached_) add(kvm::DetachScheduler{}, 0);
    // The agent refuses a longer plan (kvm/plan.h); say so before a boot.
    if (out_.plan.steps.size() > kvm::kMaxPlanSteps)
      return fail(fmt::format("the scenario makes {} steps for the guest, more than the {} a plan takes",
                              out_.plan.steps.size(), kvm::kMaxPlanSteps),
                  scenario_.file, "split the scenario in two");
    return std::move(out_);
  }

 private:
  void add(kvm::Step step, int line, std::string json = {}) {
    std::visit(
        [this](const auto& s) {
          using T = std::decay_t<decltype(s)>;
          if constexpr (std::is_base_of_v<kvm::SchedulerSpec, T>) loader_attached_ = s.loader();
          else if constexpr (std::is_same_v<T, kvm::DetachScheduler>) loader_attached_ = false;
        },
        step);
    out_.plan.steps.push_back(std::move(step));
    out_.step_lines.push_back(line);
    out_.step_json.push_back(std::move(json));
  }

  // Once per path (a loader may also be listed in vm.tools); returns where
  // the guest has it: its host path, unless the guest mounts over that.
  std::string add_tool(const std::string& path, const std::string& entry) {
    for (const auto& t : out_.tools)
      if (t.path == path) return t.guest_path;
    std::string guest = path;
    if (dsl::guest_owned_dir(path))
      guest = fmt::format("{}/{}/{}", kRelocatedToolsDir, relocated_++, fs::path(path).filename().string());
    out_.tools.push_back({path, guest, entry});
    return guest;
  }

  // A command whose program is a shipped tool named by its host path runs
  // it where the guest has it.
  std::vector<std::string> guest_argv(std::vector<std::string> argv) const {
    if (!argv.empty())
      for (const auto& t : out_.tools)
        if (argv[0] == t.path) argv[0] = t.guest_path;
    return argv;
  }

  std::string where(dsl::Location loc) const {
    return fmt::format("{}:{}:{}", scenario_.file, loc.line, loc.col);
  }

  // The guest path of a BPF object, adding it to the image once.
  Result<std::string> guest_object(const dsl::BpfObjectRef& ref) {
    KTEST_ASSIGN(std::string host, find_object(ref));
    if (auto it = objects_.find(host); it != objects_.end()) return it->second;
    std::string guest =
        // One folder per object keeps the file name, which libbpf turns into
        // the object name that prefixes its global-section maps.
        fmt::format("/ktest/objects/{}/{}", objects_.size(), fs::path(host).filename().string());
    objects_[host] = guest;
    out_.files.push_back({guest, host});
    return guest;
  }

  Result<std::string> find_object(const dsl::BpfObjectRef& ref) {
    std::vector<std::string> tried{ref.object_path};
    std::error_code ec;
    if (fs::is_regular_file(ref.object_path, ec)) return ref.object_path;
    fs::path written(ref.object);
    for (const auto& dir : object_path_) {
      for (fs::path candidate : {fs::path(dir) / written.relative_path(),
                                 fs::path(dir) / written.filename()}) {
        candidate = candidate.lexically_normal();
        tried.push_back(candidate.string());
        if (fs::is_regular_file(candidate, ec)) return candidate.string();
      }
    }
    return fail(fmt::format("BPF object '{}' not found (looked at: {})", ref.object,
                            fmt::join(tried, ", ")),
                where(ref.loc),
                "build it first (./dev builds the bundled schedulers), or add its directory "
                "with --object-path");
  }

  // The object form ships the object; the loader form ships the program
  // like a vm.tools entry and runs it by its absolute path.
  template <typename AttachOp>
  Result<AttachOp> attach_step(const dsl::SchedulerRef& ref) {
    if (ref.loader()) {
      KTEST_ASSIGN(std::string path, find_tool(dsl::VmTool{ref.command[0], ref.command_loc}, "scheduler program"));
      std::vector<std::string> argv = ref.command;
      argv[0] = add_tool(path, where(ref.command_loc));
      return AttachOp{{"", ref.ops, ref.name, std::move(argv), to_ms(ref.timeout)}};
    }
    KTEST_ASSIGN(std::string guest, guest_object(ref));
    return AttachOp{{guest, ref.ops, ref.name}};
  }

  Status add_step(const dsl::Step& step) {
    const int line = step.loc.line;
    return std::visit(
        [&](const auto& op) -> Status {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, dsl::AttachScheduler>) {
            KTEST_ASSIGN(auto s, attach_step<kvm::AttachScheduler>(op.scheduler));
            add(s, line);
          } else if constexpr (std::is_same_v<T, dsl::ReplaceScheduler>) {
            KTEST_ASSIGN(auto s, attach_step<kvm::ReplaceScheduler>(op.scheduler));
            add(s, line);
          } else if constexpr (std::is_same_v<T, dsl::DetachScheduler>) {
            add(kvm::DetachScheduler{}, line);
          } else if constexpr (std::is_same_v<T, dsl::Spawn>) {
            add(kvm::Spawn{op.name, guest_argv(op.command.argv), op.count, op.cpus, op.nice}, line);
          } else if constexpr (std::is_same_v<T, dsl::Kill>) {
            add(kvm::Kill{op.name, op.signal_number}, line);
          } else if constexpr (std::is_same_v<T, dsl::Run>) {
            uint32_t timeout = op.timeout ? to_ms(*op.timeout) : to_ms(scenario_.vm.timeout);
            add(kvm::Run{guest_argv(op.command.argv), op.expect_exit, timeout}, line, op.json.value_or(""));
          } else if constexpr (std::is_same_v<T, dsl::Sleep>) {
            add(kvm::Sleep{to_ms(op.duration)}, line);
          } else if constexpr (std::is_same_v<T, dsl::CaptureSnapshot>) {
            add(kvm::CaptureSnapshot{op.name, op.series() ? to_ms(op.every) : 0, op.count}, line);
          } else if constexpr (std::is_same_v<T, dsl::WatchSnapshot>) {
            add(kvm::WatchSnapshot{op.name, op.symbol, access_letters(op.access), op.len}, line);
          } else if constexpr (std::is_same_v<T, dsl::LoadBpf>) {
            KTEST_ASSIGN(std::string guest, guest_object(op.bpf));
            add(kvm::LoadBpf{guest, op.bpf.name, op.run}, line);
          } else {
            static_assert(std::is_same_v<T, void>, "every scenario op becomes a plan step");
          }
          return {};
        },
        step.op);
  }

  // A vm.tools entry on the host: an absolute path, or the first match of a
  // bare name on $PATH, /usr/sbin, /sbin; it must be an ELF executable.
  Result<std::string> find_tool(const dsl::VmTool& tool, std::string_view what) const {
    std::vector<std::string> tried;
    std::string found;
    if (tool.program.front() == '/') {
      tried.push_back(tool.program);
      if (is_program(tool.program)) found = tool.program;
    } else {
      std::vector<std::string> dirs;
      const char* path = std::getenv("PATH");
      std::string_view rest = path ? path : "";
      while (!rest.empty()) {
        auto colon = rest.find(':');
        dirs.emplace_back(rest.substr(0, colon));
        rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
      }
      dirs.insert(dirs.end(), {"/usr/sbin", "/sbin"});
      std::error_code ec;
      for (const auto& dir : dirs) {
        std::string candidate = fs::absolute(fs::path(dir.empty() ? "." : dir) / tool.program, ec).lexically_normal().string();
        if (std::find(tried.begin(), tried.end(), candidate) != tried.end()) continue;
        tried.push_back(candidate);
        if (is_program(candidate)) {
          found = candidate;
          break;
        }
      }
    }
    if (found.empty())
      return fail(fmt::format("{} '{}' not found on the host (looked at: {})", what, tool.program, fmt::join(tried, ", ")),
                  where(tool.loc), "install it on the host, or write the absolute path of an executable");
    auto head = read_head(found);
    if (!head.starts_with("\x7f" "ELF"))
      return fail(fmt::format("{} '{}' ({}) is not an ELF program{}", what, tool.program, found,
                              head.starts_with("#!") ? " but a script" : ""),
                  where(tool.loc),
                  "vm.tools copies compiled programs with their shared libraries; for a script, list its "
                  "interpreter here and put the script in the command");
    return found;
  }

  // vm.files: each regular file under each entry, at its guest path.
  Status add_vm_files() {
    const uint64_t budget = scenario_.vm.memory_bytes / 2;
    uint64_t total = 0;
    for (const auto& file : scenario_.vm.files) {
      std::error_code ec;
      auto add = [&](const fs::path& host, const std::string& guest) -> Status {
        total += fs::file_size(host, ec);
        if (total > budget)
          return fail(fmt::format("vm.files hold more than half of vm.memory ({} MiB) by {}", budget >> 19, host.string()),
                      where(file.loc), "raise vm.memory, or copy less");
        out_.files.push_back({guest, host.string()});
        return {};
      };
      if (fs::is_regular_file(file.host, ec)) {
        KTEST_TRY(add(file.host, file.guest));
        continue;
      }
      if (!fs::is_directory(file.host, ec))
        return fail(fmt::format("vm.files entry '{}' does not exist on the host", file.host), where(file.loc),
                    "check the path; a relative one is relative to the scenario file");
      for (auto it = fs::recursive_directory_iterator(file.host, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file(ec))
          KTEST_TRY(add(it->path(), file.guest + "/" + it->path().lexically_relative(file.host).string()));
      }
      if (ec)
        return fail(fmt::format("cannot read vm.files directory {}: {}", file.host, ec.message()), where(file.loc));
    }
    return {};
  }

  static bool is_program(const std::string& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
  }

  static std::string read_head(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char buf[4] = {};
    in.read(buf, sizeof buf);
    return std::string(buf, static_cast<std::size_t>(in.gcount()));
  }

  const dsl::Scenario& scenario_;
  const std::vector<std::string>& object_path_;
  GuestPlan out_;
  std::map<std::string, std::string> objects_;  // host path → guest path
  bool loader_attached_ = false;  // after the steps added so far
  std::size_t relocated_ = 0;     // tools shipped under kRelocatedToolsDir
};

}  // namespace

Result<GuestPlan> build_guest_plan(const dsl::Scenario& scenario,
                                   const std::vector<std::string>& object_path) {
  return PlanBuilder(scenario, object_path).build();
}

}  // namespace ktest::cli
