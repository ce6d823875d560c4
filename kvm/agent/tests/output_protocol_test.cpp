// A Run step's output and LoadBpf's program lists on the control channel:
// byte-exact round trips and hostile streams.
#include <doctest/doctest.h>

#include "kvm/control_protocol.h"

using namespace ktest;
using namespace ktest::kvm::control;

namespace {

// What the agent sends for `bytes`, as decoded lines.
std::vector<StepOutput> wire_chunks(uint32_t index, std::string_view bytes) {
  std::vector<StepOutput> out;
  for_each_output_chunk(index, bytes, [&](const StepOutput& chunk) {
    std::string line = encode(chunk);
    REQUIRE(line.size() <= kMaxLineBytes);
    auto back = decode_message(std::string_view(line).substr(0, line.size() - 1));
    REQUIRE_MESSAGE(back.ok(), back.error().to_string());
    out.push_back(std::get<StepOutput>(*back));
  });
  return out;
}

StepFinished finished(uint32_t index, std::optional<uint64_t> bytes, uint64_t dropped = 0) {
  StepFinished f;
  f.index = index;
  f.op = "Run";
  f.details.output_bytes = bytes;
  f.details.output_dropped = dropped;
  return f;
}

std::string every_byte(std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  return s;
}

bool mentions(const std::vector<std::string>& problems, std::string_view what) {
  for (const auto& p : problems)
    if (p.find(what) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_SUITE("kvm_agent.output") {
  TEST_CASE("any bytes survive byte-exact, NUL and invalid UTF-8 included") {
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, kOutputChunkBytes - 1, kOutputChunkBytes,
                             3 * kOutputChunkBytes + 17}) {
      std::string bytes = every_byte(size);
      if (size > 4) bytes.replace(0, 5, std::string("\xff\0\xc3(\n", 5));
      auto chunks = wire_chunks(5, bytes);
      CHECK(chunks.size() == (size + kOutputChunkBytes - 1) / kOutputChunkBytes);
      OutputAssembler a;
      a.start(5);
      for (const auto& c : chunks) CHECK(a.add(c).ok());
      auto out = a.finish(finished(5, bytes.size()));
      CHECK(out.problems.empty());
      CHECK(out.dropped == 0);
      CHECK(out.bytes == bytes);
      CHECK(out.file_content() == bytes);
    }
  }

  TEST_CASE("an output of exactly kMaxRunOutputBytes is sent and kept whole") {
    const std::string bytes(kMaxRunOutputBytes, 'z');
    OutputAssembler a;
    a.start(0);
    for_each_output_chunk(0, bytes, [&](const StepOutput& c) { REQUIRE(a.add(c).ok()); });
    auto out = a.finish(finished(0, bytes.size()));
    CHECK(out.dropped == 0);
    CHECK(out.problems.empty());
    CHECK(out.bytes.size() == kMaxRunOutputBytes);
    CHECK(out.file_content() == bytes);  // no line about dropped bytes
  }

  TEST_CASE("the agent sends at most kMaxRunOutputBytes") {
    std::size_t sent = 0, chunks = 0;
    for_each_output_chunk(0, std::string(kMaxRunOutputBytes + 1000, 'x'), [&](const StepOutput& c) {
      auto bytes = base64_decode(c.data, kOutputChunkBytes);
      REQUIRE(bytes.ok());
      sent += bytes->size();
      ++chunks;
    });
    CHECK(sent == kMaxRunOutputBytes);
    CHECK(chunks == kMaxOutputChunks);
  }

  TEST_CASE("dropped bytes end the saved file with a line that counts them") {
    OutputAssembler a;
    a.start(2);
    for (const auto& c : wire_chunks(2, "partial line")) CHECK(a.add(c).ok());
    auto out = a.finish(finished(2, 12, 4096));
    CHECK(out.dropped == 4096);
    CHECK(out.problems.empty());
    CHECK(out.file_content() ==
          "partial line\n[ktest: 4096 more bytes of output dropped: a step keeps at most 16777216 bytes]\n");
  }

  TEST_CASE("a guest that sends past the cap has the rest dropped, never kept") {
    OutputAssembler a;
    a.start(1);
    const std::string full(kOutputChunkBytes, 'y');
    const std::string data = base64_encode(full);
    for (uint32_t seq = 0; seq < kMaxOutputChunks; ++seq) CHECK(a.add(StepOutput{1, seq, data}).ok());
    auto out = a.finish(finished(1, uint64_t{kMaxOutputChunks} * kOutputChunkBytes));
    CHECK(out.bytes.size() == kMaxRunOutputBytes);
    CHECK(out.dropped == uint64_t{kMaxOutputChunks} * kOutputChunkBytes - kMaxRunOutputBytes);
    CHECK(out.problems.empty());
    CHECK(out.file_content().ends_with("bytes of output dropped: a step keeps at most 16777216 bytes]\n"));
  }

  TEST_CASE("hostile chunk streams are cut and explained") {
    OutputAssembler a;
    a.start(3);
    SUBCASE("out of order: the output stops at the gap") {
      CHECK(a.add(StepOutput{3, 0, base64_encode("first")}).ok());
      CHECK(a.add(StepOutput{3, 2, base64_encode("third")}).ok());
      CHECK(a.add(StepOutput{3, 1, base64_encode("second")}).ok());
      auto out = a.finish(finished(3, 16));
      CHECK(out.bytes == "first");
      REQUIRE(out.problems.size() == 1);
      CHECK(out.problems[0].find("chunk 2 arrived out of order (expected 1)") != std::string::npos);
      CHECK(out.file_content() ==
            "first\n[ktest: output incomplete: output chunk 2 arrived out of order (expected 1); the output is "
            "cut there]\n");
    }
    SUBCASE("an oversized chunk") {
      CHECK(a.add(StepOutput{3, 0, std::string(kOutputChunkChars + 4, 'A')}).ok());
      auto out = a.finish(finished(3, 1));
      CHECK(out.bytes.empty());
      CHECK(mentions(out.problems, "holds more than"));
    }
    SUBCASE("a chunk that is not base64") {
      CHECK(a.add(StepOutput{3, 0, "not base64!"}).ok());
      CHECK(mentions(a.finish(finished(3, 1)).problems, "chunk 0: base64"));
    }
    SUBCASE("too many chunks") {
      for (uint32_t seq = 0; seq <= kMaxOutputChunks + 10; ++seq) CHECK(a.add(StepOutput{3, seq, ""}).ok());
      auto out = a.finish(finished(3, 0));
      REQUIRE(out.problems.size() == 1);
      CHECK(out.problems[0].find("more than 171 output chunks") != std::string::npos);
    }
    SUBCASE("fewer bytes than the agent announced") {
      CHECK(a.add(StepOutput{3, 0, base64_encode("abc")}).ok());
      auto out = a.finish(finished(3, 10));
      CHECK(out.bytes == "abc");
      CHECK(mentions(out.problems, "received 3 of the 10 output bytes"));
    }
    SUBCASE("a chunk for another step is refused") {
      CHECK_FALSE(a.add(StepOutput{4, 0, base64_encode("x")}).ok());
      auto out = a.finish(finished(3, 0));
      CHECK(out.bytes.empty());
      CHECK(out.problems.empty());
    }
    SUBCASE("step_finished for a step that never started") {
      CHECK(a.add(StepOutput{3, 0, base64_encode("x")}).ok());
      auto out = a.finish(finished(9, 1));
      CHECK(out.bytes.empty());
      CHECK(mentions(out.problems, "without its step_started"));
    }
  }

  TEST_CASE("no step running: chunks are refused, the assembler resets per step") {
    OutputAssembler a;
    CHECK(a.add(StepOutput{0, 0, base64_encode("early")}).error().message.find("no step runs") !=
          std::string::npos);
    a.start(0);
    CHECK(a.add(StepOutput{0, 0, base64_encode("zero")}).ok());
    a.start(1);  // step 0 never finished: its bytes are not carried over
    CHECK(a.add(StepOutput{1, 0, base64_encode("one")}).ok());
    CHECK(a.finish(finished(1, 3)).bytes == "one");
    CHECK_FALSE(a.add(StepOutput{1, 1, base64_encode("late")}).ok());
  }

  TEST_CASE("step_output and LoadBpf details round-trip; malformed ones are rejected") {
    StepFinished f = finished(7, 123, 9);
    f.op = "LoadBpf";
    f.details.programs_attached = {"handle_exec", "count_ticks"};
    f.details.programs_run = {{"fill", 0}, {"check", -22}};
    f.details.output_name = "scheduler-ktest_loader";
    std::string line = encode(f);
    auto back = decode_message(std::string_view(line).substr(0, line.size() - 1));
    REQUIRE_MESSAGE(back.ok(), back.error().to_string());
    CHECK(std::get<StepFinished>(*back) == f);

    StepFinished many;
    many.details.programs_attached.assign(kMaxProgramNames + 5, std::string(kMaxProgramNameBytes + 5, 'p'));
    line = encode(many);
    CHECK(line.size() < kMaxLineBytes);
    back = decode_message(std::string_view(line).substr(0, line.size() - 1));
    REQUIRE_MESSAGE(back.ok(), back.error().to_string());
    CHECK(std::get<StepFinished>(*back).details.programs_attached.size() == kMaxProgramNames);

    std::string head = R"({"type":"step_finished","index":0,"op":"LoadBpf","ok":true,"details":)";
    for (std::string details : {R"({"programs_attached":"fill"})", R"({"programs_attached":[1]})",
                                R"({"programs_run":[{"name":"fill"}]})", R"({"programs_run":[{"retval":0}]})",
                                R"({"programs_run":[["fill",0]]})", R"({"programs_run":[{"name":"f","retval":1e20}]})",
                                R"({"output_bytes":-1})", R"({"output_dropped":"lots"})",
                                R"({"output_name":7})"}) {
      CHECK_MESSAGE(!decode_message(head + details + "}").ok(), details);
    }
    std::string long_name = R"({"programs_attached":[")" + std::string(kMaxProgramNameBytes + 1, 'n') + "\"]}";
    CHECK_FALSE(decode_message(head + long_name + "}").ok());
    std::string too_many = R"({"programs_attached":[)";
    for (std::size_t i = 0; i <= kMaxProgramNames; ++i) too_many += std::string(i ? "," : "") + "\"p\"";
    CHECK_FALSE(decode_message(head + too_many + "]}}").ok());

    CHECK_FALSE(decode_message(R"({"type":"step_output","index":1,"seq":0})").ok());
    CHECK_FALSE(decode_message(R"({"type":"step_output","index":1,"data":""})").ok());
    CHECK_FALSE(decode_message(R"({"type":"step_output","index":-1,"seq":0,"data":""})").ok());
    CHECK(decode_message(R"({"type":"step_output","index":1,"seq":0,"data":"QUJD"})").ok());
  }
}
