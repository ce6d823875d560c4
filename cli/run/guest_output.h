// What a running guest sends besides step results, kept within fixed
// bounds whatever the guest does.
//
// Contract:
// - Each Run step's output (step_output messages, kvm/control_protocol.h)
//   is saved atomically to <scenario_dir>/output/step-<N>.log, N being the
//   step's number as progress lines and reports show it ("step N/M": the
//   agent's plan index + 1, counting the implicit AttachScheduler of a
//   top-level `scheduler`). A step keeps at most
//   kMaxRunOutputBytes; past that, or when the stream was broken, the file
//   ends with "[ktest: ...]" lines that say so. Files stop being written
//   once a run has saved kMaxSavedOutputBytes, with a note.
//   A loader scheduler's output (step details.output_name
//   "scheduler-<name>") is saved as output/scheduler-<name>.log instead
//   (characters other than [A-Za-z0-9._-] become '_'); a name saved
//   before gets "-step-<N>" added.
// - The agent's log messages: the first kMaxAgentLogs (and at most
//   kMaxAgentLogBytes) are kept, shown as progress and saved to
//   <scenario_dir>/agent.log, which ends with how many were dropped.
// - Notes (problems worth reporting with the scenario) are capped at
//   kMaxNotes; the rest are counted.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "kvm/control_protocol.h"

namespace ktest::cli {

inline constexpr std::size_t kMaxSavedOutputBytes = 256u << 20;  // per scenario run
inline constexpr std::size_t kMaxAgentLogs = 1000;
inline constexpr std::size_t kMaxAgentLogBytes = 1u << 20;
inline constexpr std::size_t kMaxNotes = 100;

class Notes {
 public:
  void add(std::string note);
  bool empty() const { return notes_.empty(); }
  // One string per note, then "(N more notes dropped)" when some were.
  std::vector<std::string> lines() const;

 private:
  std::vector<std::string> notes_;
  std::size_t dropped_ = 0;
};

class GuestOutput {
 public:
  GuestOutput(std::string scenario_dir, Notes& notes, std::size_t max_saved_bytes = kMaxSavedOutputBytes)
      : dir_(std::move(scenario_dir)), notes_(notes), max_saved_bytes_(max_saved_bytes) {}

  void step_started(uint32_t index) { assembler_.start(index); }
  void output_chunk(const kvm::control::StepOutput& chunk);
  // Saves the step's output when it had one; returns the file's path, "" when none.
  // `received`, when given, gets the bytes the guest sent, whole: empty when
  // the stream had problems (a Run step's `json:` is read from them).
  std::string step_finished(const kvm::control::StepFinished& finished, std::string* received = nullptr);

  // True when the message is kept (the caller shows it).
  bool log(const std::string& text);
  // Writes agent.log (when the agent logged anything).
  void finish();

 private:
  std::string output_file_name(const kvm::control::StepFinished& finished);

  std::string dir_;
  Notes& notes_;
  std::set<std::string> used_names_;  // named output files saved so far
  std::size_t max_saved_bytes_;
  kvm::control::OutputAssembler assembler_;
  uint64_t saved_bytes_ = 0;
  bool saving_stopped_ = false;
  std::vector<std::string> logs_;
  std::size_t log_bytes_ = 0;
  std::size_t logs_dropped_ = 0;
};

}  // namespace ktest::cli
