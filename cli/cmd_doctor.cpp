// `ktest doctor`: can this machine run ktest? (cli/doctor/doctor.h)
#include <iostream>

#include "cli/command.h"
#include "cli/config.h"
#include "cli/doctor/doctor.h"
#include "kvm/machine.h"

namespace ktest::cli {

void add_doctor_command(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "doctor", "Check that this machine can run ktest (KVM, QEMU, kernel, memory) and say how to fix it");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print the checks as JSON");
  cmd->callback([&ctx, json] {
    HostFacts facts = gather_host_facts(*ctx.config, kvm::MachineConfig{}.qemu_binary);
    DoctorReport report = diagnose(facts, *ctx.config);
    std::cout << (*json ? render_doctor_json(report) : render_doctor_text(report));
    ctx.exit_code = report.runnable() ? ExitCode::Ok : ExitCode::VmUnavailable;
  });
}

}  // namespace ktest::cli
