// The control channel, host side: the guest's byte stream through
// LineSplitter and ControlStream (line cap, decode_message, kallsyms
// assembly) fed in three pieces split where the input says, each step's
// output through OutputAssembler; and the same bytes as /proc/kallsyms text
// through SymbolTable::parse and its lookups. A decoded message must
// encode back to itself.
// Input: one byte choosing the split points, then the stream.
#include <string>
#include <string_view>

#include "fuzz/fuzz_target.h"
#include "kvm/control_protocol.h"
#include "util/zstd_frame.h"

namespace ktest::fuzz {
namespace {

namespace control = kvm::control;

void check_message(const control::Message& m, control::OutputAssembler& output) {
  std::string line = control::encode(m);
  fuzz_check(!line.empty() && line.back() == '\n', "an encoded message is one line");
  if (line.size() <= control::kMaxLineBytes) {
    auto back = control::decode_message(std::string_view(line).substr(0, line.size() - 1));
    fuzz_check(back.ok(), "an encoded message decodes");
    fuzz_check(*back == m, "decoding what was encoded gives the message back");
  }
  if (const auto* started = std::get_if<control::StepStarted>(&m)) output.start(started->index);
  if (const auto* chunk = std::get_if<control::StepOutput>(&m)) (void)output.add(*chunk);
  if (const auto* finished = std::get_if<control::StepFinished>(&m)) {
    auto out = output.finish(*finished);
    fuzz_check(out.bytes.size() <= control::kMaxRunOutputBytes, "a step's output keeps to its cap");
    (void)out.file_content();
  }
}

void check_symbols(const control::SymbolTable& table) {
  for (const auto& s : table.symbols()) {
    auto hit = table.lookup(s.address);
    fuzz_check(s.address == 0 || !hit || hit->symbol->address <= s.address, "a lookup finds a symbol at or below");
    (void)table.symbolize(s.address + 1);
  }
  (void)table.symbolize(0);
  (void)table.symbolize(~0ULL);
}

std::vector<Seed> control_seeds() {
  std::string kallsyms = "ffffffff81000000 T _text\nffffffff81001000 T start_kernel\n"
                         "ffffffff82000000 D jiffies_64\nffffffffc0000000 t helper\t[kvm]\n";
  auto frame = zstd_compress(kallsyms, 3);
  fuzz_check(frame.ok(), "zstd compresses the seed's kallsyms");
  std::string stream;
  auto send = [&](const control::Message& m) { stream += control::encode(m); };
  send(control::Hello{"0.1.0", control::kProtocolVersion, "6.12.0", 0xffffffff81000000ULL, 2, "0000:00:04.0", true});
  for (const auto& m : control::kallsyms_messages(kallsyms, *frame)) send(m);
  send(control::StepStarted{1, "Run"});
  const std::string output("hello from the guest\n\0\xff binary\n", 31);
  control::for_each_output_chunk(1, output, [&](const control::StepOutput& chunk) { send(chunk); });
  control::StepFinished finished{1, "Run", true, "", 12, {}};
  finished.details.exit_code = 0;
  finished.details.output_bytes = output.size();
  send(finished);
  send(control::Workload{"stress", {101, 102}});
  send(control::Log{"agent: step 2"});
  control::StepFinished failed{2, "Attach", false, "verifier rejected", 3, {}};
  failed.details.verifier_log = "R1 invalid mem access";
  failed.details.scheduler_state = "disabled";
  send(failed);
  send(control::Done{false, 2, "step 2 failed"});
  std::vector<Seed> out;
  out.push_back(Seed{"stream", Bytes{0x35}});
  out.back().bytes.insert(out.back().bytes.end(), stream.begin(), stream.end());
  out.push_back(Seed{"kallsyms_text", Bytes{0}});
  out.back().bytes.insert(out.back().bytes.end(), kallsyms.begin(), kallsyms.end());
  return out;
}

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest;
using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(control, control_seeds) {
  if (data.empty()) return;
  std::string_view bytes(reinterpret_cast<const char*>(data.data()) + 1, data.size() - 1);
  // Split points: the first byte's halves, scaled to the stream.
  std::size_t a = bytes.size() * (data[0] & 0xf) / 16, b = a + (bytes.size() - a) * (data[0] >> 4) / 16;
  control::ControlStream stream;
  control::OutputAssembler output;
  control::LineSplitter splitter;
  for (auto piece : {bytes.substr(0, a), bytes.substr(a, b - a), bytes.substr(b)}) {
    for (const auto& line : splitter.feed(piece).lines) {
      fuzz_check(line.size() <= control::kMaxLineBytes, "a line keeps to the cap");
    }
    fuzz_check(splitter.pending().size() <= control::kMaxLineBytes, "the unterminated rest keeps to the cap");
    auto out = stream.feed(piece);
    for (const auto& e : out.errors) fuzz_check(!e.empty(), "a stream error says what");
    for (const auto& m : out.messages) check_message(m, output);
  }
  if (stream.symbols()) check_symbols(*stream.symbols());
  if (auto table = control::SymbolTable::parse(bytes)) check_symbols(*table);
}
