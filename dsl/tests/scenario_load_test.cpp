#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "dsl/scenario.h"

using namespace ktest::dsl;
using namespace std::chrono_literals;

namespace {

const std::string kScenarios = std::string(KTEST_SOURCE_ROOT) + "/tests/fixtures/scenarios/";

template <typename T>
const T& step_as(const Scenario& s, std::size_t i) {
  REQUIRE(i < s.steps.size());
  REQUIRE(std::holds_alternative<T>(s.steps[i].op));
  return std::get<T>(s.steps[i].op);
}

}  // namespace

TEST_CASE("a scenario using every op loads into the model") {
  auto load = load_scenario_file(kScenarios + "valid_full.yaml");
  INFO(format_diagnostics(load.diagnostics));
  REQUIRE(load.ok());
  CHECK(load.diagnostics.empty());
  const Scenario& s = *load.scenario;
  CHECK(s.name == "weight_follows_nice");
  CHECK(s.description == "A niced worker keeps its weight under the scheduler.");
  CHECK(s.vm.cpus == 2);
  CHECK(s.vm.memory_bytes == 512ull << 20);
  CHECK(s.vm.timeout == 30s);
  CHECK(s.kernel.version == "7.2.13");
  CHECK_FALSE(s.kernel.path.has_value());
  REQUIRE(s.scheduler.has_value());
  CHECK(s.scheduler->object == "../bpf/scx_minimal.bpf.o");
  CHECK(s.scheduler->object_path == kScenarios.substr(0, kScenarios.size() - 10) + "bpf/scx_minimal.bpf.o");
  CHECK(s.scheduler->ops == "minimal_ops");
  CHECK(s.scheduler->name == "scx_minimal");

  REQUIRE(s.steps.size() == 13);
  const auto& worker = step_as<Spawn>(s, 0);
  CHECK(worker.name == "worker");
  CHECK(worker.command.argv == std::vector<std::string>{"/bin/sh", "-c", "while :; do :; done"});
  CHECK(worker.cpus == std::vector<uint32_t>{0, 1});
  CHECK(worker.cpus_text == "0-1");
  CHECK(worker.nice == 5);
  CHECK(worker.count == 1);
  CHECK(s.steps[0].loc.line == 13);
  CHECK(s.steps[0].loc.col == 5);
  const auto& idle = step_as<Spawn>(s, 1);
  CHECK(idle.command.argv == std::vector<std::string>{"sleep", "60"});
  CHECK(idle.command.text == "sleep 60");
  CHECK(idle.count == 2);
  CHECK(idle.cpus.empty());
  CHECK(step_as<Sleep>(s, 2).duration == 500ms);
  CHECK(step_as<CaptureSnapshot>(s, 3).name == "before");
  const auto& run = step_as<Run>(s, 4);
  CHECK(run.command.text == "echo hi");
  CHECK(run.expect_exit == 0);
  CHECK(run.timeout == 5s);
  const auto& watch = step_as<WatchSnapshot>(s, 5);
  CHECK(watch.name == "dispatched");
  CHECK(watch.symbol == "nr_dispatched");
  CHECK(watch.access == WatchAccess::ReadWrite);
  CHECK(watch.len == 4);
  CHECK(step_as<Sleep>(s, 6).duration == 1s);
  CHECK(step_as<CaptureSnapshot>(s, 7).name == "after");
  const auto& kill = step_as<Kill>(s, 8);
  CHECK(kill.signal == "KILL");
  CHECK(kill.signal_number == 9);
  const auto& replace = step_as<ReplaceScheduler>(s, 9);
  CHECK(replace.scheduler.name == "other");
  CHECK_FALSE(replace.scheduler.ops.has_value());
  step_as<DetachScheduler>(s, 10);
  CHECK(step_as<AttachScheduler>(s, 11).scheduler.object_path == "/opt/scx/scx_third.bpf.o");
  step_as<DetachScheduler>(s, 12);
  CHECK(std::string(step_op_name(s.steps[9].op)) == "ReplaceScheduler");

  CHECK(s.snapshot_names() == std::vector<std::string>{"before", "dispatched", "after"});
  CHECK(s.workload_names() == std::vector<std::string>{"worker", "idle"});

  REQUIRE(s.assertions.size() == 5);
  CHECK(s.assertions[0].text == "var(\"nr_cpus_onln\") > 0");
  CHECK(s.assertions[0].name == s.assertions[0].text);
  CHECK(s.assertions[0].loc.line == 30);
  CHECK(s.assertions[0].loc.col == 5);
  CHECK(s.assertions[2].name == "worker_weight");
  CHECK(s.assertions[2].message == "the worker's weight should follow its nice level");
  CHECK(s.assertions[3].loc.col == 6);  // inside the single quotes
  for (const auto& a : s.assertions) CHECK(a.expr != nullptr);
}

TEST_CASE("defaults fill what a minimal scenario leaves out") {
  auto load = load_scenario_file(kScenarios + "minimal.yaml");
  REQUIRE(load.ok());
  const Scenario& s = *load.scenario;
  CHECK(s.name == "minimal");
  CHECK(s.vm.cpus == 2);
  CHECK(s.vm.memory_bytes == 512ull << 20);
  CHECK(s.vm.timeout == 60s);
  CHECK_FALSE(s.scheduler.has_value());
  CHECK(step_as<Run>(s, 0).command.argv == std::vector<std::string>{"/bin/sh", "-c", "true"});
  CHECK(s.assertions.empty());
}

TEST_CASE("kernel as a string is a path when it has a slash") {
  auto by_path = load_scenario_text("kernel: ./k/vmlinuz\n", "k.yaml", "/srv/s");
  REQUIRE(by_path.ok());
  CHECK(by_path.scenario->kernel.path == "/srv/s/k/vmlinuz");
  auto by_version = load_scenario_text("kernel: 7.2.13\n", "k.yaml", "/srv/s");
  REQUIRE(by_version.ok());
  CHECK(by_version.scenario->kernel.version == "7.2.13");
}

TEST_CASE("a missing file is one diagnostic, not a crash") {
  auto load = load_scenario_file(kScenarios + "does_not_exist.yaml");
  REQUIRE_FALSE(load.ok());
  REQUIRE(load.diagnostics.size() == 1);
  CHECK(load.diagnostics[0].message.rfind("cannot read the scenario", 0) == 0);
}

TEST_CASE("the repository's example scenarios load") {
  // scenarios/ is owned by another module; whatever it holds must be valid.
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(KTEST_SOURCE_ROOT) / "scenarios";
  int loaded = 0;
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      if (entry.path().extension() != ".yaml") continue;
      auto load = load_scenario_file(entry.path().string());
      INFO(entry.path().string() << "\n" << format_diagnostics(load.diagnostics));
      CHECK(load.ok());
      ++loaded;
    }
  }
  MESSAGE("example scenarios loaded: " << loaded);
}

TEST_CASE("LoadBpf: object, label and run list") {
  auto load = load_scenario_text(
      "steps:\n"
      "  - LoadBpf:\n"
      "      object: ../programs/ktest_maps.bpf.o\n"
      "      name: maps\n"
      "      run: [fill, check]\n"
      "  - LoadBpf: /opt/bpf/probe.o\n"
      "  - LoadBpf: {object: other.bpf.o, run: []}\n",
      "l.yaml", "/srv/s/t");
  INFO(format_diagnostics(load.diagnostics));
  REQUIRE(load.ok());
  const Scenario& s = *load.scenario;
  const auto& maps = step_as<LoadBpf>(s, 0);
  CHECK(maps.bpf.object == "../programs/ktest_maps.bpf.o");
  CHECK(maps.bpf.object_path == "/srv/s/programs/ktest_maps.bpf.o");
  CHECK(maps.bpf.name == "maps");
  CHECK(maps.run == std::vector<std::string>{"fill", "check"});
  CHECK(maps.bpf.loc.line == 2);
  CHECK(maps.bpf.loc.col == 5);
  const auto& probe = step_as<LoadBpf>(s, 1);  // shorthand: just the object
  CHECK(probe.bpf.object_path == "/opt/bpf/probe.o");
  CHECK(probe.bpf.name == "probe");
  CHECK(probe.run.empty());
  CHECK(step_as<LoadBpf>(s, 2).bpf.name == "other");
  CHECK(std::string(step_op_name(s.steps[0].op)) == "LoadBpf");
}

TEST_CASE("vm.tools: bare names and absolute paths, in order") {
  auto load = load_scenario_text("vm:\n  tools: [bpftool, /usr/bin/stress-ng]\n", "t.yaml");
  INFO(format_diagnostics(load.diagnostics));
  REQUIRE(load.ok());
  const auto& tools = load.scenario->vm.tools;
  REQUIRE(tools.size() == 2);
  CHECK(tools[0].program == "bpftool");
  CHECK(tools[0].loc.line == 2);
  CHECK(tools[0].loc.col == 11);
  CHECK(tools[1].program == "/usr/bin/stress-ng");
  CHECK(tools[1].loc.col == 20);
  auto none = load_scenario_text("vm: {cpus: 1}\n", "t.yaml");
  REQUIRE(none.ok());
  CHECK(none.scenario->vm.tools.empty());
}
