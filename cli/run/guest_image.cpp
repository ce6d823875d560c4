// What a scenario's guest boots: cli/run/guest_image.h.
#include "cli/run/guest_image.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <system_error>

#include <fmt/format.h>

#include "kvm/initramfs/initramfs.h"
#include "kvm/plan.h"
#include "util/atomic_file.h"

namespace ktest::cli {

namespace fs = std::filesystem;

namespace {

// vm.modules from the kernel's own modules, at their usual guest paths;
// returns those paths in load order.
Result<std::vector<std::string>> add_modules(kvm::Initramfs& image, const GuestPlan& plan,
                                             const kvm::KernelImage& kernel) {
  std::vector<std::string> paths;
  for (const auto& module : plan.modules) {
    auto files = kvm::resolve_modules(kernel.modules_dir, {module.name});
    if (!files) {
      Error e = files.error();
      e.location = module.where;
      return fail(e.with_context("vm.modules of kernel " + kernel.version));
    }
    for (const auto& file : *files) {
      std::string guest = "/lib/modules/" + kernel.version + "/" + file.relative;
      if (std::find(paths.begin(), paths.end(), guest) != paths.end()) continue;
      KTEST_TRY(image.add_host_file(guest, file.host_path, 0644));
      paths.push_back(guest);
    }
  }
  return paths;
}

}  // namespace

Result<kvm::KernelImage> resolve_guest_kernel(const dsl::Scenario& scenario, const std::string& kernel_flag) {
  kvm::KernelSpec spec;
  std::string wanted = kernel_flag;
  if (wanted.empty() && scenario.kernel.path) wanted = *scenario.kernel.path;
  if (wanted.empty() && scenario.kernel.version) wanted = *scenario.kernel.version;
  if (wanted.find('/') != std::string::npos) {
    std::error_code ec;
    (fs::is_directory(wanted, ec) ? spec.dir : spec.image) = wanted;
  } else {
    spec.version = wanted;
  }
  auto image = kvm::resolve_kernel(spec);
  if (!image) {
    Error e = image.error();
    if (e.hint.empty()) e.hint = "fetch one with `ktest kernel fetch` or pass --kernel PATH";
    return fail(e.with_context("resolving the guest kernel"));
  }
  return image;
}

Result<std::string> build_guest_initramfs(const GuestPlan& plan, const kvm::KernelImage& kernel,
                                          const std::string& agent_binary) {
  kvm::Initramfs image;
  KTEST_TRY(image.add_base_layout());
  std::error_code ec;
  if (agent_binary.empty() || !fs::is_regular_file(agent_binary, ec)) {
    return fail("the guest agent binary was not found", "",
                "build ktest with ./dev, or point KTEST_AGENT at ktest-agent");
  }
  KTEST_TRY(image.add_host_file("/init", agent_binary, 0755));
  for (std::string_view command : kvm::kGuestCommands)
    KTEST_TRY(image.add_symlink("/usr/bin/" + std::string(command), "/init"));
  // Before busybox: a listed tool wins over an applet of the same path.
  for (const auto& tool : plan.tools) {
    auto added = image.add_elf_with_libraries(tool.guest_path, tool.path);
    if (!added) return fail(added.error().with_context("copying vm.tools entry " + tool.path + " (" + tool.where + ")"));
    // Its libraries keep their host paths, which the guest must not mount over.
    for (const std::string& library : std::span(*added).subspan(1))
      if (auto mount = dsl::guest_owned_dir(library))
        return fail(fmt::format("{} needs {}, under {}, which the guest mounts over", tool.path, library, *mount),
                    tool.where, "install the library elsewhere (e.g. /usr/local/lib) and set the program's RUNPATH there");
  }
  KTEST_TRY(image.add_busybox());
  kvm::Plan guest_plan = plan.plan;
  KTEST_ASSIGN(guest_plan.modules, add_modules(image, plan, kernel));
  KTEST_TRY(image.add_file(kvm::kPlanGuestPath, kvm::plan_to_json(guest_plan)));
  // For libbpf's __kconfig externs (the agent links /boot/config-<release>).
  if (!kernel.config.empty()) KTEST_TRY(image.add_host_file(std::string(kvm::kKernelConfigGuestPath), kernel.config));
  for (const auto& file : plan.files) KTEST_TRY(image.add_host_file(file.guest_path, file.host_path));
  KTEST_ASSIGN(auto cached, kvm::write_cached(image));
  return cached.path;
}

uint32_t read_kernel_hz(const kvm::KernelImage& kernel) {
  if (kernel.config.empty()) return 0;
  auto text = read_file(kernel.config);
  if (!text) return 0;
  auto hz = kvm::config_value(*text, "CONFIG_HZ");
  if (!hz) return 0;
  unsigned long value = std::strtoul(hz->c_str(), nullptr, 10);
  return value > 0 && value <= 10000 ? static_cast<uint32_t>(value) : 0;
}

}  // namespace ktest::cli
