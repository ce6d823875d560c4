#include "cli/doctor/doctor.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dsl/scenario.h"

namespace ktest::cli {

namespace {

std::string mib(uint64_t bytes) { return fmt::format("{} MiB", bytes >> 20); }

DoctorCheck kvm_check(const kvm::KvmProbe& probe, Accel accel) {
  if (probe.usable())
    return {"kvm", CheckLevel::Ok, probe.describe() + "; guests run under KVM", ""};
  // TCG works everywhere; it is only a problem when KVM was asked for.
  CheckLevel level = accel == Accel::Kvm ? CheckLevel::Fail : CheckLevel::Warn;
  std::string detail = probe.describe();
  detail += accel == Accel::Kvm
                ? "; the configuration asks for accel = kvm, so `ktest run` cannot boot"
                : "; ktest will use TCG (QEMU's software CPU): boots and workloads run several "
                  "times slower, captures work the same";
  std::string fix = probe.fix();
  if (accel == Accel::Kvm) fix += std::string(fix.empty() ? "" : "; or ") + "set accel = \"auto\"";
  return {"kvm", level, detail, fix};
}

DoctorCheck qemu_check(const kvm::QemuProbe& probe) {
  const std::string install = "sudo apt-get install qemu-system-x86 (QEMU >= 7.2)";
  if (probe.run_error)
    return {"qemu", CheckLevel::Fail, probe.run_error->to_string(), install};
  if (!probe.missing.empty()) {
    std::string list;
    for (const auto& m : probe.missing) list += (list.empty() ? "" : ", ") + m;
    return {"qemu", CheckLevel::Fail,
            fmt::format("QEMU {} ({}) lacks {}", probe.version, probe.binary, list), install};
  }
  return {"qemu", CheckLevel::Ok,
          fmt::format("QEMU {} ({}): microvm, ivshmem-doorbell, virtio-serial", probe.version,
                      probe.binary),
          ""};
}

void kernel_checks(const HostFacts& facts, std::vector<DoctorCheck>& out) {
  if (!facts.kernel) {
    out.push_back({"kernel", CheckLevel::Fail,
                   facts.kernel_error ? facts.kernel_error->to_string() : "no kernel",
                   "ktest kernel fetch (or set kernel in ktest.toml)"});
    return;
  }
  const kvm::KernelImage& k = *facts.kernel;
  if (facts.btf_error)
    out.push_back({"kernel", CheckLevel::Fail, k.version + ": " + facts.btf_error->to_string(),
                   facts.btf_error->hint.empty() ? "ktest kernel fetch" : facts.btf_error->hint});
  else
    out.push_back({"kernel", CheckLevel::Ok,
                   fmt::format("{} ({}) with BTF{}", k.version, k.boot_image,
                               k.has_symbols || !k.system_map.empty() ? " and symbols" : ""),
                   ""});
  if (!facts.config) {
    std::string why = facts.config_error ? facts.config_error->to_string() : "no config beside it";
    out.push_back({"kernel-config", CheckLevel::Warn, "cannot check the kernel's options: " + why,
                   "put the kernel's .config beside it as `config`"});
    return;
  }
  if (facts.config->ok()) {
    out.push_back({"kernel-config", CheckLevel::Ok,
                   facts.config->config_path +
                       ": SCHED_CLASS_EXT, DEBUG_INFO_BTF, KALLSYMS_ALL and the rest ktest needs",
                   ""});
    return;
  }
  std::string problems;
  for (const auto& p : facts.config->problems) problems += (problems.empty() ? "" : "; ") + p.to_string();
  out.push_back({"kernel-config", CheckLevel::Fail, facts.config->config_path + ": " + problems,
                 "rebuild the kernel with those options, or use `ktest kernel fetch`'s kernel"});
}

// The guest a scenario that does not size its own gets.
uint64_t guest_memory(const Config& config) {
  return config.memory_bytes ? config.memory_bytes : dsl::VmConfig{}.memory_bytes;
}

DoctorCheck memory_check(const HostFacts& facts, const Config& config) {
  uint64_t needed = guest_memory(config) + kQemuOverheadBytes;
  if (!facts.available_memory)
    return {"memory", CheckLevel::Warn, "MemAvailable is unknown (/proc/meminfo)", ""};
  std::string detail = fmt::format("{} available; a {} guest needs about {} with QEMU",
                                   mib(*facts.available_memory), mib(guest_memory(config)), mib(needed));
  if (*facts.available_memory < needed)
    return {"memory", CheckLevel::Fail, detail,
            "free memory, or lower [vm] memory in ktest.toml / a scenario's vm.memory"};
  return {"memory", CheckLevel::Ok, detail, ""};
}

}  // namespace

const char* check_level_name(CheckLevel level) {
  switch (level) {
    case CheckLevel::Ok: return "ok";
    case CheckLevel::Warn: return "warn";
    case CheckLevel::Fail: return "fail";
  }
  return "?";
}

bool DoctorReport::runnable() const {
  return std::none_of(checks.begin(), checks.end(),
                      [](const DoctorCheck& c) { return c.level == CheckLevel::Fail; });
}

DoctorReport diagnose(const HostFacts& facts, const Config& config) {
  DoctorReport report;
  report.accel = config.accel == Accel::Tcg ? "tcg" : facts.kvm.usable() ? "kvm" : "tcg";
  report.checks.push_back(kvm_check(facts.kvm, config.accel));
  report.checks.push_back(qemu_check(facts.qemu));
  kernel_checks(facts, report.checks);
  if (facts.shared_memory_error)
    report.checks.push_back({"memfd", CheckLevel::Fail, facts.shared_memory_error->to_string(),
                             facts.shared_memory_error->hint});
  else
    report.checks.push_back({"memfd", CheckLevel::Ok,
                             "guest RAM can be shared with QEMU through a memfd of " +
                                 mib(guest_memory(config)),
                             ""});
  report.checks.push_back(memory_check(facts, config));
  return report;
}

std::string render_doctor_text(const DoctorReport& report) {
  std::string out;
  for (const auto& c : report.checks) {
    out += fmt::format("{:<5} {:<14} {}\n", check_level_name(c.level), c.name, c.detail);
    if (!c.fix.empty()) out += fmt::format("{:<20} fix: {}\n", "", c.fix);
  }
  if (report.runnable())
    out += fmt::format("ktest can run here (accel: {})\n", report.accel);
  else
    out += "ktest cannot run here until the checks marked 'fail' are fixed\n";
  return out;
}

std::string render_doctor_json(const DoctorReport& report) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : report.checks)
    checks.push_back({{"name", c.name}, {"status", check_level_name(c.level)}, {"detail", c.detail},
                      {"fix", c.fix}});
  nlohmann::json doc = {{"runnable", report.runnable()}, {"accel", report.accel}, {"checks", checks}};
  return doc.dump(2) + "\n";
}

HostFacts gather_host_facts(const Config& config, const std::string& qemu_binary) {
  HostFacts facts;
  facts.kvm = kvm::probe_kvm();
  facts.qemu = kvm::probe_qemu(qemu_binary);
  auto kernel = kvm::resolve_kernel(kvm::kernel_spec_from_choice(config.kernel));
  if (kernel) {
    facts.kernel = *kernel;
    if (auto btf = kvm::vmlinux_btf_path(*kernel); !btf) facts.btf_error = btf.error();
    if (kernel->config.empty()) {
      facts.config_error = Error("no config beside " + kernel->boot_image);
    } else if (auto report = kvm::check_kernel_config(kernel->config)) {
      facts.config = *report;
    } else {
      facts.config_error = report.error();
    }
  } else {
    facts.kernel_error = kernel.error();
  }
  if (Status s = kvm::probe_shared_memory(guest_memory(config)); !s) facts.shared_memory_error = s.error();
  if (auto avail = kvm::probe_available_memory()) facts.available_memory = *avail;
  return facts;
}

}  // namespace ktest::cli
