#include "kvm/plan.h"

#include <doctest/doctest.h>

using namespace ktest::kvm;

namespace {

Plan sample_plan() {
  Plan p;
  p.settings.step_timeout_ms = 1234;
  p.settings.on_failure = OnFailure::Continue;
  p.settings.send_kallsyms = false;
  p.settings.scheduler_exit_expected = true;
  p.settings.offer_shell = true;
  p.steps.push_back(AttachScheduler{{"/ktest/sched/a.bpf.o", std::string("ktest_ops"), "a"}});
  p.steps.push_back(Spawn{"worker", {"@spin"}, 3, {0, 1}, 5});
  p.steps.push_back(Run{{"cat", "/sys/kernel/sched_ext/root/ops"}, 0, 2000});
  p.steps.push_back(Sleep{50});
  p.steps.push_back(CaptureSnapshot{"after_spawn"});
  p.steps.push_back(WatchSnapshot{"w", "nr_enqueued", "rw", 4});
  p.steps.push_back(ReplaceScheduler{{"/ktest/sched/b.bpf.o", std::nullopt, "b"}});
  p.steps.push_back(DetachScheduler{});
  p.steps.push_back(Kill{"worker", 9});
  p.steps.push_back(LoadBpf{"/ktest/objects/1/maps.bpf.o", "maps", {"fill", "check", "fill"}});
  p.steps.push_back(LoadBpf{"/ktest/objects/2/probe.o", "probe", {}});
  p.steps.push_back(AttachScheduler{{"", std::string("ktest_loader"), "loader",
                                     {"/usr/local/bin/ktest_loader", "--slice-us", "500"}, 12000}});
  p.steps.push_back(ReplaceScheduler{{"", std::nullopt, "second", {"/usr/bin/scx_simple"}, 30000}});
  p.steps.push_back(ReplaceScheduler{{"/ktest/sched/b.bpf.o", std::nullopt, "back", {}, 500}});
  p.steps.push_back(CaptureSnapshot{"tick", 250, 8});
  return p;
}

std::string error_of(std::string_view text) {
  auto r = plan_from_json(text);
  REQUIRE_FALSE(r.ok());
  return r.error().to_string();
}

}  // namespace

TEST_SUITE("kvm_agent.plan") {
  TEST_CASE("a plan round-trips through JSON") {
    Plan p = sample_plan();
    auto back = plan_from_json(plan_to_json(p));
    REQUIRE_MESSAGE(back.ok(), back.error().to_string());
    CHECK(*back == p);
    CHECK(step_op(back->steps[0]) == "AttachScheduler");
    CHECK(step_op(back->steps[7]) == "DetachScheduler");
    CHECK(step_op(back->steps[8]) == "Kill");
    CHECK(step_op(back->steps[9]) == "LoadBpf");
    CHECK(std::get<LoadBpf>(back->steps[9]).run == std::vector<std::string>{"fill", "check", "fill"});
  }

  TEST_CASE("scheduler steps: the loader form beside the object form") {
    Plan p = sample_plan();
    auto back = plan_from_json(plan_to_json(p));
    REQUIRE_MESSAGE(back.ok(), back.error().to_string());
    const auto& loader = std::get<AttachScheduler>(back->steps[11]);
    CHECK(loader.loader());
    CHECK(loader.object.empty());
    CHECK(loader.command == std::vector<std::string>{"/usr/local/bin/ktest_loader", "--slice-us", "500"});
    CHECK(loader.timeout_ms == 12000);
    CHECK(loader.ops == "ktest_loader");
    CHECK_FALSE(std::get<ReplaceScheduler>(back->steps[13]).loader());
    CHECK(plan_to_json(p).find(R"("command": [)") != std::string::npos);

    auto r = plan_from_json(R"({"steps":[{"op":"AttachScheduler","command":["/bin/l"]}]})");
    REQUIRE_MESSAGE(r.ok(), r.error().to_string());
    CHECK(std::get<AttachScheduler>(r->steps[0]).timeout_ms == kDefaultLoaderTimeoutMs);
    CHECK(error_of(R"({"steps":[{"op":"AttachScheduler","object":"/o","command":["/l"]}]})")
              .find("steps[0].object: both \"object\" and \"command\" are set") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"ReplaceScheduler","command":[]}]})")
              .find("steps[0].object: missing required string (or a \"command\" array)") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"AttachScheduler","command":["/l",""]}]})")
              .find("steps[0].command[1]: must not be empty") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"AttachScheduler","command":"/l"}]})")
              .find("steps[0].command: expected an array of strings") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"AttachScheduler","command":["/l"],"timeout_ms":0}]})")
              .find("steps[0].timeout_ms: must be > 0") != std::string::npos);
  }

  TEST_CASE("LoadBpf: defaults and malformed fields") {
    auto r = plan_from_json(R"({"steps":[{"op":"LoadBpf","object":"/ktest/objects/0/maps.bpf.o"}]})");
    REQUIRE_MESSAGE(r.ok(), r.error().to_string());
    const auto& load = std::get<LoadBpf>(r->steps[0]);
    CHECK(load.name == "maps.bpf.o");
    CHECK(load.run.empty());
    CHECK(error_of(R"({"steps":[{"op":"LoadBpf"}]})").find("steps[0].object") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"LoadBpf","object":""}]})").find("must not be empty") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"LoadBpf","object":"/o","run":"fill"}]})")
              .find("steps[0].run: expected an array of strings") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"LoadBpf","object":"/o","run":["fill",7]}]})")
              .find("steps[0].run[1]") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"LoadBpf","object":"/o","run":[""]}]})")
              .find("steps[0].run[0]") != std::string::npos);
    auto e = error_of(R"({"steps":[{"op":"LoadBpf","object":"/o","runs":["fill"]}]})");
    CHECK(e.find("steps[0].runs") != std::string::npos);
    CHECK(e.find("did you mean \"run\"") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"LoadBPF","object":"/o"}]})").find("did you mean \"LoadBpf\"") !=
          std::string::npos);
  }

  TEST_CASE("a LoadBpf run list and a command's arguments: kMaxArgvLength kept whole, one more refused") {
    auto list = [](std::size_t n) {
      std::string out;
      for (std::size_t i = 0; i < n; ++i) out += std::string(i ? "," : "") + "\"p" + std::to_string(i) + "\"";
      return "[" + out + "]";
    };
    auto load_bpf = [&](std::size_t n) { return R"({"steps":[{"op":"LoadBpf","object":"/o","run":)" + list(n) + "}]}"; };
    auto run = [&](std::size_t n) { return R"({"steps":[{"op":"Run","argv":)" + list(n) + "}]}"; };

    auto at_limit = plan_from_json(load_bpf(kMaxArgvLength));
    REQUIRE_MESSAGE(at_limit.ok(), at_limit.error().to_string());
    const auto& load = std::get<LoadBpf>(at_limit->steps[0]);
    REQUIRE(load.run.size() == kMaxArgvLength);
    CHECK(load.run.back() == "p" + std::to_string(kMaxArgvLength - 1));
    auto command = plan_from_json(run(kMaxArgvLength));
    REQUIRE_MESSAGE(command.ok(), command.error().to_string());
    CHECK(std::get<Run>(command->steps[0]).argv.size() == kMaxArgvLength);

    CHECK(error_of(load_bpf(kMaxArgvLength + 1)) == "plan: steps[0].run: more than 256 elements");
    CHECK(error_of(run(kMaxArgvLength + 1)) == "plan: steps[0].argv: more than 256 elements");
  }

  TEST_CASE("scheduler_exit_expected: default, JSON and malformed values") {
    CHECK_FALSE(PlanSettings{}.scheduler_exit_expected);
    Plan p;
    CHECK(plan_to_json(p).find("\"scheduler_exit_expected\": false") != std::string::npos);
    p.settings.scheduler_exit_expected = true;
    auto back = plan_from_json(plan_to_json(p));
    REQUIRE_MESSAGE(back.ok(), back.error().to_string());
    CHECK(back->settings.scheduler_exit_expected);
    auto r = plan_from_json(R"({"settings":{"scheduler_exit_expected":true},"steps":[]})");
    REQUIRE_MESSAGE(r.ok(), r.error().to_string());
    CHECK(r->settings.scheduler_exit_expected);
    CHECK(r->settings.step_timeout_ms == PlanSettings{}.step_timeout_ms);
    CHECK(error_of(R"({"settings":{"scheduler_exit_expected":1},"steps":[]})")
              .find("settings.scheduler_exit_expected: expected true or false") != std::string::npos);
    auto e = error_of(R"({"settings":{"scheduler_exit_expect":true},"steps":[]})");
    CHECK(e.find("settings.scheduler_exit_expect") != std::string::npos);
    CHECK(e.find("did you mean \"scheduler_exit_expected\"") != std::string::npos);
  }

  TEST_CASE("defaults apply to omitted optional fields") {
    auto r = plan_from_json(R"({"steps":[{"op":"Spawn","name":"w","argv":["@yield"]},
                                         {"op":"AttachScheduler","object":"/x.o"}]})");
    REQUIRE_MESSAGE(r.ok(), r.error().to_string());
    CHECK(r->settings == PlanSettings{});
    const auto& spawn = std::get<Spawn>(r->steps[0]);
    CHECK(spawn.count == 1);
    CHECK(spawn.cpus.empty());
    CHECK(spawn.nice == 0);
    const auto& attach = std::get<AttachScheduler>(r->steps[1]);
    CHECK_FALSE(attach.ops.has_value());
    CHECK(attach.name == "scheduler");
  }

  TEST_CASE("errors name the JSON path and suggest the fix") {
    CHECK(error_of("{").find("not valid JSON") != std::string::npos);
    CHECK(error_of("[]").find("top level") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"Spwn"}]})").find("did you mean \"Spawn\"") != std::string::npos);
    auto e = error_of(R"({"steps":[{"op":"Sleep","ms":1},{"op":"Run","argv":[1]}]})");
    CHECK(e.find("steps[1].argv[0]") != std::string::npos);
    e = error_of(R"({"steps":[{"op":"Spawn","name":"w","argv":["x"],"cont":2}]})");
    CHECK(e.find("steps[0].cont") != std::string::npos);
    CHECK(e.find("did you mean \"count\"") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"Spawn","name":"w","argv":["x"],"count":0}]})")
              .find("count must be") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"Spawn","name":"w","argv":["x"],"nice":20}]})")
              .find("nice must be") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"Spawn","name":"w","argv":["x"],"cpus":[-1]}]})")
              .find("steps[0].cpus[0]") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"Sleep","ms":-5}]})").find("out of range") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"Sleep","ms":99999999999}]})").find("out of range") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"WatchSnapshot","name":"a","symbol":"s","len":3}]})")
              .find("len must be") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"AttachScheduler"}]})").find("steps[0].object") != std::string::npos);
    CHECK(error_of(R"({"version":9,"steps":[]})").find("unsupported plan version") != std::string::npos);
    CHECK(error_of(R"({"settings":{"on_failure":"ignore"},"steps":[]})").find("settings.on_failure") != std::string::npos);
    CHECK(error_of(R"({"steps":[], "stepz":1})").find("did you mean \"steps\"") != std::string::npos);
  }

  TEST_CASE("a CaptureSnapshot series: count 1..kMaxCaptures, a period of at least kMinSeriesPeriodMs") {
    auto series = [](uint64_t every, uint64_t count) {
      return plan_from_json(R"({"steps":[{"op":"CaptureSnapshot","name":"t","every_ms":)" + std::to_string(every) +
                            R"(,"count":)" + std::to_string(count) + "}]}");
    };
    REQUIRE(series(kMinSeriesPeriodMs, kMaxCaptures).ok());
    CHECK(std::get<CaptureSnapshot>(series(kMinSeriesPeriodMs, kMaxCaptures)->steps[0]).series());
    CHECK(error_of(R"({"steps":[{"op":"CaptureSnapshot","name":"t","every_ms":50,"count":65}]})")
              .find("count must be 1..64") != std::string::npos);
    CHECK(error_of(R"({"steps":[{"op":"CaptureSnapshot","name":"t","every_ms":49,"count":2}]})")
              .find("every_ms >= 50") != std::string::npos);
    CHECK(!std::get<CaptureSnapshot>(series(0, 1)->steps[0]).series());
    CHECK(series_member("tick", 3) == "tick.3");
  }

  TEST_CASE("step count: kMaxPlanSteps accepted, one more refused") {
    auto steps = [](std::size_t n) {
      std::string text = R"({"steps":[)";
      for (std::size_t i = 0; i < n; ++i) text += std::string(i ? "," : "") + R"({"op":"DetachScheduler"})";
      return text + "]}";
    };
    auto at_limit = plan_from_json(steps(kMaxPlanSteps));
    REQUIRE_MESSAGE(at_limit.ok(), at_limit.error().to_string());
    CHECK(at_limit->steps.size() == kMaxPlanSteps);
    CHECK(error_of(steps(kMaxPlanSteps + 1)).find("more than 4096 steps") != std::string::npos);
  }
}
