// `ktest kernel fetch|list|check`: the guest kernels ktest boots.
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/config.h"
#include "kvm/kernel/kernel.h"

namespace ktest::cli {
namespace {

struct FetchArgs {
  kvm::FetchOptions options;
  bool print_dir = false;
};

void run_fetch(const FetchArgs& args, CommandContext& ctx) {
  auto dir = kvm::fetch_kernel(args.options);
  if (!dir) return ctx.print_error(dir.error(), ExitCode::VmUnavailable);
  if (args.print_dir) std::cout << *dir << "\n";
  ctx.exit_code = ExitCode::Ok;
}

void run_list(CommandContext& ctx) {
  auto kernels = kvm::list_kernels();
  if (!kernels) return ctx.print_error(kernels.error(), ExitCode::Internal);
  if (kernels->empty()) {
    std::cerr << "no kernels in " << kvm::kernel_cache_dir() << "; run: ktest kernel fetch\n";
  }
  for (const auto& k : *kernels) {
    std::cout << k.version << "  " << k.dir << "  vmlinux:" << (k.has_vmlinux ? "yes" : "no")
              << " config:" << (k.has_config ? "yes" : "no") << " modules:" << (k.has_modules ? "yes" : "no")
              << "\n";
  }
  ctx.exit_code = ExitCode::Ok;
}

// PATH, or else the configured kernel (or the newest cached one).
Result<std::string> config_target(const std::string& path, const Config& config) {
  if (!path.empty()) return path;
  KTEST_ASSIGN(kvm::KernelImage image, kvm::resolve_kernel(kvm::kernel_spec_from_choice(config.kernel)));
  if (image.config.empty()) {
    return fail("kernel " + image.version + " has no config beside it", image.boot_image,
                "pass the config file: ktest kernel check PATH");
  }
  return image.config;
}

void run_check(const std::string& path, CommandContext& ctx) {
  auto target = config_target(path, *ctx.config);
  if (!target) return ctx.print_error(target.error(), ExitCode::Usage);
  auto report = kvm::check_kernel_config(*target);
  if (!report) return ctx.print_error(report.error(), ExitCode::Usage);
  if (report->ok()) {
    std::cout << report->config_path << ": has everything ktest needs\n";
    ctx.exit_code = ExitCode::Ok;
    return;
  }
  std::cout << report->config_path << ": " << report->problems.size()
            << (report->problems.size() == 1 ? " option needs" : " options need")
            << " changing for ktest:\n";
  for (const auto& p : report->problems) std::cout << "  " << p.to_string() << "\n";
  ctx.exit_code = ExitCode::Usage;
}

}  // namespace

void add_kernel_command(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand("kernel", "Fetch, list and check guest kernels");
  cmd->require_subcommand(1);

  auto fetch = std::make_shared<FetchArgs>();
  CLI::App* fetch_cmd = cmd->add_subcommand(
      "fetch", "Download Debian sid's newest amd64 kernel into the cache (once)");
  fetch_cmd->add_option("--version", fetch->options.version,
                        "This kernel version instead of the newest, e.g. 7.2.13+deb14")
      ->option_text("VERSION");
  fetch_cmd->add_flag("--quiet,-q", fetch->options.quiet, "No progress messages");
  fetch_cmd->add_flag("--print-dir", fetch->print_dir, "Print the kernel directory on stdout");
  fetch_cmd->add_flag("--force", fetch->options.force, "Download again even when cached");
  fetch_cmd->add_flag("--modules", fetch->options.modules,
                      "Also fetch the kernel's loadable modules (for vm.modules)");
  fetch_cmd->add_flag("--refresh", fetch->options.refresh,
                      "Update sid's package list even when it is younger than 6 hours");
  fetch_cmd->callback([&ctx, fetch] { run_fetch(*fetch, ctx); });

  CLI::App* list_cmd = cmd->add_subcommand("list", "List cached kernels, newest first");
  list_cmd->callback([&ctx] { run_list(ctx); });

  auto path = std::make_shared<std::string>();
  CLI::App* check_cmd = cmd->add_subcommand(
      "check", "Check that a kernel's configuration has what ktest needs");
  check_cmd->add_option("PATH", *path,
                        "Kernel directory, config file, or vmlinux/bzImage with its config beside it "
                        "(default: the configured or newest cached kernel)");
  check_cmd->footer("Exit status: 0 the configuration is fine, 2 options are missing or wrong\n"
                    "(each named with why ktest needs it), or PATH holds no config.");
  check_cmd->callback([&ctx, path] { run_check(*path, ctx); });
}

}  // namespace ktest::cli
