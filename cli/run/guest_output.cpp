#include "cli/run/guest_output.h"

#include <fmt/format.h>

#include <cctype>
#include <filesystem>

#include "util/atomic_file.h"

namespace ktest::cli {

namespace fs = std::filesystem;
namespace control = kvm::control;

void Notes::add(std::string note) {
  if (notes_.size() < kMaxNotes) notes_.push_back(std::move(note));
  else ++dropped_;
}

std::vector<std::string> Notes::lines() const {
  std::vector<std::string> out = notes_;
  if (dropped_ != 0) out.push_back(fmt::format("({} more notes dropped)", dropped_));
  return out;
}

void GuestOutput::output_chunk(const control::StepOutput& chunk) {
  if (Status s = assembler_.add(chunk); !s) notes_.add("control channel: " + s.error().message);
}

std::string GuestOutput::step_finished(const control::StepFinished& finished, std::string* received) {
  auto output = assembler_.finish(finished);
  for (const auto& problem : output.problems)
    notes_.add(fmt::format("step {} output: {}", finished.index + 1, problem));
  if (received != nullptr) *received = output.problems.empty() ? output.bytes : std::string();
  if (!finished.details.output_bytes && output.bytes.empty()) return "";
  std::string content = output.file_content();
  if (saving_stopped_) return "";
  if (saved_bytes_ + content.size() > max_saved_bytes_) {
    saving_stopped_ = true;
    notes_.add(fmt::format("step output is no longer saved from step {} on: this run saved {} bytes already",
                           finished.index + 1, saved_bytes_));
    return "";
  }
  saved_bytes_ += content.size();
  fs::path dir = fs::path(dir_) / "output";
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string path = (dir / output_file_name(finished)).string();
  if (Status s = write_file_atomic(path, content); !s) {
    notes_.add("saving step output: " + s.error().to_string());
    return "";
  }
  return path;
}

std::string GuestOutput::output_file_name(const control::StepFinished& finished) {
  const std::string& name = finished.details.output_name;
  if (name.empty()) return fmt::format("step-{}.log", finished.index + 1);
  // The guest's name, made a safe file name: no '/', no leading '.'.
  std::string safe;
  for (char c : name.substr(0, 128)) {
    const bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    safe += plain ? c : '_';
  }
  if (safe.empty() || safe.front() == '.') safe.insert(0, "_");
  // The same scheduler attached twice keeps both outputs.
  std::string file = safe + ".log";
  if (!used_names_.insert(file).second) file = fmt::format("{}-step-{}.log", safe, finished.index + 1);
  return file;
}

bool GuestOutput::log(const std::string& text) {
  if (logs_.size() >= kMaxAgentLogs || log_bytes_ + text.size() > kMaxAgentLogBytes) {
    ++logs_dropped_;
    return false;
  }
  log_bytes_ += text.size();
  logs_.push_back(text);
  return true;
}

void GuestOutput::finish() {
  if (logs_.empty() && logs_dropped_ == 0) return;
  std::string content;
  for (const auto& line : logs_) content += line + "\n";
  if (logs_dropped_ != 0) {
    content += fmt::format("[ktest: {} more log messages dropped: a run keeps the first {}]\n", logs_dropped_,
                           kMaxAgentLogs);
    notes_.add(fmt::format("the agent sent {} log messages; {} were dropped after the first {} (agent.log)",
                           logs_.size() + logs_dropped_, logs_dropped_, logs_.size()));
  }
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (Status s = write_file_atomic((fs::path(dir_) / "agent.log").string(), content); !s)
    notes_.add("saving agent.log: " + s.error().to_string());
}

}  // namespace ktest::cli
