// Every validation error kind, with golden file:line:col, message and hint.
#include <doctest/doctest.h>

#include "dsl/scenario.h"
#include "dsl/tests/diagnostics_of.h"
#include "kvm/plan.h"

using namespace ktest::dsl;

namespace {

const std::string kScenarios = std::string(KTEST_SOURCE_ROOT) + "/tests/fixtures/scenarios/";

using test::errors_of;
using test::Lines;

}  // namespace

TEST_CASE("YAML syntax errors are located") {
  CHECK(errors_of("steps:\n  - Sleep: [1s\n") ==
        Lines{"3:1: YAML syntax: end of sequence flow not found | check the indentation and brackets near here"});
  auto load = load_scenario_file(kScenarios + "bad_syntax.yaml");
  REQUIRE(load.diagnostics.size() == 1);
  CHECK(load.diagnostics[0].line == 3);
  CHECK(load.diagnostics[0].col == 45);
}

TEST_CASE("unknown keys get the nearest valid key") {
  CHECK(errors_of("nmae: x\n") == Lines{"1:1: unknown key 'nmae' in the scenario | did you mean 'name'?"});
  CHECK(errors_of("vm: {cpus: 2, memroy: 1G}\n") == Lines{"1:15: unknown key 'memroy' in vm | did you mean 'memory'?"});
  CHECK(errors_of("steps:\n  - Spawn: {name: w, comand: yes}\n") ==
        Lines{"2:12: Spawn needs 'command' | write - Spawn: {name: worker, command: \"yes > /dev/null\"}",
              "2:22: unknown key 'comand' in Spawn | did you mean 'command'?"});
  CHECK(errors_of("zzz: 1\n") ==
        Lines{"1:1: unknown key 'zzz' in the scenario | valid keys: name, description, vm, kernel, scheduler, "
              "steps, assertions, expect_scheduler_exit"});
}

TEST_CASE("expect_scheduler_exit names sched_ext exit kinds") {
  CHECK(errors_of("expect_scheduler_exit: SCX_EXIT_EROR_BPF\n") ==
        Lines{"1:24: 'SCX_EXIT_EROR_BPF' is not a sched_ext exit kind | did you mean 'SCX_EXIT_ERROR_BPF'?"});
  CHECK(errors_of("expect_scheduler_exit: SCX_EXIT_UNREG\n") ==
        Lines{"1:24: SCX_EXIT_UNREG is a userspace unload, never a failure | name the kind the scheduler "
              "dies with, e.g. SCX_EXIT_ERROR_BPF"});
  CHECK(errors_of("expect_scheduler_exit: []\n") ==
        Lines{"1:24: 'expect_scheduler_exit' is an empty list | write expect_scheduler_exit: SCX_EXIT_ERROR_STALL"});
  CHECK(errors_of("expect_scheduler_exit: [SCX_EXIT_ERROR, any_error]\n").empty());
  // @exit / @early exist only when an exit is expected; a step's own capture wins.
  CHECK(errors_of("expect_scheduler_exit: any\nassertions:\n  - '@exit.scx().exit.kind == \"SCX_EXIT_ERROR\"'\n"
                  "  - 'snapshot(\"early\").scx().exists()'\n  - scx().state == \"disabled\"\n")
            .empty());
  CHECK(errors_of("assertions:\n  - '@exit.scx().exit.kind == 1024'\n") ==
        Lines{"2:7: assertion reads snapshot 'exit', which no step captures | add a step '- CaptureSnapshot: exit'"});
}

TEST_CASE("ExpectedExit matches kinds, any_error and any") {
  ExpectedExit stall{{"SCX_EXIT_ERROR_STALL"}, {}};
  CHECK(stall.matches("SCX_EXIT_ERROR_STALL", 1026));
  CHECK_FALSE(stall.matches("SCX_EXIT_ERROR_BPF", 1025));
  ExpectedExit errors{{"any_error"}, {}};
  CHECK(errors.matches("SCX_EXIT_ERROR_BPF", 1025));
  CHECK_FALSE(errors.matches("SCX_EXIT_UNREG_BPF", 65));
  ExpectedExit any{{"any", "SCX_EXIT_ERROR"}, {}};
  CHECK(any.matches("SCX_EXIT_UNREG_BPF", 65));
  CHECK_FALSE(any.matches("SCX_EXIT_UNREG", 64));
  CHECK(any.text() == "any or SCX_EXIT_ERROR");
}

TEST_CASE("a scenario takes at most kMaxCaptures captures") {
  auto captures = [](std::size_t n) {
    std::string yaml = "steps:\n";
    for (std::size_t i = 1; i <= n; ++i) yaml += "  - CaptureSnapshot: c" + std::to_string(i) + "\n";
    return yaml;
  };
  CHECK(errors_of(captures(kMaxCaptures)).empty());
  CHECK(errors_of(captures(kMaxCaptures + 2)) ==
        Lines{"66:22: snapshot 'c65' is capture 65: a scenario takes at most 64 (CaptureSnapshot and WatchSnapshot "
              "steps) | split the scenario in two"});
}

TEST_CASE("a Spawn starts at most kvm::kMaxSpawnCount processes, the plan's own cap") {
  auto spawn = [](uint32_t count) {
    return "steps:\n  - Spawn: {name: w, command: yes, count: " + std::to_string(count) + "}\n";
  };
  CHECK(errors_of(spawn(ktest::kvm::kMaxSpawnCount)).empty());
  CHECK(errors_of(spawn(ktest::kvm::kMaxSpawnCount + 1)) ==
        Lines{"2:43: 'count' is 1025, outside 1..1024 | use a number from 1 to 1024"});
}

TEST_CASE("duplicate keys are errors, not silently merged") {
  CHECK(errors_of("name: a\nname: b\n") ==
        Lines{"2:1: duplicate key 'name' in the scenario (first set at line 1) | YAML keeps only one value; "
              "delete one of them"});
  CHECK(errors_of("steps:\n  - Spawn: {name: w, command: yes, name: v}\n") ==
        Lines{"2:36: duplicate key 'name' in Spawn (first set at line 2) | YAML keeps only one value; delete one "
              "of them"});
}

TEST_CASE("wrong types") {
  CHECK(errors_of("vm: {cpus: two}\n") ==
        Lines{"1:12: 'cpus' must be an integer, found 'two' | use a number from 1 to 64"});
  CHECK(errors_of("vm: {cpus: 0}\n") == Lines{"1:12: 'cpus' is 0, outside 1..64 | use a number from 1 to 64"});
  // The engine's limits (kvm/machine.h), refused here rather than at boot.
  CHECK(errors_of("vm: {cpus: 65}\n") == Lines{"1:12: 'cpus' is 65, outside 1..64 | use a number from 1 to 64"});
  CHECK(errors_of("vm: {memory: 4G}\n") ==
        Lines{"1:14: 'memory' is 4G: above the 2048 MiB ktest gives a guest (RAM stays below the 32-bit PCI hole) | "
              "use 64M to 2048M"});
  CHECK(errors_of("vm: {memory: 2G}\n").empty());
  // Each bound at the limit and one past it.
  CHECK(errors_of("vm: {cpus: 64}\n").empty());
  CHECK(errors_of("vm: {cpus: 1}\n").empty());
  CHECK(errors_of("vm: {memory: 64M}\n").empty());
  CHECK(errors_of("vm: {memory: 63M}\n") ==
        Lines{"1:14: 'memory' is 63M: below the 64 MiB a guest needs | use 64M to 2048M"});
  CHECK(errors_of("vm: {memory: 2049M}\n") ==
        Lines{"1:14: 'memory' is 2049M: above the 2048 MiB ktest gives a guest (RAM stays below the 32-bit PCI "
              "hole) | use 64M to 2048M"});
  CHECK(errors_of("vm: 2\n") ==
        Lines{"1:5: vm must be a mapping, found a scalar | write vm: {cpus: 2, memory: 512M, timeout: 30s}"});
  CHECK(errors_of("steps: {Sleep: 1s}\n") == Lines{"1:8: 'steps' must be a list | write steps:\n  - Sleep: 1s"});
  CHECK(errors_of("steps:\n  - Run: {command: {a: 1}}\n") ==
        Lines{"2:20: 'command' must be a string or a non-empty list, found a mapping | write command: "
              "\"stress-ng --cpu 2\" or command: [stress-ng, --cpu, \"2\"]"});
  CHECK(errors_of("steps:\n  - Spawn: {name: w, command: yes, nice: 30}\n") ==
        Lines{"2:42: 'nice' is 30, outside -20..19 | use a number from -20 to 19"});
  CHECK(errors_of("steps:\n  - WatchSnapshot: {name: w, symbol: s, access: wirte, len: 3}\n") ==
        Lines{"2:49: unknown access 'wirte' | did you mean 'write'?",
              "2:61: 'len' is 3; a hardware watchpoint covers 1, 2, 4 or 8 bytes | use 1, 2, 4 or 8"});
  CHECK(errors_of("steps:\n  - Kill: {name: w, signal: TREM}\n") ==
        Lines{"2:29: unknown signal 'TREM' | did you mean 'TERM'?"});
}

TEST_CASE("durations and sizes need units") {
  CHECK(errors_of("vm: {timeout: 30}\n") == Lines{"1:15: 'timeout': duration '30' has no unit | add a unit: 30s"});
  CHECK(errors_of("vm: {memory: 512}\n") == Lines{"1:14: 'memory': size '512' has no unit | add a unit: 512M"});
  CHECK(errors_of("vm: {memory: 1M}\n") ==
        Lines{"1:14: 'memory' is 1M: below the 64 MiB a guest needs | use 64M to 2048M"});
  CHECK(errors_of("steps:\n  - Sleep: 5 sec\n") ==
        Lines{"2:12: 'Sleep': unknown duration unit 'sec' in '5 sec' | use one of ns, us, ms, s, m, h"});
  CHECK(errors_of("steps:\n  - Run: {command: x, timeout: 0s}\n") ==
        Lines{"2:32: 'timeout' must be longer than 0 | e.g. 500ms"});
}

TEST_CASE("steps: unknown ops, two ops in one item, missing fields") {
  CHECK(errors_of("steps:\n  - Spwan: {name: w, command: yes}\n") ==
        Lines{"2:5: unknown step 'Spwan' | did you mean 'Spawn'?"});
  CHECK(errors_of("steps:\n  - Sleep: 1s\n    CaptureSnapshot: x\n") ==
        Lines{"3:5: a step holds one op; 'CaptureSnapshot' starts a second one | start each op with its own '-' item"});
  CHECK(errors_of("steps:\n  - Slep\n") == Lines{"2:5: a step must be a mapping with one key, the op | write - Sleep: {...}"});
  CHECK(errors_of("steps:\n  - WatchSnapshot: {name: w}\n") ==
        Lines{"2:20: WatchSnapshot needs 'symbol' | write - WatchSnapshot: {name: hit, symbol: nr_dispatched}"});
  CHECK(errors_of("steps:\n  - AttachScheduler:\n") ==
        Lines{"2:5: AttachScheduler needs 'object' or 'command' | write - AttachScheduler: {object: "
              "scx_simple.bpf.o} or - AttachScheduler: {command: [scx_simple]}"});
  CHECK(errors_of("steps:\n  - Spawn: {name: w, command: yes, cpus: 1-0}\n") ==
        Lines{"2:42: 'cpus': cpu range '1-0' runs backwards | write 0-1"});
}

TEST_CASE("snapshot names are unique and assertions name captured ones") {
  CHECK(errors_of("steps:\n  - CaptureSnapshot: a\n  - WatchSnapshot: {name: a, symbol: s}\n") ==
        Lines{"3:27: snapshot 'a' is captured twice (first at line 2) | give each capture its own name, e.g. 'a_2'"});
  CHECK(errors_of("steps:\n  - CaptureSnapshot: before\nassertions:\n  - snapshot(\"befor\").var(\"x\") > 0\n") ==
        Lines{"4:15: assertion reads snapshot 'befor', which no step captures | did you mean 'before'?"});
  CHECK(errors_of("steps:\n  - CaptureSnapshot: a\nassertions:\n  - '@zzz.var(\"x\") > 0'\n") ==
        Lines{"4:7: assertion reads snapshot 'zzz', which no step captures | add a step '- CaptureSnapshot: zzz'"});
  CHECK(errors_of("assertions:\n  - var(\"x\") > 0\n") ==
        Lines{"2:5: assertion reads a snapshot, but no step captures one | add a step '- CaptureSnapshot: end' "
              "after the workload runs"});
}

TEST_CASE("workloads are spawned before they are used") {
  CHECK(errors_of("steps:\n  - Kill: {name: w}\n  - Spawn: {name: w, command: yes}\n") ==
        Lines{"2:18: workload 'w' is killed before it is spawned | move this step after the Spawn at line 3"});
  CHECK(errors_of("steps:\n  - Spawn: {name: worker, command: yes}\n  - Kill: {name: wroker}\n") ==
        Lines{"3:18: workload 'wroker' is never spawned | did you mean 'worker'?"});
  CHECK(errors_of("steps:\n  - Spawn: {name: w, command: yes}\n  - Spawn: {name: w, command: yes}\n") ==
        Lines{"3:19: workload 'w' is spawned twice (first at line 2) | give each Spawn its own name"});
  CHECK(errors_of("steps:\n  - CaptureSnapshot: s\nassertions:\n  - pid(\"ghost\") > 0\n") ==
        Lines{"4:10: assertion refers to workload 'ghost', which no step spawns | add a step '- Spawn: {name: ghost, "
              "command: ...}'"});
  CHECK(errors_of("vm: {cpus: 2}\nsteps:\n  - Spawn: {name: w, command: yes, cpus: \"1,3\"}\n") ==
        Lines{"3:42: cpu 3 does not exist: the vm has 2 cpus | use cpus within 0-1, or raise vm.cpus"});
}

TEST_CASE("scheduler attach/replace/detach order") {
  CHECK(errors_of("scheduler: a.bpf.o\nsteps:\n  - AttachScheduler: {object: b.bpf.o}\n") ==
        Lines{"3:5: a scheduler is already attached (the top-level 'scheduler') | use ReplaceScheduler, or "
              "DetachScheduler first"});
  CHECK(errors_of("steps:\n  - ReplaceScheduler: {object: b.bpf.o}\n") ==
        Lines{"2:5: ReplaceScheduler with no scheduler attached | use AttachScheduler"});
  CHECK(errors_of("steps:\n  - AttachScheduler: {object: b.bpf.o}\n  - DetachScheduler: {}\n  - DetachScheduler\n") ==
        Lines{"4:5: DetachScheduler with no scheduler attached | attach one first with AttachScheduler, or delete "
              "this step"});
}

TEST_CASE("scheduler loader form: exactly one of object and command, a program like vm.tools") {
  const std::string hint_both =
      "a scheduler is a BPF object the guest loads (object:) or a program that loads it (command:); keep one";
  CHECK(errors_of("steps:\n  - AttachScheduler: {object: a.bpf.o, command: [scx_simple]}\n") ==
        Lines{"2:49: AttachScheduler has both 'object' and 'command' | " + hint_both});
  CHECK(errors_of("steps:\n  - AttachScheduler: {ops: simple_ops}\n") ==
        Lines{"2:5: AttachScheduler needs 'object' or 'command' | write {object: scx_simple.bpf.o, ops: "
              "simple_ops} or {command: [scx_simple]}"});
  CHECK(errors_of("scheduler: {name: x}\n") ==
        Lines{"1:12: scheduler needs 'object' or 'command' | write {object: scx_simple.bpf.o, ops: simple_ops} "
              "or {command: [scx_simple]}"});
  CHECK(errors_of("steps:\n  - AttachScheduler: {command: scx_simple}\n") ==
        Lines{"2:32: a scheduler's 'command' must be a non-empty list (argv) | write command: [scx_simple, "
              "--slice-us, \"500\"]; its first word is a program found like a vm.tools entry"});
  CHECK(errors_of("steps:\n  - AttachScheduler: {command: []}\n") ==
        Lines{"2:32: a scheduler's 'command' must be a non-empty list (argv) | write command: [scx_simple, "
              "--slice-us, \"500\"]; its first word is a program found like a vm.tools entry"});
  CHECK(errors_of("steps:\n  - AttachScheduler: {command: [bin/scx_simple]}\n") ==
        Lines{"2:33: scheduler program 'bin/scx_simple' is not a bare name or an absolute path | write a bare "
              "name looked up on the host's $PATH (scx_simple) or an absolute path: the guest gets it at the "
              "same path, like a vm.tools entry"});
  CHECK(errors_of("steps:\n  - AttachScheduler: {object: a.bpf.o, timeout: 5s}\n") ==
        Lines{"2:49: AttachScheduler: 'timeout' is for the loader form (command:) | delete it: attaching an "
              "object is bounded by vm.timeout"});
  CHECK(errors_of("steps:\n  - AttachScheduler: {command: [scx_simple], timeout: 5}\n") ==
        Lines{"2:55: 'timeout': duration '5' has no unit | add a unit: 5s"});
  CHECK(errors_of("steps:\n  - AttachScheduler: {command: [scx_simple], tmeout: 5s}\n") ==
        Lines{"2:46: unknown key 'tmeout' in AttachScheduler | did you mean 'timeout'?"});
  // Attach/replace/detach order does not care about the form.
  CHECK(errors_of("scheduler: {command: [scx_simple]}\nsteps:\n  - AttachScheduler: {object: b.bpf.o}\n") ==
        Lines{"3:5: a scheduler is already attached (the top-level 'scheduler') | use ReplaceScheduler, or "
              "DetachScheduler first"});
  CHECK(errors_of("steps:\n  - AttachScheduler: {command: [scx_simple]}\n  - ReplaceScheduler: {object: b.bpf.o}\n"
                  "  - ReplaceScheduler: {command: [/opt/scx_lavd, --fast]}\n  - DetachScheduler\n")
            .empty());

  auto load = load_scenario_text(
      "steps:\n  - AttachScheduler: {command: [/opt/bin/scx_lavd, --slice-us, \"500\"], ops: lavd, timeout: 5s}\n"
      "  - ReplaceScheduler: {command: [scx_simple], name: simple}\n",
      "t.yaml");
  REQUIRE(load.ok());
  const auto& attach = std::get<AttachScheduler>(load.scenario->steps[0].op).scheduler;
  CHECK(attach.loader());
  CHECK(attach.command == std::vector<std::string>{"/opt/bin/scx_lavd", "--slice-us", "500"});
  CHECK(attach.name == "scx_lavd");
  CHECK(attach.ops == "lavd");
  CHECK(attach.timeout == std::chrono::seconds(5));
  CHECK(attach.object.empty());
  CHECK(attach.command_loc.line == 2);
  CHECK(attach.command_loc.col == 33);
  const auto& replace = std::get<ReplaceScheduler>(load.scenario->steps[1].op).scheduler;
  CHECK(replace.name == "simple");
  CHECK(replace.timeout == kDefaultLoaderTimeout);
  CHECK_FALSE(replace.ops.has_value());
}

TEST_CASE("malformed assertions point into the YAML file") {
  CHECK(errors_of("steps:\n  - CaptureSnapshot: s\nassertions:\n  - var(\"x\") >\n") ==
        Lines{"4:15: in assertion: expected a value, found end of expression | "});
  CHECK(errors_of("steps:\n  - CaptureSnapshot: s\nassertions:\n  - \"var(\\\"x\\\") == nr_cpu\"\n") ==
        Lines{"4:20: in assertion: unknown name 'nr_cpu' | bare names only refer to an entry inside find()/filter(); "
              "for a global write var(\"nr_cpu\")"});
  CHECK(errors_of("steps:\n  - CaptureSnapshot: s\nassertions:\n  - {expr: 'map(\"m\").lenn() > 0', name: n}\n") ==
        Lines{"4:22: in assertion: unknown method 'lenn' | did you mean '.len()'?"});
  CHECK(errors_of("assertions:\n  - {name: n}\n") ==
        Lines{"2:5: an assertion needs 'expr' | write {expr: \"var(\\\"x\\\") > 0\"}"});
  auto load = load_scenario_file(kScenarios + "bad_expression.yaml");
  REQUIRE(load.diagnostics.size() == 2);
  CHECK(load.diagnostics[0].line == 5);
  CHECK(load.diagnostics[0].col == 25);
  CHECK(load.diagnostics[1].line == 8);  // inside a block scalar
  CHECK(load.diagnostics[1].col == 25);
  CHECK(load.diagnostics[1].length == 3);
  CHECK(load.diagnostics[1].source_line == "        .find(tid == 1).fnd(x == 2)");
}

TEST_CASE("five mistakes give five located errors") {
  auto load = load_scenario_file(kScenarios + "five_mistakes.yaml");
  REQUIRE_FALSE(load.ok());
  const std::string file = kScenarios + "five_mistakes.yaml";
  CHECK(format_diagnostics(load.diagnostics) ==
        file + ":4:3: error: unknown key 'cpu' in vm\n"
               "      cpu: 2\n"
               "      ^~~\n"
               "hint: did you mean 'cpus'?\n" +
        file + ":5:12: error: 'timeout': duration '30' has no unit\n"
               "      timeout: 30\n"
               "               ^~\n"
               "hint: add a unit: 30s\n" +
        file + ":8:5: error: unknown step 'Slep'\n"
               "      - Slep: 1s\n"
               "        ^~~~\n"
               "hint: did you mean 'Sleep'?\n" +
        file + ":10:22: error: snapshot 'before' is captured twice (first at line 9)\n"
               "      - CaptureSnapshot: before\n"
               "                         ^~~~~~\n"
               "hint: give each capture its own name, e.g. 'before_2'\n" +
        file + ":13:42: error: assertion refers to workload 'wroker', which no step spawns\n"
               "      - map(\"scx_per_task\").find(tid == pid(\"wroker\")).get(\"ctx.weight.value\") == 100\n"
               "                                             ^~~~~~\n"
               "hint: did you mean 'worker'?\n"
               "5 errors\n");
}

TEST_CASE("LoadBpf: missing object, unknown keys, run list type, duplicate labels") {
  CHECK(errors_of("steps:\n  - LoadBpf: {name: maps}\n") ==
        Lines{"2:14: LoadBpf needs 'object' | write - LoadBpf: {object: maps.bpf.o, run: [fill]}"});
  CHECK(errors_of("steps:\n  - LoadBpf:\n") ==
        Lines{"2:5: LoadBpf needs 'object' | write - LoadBpf: {object: maps.bpf.o, run: [fill]}"});
  CHECK(errors_of("steps:\n  - LoadBpf: {object: m.bpf.o, runs: [fill]}\n") ==
        Lines{"2:32: unknown key 'runs' in LoadBpf | did you mean 'run'?"});
  CHECK(errors_of("steps:\n  - LoadBpf: {object: m.bpf.o, run: fill}\n") ==
        Lines{"2:37: 'run' must be a list, found a scalar | write run: [fill] (names of SEC(\"syscall\") "
              "programs)"});
  CHECK(errors_of("steps:\n  - LoadBpf: {object: m.bpf.o, run: [fill, {a: 1}]}\n") ==
        Lines{"2:44: 'run' must be a string, found a mapping | "});
  CHECK(errors_of("steps:\n  - LoadBpf: {object: m.bpf.o, run: [\"\"]}\n") ==
        Lines{"2:38: 'run' is empty | "});
  CHECK(errors_of("steps:\n  - LoadBpf: {object: [a, b]}\n") ==
        Lines{"2:23: 'object' must be a string, found a list | "});
  CHECK(errors_of("steps:\n  - LoadBpf: {object: a.bpf.o, name: maps}\n  - LoadBpf: {object: b.bpf.o, name: maps}\n") ==
        Lines{"3:38: BPF object label 'maps' is used twice (first at line 2) | give each LoadBpf its own name, "
              "e.g. 'name: maps_2'"});
  // Two objects with the same file stem need a label each.
  CHECK(errors_of("steps:\n  - LoadBpf: a/m.bpf.o\n  - LoadBpf: b/m.bpf.o\n") ==
        Lines{"3:5: BPF object label 'm' is used twice (first at line 2) | give each LoadBpf its own name, "
              "e.g. 'name: m_2'"});
  CHECK(errors_of("steps:\n  - LoadBpff: {object: a.bpf.o}\n") ==
        Lines{"2:5: unknown step 'LoadBpff' | did you mean 'LoadBpf'?"});
}

TEST_CASE("vm.tools: list type, relative paths, duplicates") {
  CHECK(errors_of("vm: {tools: bpftool}\n") ==
        Lines{"1:13: 'tools' must be a list of programs | write tools: [bpftool, /usr/bin/stress-ng]"});
  CHECK(errors_of("vm: {tools: [bpftool, [x]]}\n") == Lines{"1:23: 'tools' must be a string, found a list | "});
  CHECK(errors_of("vm: {tools: [bin/bpftool]}\n") ==
        Lines{"1:14: tool 'bin/bpftool' is a relative path | write a bare name looked up on the host's $PATH "
              "(bpftool) or an absolute path (/usr/sbin/bpftool): the guest gets it at the same path"});
  CHECK(errors_of("vm:\n  tools:\n    - bpftool\n    - /usr/sbin/bpftool\n    - bpftool\n") ==
        Lines{"5:7: tool 'bpftool' is listed twice (first at line 3) | delete one of them"});
  CHECK(errors_of("vm: {tool: [bpftool]}\n") == Lines{"1:6: unknown key 'tool' in vm | did you mean 'tools'?"});
}

TEST_CASE("stats() reads documents that Run steps record under `json:`") {
  CHECK(errors_of("steps:\n  - Run: {command: \"cat s.json\", json: sched}\n"
                  "assertions:\n  - stats(\"sched\").nr_dispatched > 0\n")
            .empty());
  CHECK(errors_of("steps:\n  - Run: {command: \"cat s.json\", json: sched}\n"
                  "  - Run: {command: \"cat t.json\", json: sched}\n") ==
        Lines{"3:40: JSON document 'sched' is recorded twice (first at line 2) | give each its own name, e.g. "
              "'sched_2'"});
  CHECK(errors_of("steps:\n  - Run: {command: \"cat s.json\", json: sched}\n"
                  "assertions:\n  - stats(\"shced\").x > 0\n") ==
        Lines{"4:12: assertion reads JSON document 'shced', which no step records | did you mean 'sched'?"});
}
