// Scenario → guest plan: LoadBpf objects and vm.tools resolved on this host.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "cli/run/guest_plan.h"
#include "util/atomic_file.h"

using namespace ktest;
using namespace ktest::cli;
namespace fs = std::filesystem;

namespace {

// A scratch directory outside /tmp (the guest mounts its own /tmp, so
// tools there are refused), removed afterwards. Not the build directory:
// a checkout may itself live under /tmp.
struct TempDir {
  fs::path path;
  TempDir() {
    char pattern[] = "/var/tmp/ktest-guest-plan-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name, const std::string& content, fs::perms perms = fs::perms::owner_all) {
    fs::path p = path / name;
    fs::create_directories(p.parent_path());
    REQUIRE(write_file_atomic(p.string(), content).ok());
    fs::permissions(p, perms);
    return p.string();
  }
};

// Sets PATH for one test and puts it back.
struct ScopedPath {
  std::string saved;
  explicit ScopedPath(const std::string& value) {
    const char* old = std::getenv("PATH");
    saved = old ? old : "";
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() { ::setenv("PATH", saved.c_str(), 1); }
};

dsl::Scenario load(const std::string& yaml, const std::string& dir) {
  auto loaded = dsl::load_scenario_text(yaml, "t.yaml", dir);
  INFO(dsl::format_diagnostics(loaded.diagnostics));
  REQUIRE(loaded.ok());
  return *loaded.scenario;
}

std::string error_of(const Result<GuestPlan>& plan) {
  REQUIRE_FALSE(plan.ok());
  return plan.error().to_string();
}

std::string elf_program() {
  for (const char* p : {"/usr/bin/true", "/bin/true"})
    if (fs::is_regular_file(p)) return p;
  FAIL("no /usr/bin/true on this host");
  return "";
}

}  // namespace

TEST_CASE("LoadBpf objects are found like schedulers' and shipped once") {
  TempDir tmp;
  tmp.file("objs/maps.bpf.o", "not really ELF: the host never opens it");
  tmp.file("extra/probe.bpf.o", "x");
  auto scenario = load("steps:\n"
                       "  - LoadBpf: {object: objs/maps.bpf.o, name: maps, run: [fill, check]}\n"
                       "  - LoadBpf: {object: probe.bpf.o}\n"
                       "  - LoadBpf: {object: objs/maps.bpf.o, name: again}\n",
                       tmp.path.string());
  auto plan = build_guest_plan(scenario, {(tmp.path / "extra").string()});
  REQUIRE_MESSAGE(plan.ok(), plan.error().to_string());
  REQUIRE(plan->plan.steps.size() == 3);
  CHECK(std::get<kvm::LoadBpf>(plan->plan.steps[0]) ==
        kvm::LoadBpf{"/ktest/objects/0/maps.bpf.o", "maps", {"fill", "check"}});
  CHECK(std::get<kvm::LoadBpf>(plan->plan.steps[1]) == kvm::LoadBpf{"/ktest/objects/1/probe.bpf.o", "probe", {}});
  CHECK(std::get<kvm::LoadBpf>(plan->plan.steps[2]).object == "/ktest/objects/0/maps.bpf.o");
  CHECK(plan->files.size() == 2);
  CHECK(plan->step_lines == std::vector<int>{2, 3, 4});

  auto missing = load("steps:\n  - Sleep: 1s\n  - LoadBpf: {object: nope.bpf.o}\n", tmp.path.string());
  std::string e = error_of(build_guest_plan(missing, {(tmp.path / "extra").string()}));
  CHECK(e.starts_with("t.yaml:3:5: BPF object 'nope.bpf.o' not found (looked at: "));
  CHECK(e.find("extra/nope.bpf.o") != std::string::npos);
  CHECK(e.find("--object-path") != std::string::npos);
}

TEST_CASE("vm.tools: a bare name is looked up on PATH, then /usr/sbin and /sbin") {
  TempDir tmp;
  std::string mine = tmp.file("bin/mytool", read_file(elf_program()).value_or(""));
  {
    ScopedPath path("/nonexistent:" + (tmp.path / "bin").string());
    auto plan = build_guest_plan(load("vm:\n  tools: [mytool, " + elf_program() + "]\n", "."), {});
    REQUIRE_MESSAGE(plan.ok(), plan.error().to_string());
    REQUIRE(plan->tools.size() == 2);
    CHECK(plan->tools[0].path == mine);
    CHECK(plan->tools[0].where == "t.yaml:2:11");
    CHECK(plan->tools[1].path == elf_program());
  }
  if (fs::is_regular_file("/usr/sbin/bpftool") || fs::is_regular_file("/sbin/bpftool")) {
    ScopedPath path("/nonexistent");  // found in /usr/sbin or /sbin without PATH
    auto plan = build_guest_plan(load("vm: {tools: [bpftool]}\n", "."), {});
    REQUIRE_MESSAGE(plan.ok(), plan.error().to_string());
    CHECK(plan->tools[0].path.ends_with("sbin/bpftool"));
  } else {
    MESSAGE("bpftool is not installed: the /usr/sbin fallback is not checked");
  }
}

TEST_CASE("vm.tools: missing programs and scripts are located errors") {
  TempDir tmp;
  tmp.file("bin/script.sh", "#!/bin/sh\necho hi\n");
  tmp.file("bin/data", "plain text");
  tmp.file("bin/noexec", read_file(elf_program()).value_or(""), fs::perms::owner_read);
  ScopedPath path((tmp.path / "bin").string());
  auto plan_of = [&](const std::string& tool) { return build_guest_plan(load("vm: {tools: [" + tool + "]}\n", "."), {}); };

  std::string e = error_of(plan_of("no-such-tool"));
  CHECK(e.starts_with("t.yaml:1:14: tool 'no-such-tool' not found on the host (looked at: " +
                      (tmp.path / "bin" / "no-such-tool").string() + ", /usr/sbin/no-such-tool, "
                      "/sbin/no-such-tool)"));
  CHECK(e.find("hint: install it on the host") != std::string::npos);
  e = error_of(plan_of("script.sh"));
  CHECK(e.find("t.yaml:1:14: tool 'script.sh' (" + (tmp.path / "bin" / "script.sh").string() +
               ") is not an ELF program but a script") == 0);
  CHECK(e.find("list its interpreter") != std::string::npos);
  CHECK(error_of(plan_of((tmp.path / "bin" / "data").string())).find("is not an ELF program (hint") !=
        std::string::npos);
  CHECK(error_of(plan_of("noexec")).find("not found on the host") != std::string::npos);
  CHECK(error_of(plan_of("/nonexistent/tool")).starts_with(
      "t.yaml:1:14: tool '/nonexistent/tool' not found on the host (looked at: /nonexistent/tool)"));
}

TEST_CASE("vm.tools: a program under /tmp (which the guest mounts over) is shipped under /ktest/tools") {
  fs::path in_tmp = fs::path("/tmp") / ("ktest_guest_plan_" + std::to_string(::getpid()));
  fs::create_directories(in_tmp);
  fs::copy_file(elf_program(), in_tmp / "t", fs::copy_options::overwrite_existing);
  const std::string host = (in_tmp / "t").string();
  auto plan = build_guest_plan(load("vm: {tools: [" + host + ", " + elf_program() + "]}\nsteps:\n  - Run: {command: [" + host +
                                        ", -x]}\n  - Spawn: {name: s, command: [" + host + "]}\n  - Run: {command: \"" +
                                        host + " -y\"}\n",
                                    "."),
                               {});
  fs::remove_all(in_tmp);
  REQUIRE_MESSAGE(plan.ok(), plan.error().to_string());
  REQUIRE(plan->tools.size() == 2);
  CHECK(plan->tools[0].path == host);
  CHECK(plan->tools[0].guest_path == "/ktest/tools/0/t");
  CHECK(plan->tools[1].guest_path == plan->tools[1].path);  // elsewhere: at its host path
  // A command whose program is the tool's host path runs it where the guest has it.
  CHECK(std::get<kvm::Run>(plan->plan.steps[0]).argv == std::vector<std::string>{"/ktest/tools/0/t", "-x"});
  CHECK(std::get<kvm::Spawn>(plan->plan.steps[1]).argv == std::vector<std::string>{"/ktest/tools/0/t"});
  // Inside a shell command line it is the shell's word: left as written.
  CHECK(std::get<kvm::Run>(plan->plan.steps[2]).argv.back() == host + " -y");
}

TEST_CASE("a loader scheduler: its program is shipped like a vm.tools entry, run by its path, stopped at the end") {
  TempDir tmp;
  std::string mine = tmp.file("bin/myloader", read_file(elf_program()).value_or(""));
  ScopedPath path("/nonexistent:" + (tmp.path / "bin").string());
  auto plan = build_guest_plan(
      load("vm:\n  tools: [myloader]\nsteps:\n  - AttachScheduler: {command: [myloader, --slice-us, \"5\"], "
           "ops: mine, timeout: 2s}\n  - Sleep: 1s\n",
           "."),
      {});
  REQUIRE_MESSAGE(plan.ok(), plan.error().to_string());
  REQUIRE(plan->tools.size() == 1);  // listed in vm.tools too: shipped once
  CHECK(plan->tools[0].path == mine);
  REQUIRE(plan->plan.steps.size() == 3);
  const auto& attach = std::get<kvm::AttachScheduler>(plan->plan.steps[0]);
  CHECK(attach.command == std::vector<std::string>{plan->tools[0].guest_path, "--slice-us", "5"});
  CHECK(attach.object.empty());
  CHECK(attach.ops == "mine");
  CHECK(attach.name == "myloader");
  CHECK(attach.timeout_ms == 2000);
  // Still attached after the last step: an implicit DetachScheduler saves its output.
  CHECK(std::holds_alternative<kvm::DetachScheduler>(plan->plan.steps[2]));
  CHECK(plan->step_lines[2] == 0);

  auto missing = load("steps:\n  - AttachScheduler: {command: [no-such-loader]}\n", ".");
  std::string e = error_of(build_guest_plan(missing, {}));
  CHECK(e.starts_with("t.yaml:2:33: scheduler program 'no-such-loader' not found on the host"));
}

TEST_CASE("vm.files: directories expand to their files at the guest path; missing and oversized are located errors") {
  TempDir dir;
  dir.file("data/a.txt", "a");
  dir.file("data/sub/b.txt", "bb");
  dir.file("one.bin", "1");
  auto plan = build_guest_plan(load("vm:\n  files: [data, {host: one.bin, guest: /opt/one}]\n  modules: [kvm-amd]\n"
                                    "steps:\n  - Sleep: 1ms\n",
                                    dir.path.string()),
                               {});
  REQUIRE(plan);
  std::map<std::string, std::string> files;
  for (const auto& f : plan->files) files[f.guest_path] = f.host_path;
  const std::string data = (dir.path / "data").string();
  CHECK(files.size() == 3);
  CHECK(files[data + "/a.txt"] == data + "/a.txt");
  CHECK(files[data + "/sub/b.txt"] == data + "/sub/b.txt");
  CHECK(files["/opt/one"] == (dir.path / "one.bin").string());
  REQUIRE(plan->modules.size() == 1);  // resolved against the kernel later
  CHECK(plan->modules[0].name == "kvm-amd");
  CHECK(plan->modules[0].where == "t.yaml:3:13");

  auto missing = build_guest_plan(load("vm: {files: [nope]}\nsteps:\n  - Sleep: 1ms\n", dir.path.string()), {});
  CHECK(error_of(missing).find("t.yaml:1:14") != std::string::npos);
  CHECK(error_of(missing).find("does not exist on the host") != std::string::npos);

  dir.file("big.bin", std::string(40u << 20, 'x'));  // 40 MiB > half of a 64 MiB guest
  auto big = build_guest_plan(load("vm: {memory: 64M, files: [big.bin]}\nsteps:\n  - Sleep: 1ms\n", dir.path.string()), {});
  CHECK(error_of(big).find("more than half of vm.memory") != std::string::npos);
  CHECK(error_of(big).find("raise vm.memory") != std::string::npos);
}

TEST_CASE("a scenario makes at most kvm::kMaxPlanSteps steps for the guest, refused before a boot") {
  auto steps = [](std::size_t n) {
    std::string yaml = "name: many\nsteps:\n";
    for (std::size_t i = 0; i < n; ++i) yaml += "  - Sleep: 1ms\n";
    return yaml;
  };
  TempDir tmp;
  CHECK(build_guest_plan(load(steps(kvm::kMaxPlanSteps), tmp.path.string()), {}).ok());
  CHECK(error_of(build_guest_plan(load(steps(kvm::kMaxPlanSteps + 1), tmp.path.string()), {}))
            .find("4097 steps for the guest, more than the 4096 a plan takes") != std::string::npos);
}
