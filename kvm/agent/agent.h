// The guest agent: ktest's /init inside the test VM.
//
// Contract: run as PID 1 from the initramfs, the agent mounts the kernel
// filesystems (proc, sysfs, devtmpfs, tmpfs on /tmp and /run, bpffs, cgroup2,
// debugfs, tracefs), links /var/run to /run, lifts RLIMIT_MEMLOCK and
// raises RLIMIT_NOFILE to kGuestMaxOpenFiles for everything it starts
// (upstream BPF loaders expect both), links /boot/config-$(uname -r) to
// kvm::kKernelConfigGuestPath when the host shipped the kernel's config
// (libbpf reads it for __kconfig externs), loads the plan's kernel modules
// (before the first step; a refusal ends the run), opens the control channel (virtio-serial port "ktest.ctl",
// falling back to the console), sends hello and kallsyms, executes
// /ktest/plan.json step by step (semantics in kvm/plan.h) reporting each
// step (kvm/control_protocol.h), then kills its workloads, detaches the
// scheduler, syncs and powers off. Every wait is bounded; a failure is
// reported, never waited out. If the agent itself dies, the kernel panics
// ("Attempted to kill init"), which the host sees as the VM ending early.
// `ktest-agent --workload spin|yield|sleep [comm]` runs a built-in workload
// (the agent re-executes itself for Spawn argv[0] "@spin" etc., passing the
// Spawn name as comm).
#pragma once

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kvm/control_protocol.h"
#include "kvm/plan.h"
#include "util/result.h"

// libbpf's handles (bpf/libbpf.h), named here without including it.
struct bpf_object;
struct bpf_link;

namespace ktest::agent {

inline constexpr std::string_view kAgentVersion = "0.1.0";

using Clock = std::chrono::steady_clock;

// --- system.cpp: PID-1 duties ------------------------------------------------
void mount_kernel_filesystems();  // best effort; failures are logged to the console
inline constexpr unsigned long kGuestMaxOpenFiles = 65536;
void prepare_userspace();         // /var/run, resource limits (see the top); best effort
void attach_console();            // stdin/stdout/stderr on /dev/console
// --- modules.cpp ---
// finit_module() of each path in order (compressed ones decompressed by the
// kernel); one already loaded is fine; the first refusal is the error, with
// the kernel's log lines.
Status load_modules(const std::vector<std::string>& paths);
[[noreturn]] void power_off();    // sync, then RB_POWER_OFF (RB_AUTOBOOT as fallback)
// The whole file, an error past max_bytes; with `head`, its first max_bytes.
Result<std::string> read_text_file(const std::string& path, std::size_t max_bytes, bool head = false);
std::string trim(std::string s);
void console_log(std::string_view text);  // "ktest-agent [<boot s>]: <text>" on stderr

// --- channel.cpp: the control channel -----------------------------------------
class Channel {
 public:
  // Finds the "ktest.ctl" port within `wait`; without it, messages go to
  // the console prefixed with "KTEST-CTL " so a host can still scrape them.
  static Channel open(std::chrono::milliseconds wait);
  void send(const kvm::control::Message& m);
  // The host's lines since the last call (non-blocking; only a shell's
  // terminal resizes come this way: kvm::control::resize_line()).
  std::vector<std::string> read_lines();
  bool is_port() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

 private:
  static constexpr std::size_t kMaxInboundBytes = 4096;
  int fd_ = -1;
  std::string path_;
  std::string inbound_;
};

// --- process.cpp: workloads and commands ----------------------------------------
struct RunOutcome {
  bool exited = false;     // else signalled, or still running at the deadline
  bool timed_out = false;
  int exit_code = 0;
  int signal = 0;
  std::string output;        // stdout+stderr, the first kMaxRunOutputBytes
  uint64_t output_dropped = 0;  // bytes after those
  std::string output_tail;   // last kOutputTailBytes of stdout+stderr
  bool interrupted = false;  // `interrupt` said stop: the command was killed
};
inline constexpr std::size_t kOutputTailBytes = 4096;

// Starts argv (see plan.h for "@workload" and single-string shell forms)
// in its own process group with the given affinity and nice value; a
// built-in workload takes `name` as its comm. The program is looked up on
// the guest's PATH (/usr/sbin:/usr/bin:/sbin:/bin, where vm.tools land),
// then among busybox's applets. It fails at once, naming the program and
// the errno ("cannot run 'foo': No such file or directory", with the
// vm.tools hint), when the child cannot become the program: the child
// reports a failed setup or execve over a close-on-exec pipe.
Result<int> spawn_process(const std::vector<std::string>& argv, const std::vector<uint32_t>& cpus,
                          int nice, int output_fd, const std::string& name);
// While it waits (every ~20 ms) it asks `interrupt`, when given, whether to
// give up: then it kills the command and returns with `interrupted` set.
Result<RunOutcome> run_process(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout,
                               const std::function<bool()>& interrupt = {});
// "command not found in the guest: add it to vm.tools".
const char* tools_hint();
// "exited with 3", "killed by signal 9", "timed out".
std::string outcome_summary(const RunOutcome& r);
// SIGKILLs the process groups and reaps them within `wait`.
void kill_processes(const std::vector<int>& pids, std::chrono::milliseconds wait);
// PID 1 adopts orphans: collect any that exited, except `keep` (a loader
// whose exit status the scheduler slot collects itself).
void reap_zombies(int keep = -1);
[[noreturn]] void run_builtin_workload(std::string_view kind, const std::string& name);

// --- bpf_object.cpp: libbpf objects, shared by schedulers and LoadBpf ---------------
// While alive, libbpf's messages (the verifier log among them) go to `sink`,
// which keeps the last kMaxDetailTextBytes or so.
class LibbpfLog {
 public:
  explicit LibbpfLog(std::string& sink);
  ~LibbpfLog();
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;
};
// bpf_object__open_file; "opening <path>: <errno>" on failure.
Result<struct bpf_object*> open_bpf_object(const std::string& path);
// bpf_object__load; "loading <path>: <errno>" on failure (the caller closes).
Status load_bpf_object(struct bpf_object* object, const std::string& path);

struct LoadReport {
  std::string verifier_log;  // libbpf and verifier messages, kept on failure
  std::vector<std::string> attached;              // programs given a link
  std::vector<kvm::control::ProgramRun> ran;      // `run` programs, in order
};
// LoadBpf (semantics in kvm/plan.h). A failed load leaves nothing behind.
// There is no destructor on purpose: the objects and links stay until the
// guest powers off, because later captures read their maps, and closing an
// object frees its maps while a test may still be inspecting them.
class LoadedObjects {
 public:
  Status load(const kvm::LoadBpf& step, LoadReport& report);

 private:
  std::vector<struct bpf_object*> objects_;
  std::vector<struct bpf_link*> links_;
};

// --- kmsg.cpp: the kernel log since a point in time ---------------------------------
inline constexpr std::size_t kMaxKmsgRecords = 65536;   // read() calls per read_new()
inline constexpr std::size_t kMaxKmsgKept = 256;        // messages read_new() returns
inline constexpr std::size_t kMaxKmsgTextBytes = 4096;  // sched_ext_lines() result
// The text of one /dev/kmsg record line "<prio>,<seq>,<usec>,<flags>[,...];<text>"
// with the kernel's "\xNN" escapes decoded; nullopt for anything else (the
// " KEY=value" continuation lines among them).
std::optional<std::string> kmsg_record_text(std::string_view line);
// Reads the records logged after open(). Non-blocking and bounded: each
// read_new() does at most kMaxKmsgRecords reads and keeps the newest
// kMaxKmsgKept messages; records the kernel overwrote before they were read
// are skipped. A reader that could not open reads as empty.
class KmsgReader {
 public:
  KmsgReader() = default;
  KmsgReader(const KmsgReader&) = delete;
  KmsgReader& operator=(const KmsgReader&) = delete;
  ~KmsgReader();
  // (Re)opens `path` O_NONBLOCK and seeks to its end.
  Status open(const std::string& path = "/dev/kmsg");
  void close();
  // The messages of the records that arrived since open() or the last call.
  std::vector<std::string> read_new();

 private:
  int fd_ = -1;
  std::string pending_;  // a partial line (plain files only)
};
// The messages starting "sched_ext:", joined with "; " (at most about
// kMaxKmsgTextBytes); "" when there are none.
std::string sched_ext_lines(const std::vector<std::string>& messages);

// --- scheduler.cpp (objects) + loader.cpp (loader programs): sched_ext -------------
// Two forms behind one slot (kvm/plan.h): a BPF object the agent loads and
// attaches with libbpf, or a loader program that does so itself.
// Failures carry the kernel's "sched_ext:" log lines (read from /dev/kmsg,
// from just before the attach): a refused attach, and a scheduler that is
// "disabling" or "disabled" right after its link was created, which ends
// the wait for "enabled" at once.
struct SchedulerReport {
  std::string verifier_log;  // libbpf and verifier messages, kept on failure
  std::string state;         // /sys/kernel/sched_ext/state after the operation
  std::string ops;           // /sys/kernel/sched_ext/root/ops after the operation
  // A loader the operation stopped (or that failed to enable): how it
  // ended and what it wrote, under the name "scheduler-<name>".
  std::optional<RunOutcome> loader;
  std::string loader_output_name;
};
class SchedulerSlot {
 public:
  SchedulerSlot() = default;
  SchedulerSlot(const SchedulerSlot&) = delete;
  SchedulerSlot& operator=(const SchedulerSlot&) = delete;
  ~SchedulerSlot() { release(); }
  // Fails when a live scheduler is attached; one that exited is released.
  // `timeout` bounds the object form; a loader waits spec.timeout_ms.
  Status attach(const kvm::SchedulerSpec& spec, SchedulerReport& report,
                std::chrono::milliseconds timeout);
  // Fails when nothing is attached or sched_ext does not reach "disabled";
  // a scheduler that already exited is released and detach() succeeds. A
  // loader is stopped (SIGINT, SIGKILL after kvm::kLoaderGraceMs) and its
  // output handed over in `report`.
  Status detach(SchedulerReport& report, std::chrono::milliseconds timeout);
  bool attached() const { return object_ != nullptr || loader_.pid > 0; }
  // Once per attached scheduler that left "enabled" ("disabling" or
  // "disabled") without detach(): "the scheduler \"<ops>\" exited: <the
  // kernel's sched_ext lines>", after waiting up to `settle` for
  // "disabled" (the kernel logs why before it gets there). nullopt while it
  // runs, when nothing is attached, and once the exit was returned. The
  // dead scheduler's object (its maps) stays until detach() or attach().
  // A loader's scheduler has exited too when the loader process ended: the
  // text then gives its exit status and output tail.
  std::optional<std::string> check_exit(std::chrono::milliseconds settle);
  bool exited() const { return exited_; }
  int loader_pid() const { return loader_.pid; }  // -1 without a loader

 private:
  // A running loader program (loader.cpp).
  struct Loader {
    int pid = -1;             // its process group too; -1: none
    std::string name;         // the step's label
    std::string output_path;  // its stdout+stderr (a file on the guest's /tmp)
    std::optional<int> wait_status;  // once reaped
  };
  Status attach_object(const std::string& object, const std::string* ops, SchedulerReport& report,
                       std::chrono::milliseconds timeout);
  Status attach_loader(const kvm::SchedulerSpec& spec, SchedulerReport& report);
  // SIGINT, SIGKILL after the grace period, reap; the outcome and output
  // into `report`; the slot's loader is gone afterwards.
  void stop_loader(SchedulerReport& report);
  // Whether the loader process has ended (reaps it; never blocks).
  bool loader_ended();
  void release();  // destroys the links and the object (kills a loader) without waiting
  struct bpf_object* object_ = nullptr;
  std::vector<struct bpf_link*> links_;
  Loader loader_;
  uint32_t loaders_started_ = 0;  // names their output files
  KmsgReader kmsg_;
  std::string ops_name_;  // /sys/kernel/sched_ext/root/ops once enabled
  bool exited_ = false;
};
// How a reaped loader ended (a waitpid status) and its output file's
// head (kMaxRunOutputBytes) and tail (loader.cpp).
RunOutcome loader_outcome(int wait_status, const std::string& output_path);
// Shared by both forms (scheduler.cpp).
std::string read_scheduler_state();  // /sys/kernel/sched_ext/state, trimmed
void read_scheduler_state(SchedulerReport& report);  // state and root/ops
bool is_exiting(std::string_view state);  // "disabling" or "disabled"
// Polls until the state is one of `wanted` or the bound passes; returns the
// last state read.
std::string wait_for_state(std::initializer_list<std::string_view> wanted, std::chrono::milliseconds timeout);
// " (kernel: sched_ext: ...; sched_ext: ...)" or "".
std::string kernel_words(KmsgReader& kmsg);

// --- doorbell.cpp: the ivshmem doorbell (kvm/doorbell_abi.h) ------------------------
struct DoorbellReply {
  int32_t status = 0;
  std::string payload;
};
class Doorbell {
 public:
  Doorbell() = default;
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;
  ~Doorbell();
  // Finds and maps the device; "" device when there is none.
  Status probe();
  const std::string& device() const { return device_; }
  bool ready() const;  // the host's magic + version are in the header
  // One request in flight: a series' thread and the steps take turns, each
  // waiting for the other within its own timeout. Thread-safe.
  Result<DoorbellReply> request(uint32_t kind, std::string_view payload,
                                std::chrono::milliseconds timeout);

 private:
  std::string device_;
  void* registers_ = nullptr;
  std::size_t registers_size_ = 0;
  void* shared_ = nullptr;
  std::size_t shared_size_ = 0;
  uint64_t serial_ = 0;
  std::timed_mutex in_flight_;
};

// An error when the host answered a request with ReplyStatus::Error.
Status host_accepted(const DoorbellReply& reply);

// --- series.cpp: a CaptureSnapshot series (kvm/plan.h) ------------------------------
// Rings the doorbell `count` times, every `every_ms`, on a thread of its
// own; a capture that runs late delays the next one. Each capture waits
// for the doorbell at most `capture_timeout`.
class CaptureSeries {
 public:
  CaptureSeries(Doorbell& doorbell, kvm::CaptureSnapshot spec, std::chrono::milliseconds capture_timeout);
  CaptureSeries(const CaptureSeries&) = delete;
  CaptureSeries& operator=(const CaptureSeries&) = delete;
  // Destroying it cancels and joins (the jthread, destroyed first).
  const std::string& name() const { return spec_.name; }
  // Waits for the series to end (`cancel`: ends it before its next
  // capture) and says what went wrong: a failed capture each, and the
  // captures a cancel left out. Empty when all `count` were taken.
  std::vector<std::string> finish(bool cancel);

 private:
  void run(std::stop_token stop);

  Doorbell& doorbell_;
  const kvm::CaptureSnapshot spec_;
  const std::chrono::milliseconds capture_timeout_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  uint32_t taken_ = 0;              // captures attempted (under mutex_)
  std::vector<std::string> problems_;  // under mutex_
  std::jthread thread_;  // last: started once the rest is built
};

// --- shell.cpp: the interactive phase (PlanSettings::offer_shell) -------------------
// What the host said about the person's terminal (doorbell Shell reply).
struct ShellTerminal {
  uint16_t rows = 0, cols = 0;  // 0: leave the tty's size alone
  std::string term;             // $TERM; "" → vt100
  std::string banner;           // printed on the terminal before the prompt
};
// Forks an interactive shell (bash when vm.tools has one, else busybox sh)
// as a session leader on the terminal port's tty (/dev/hvc0): job control,
// ^C to its foreground job, the host's window size and $TERM.
Result<int> start_shell(const ShellTerminal& terminal);
// The host's terminal changed size: so does the shell's tty.
void resize_terminal(uint16_t rows, uint16_t cols);

// The guest's ktest-* commands reach the agent here, one step per connection.
inline constexpr const char* kGuestCommandSocket = "/run/ktest/agent.sock";
inline constexpr std::size_t kMaxGuestCommandBytes = 64 * 1024;
class CommandServer {
 public:
  struct Request {
    int fd = -1;       // the client's connection, closed by answer()
    std::string text;  // its request: one plan step as JSON (kvm::step_from_json)
  };
  CommandServer() = default;
  CommandServer(const CommandServer&) = delete;
  CommandServer& operator=(const CommandServer&) = delete;
  ~CommandServer();
  Status open();
  // The next request within `wait`; a client that sends nothing within a
  // second is dropped.
  std::optional<Request> next(std::chrono::milliseconds wait);
  // "ok TEXT" or "error TEXT" to the client, then closes its connection.
  void answer(Request& request, bool ok, const std::string& text);

 private:
  int fd_ = -1;
};

// --- guest_commands.cpp: ktest-capture, ktest-watch, ktest-attach, ktest-detach ----
// The agent binary is also these commands (the initramfs links them to
// /init): main() dispatches on argv[0]'s name. Exit 0 done, 1 the step
// failed (the agent's reason on stderr), 2 usage or no agent listening.
bool is_guest_command(std::string_view name);
int guest_command_main(int argc, char** argv);

// --- executor.cpp: the plan ----------------------------------------------------------
// Runs the plan and reports over `channel`; returns whether every step succeeded.
// The attached scheduler is watched after every step and every ~20 ms while
// Sleep and Run wait: when it exits unplanned (SchedulerSlot::check_exit),
// the step in progress fails at once with the exit text, unless the plan's
// settings say scheduler_exit_expected, which only logs it.
bool execute_plan(const kvm::Plan& plan, Channel& channel, Doorbell& doorbell);

}  // namespace ktest::agent
