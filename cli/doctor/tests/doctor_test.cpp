#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cli/doctor/doctor.h"

using namespace ktest;
using namespace ktest::cli;

namespace {

// A host that has everything but KVM.
HostFacts healthy_tcg_host() {
  HostFacts f;
  f.qemu.binary = "qemu-system-x86_64";
  f.qemu.version = "7.2.22";
  kvm::KernelImage k;
  k.version = "7.2.13+deb14-amd64";
  k.boot_image = "/cache/7.2.13+deb14-amd64/vmlinux";
  k.has_symbols = true;
  f.kernel = k;
  f.config = kvm::ConfigReport{"/cache/7.2.13+deb14-amd64/config", {}};
  f.available_memory = 8ull << 30;
  return f;
}

const DoctorCheck& check_named(const DoctorReport& r, const std::string& name) {
  for (const auto& c : r.checks)
    if (c.name == name) return c;
  FAIL("no check named " << name);
  return r.checks.front();
}

}  // namespace

TEST_CASE("no KVM is a warning: TCG runs, and the report says so") {
  Config config;
  DoctorReport r = diagnose(healthy_tcg_host(), config);
  CHECK(r.runnable());
  CHECK(r.accel == "tcg");
  const DoctorCheck& kvm = check_named(r, "kvm");
  CHECK(kvm.level == CheckLevel::Warn);
  CHECK(kvm.detail.find("no /dev/kvm") != std::string::npos);
  CHECK(kvm.detail.find("TCG") != std::string::npos);
  CHECK(render_doctor_text(r).find("ktest can run here (accel: tcg)") != std::string::npos);
}

TEST_CASE("accel = kvm without KVM fails, with both fixes") {
  Config config;
  config.accel = Accel::Kvm;
  DoctorReport r = diagnose(healthy_tcg_host(), config);
  CHECK_FALSE(r.runnable());
  const DoctorCheck& kvm = check_named(r, "kvm");
  CHECK(kvm.level == CheckLevel::Fail);
  CHECK(kvm.fix.find("accel = \"auto\"") != std::string::npos);
}

TEST_CASE("usable KVM is chosen") {
  HostFacts f = healthy_tcg_host();
  f.kvm.device_present = true;
  f.kvm.module = "kvm_amd";
  f.kvm.api_version = kvm::kKvmApiVersion;
  DoctorReport r = diagnose(f, Config{});
  CHECK(r.accel == "kvm");
  CHECK(check_named(r, "kvm").level == CheckLevel::Ok);
  Config tcg;
  tcg.accel = Accel::Tcg;
  CHECK(diagnose(f, tcg).accel == "tcg");
}

TEST_CASE("a missing kernel, QEMU device, config option or memory fails") {
  HostFacts f = healthy_tcg_host();
  f.kernel.reset();
  f.kernel_error = Error("no kernel in /cache");
  f.qemu.missing = {"device ivshmem-doorbell"};
  f.available_memory = 100ull << 20;
  DoctorReport r = diagnose(f, Config{});
  CHECK_FALSE(r.runnable());
  CHECK(check_named(r, "kernel").fix.find("ktest kernel fetch") != std::string::npos);
  CHECK(check_named(r, "qemu").detail.find("lacks device ivshmem-doorbell") != std::string::npos);
  CHECK(check_named(r, "memory").level == CheckLevel::Fail);

  HostFacts g = healthy_tcg_host();
  g.config->problems.push_back({"CONFIG_SCHED_CLASS_EXT", "y", "not set", "schedulers attach here"});
  DoctorReport with_problem = diagnose(g, Config{});
  const DoctorCheck& config = check_named(with_problem, "kernel-config");
  CHECK(config.level == CheckLevel::Fail);
  CHECK(config.detail.find("CONFIG_SCHED_CLASS_EXT") != std::string::npos);
}

TEST_CASE("the JSON carries the verdict and every check") {
  DoctorReport r = diagnose(healthy_tcg_host(), Config{});
  auto doc = nlohmann::json::parse(render_doctor_json(r));
  CHECK(doc["runnable"] == true);
  CHECK(doc["accel"] == "tcg");
  CHECK(doc["checks"].size() == r.checks.size());
  CHECK(doc["checks"][0]["name"] == "kvm");
  CHECK(doc["checks"][0]["status"] == "warn");
}
