// A Run step's output on the control channel: chunking (agent side) and the
// host's bounded reassembly. Declared in kvm/control_protocol.h.
#include "kvm/control_protocol.h"

namespace ktest::kvm::control {
namespace {

// Enough to explain a broken stream; a hostile guest cannot grow the list.
constexpr std::size_t kMaxProblems = 4;

}  // namespace

void for_each_output_chunk(uint32_t index, std::string_view bytes,
                           const std::function<void(const StepOutput&)>& send) {
  bytes = bytes.substr(0, kMaxRunOutputBytes);
  uint32_t seq = 0;
  for (std::size_t off = 0; off < bytes.size(); off += kOutputChunkBytes)
    send(StepOutput{index, seq++, base64_encode(bytes.substr(off, kOutputChunkBytes))});
}

void OutputAssembler::start(uint32_t index) {
  *this = OutputAssembler();
  index_ = index;
}

void OutputAssembler::problem(std::string what) {
  if (problem_count_++ < kMaxProblems) problems_.push_back(std::move(what));
}

Status OutputAssembler::add(const StepOutput& chunk) {
  if (!index_ || chunk.index != *index_)
    return fail("output chunk for step " + std::to_string(chunk.index + 1) + " arrived while " +
                (index_ ? "step " + std::to_string(*index_ + 1) + " runs" : std::string("no step runs")) +
                "; dropped");
  if (broken_) return {};
  if (chunk.seq != next_seq_) {
    problem("output chunk " + std::to_string(chunk.seq) + " arrived out of order (expected " +
            std::to_string(next_seq_) + "); the output is cut there");
    broken_ = true;
    return {};
  }
  if (next_seq_ >= kMaxOutputChunks) {
    problem("more than " + std::to_string(kMaxOutputChunks) + " output chunks; the rest is cut");
    broken_ = true;
    return {};
  }
  if (chunk.data.size() > kOutputChunkChars) {
    problem("output chunk " + std::to_string(chunk.seq) + " holds more than " +
            std::to_string(kOutputChunkBytes) + " bytes; the output is cut there");
    broken_ = true;
    return {};
  }
  auto bytes = base64_decode(chunk.data, kOutputChunkBytes);
  if (!bytes) {
    problem("output chunk " + std::to_string(chunk.seq) + ": " + bytes.error().message +
            "; the output is cut there");
    broken_ = true;
    return {};
  }
  ++next_seq_;
  const std::size_t room = kMaxRunOutputBytes - bytes_.size();
  bytes_.append(*bytes, 0, std::min(room, bytes->size()));
  if (bytes->size() > room) host_dropped_ += bytes->size() - room;
  return {};
}

OutputAssembler::Output OutputAssembler::finish(const StepFinished& finished) {
  Output out;
  if (index_ && *index_ == finished.index) {
    const uint64_t received = bytes_.size() + host_dropped_;
    const auto& announced = finished.details.output_bytes;
    if (announced && *announced != received && !broken_)
      problem("received " + std::to_string(received) + " of the " + std::to_string(*announced) +
              " output bytes the agent announced");
    out.bytes = std::move(bytes_);
  } else {
    problem("step_finished for step " + std::to_string(finished.index + 1) + " without its step_started");
  }
  out.dropped = finished.details.output_dropped + host_dropped_;
  if (problem_count_ > problems_.size())
    problems_.push_back(std::to_string(problem_count_ - problems_.size()) + " more problems");
  out.problems = std::move(problems_);
  *this = OutputAssembler();
  return out;
}

std::string OutputAssembler::Output::file_content() const {
  std::string out = bytes;
  if (dropped == 0 && problems.empty()) return out;
  if (!out.empty() && out.back() != '\n') out += '\n';
  if (dropped != 0)
    out += "[ktest: " + std::to_string(dropped) + " more bytes of output dropped: a step keeps at most " +
           std::to_string(kMaxRunOutputBytes) + " bytes]\n";
  for (const auto& p : problems) out += "[ktest: output incomplete: " + p + "]\n";
  return out;
}

}  // namespace ktest::kvm::control
