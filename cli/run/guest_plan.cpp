#include "cli/run/guest_plan.h"

#include <fmt/format.h>

#include <filesystem>
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
    if (scenario_.scheduler) {
      KTEST_ASSIGN(auto attach, attach_step<kvm::AttachScheduler>(*scenario_.scheduler));
      add(attach, scenario_.scheduler->loc.line);
    }
    for (const auto& step : scenario_.steps) KTEST_TRY(add_step(step));
    if (scenario_.scheduler) add(kvm::DetachScheduler{}, 0);
    return std::move(out_);
  }

 private:
  void add(kvm::Step step, int line) {
    out_.plan.steps.push_back(std::move(step));
    out_.step_lines.push_back(line);
  }

  // The guest path of a scheduler object, adding it to the image once.
  Result<std::string> guest_object(const dsl::SchedulerRef& ref) {
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

  Result<std::string> find_object(const dsl::SchedulerRef& ref) {
    std::vector<std::string> tried{ref.object_path};
    if (fs::is_regular_file(ref.object_path)) return ref.object_path;
    fs::path written(ref.object);
    for (const auto& dir : object_path_) {
      for (fs::path candidate : {fs::path(dir) / written.relative_path(),
                                 fs::path(dir) / written.filename()}) {
        candidate = candidate.lexically_normal();
        tried.push_back(candidate.string());
        if (fs::is_regular_file(candidate)) return candidate.string();
      }
    }
    std::string where = fmt::format("{}:{}:{}", scenario_.file, ref.loc.line, ref.loc.col);
    return fail(fmt::format("BPF object '{}' not found (looked at: {})", ref.object,
                            fmt::join(tried, ", ")),
                where,
                "build it first (./dev builds the bundled schedulers), or add its directory "
                "with --object-path");
  }

  template <typename AttachOp>
  Result<AttachOp> attach_step(const dsl::SchedulerRef& ref) {
    KTEST_ASSIGN(std::string guest, guest_object(ref));
    return AttachOp{guest, ref.ops, ref.name};
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
            add(kvm::Spawn{op.name, op.command.argv, op.count, op.cpus, op.nice}, line);
          } else if constexpr (std::is_same_v<T, dsl::Kill>) {
            add(kvm::Kill{op.name, op.signal_number}, line);
          } else if constexpr (std::is_same_v<T, dsl::Run>) {
            uint32_t timeout = op.timeout ? to_ms(*op.timeout) : to_ms(scenario_.vm.timeout);
            add(kvm::Run{op.command.argv, op.expect_exit, timeout}, line);
          } else if constexpr (std::is_same_v<T, dsl::Sleep>) {
            add(kvm::Sleep{to_ms(op.duration)}, line);
          } else if constexpr (std::is_same_v<T, dsl::CaptureSnapshot>) {
            add(kvm::CaptureSnapshot{op.name}, line);
          } else if constexpr (std::is_same_v<T, dsl::WatchSnapshot>) {
            add(kvm::WatchSnapshot{op.name, op.symbol, access_letters(op.access), op.len}, line);
          }
          return {};
        },
        step.op);
  }

  const dsl::Scenario& scenario_;
  const std::vector<std::string>& object_path_;
  GuestPlan out_;
  std::map<std::string, std::string> objects_;  // host path → guest path
};

}  // namespace

Result<GuestPlan> build_guest_plan(const dsl::Scenario& scenario,
                                   const std::vector<std::string>& object_path) {
  return PlanBuilder(scenario, object_path).build();
}

}  // namespace ktest::cli
