// Scenario files: the YAML model, its loader and its validation.
//
// Contract: load_scenario_file()/load_scenario_text() return a Scenario
// only when the file has no error; otherwise every error found (not just
// the first) as a located Diagnostic (file:line:col, source line, hint).
// Assertions are parsed at load time; a loaded Scenario is internally
// consistent (names resolve, schedulers attach before detach, ...). The
// loader never throws and never touches a VM; it only reads the file.
// This comment is the specification ktest-scenario(5) is written from.
//
// TOP LEVEL (a mapping; unknown and duplicate keys are errors)
//   key          type             default   meaning
//   name         string           file stem scenario name in reports
//   description  string           ""        free text
//   vm           mapping          (below)   guest machine
//   kernel       string|mapping   none      kernel to boot: {path: FILE} or
//                                           {version: "7.2.13"}; a plain string
//                                           is a path when it contains '/',
//                                           else a version
//   scheduler    mapping          none      scheduler attached before the first
//                                           step and detached after the last:
//                                           {object, ops?, name?} or
//                                           {command, ops?, name?, timeout?}
//                                           as AttachScheduler
//   steps        sequence         []        run in order (below)
//   assertions   sequence         []        checked after the run (below)
//   expect_scheduler_exit  string|list  none  the scheduler is expected to
//                                           exit: an exit kind (SCX_EXIT_ERROR,
//                                           SCX_EXIT_ERROR_BPF, SCX_EXIT_ERROR_STALL,
//                                           SCX_EXIT_UNREG_BPF, SCX_EXIT_UNREG_KERN,
//                                           SCX_EXIT_SYSRQ, ...), a list of them,
//                                           `any_error` (kind >= SCX_EXIT_ERROR)
//                                           or `any` (every kind but a userspace
//                                           unload, SCX_EXIT_UNREG)
//
// SCHEDULER EXITS. ktest watches the root sched_ext scheduler, however it
// was started. An exit other than a userspace unload (SCX_EXIT_UNREG: a
// DetachScheduler, a loader closing its link) fails the scenario unless
// expect_scheduler_exit names its kind; an expected exit that never comes
// fails it too. The exit is captured as snapshot "@exit" (assertions write
// @exit or snapshot("exit")), and a stall also as "@early"; both need
// expect_scheduler_exit to be named by an assertion (a step's own capture
// of the same name wins).
//
// vm:
//   cpus         integer 1..64    2         vCPUs (default: topology's product,
//                                           else ktest.toml's [vm] cpus);
//                                           kvm::kMaxCpus
//   memory       size             512M      guest RAM, 64M..2G (default: the
//                                           numa nodes' sum, else ktest.toml's
//                                           [vm] memory); kvm::check_guest_memory
//   topology     mapping          none      {sockets, cores, threads}, each
//                                           1..64, default 1; their product
//                                           must equal cpus. cpu numbers run
//                                           socket-major, threads innermost
//   numa         list             none      nodes {cpus: CPU LIST, memory:
//                                           size (whole MiB, >= 32M)}, node i
//                                           the i-th; the lists cover every
//                                           cpu < vm.cpus exactly once, the
//                                           sizes sum to vm.memory. Boots on
//                                           q35 (ACPI SRAT), else microvm
//   cpu_model    string           none      QEMU -cpu value: a model name
//                                           [A-Za-z0-9][A-Za-z0-9._-]* then
//                                           ",+feat" ",-feat" ",feat=val"
//                                           items (kvm::valid_cpu_model).
//                                           --cpu-model > this > ktest.toml
//                                           [vm] cpu_model > host (KVM) or
//                                           qemu64 (TCG); cli/run/vm_shape.h
//   timeout      duration         60s       whole-run limit
//   tools        list of strings  []        host programs copied into the guest:
//                                           a bare name is looked up on the
//                                           host's $PATH, then /usr/sbin and
//                                           /sbin; anything else must be an
//                                           absolute path. Each must be an ELF
//                                           executable; it lands in the guest
//                                           at the same absolute path with its
//                                           shared libraries, and the guest's
//                                           PATH (/usr/sbin:/usr/bin:/sbin:/bin)
//                                           finds it. Listing one twice is an
//                                           error. The loader checks the form
//                                           only; `ktest run` resolves each on
//                                           the host before booting (an error
//                                           there is reported at the entry's
//                                           file:line:col), so a scenario
//                                           validates the same on any machine.
//   modules      list of strings  []        modules of the guest kernel, loaded
//                                           (with what they need, from
//                                           modules.dep) before the first step:
//                                           [kvm-amd]. Needs the kernel's modules
//                                           (ktest kernel fetch --modules); a
//                                           built-in one is fine. `ktest run`
//                                           resolves them; a refusal ends the run
//   files        list             []        host files or directories copied
//                                           into the guest (directories whole):
//                                           PATH (absolute, or relative to the
//                                           scenario; the guest gets it at the
//                                           same absolute path) or {host: PATH,
//                                           guest: ABSOLUTE PATH}. Not into
//                                           /tmp /proc /sys /dev /run /ktest
//                                           (the guest mounts over them); all
//                                           of them together at most half of
//                                           vm.memory (the initramfs is in RAM)
//
// SIZES need a unit: B, K, M, G, T (powers of 1024; KiB/MiB/GiB/TiB too),
// e.g. 512M, 1G, 1.5G. DURATIONS need a unit: ns, us, ms, s, m, h, e.g.
// 500ms, 30s, 2m, 1.5s. A bare number is an error ("add a unit: 30s").
// CPU LISTS: comma-separated cpus and ranges, "0-1,3"; each < vm.cpus.
//
// STEPS: each item is a mapping with exactly one key, the op:
//   - Op: {field: value, ...}
//   op                fields (required unless a default is shown)
//   AttachScheduler   object: path of a .bpf.o, relative to the scenario file
//                     (then each --object-path directory: cli/run/guest_plan.h)
//                     ops: struct_ops map name (default: the object's only one)
//                     name: label in reports (default: the object's file stem)
//                     Error if a scheduler is already attached.
//                   or, the loader form (how upstream schedulers run: the
//                   program loads and attaches its scheduler itself):
//                     command: list (argv), e.g. [scx_simple, --slice-us, "500"];
//                     the program is found like a vm.tools entry (a bare
//                     name on the host's $PATH, or an absolute path) and
//                     copied into the guest with its shared libraries
//                     ops: the sched_ext ops name to wait for (optional)
//                     name: label (default: the program's file name)
//                     timeout: duration, default 30s: how long the program
//                     may take to enable its scheduler
//                     The guest runs it in its own process group and waits
//                     until sched_ext enables a scheduler that was not there
//                     before (and root/ops equals `ops`, when given). It
//                     fails with the exit status and output tail when the
//                     program exits first or the timeout passes. Detaching
//                     sends SIGINT (SIGKILL after 5 s) and waits for
//                     "disabled"; the program's stdout+stderr is saved as
//                     output/scheduler-<name>.log (cli/run/guest_output.h).
//                     A loader still attached after the last step is detached
//                     by an implicit DetachScheduler. Exactly one of `object`
//                     and `command`; `timeout` only with `command`.
//   ReplaceScheduler  same fields (either form, whatever the attached one's);
//                     detaches the attached one, then attaches.
//                     Error if none is attached.
//   DetachScheduler   no fields (`- DetachScheduler: {}`, `- DetachScheduler:`
//                     or just `- DetachScheduler`).
//                     Error if none is attached.
//   Spawn             name: workload name (unique; pid("name") refers to it)
//                     command: string (run by /bin/sh -c) or list (argv)
//                     count: integer 1..kvm::kMaxSpawnCount (1024), default 1 (processes)
//                     cpus: cpu list, default all (affinity)
//                     nice: integer -20..19, default 0
//   Kill              name: a workload spawned by an earlier step
//                     signal: TERM (default), KILL, INT, HUP, USR1, USR2, STOP,
//                     CONT (a SIG prefix is accepted). Sent to every process.
//   Run               command: string (/bin/sh -c) or list (argv), waited for
//                     expect_exit: integer 0..255, default 0
//                     timeout: duration, default: the rest of vm.timeout
//                     json: name (unique among recorded documents): the
//                     output is a JSON document recorded under that name
//                     for assertions (stats("name"), dsl/expr.h): the last
//                     line that is a JSON object or array (JSON Lines: the
//                     latest record), else the whole output. Output that
//                     holds no JSON fails the step, quoting its start.
//                     Its stdout+stderr, up to 16 MiB, is saved in the run
//                     directory (cli/run/guest_output.h). An exit status of
//                     127 (command not found) adds the hint "add it to vm.tools".
//                     A command list of two or more words runs the program
//                     itself: one that cannot be started fails the step at
//                     once (Spawn too), naming the program and the reason.
//   LoadBpf           object: a .bpf.o that is not a scheduler, found like
//                     AttachScheduler's object
//                     name: label in reports (default: the object's file stem);
//                     two LoadBpf steps with the same name are an error
//                     run: list of SEC("syscall") program names (default []),
//                     each run once with BPF_PROG_TEST_RUN, in order, right
//                     after the load; a name listed twice runs twice
//                     The guest loads the object with libbpf (the verifier log
//                     is reported on failure, as for AttachScheduler) and
//                     attaches every other program libbpf can auto-attach
//                     (sections without auto-attach, e.g. SEC("syscall"), stay
//                     loaded and unattached). struct_ops maps are created but
//                     never attached: that is AttachScheduler's job. The step
//                     fails when a `run` program does not exist (checked in the
//                     guest: the host does not open the object), when its run
//                     fails or returns non-zero, or when an attach fails. The
//                     object stays loaded, maps and contents included, until
//                     the guest powers off, so later captures and commands
//                     (bpftool) see it.
//   Sleep             duration: duration. Shorthand: `- Sleep: 500ms`
//   CaptureSnapshot   name: snapshot name (unique). Shorthand: `- CaptureSnapshot: before`
//                     every: duration (>= kMinSeriesPeriodMs), count: 2..kMaxCaptures
//                     (both or neither): a series, `count` captures named
//                     NAME.1 .. NAME.count taken every `every` in the
//                     background while later steps run (kvm/plan.h);
//                     series("NAME") lists them in assertions.
//   WatchSnapshot     name: snapshot name (unique), captured when the watch fires
//                     symbol: kernel or BPF symbol to watch: a /proc/kallsyms
//                     name, or a global variable of a loaded BPF object (its
//                     .bss/.data/.rodata/.kconfig maps), written `var` or
//                     `obj.var` (obj: the object's map-name prefix, e.g.
//                     ktest_sc.nr_enqueued for map ktest_sc.bss). A name
//                     without a '.' that kallsyms has is the kernel's; else
//                     the BPF globals are looked up first, then kallsyms
//                     (foo.isra.0). `var` held by two objects is an error
//                     listing the `obj.var` candidates. Resolved when the
//                     step runs, so the object must be loaded by then.
//                     access: write (default) | read | rw
//                     len: bytes watched: 1, 2, 4 or 8 (default 8), from the
//                     symbol's address, naturally aligned; on a BPF global it
//                     must fit in the variable. Watches are one-shot; under
//                     KVM at most 4 are armed at a time (debug registers)
//
// ASSERTIONS: each item is an expression string, or a mapping
//   {expr: "...", name: "...", message: "..."}; expr is required, name
//   defaults to the expression text, message is printed when it fails.
//   The expression language is specified in dsl/expr.h. Every snapshot an
//   assertion names (snapshot("s"), @s) must be captured by a step, every
//   workload (pid("w"), pids("w")) spawned by one; an assertion that uses
//   the default snapshot needs at least one capture.
//
// VALIDATION reports, each at file:line:col with a hint where one helps:
// YAML syntax errors (loading stops there: yaml-cpp cannot go on); unknown
// keys and ops (hint: the nearest valid name); duplicate keys, which YAML
// would otherwise merge silently; wrong types and out-of-range numbers;
// durations and sizes without a unit; a step item holding two ops;
// missing required fields; duplicate snapshot or workload names,
// LoadBpf labels or vm.tools entries; a vm.tools entry or scheduler
// command program that is neither a bare name nor an absolute path; a
// scheduler with both or neither of object and command; a Kill
// before its Spawn or of a workload never spawned; spawn cpus >= vm.cpus;
// a vm.topology whose product is not vm.cpus; vm.numa cpu lists that
// overlap, miss a cpu or name one >= vm.cpus, node memory that does not
// sum to vm.memory; a vm.cpu_model that is not a model name;
// Attach while attached, Replace/Detach with none attached; assertion
// syntax errors (located inside the expression, also in quoted and block
// scalars) and references to snapshots no step captures or workloads no
// step spawns.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dsl/diagnostics.h"
#include "dsl/expr.h"
#include "kvm/plan.h"
#include "util/result.h"

namespace ktest::dsl {

// Where something was written: 1-based, 0 when unknown.
struct Location {
  int line = 0;
  int col = 0;
};

// A vm.tools entry: a host program copied into the guest.
struct VmTool {
  std::string program;  // as written: a bare name (host $PATH) or an absolute path
  Location loc;
};

// vm.topology: sockets * cores * threads == cpus.
struct VmTopology {
  uint32_t sockets = 1, cores = 1, threads = 1;
  Location loc;
};

// One vm.numa entry.
struct VmNumaNode {
  std::vector<uint32_t> cpus;  // sorted
  std::string cpus_text;       // as written
  uint64_t memory_bytes = 0;
  Location loc;
};

// A vm.modules entry: a module of the guest kernel, loaded at boot.
struct VmModule {
  std::string name;  // as written: "kvm-amd" (modprobe's matching: - == _)
  Location loc;
};

// A vm.files entry: a host file or directory copied into the guest.
struct VmFile {
  std::string host;   // absolute (a relative one resolved against the scenario's directory)
  std::string guest;  // absolute; the host path unless {host, guest} said otherwise
  Location loc;
};

// Guest directories the guest mounts over at boot (and /ktest, ktest's own):
// nothing shipped in the initramfs may land there.
inline const char* const kGuestOwnedDirs[] = {"/tmp/", "/proc/", "/sys/", "/dev/", "/run/", "/ktest/"};

// The kGuestOwnedDirs entry `path` is or lies in, without its trailing
// slash ("/tmp"); nullopt for any other path.
inline std::optional<std::string> guest_owned_dir(std::string_view path) {
  for (std::string_view dir : kGuestOwnedDirs) {
    std::string_view bare = dir.substr(0, dir.size() - 1);
    if (path.starts_with(dir) || path == bare) return std::string(bare);
  }
  return std::nullopt;
}

struct VmConfig {
  uint32_t cpus = 2;
  uint64_t memory_bytes = 512ull << 20;
  // Whether the scenario decided cpus / memory (itself, or by vm.topology /
  // vm.numa): ktest.toml's [vm] values apply only where it did not.
  bool cpus_written = false;
  bool memory_written = false;
  std::chrono::nanoseconds timeout = std::chrono::seconds(60);
  std::vector<VmTool> tools;
  std::vector<VmModule> modules;
  std::vector<VmFile> files;
  std::optional<VmTopology> topology;
  std::vector<VmNumaNode> numa;           // empty: one node
  std::optional<std::string> cpu_model;   // QEMU -cpu value (kvm::valid_cpu_model)
  Location cpu_model_loc;
};

struct KernelSpec {
  std::optional<std::string> path;     // resolved against the scenario's directory
  std::optional<std::string> version;
};

// A BPF object named by a step: where it was written and where it resolves.
struct BpfObjectRef {
  std::string object;       // as written
  std::string object_path;  // resolved against the scenario's directory
  std::string name;         // label; default: object file stem without ".bpf.o"/".o"
  Location loc;
};

inline constexpr std::chrono::nanoseconds kDefaultLoaderTimeout = std::chrono::seconds(30);
using kvm::kMaxCaptures;  // captures per scenario, a series' members each one

// A scheduler to attach: a BPF object (the BpfObjectRef fields) or a loader
// program (`command`; the object fields are then empty but `name`/`loc`).
struct SchedulerRef : BpfObjectRef {
  std::optional<std::string> ops;  // struct_ops map name; a loader: the sched_ext ops name
  std::vector<std::string> command;  // a loader's argv; empty for an object
  Location command_loc;              // of command[0], for host-side errors
  std::chrono::nanoseconds timeout = kDefaultLoaderTimeout;  // a loader's enabling bound
  bool loader() const { return !command.empty(); }
};

// A command to run in the guest: argv, with a string wrapped in /bin/sh -c.
struct Command {
  std::vector<std::string> argv;
  std::string text;  // as written (the string, or the list joined by spaces)
};

struct AttachScheduler { SchedulerRef scheduler; };
struct ReplaceScheduler { SchedulerRef scheduler; };
struct DetachScheduler {};
struct Spawn {
  std::string name;
  Command command;
  uint32_t count = 1;
  std::vector<uint32_t> cpus;  // empty: every cpu
  std::string cpus_text;       // as written, "" when absent
  int nice = 0;
};
struct Kill {
  std::string name;
  std::string signal = "TERM";
  int signal_number = 15;
};
struct Run {
  Command command;
  int expect_exit = 0;
  std::optional<std::chrono::nanoseconds> timeout;
  std::optional<std::string> json;  // name its output is recorded under, for stats("name")
};
struct LoadBpf {
  BpfObjectRef bpf;
  std::vector<std::string> run;  // SEC("syscall") programs run after the load, in order
};
struct Sleep { std::chrono::nanoseconds duration{0}; };
struct CaptureSnapshot {
  std::string name;
  std::chrono::nanoseconds every{0};  // a series' period; count > 1
  uint32_t count = 1;
  bool series() const { return count > 1; }
};
enum class WatchAccess { Write, Read, ReadWrite };
struct WatchSnapshot {
  std::string name;
  std::string symbol;
  WatchAccess access = WatchAccess::Write;
  uint32_t len = 8;
};

using StepOp = std::variant<AttachScheduler, ReplaceScheduler, DetachScheduler, Spawn, Kill, Run,
                            Sleep, CaptureSnapshot, WatchSnapshot, LoadBpf>;

struct Step {
  StepOp op;
  Location loc;  // the op's key
};

struct Assertion {
  std::string name;     // default: the expression text
  std::string text;     // the expression as written
  std::string message;  // "" when none
  ExprPtr expr;         // parsed at load time, never null in a loaded Scenario
  Location loc;         // start of the expression in the file
};

// expect_scheduler_exit: the exits a scenario expects.
struct ExpectedExit {
  std::vector<std::string> kinds;  // SCX_EXIT_* names, "any", "any_error"
  Location loc;
  // Whether an exit of kind `name` (number `value`) is one of them.
  bool matches(std::string_view name, int64_t value) const;
  std::string text() const;  // "SCX_EXIT_ERROR or SCX_EXIT_ERROR_BPF"
};

struct Scenario {
  std::string file;  // as given to the loader
  std::string dir;   // directory relative paths resolve against
  std::string name;
  std::string description;
  VmConfig vm;
  KernelSpec kernel;
  std::optional<SchedulerRef> scheduler;
  std::vector<Step> steps;
  std::vector<Assertion> assertions;
  std::optional<ExpectedExit> expect_scheduler_exit;

  // Snapshot names in step order (CaptureSnapshot and WatchSnapshot; a
  // series' members, NAME.1 ...).
  std::vector<std::string> snapshot_names() const;
  // Series names (CaptureSnapshot with a count) in step order.
  std::vector<std::string> series_names() const;
  // Workload names in step order.
  std::vector<std::string> workload_names() const;
};

const char* step_op_name(const StepOp& op);  // "Spawn", ...
const char* watch_access_name(WatchAccess access);  // "write", "read", "rw"

struct ScenarioLoad {
  std::optional<Scenario> scenario;     // set iff no Error diagnostic
  std::vector<Diagnostic> diagnostics;  // errors, or warnings only on success
  bool ok() const { return scenario.has_value(); }
};

ScenarioLoad load_scenario_file(const std::string& path);

// `file` names the text in diagnostics; relative paths resolve against `dir`.
ScenarioLoad load_scenario_text(const std::string& text, const std::string& file,
                                const std::string& dir = ".");

// One assertion's result, for the reporters (text/JSON/JUnit/TAP).
struct AssertionResult {
  std::string name;
  std::string text;     // the expression
  std::string message;  // the scenario's message for this assertion ("" when none)
  Location loc;
  EvalOutcome outcome;
  bool passed() const { return outcome.verdict == Verdict::Pass; }
  // "name: FAIL" block: explain(outcome) plus the message; "" when passed.
  std::string explanation() const;
};

// Evaluates every assertion of `scenario` against `ctx`, in order.
// ctx.nr_cpus defaults to scenario.vm.cpus when 0.
std::vector<AssertionResult> check_assertions(const Scenario& scenario, EvalContext ctx);

// Unit parsers shared with the command line. Errors carry a hint
// ("add a unit: 30s").
Result<std::chrono::nanoseconds> parse_duration(const std::string& text);
Result<uint64_t> parse_size(const std::string& text);
// "0-1,3" -> {0, 1, 3}; sorted, duplicates rejected.
Result<std::vector<uint32_t>> parse_cpu_list(const std::string& text);
std::string format_duration(std::chrono::nanoseconds d);  // "1.5s", "500ms"

}  // namespace ktest::dsl
