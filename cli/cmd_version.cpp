// `ktest version`: what this binary is, and the libbpf it runs with.
#include <bpf/libbpf.h>
#include <bpf/libbpf_version.h>

#include <iostream>
#include <string>

#include "cli/build_info.h"
#include "cli/command.h"

namespace ktest::cli {

void add_version_command(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand("version", "Print ktest's version, libbpf's version and build info");
  cmd->callback([&ctx] {
    std::string libbpf = libbpf_version_string();
    if (!libbpf.empty() && libbpf[0] == 'v') libbpf.erase(0, 1);
    std::cout << "ktest " << KTEST_VERSION << " (" << KTEST_GIT << ")\n"
              << "libbpf " << libbpf << " (built against " << LIBBPF_MAJOR_VERSION
              << "." << LIBBPF_MINOR_VERSION << ")\n"
              << "compiler " << KTEST_COMPILER << ", C++" << (__cplusplus / 100 % 100) << "\n"
              << "build " << KTEST_BUILDTYPE << ", " << KTEST_HOST_CPU << "\n";
    ctx.exit_code = ExitCode::Ok;
  });
}

}  // namespace ktest::cli
