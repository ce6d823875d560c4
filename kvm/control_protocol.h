// The agent → host control channel: newline-delimited JSON messages.
//
// Contract: the guest agent writes one JSON object per line ("\n"-terminated,
// at most kMaxLineBytes) to the virtio-serial port named kControlPortName;
// the host reads the port's byte stream. encode() produces such a line;
// LineSplitter + decode_message() turn an arbitrary, possibly hostile byte
// stream back into messages without ever allocating more than the stated
// bounds (an over-long line is an error, not a buffer that grows).
// Every message has "type"; the order on the wire is:
//   hello, kallsyms_chunk*, kallsyms_end, (step_started, workload*,
//   log*, step_output*, step_finished)*, done
// `log` may appear anywhere.
// A Run step's stdout+stderr travels as step_output messages before its
// step_finished: the first kMaxRunOutputBytes bytes, base64-encoded (any
// bytes survive, NUL and invalid UTF-8 included), kOutputChunkBytes per
// chunk, seq counting from 0; step_finished's details say how many bytes
// were sent (output_bytes) and how many the agent dropped past the cap
// (output_dropped). A loader scheduler's output (kvm/plan.h) travels the
// same way with the step that stopped it, details.output_name saying whose
// it is. OutputAssembler is the host's bounded reader; its
// messages number steps from 1 (index + 1), as reports do.
// kallsyms is sent once: /proc/kallsyms compressed
// as one zstd frame, base64-encoded, split into chunks of at most
// kKallsymsChunkChars characters; KallsymsAssembler checks order and sizes,
// decompresses (bounded by kMaxKallsymsBytes) and parses the symbol table.
// Host → agent: only while the agent runs a person's shell (kvm/plan.h
// offer_shell), the terminal's new size as resize_line(); the agent
// ignores any other line.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "util/result.h"
#include "util/zstd_frame.h"

namespace ktest::kvm::control {

inline constexpr std::string_view kControlPortName = "ktest.ctl";
inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr std::size_t kMaxLineBytes = 256 * 1024;
inline constexpr std::size_t kKallsymsChunkChars = 48 * 1024;
inline constexpr std::size_t kMaxKallsymsChunks = 4096;
inline constexpr std::size_t kMaxKallsymsBytes = 64u << 20;   // decompressed
inline constexpr std::size_t kMaxSymbols = 2'000'000;
inline constexpr std::size_t kMaxSymbolNameBytes = 512;
inline constexpr std::size_t kMaxDetailTextBytes = 64 * 1024;  // verifier log, output tail
inline constexpr std::size_t kMaxPids = 4096;
inline constexpr std::size_t kMaxRunOutputBytes = 16u << 20;  // per Run step, agent and host
inline constexpr std::size_t kOutputChunkBytes = 96 * 1024;   // raw bytes per step_output
inline constexpr std::size_t kOutputChunkChars = kOutputChunkBytes / 3 * 4;  // its base64 text
inline constexpr std::size_t kMaxOutputChunks =
    (kMaxRunOutputBytes + kOutputChunkBytes - 1) / kOutputChunkBytes;
inline constexpr std::size_t kMaxProgramNames = 256;      // LoadBpf: attached / ran lists
inline constexpr std::size_t kMaxProgramNameBytes = 256;
inline constexpr std::string_view kKallsymsEncoding = "zstd+base64";

struct Hello {
  std::string agent_version;
  uint32_t protocol = kProtocolVersion;
  std::string kernel_release;
  uint64_t text_address = 0;  // _text from /proc/kallsyms; 0 when unreadable
  uint32_t nr_cpus = 0;       // online CPUs seen by the agent
  std::string doorbell_device;  // PCI address of the ivshmem device, "" when absent
  bool doorbell_ready = false;  // its shared memory carries the host's header magic
  bool operator==(const Hello&) const = default;
};
struct KallsymsChunk {
  uint32_t seq = 0;
  std::string data;  // base64 text
  bool operator==(const KallsymsChunk&) const = default;
};
struct KallsymsEnd {
  uint32_t chunks = 0;
  uint64_t raw_bytes = 0;         // size of /proc/kallsyms text
  uint64_t compressed_bytes = 0;  // size of the zstd frame
  std::string encoding = std::string(kKallsymsEncoding);
  std::string error;  // non-empty: the agent could not read kallsyms
  bool operator==(const KallsymsEnd&) const = default;
};
struct StepStarted {
  uint32_t index = 0;
  std::string op;
  bool operator==(const StepStarted&) const = default;
};
// One program a LoadBpf step ran, and what it returned.
struct ProgramRun {
  std::string name;
  int32_t retval = 0;
  bool operator==(const ProgramRun&) const = default;
};
// Step-specific results; only the fields that apply to the op are set.
struct StepDetails {
  std::string verifier_log;         // Attach/Replace failure: libbpf + verifier output tail
  std::string scheduler_state;      // Attach/Replace/Detach: /sys/kernel/sched_ext/state
  std::string scheduler_ops;        // ... and root/ops (the attached ops name)
  std::vector<int32_t> pids;        // Spawn
  std::optional<int32_t> exit_code; // Run: exit status, when it exited
  std::optional<int32_t> signal;    // Run: terminating signal, when signalled
  std::string output_tail;          // Run: last bytes of stdout+stderr
  std::optional<int32_t> reply_status;  // Capture/Watch: doorbell ReplyStatus
  std::string reply_text;               // Capture/Watch: reply payload
  std::vector<std::string> programs_attached;  // LoadBpf: programs with a link, in object order
  std::vector<ProgramRun> programs_run;        // LoadBpf: the `run` programs that ran, in order
  std::optional<uint64_t> output_bytes;  // Run: bytes sent as step_output (set for every Run)
  uint64_t output_dropped = 0;           // Run: bytes past kMaxRunOutputBytes, not sent
  // Whose output the step's step_output is when not the step's own command:
  // "scheduler-<name>" for a loader scheduler's (Attach/Replace/Detach);
  // "" for a Run step. At most kMaxProgramNameBytes.
  std::string output_name;
  bool operator==(const StepDetails&) const = default;
};
struct StepFinished {
  uint32_t index = 0;
  std::string op;
  bool ok = false;
  std::string error;  // "" when ok
  uint64_t duration_ms = 0;
  StepDetails details;
  bool operator==(const StepFinished&) const = default;
};
struct StepOutput {
  uint32_t index = 0;  // the step it belongs to
  uint32_t seq = 0;    // 0, 1, ... within the step
  std::string data;    // base64 of at most kOutputChunkBytes bytes
  bool operator==(const StepOutput&) const = default;
};
struct Workload {
  std::string name;
  std::vector<int32_t> pids;
  bool operator==(const Workload&) const = default;
};
struct Log {
  std::string text;
  bool operator==(const Log&) const = default;
};
struct Done {
  bool ok = false;
  uint32_t steps_run = 0;
  std::string error;  // first failure, "" when ok
  bool operator==(const Done&) const = default;
};

using Message = std::variant<Hello, KallsymsChunk, KallsymsEnd, StepStarted, StepFinished,
                             Workload, Log, Done, StepOutput>;

std::string_view message_type(const Message& m);

// Host → agent: {"type":"resize","rows":R,"cols":C}\n; parse_resize() is
// the agent's total reader of it (nullopt for anything else).
struct Resize {
  uint16_t rows = 0, cols = 0;
};
std::string resize_line(Resize size);
std::optional<Resize> parse_resize(std::string_view line);

// One line: compact JSON + "\n". Over-long text fields are truncated (their
// tail kept) so the line stays under kMaxLineBytes.
std::string encode(const Message& m);

// Parses one line (without its "\n"). Rejects unknown types, missing or
// ill-typed fields and lines over kMaxLineBytes.
Result<Message> decode_message(std::string_view line);

// Splits a byte stream into lines with a hard cap. feed() appends bytes and
// returns the complete lines; a line longer than kMaxLineBytes is dropped and
// reported as an error once (then the splitter resyncs at the next "\n").
class LineSplitter {
 public:
  struct Output {
    std::vector<std::string> lines;
    std::vector<std::string> errors;
  };
  Output feed(std::string_view bytes);
  // The unterminated remainder, when the stream ended mid-line.
  const std::string& pending() const { return pending_; }

 private:
  std::string pending_;
  bool discarding_ = false;
};

struct KernelSymbol {
  uint64_t address = 0;
  char type = '?';
  std::string name;
  std::string module;  // "" for vmlinux, else the [module] name ("bpf" for BPF programs)
};

// Where an address lies: in `symbol`, `offset` bytes in; `size` is the
// distance to the next higher symbol address (how kallsyms sizes symbols).
struct SymbolHit {
  const KernelSymbol* symbol = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;
};
// A symbol "spanning" more than this is a gap between symbols, not code.
inline constexpr uint64_t kMaxSymbolSpan = 1u << 20;

class SymbolTable {
 public:
  // Parses /proc/kallsyms text; malformed lines fail with their line number.
  static Result<SymbolTable> parse(std::string_view text);
  const std::vector<KernelSymbol>& symbols() const { return symbols_; }
  // First symbol with this name (vmlinux symbols before module ones).
  const KernelSymbol* find(std::string_view name) const;
  // The symbol holding `address` (a binary search): the highest one at or
  // below it. nullopt below the first symbol, at or past the last address
  // (its size is unknown) and inside a gap wider than kMaxSymbolSpan.
  // Among symbols sharing an address, text symbols and vmlinux win.
  std::optional<SymbolHit> lookup(uint64_t address) const;
  // The address as printk's %pS prints it: "name+0xoff/0xsize", with
  // " [module]" for module symbols (not for BPF programs); "0x<hex>" when
  // lookup() finds nothing.
  std::string symbolize(uint64_t address) const;

 private:
  void index_names();      // by parse(), once symbols_ is complete
  void index_addresses();  // likewise

  std::vector<KernelSymbol> symbols_;
  // symbols_ by the hash of their names; within one hash, vmlinux before
  // modules, then file order. Sorted integers, not a map of names: a map
  // made ~200000 nodes and name copies, and sorting by the names themselves
  // compared strings millions of times, on every run's boot path.
  struct NameKey {
    uint64_t hash;
    uint32_t index;
  };
  std::vector<NameKey> by_name_;
  std::vector<uint32_t> by_address_;  // indices into symbols_; address 0 left out
};

// Collects kallsyms_chunk messages in order and produces the table at
// kallsyms_end. Every size comes from the guest and is checked.
class KallsymsAssembler {
 public:
  Status add(const KallsymsChunk& chunk);
  // The table; with `frame`, also the zstd frame it came in (to keep).
  Result<SymbolTable> finish(const KallsymsEnd& end, std::string* frame = nullptr);

 private:
  std::string base64_;
  uint32_t next_seq_ = 0;
};

// Collects the step_output chunks of the running step (host side). Every
// index, seq and size comes from the guest and is checked: a chunk for
// another step, out of order, past kMaxOutputChunks or over
// kOutputChunkBytes is dropped and the output marked incomplete; bytes past
// kMaxRunOutputBytes are counted, never kept. Memory stays under
// kMaxRunOutputBytes plus one chunk whatever the guest sends.
class OutputAssembler {
 public:
  struct Output {
    std::string bytes;
    uint64_t dropped = 0;               // past the cap: the agent's and the host's
    std::vector<std::string> problems;  // why `bytes` may be incomplete (at most a few)
    // What the host saves: the bytes, then one "[ktest: ...]" line for the
    // dropped bytes and one per problem.
    std::string file_content() const;
  };
  // step_started: forgets whatever the previous step left.
  void start(uint32_t index);
  // Fails (and drops the chunk) only when it is not the running step's: a
  // problem within the step's stream goes to its Output instead.
  Status add(const StepOutput& chunk);
  // step_finished: the step's output, checked against the sizes the agent
  // announced in `finished.details`; the assembler is empty afterwards.
  Output finish(const StepFinished& finished);

 private:
  void problem(std::string what);
  std::optional<uint32_t> index_;
  uint32_t next_seq_ = 0;
  bool broken_ = false;  // a chunk went missing: later ones would misplace bytes
  uint64_t host_dropped_ = 0;
  std::string bytes_;
  std::vector<std::string> problems_;
  std::size_t problem_count_ = 0;
};

// The host's whole reading side in one place: feed() the channel's bytes as
// they arrive; it splits lines, decodes them, assembles kallsyms (chunks are
// consumed, not returned) and reports every problem as an error string
// instead of stopping, so one bad line never hides the rest of the run.
class ControlStream {
 public:
  struct Output {
    std::vector<Message> messages;  // in wire order, kallsyms_chunk excluded
    std::vector<std::string> errors;
  };
  Output feed(std::string_view bytes);
  // Set once kallsyms_end arrived and the table parsed.
  const std::optional<SymbolTable>& symbols() const { return symbols_; }
  // Why there is no table ("" while none was announced yet).
  const std::string& kallsyms_error() const { return kallsyms_error_; }

 private:
  LineSplitter splitter_;
  KallsymsAssembler kallsyms_;
  std::optional<SymbolTable> symbols_;
  std::string kallsyms_error_;
};

// Helpers shared by the agent (encoder side) and the host (decoder side).
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text, std::size_t max_bytes);
// "0xffffffff81000000" or "ffffffff81000000" (at most 16 hex digits).
Result<uint64_t> parse_hex_address(std::string_view text);
// Splits compressed kallsyms text into chunk messages and the end message.
std::vector<Message> kallsyms_messages(std::string_view kallsyms_text, std::string_view zstd_frame);
// The step_output messages of `bytes` for step `index`, handed to `send` one
// at a time (the agent streams them; nothing is held but the current chunk).
void for_each_output_chunk(uint32_t index, std::string_view bytes,
                           const std::function<void(const StepOutput&)>& send);

}  // namespace ktest::kvm::control
