#include "kvm/control_protocol.h"

#include <doctest/doctest.h>

#include <cstdio>

#include <random>

using namespace ktest;
using namespace ktest::kvm::control;

namespace {

Message round_trip(const Message& m) {
  std::string line = encode(m);
  REQUIRE(line.back() == '\n');
  REQUIRE(line.find('\n') == line.size() - 1);
  auto back = decode_message(std::string_view(line).substr(0, line.size() - 1));
  REQUIRE_MESSAGE(back.ok(), back.error().to_string());
  return *back;
}

const char* kSampleKallsyms =
    "ffffffff81000000 T _text\n"
    "ffffffff81000010 t startup_64\n"
    "ffffffff82a00000 D nr_cpu_ids\n"
    "ffffffffc0001000 t bpf_prog_6deef7357e7b4530_enqueue\t[bpf]\n"
    "ffffffffc0002000 t dup\t[some_mod]\n"
    "ffffffff81001000 T dup\n";

std::vector<Message> kallsyms_for(std::string_view text) {
  auto frame = zstd_compress(text, 3);
  REQUIRE(frame.ok());
  return kallsyms_messages(text, *frame);
}

ktest::Result<SymbolTable> assemble(const std::vector<Message>& msgs) {
  KallsymsAssembler a;
  for (const auto& m : msgs) {
    if (auto* c = std::get_if<KallsymsChunk>(&m)) {
      KTEST_TRY(a.add(*c));
    } else if (auto* end = std::get_if<KallsymsEnd>(&m)) {
      return a.finish(*end);
    }
  }
  return ktest::fail("no kallsyms_end");
}

}  // namespace

TEST_SUITE("kvm_agent.protocol") {
  TEST_CASE("every message type round-trips") {
    Hello h{"0.1.0", kProtocolVersion, "7.2.13+deb14-amd64", 0xffffffff81000000ull, 2, "0000:00:03.0", true};
    CHECK(std::get<Hello>(round_trip(h)) == h);
    StepFinished f;
    f.index = 3;
    f.op = "Run";
    f.ok = false;
    f.error = "exit 1, expected 0";
    f.duration_ms = 42;
    f.details.exit_code = 1;
    f.details.output_tail = "line\n\"quoted\"\ttab";
    f.details.pids = {7, 8};
    f.details.reply_status = 2;
    CHECK(std::get<StepFinished>(round_trip(f)) == f);
    Message msgs[] = {KallsymsChunk{5, "QUJD"}, KallsymsEnd{1, 10, 8, "zstd+base64", ""},
                      StepStarted{0, "Sleep"}, Workload{"w", {100, 101}}, Log{"hi"},
                      Done{true, 4, ""}};
    for (const auto& m : msgs) CHECK(round_trip(m) == m);
  }

  TEST_CASE("long text is cut to its tail and invalid UTF-8 does not throw") {
    StepFinished f;
    f.details.verifier_log = std::string(kMaxDetailTextBytes * 2, 'a') + "END";
    f.details.output_tail = "\xff\xfe broken utf8";
    std::string line = encode(f);
    CHECK(line.size() < kMaxLineBytes);
    auto back = std::get<StepFinished>(round_trip(f));
    CHECK(back.details.verifier_log.ends_with("END"));
    CHECK(back.details.verifier_log.find("bytes cut") != std::string::npos);
  }

  TEST_CASE("a verifier log and an output tail of kMaxDetailTextBytes are kept whole; a byte more is cut") {
    StepFinished f;
    f.details.verifier_log = std::string(kMaxDetailTextBytes - 3, 'v') + "END";
    f.details.output_tail = std::string(kMaxDetailTextBytes, 'o');
    auto whole = std::get<StepFinished>(round_trip(f));
    CHECK(whole.details.verifier_log == f.details.verifier_log);
    CHECK(whole.details.output_tail == f.details.output_tail);

    f.details.verifier_log = "X" + f.details.verifier_log;
    f.details.output_tail += "!";
    auto cut = std::get<StepFinished>(round_trip(f));
    CHECK(cut.details.verifier_log == "[1 bytes cut]" + std::string(kMaxDetailTextBytes - 3, 'v') + "END");
    CHECK(cut.details.output_tail == "[1 bytes cut]" + std::string(kMaxDetailTextBytes - 1, 'o') + "!");
  }

  TEST_CASE("hostile or malformed lines are rejected with a reason") {
    CHECK_FALSE(decode_message("").ok());
    CHECK_FALSE(decode_message("not json").ok());
    CHECK_FALSE(decode_message("[1,2]").ok());
    CHECK_FALSE(decode_message(R"({"type":"nope"})").ok());
    CHECK_FALSE(decode_message(R"({"type":7})").ok());
    CHECK_FALSE(decode_message(R"({"type":"step_started","index":-1,"op":"Run"})").ok());
    CHECK_FALSE(decode_message(R"({"type":"step_started","index":4294967296,"op":"Run"})").ok());
    CHECK_FALSE(decode_message(R"({"type":"hello","agent_version":"x","protocol":1,"kernel_release":"r","text_address":"0xzz"})").ok());
    CHECK_FALSE(decode_message(R"({"type":"hello","agent_version":"x","protocol":1,"kernel_release":"r","text_address":"0x11112222333344445"})").ok());
    CHECK_FALSE(decode_message(R"({"type":"workload","name":"w","pids":[0]})").ok());
    CHECK_FALSE(decode_message(R"({"type":"step_finished","index":1,"op":"Run","ok":true,"details":[]})").ok());
    auto err = decode_message(R"({"type":"done"})");
    REQUIRE_FALSE(err.ok());
    CHECK(err.error().to_string().find("\"ok\"") != std::string::npos);
    std::string huge = R"({"type":"log","text":")" + std::string(kMaxLineBytes, 'x') + "\"}";
    CHECK(decode_message(huge).error().message.find("limit") != std::string::npos);
    std::string deep(100000, '[');
    CHECK_FALSE(decode_message(deep).ok());
    // Deep but complete nesting parses and is destroyed without recursion.
    CHECK_FALSE(decode_message(deep + std::string(100000, ']')).ok());
  }

  TEST_CASE("a workload message carries at most kMaxPids pids") {
    auto workload = [](std::size_t n) {
      std::string pids;
      for (std::size_t i = 0; i < n; ++i) pids += (i ? "," : "") + std::to_string(100 + i);
      return decode_message(R"({"type":"workload","name":"w","pids":[)" + pids + "]}");
    };
    auto at = workload(kMaxPids);
    REQUIRE(at.ok());
    CHECK(std::get<Workload>(*at).pids.size() == kMaxPids);
    CHECK_FALSE(workload(kMaxPids + 1).ok());
  }

  TEST_CASE("the line splitter reassembles split input and caps line length") {
    LineSplitter s;
    auto a = s.feed("{\"a\":1}\n{\"b\"");
    CHECK(a.lines == std::vector<std::string>{"{\"a\":1}"});
    auto b = s.feed(":2}\n\n");
    CHECK(b.lines == std::vector<std::string>{"{\"b\":2}"});
    std::string big(kMaxLineBytes + 10, 'x');
    auto c = s.feed(big.substr(0, 1000));
    auto d = s.feed(big.substr(1000));
    CHECK(c.errors.empty());
    CHECK(d.errors.size() == 1);
    auto e = s.feed("yyy\nok\n");  // the rest of the long line is discarded, then resync
    CHECK(e.lines == std::vector<std::string>{"ok"});
    CHECK(s.pending().empty());
    // At the cap a line passes whole; one byte past it, it is dropped.
    auto at = s.feed(std::string(kMaxLineBytes, 'a') + "\n");
    CHECK(at.errors.empty());
    REQUIRE(at.lines.size() == 1);
    CHECK(at.lines[0].size() == kMaxLineBytes);
    auto past = s.feed(std::string(kMaxLineBytes + 1, 'a') + "\nok\n");
    CHECK(past.errors.size() == 1);
    CHECK(past.lines == std::vector<std::string>{"ok"});
  }

  TEST_CASE("base64 and zstd round-trip and reject garbage") {
    for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
      auto d = base64_decode(base64_encode(s), 100);
      REQUIRE(d.ok());
      CHECK(*d == s);
    }
    CHECK(base64_encode("abc") == "YWJj");
    CHECK(base64_encode("ab") == "YWI=");
    CHECK_FALSE(base64_decode("YWJ", 100).ok());
    CHECK_FALSE(base64_decode("Y=Jj", 100).ok());
    CHECK_FALSE(base64_decode("YW!j", 100).ok());
    CHECK_FALSE(base64_decode("YWJjYWJj", 4).ok());
    std::string text(100000, 'k');
    auto frame = zstd_compress(text, 3);
    REQUIRE(frame.ok());
    CHECK(frame->size() < 1000);
    CHECK(*zstd_decompress(*frame, text.size()) == text);
    // A compression bomb stops at the bound instead of allocating.
    CHECK(zstd_decompress(*frame, text.size() - 1).error().message.find("more than") != std::string::npos);
    CHECK_FALSE(zstd_decompress(frame->substr(0, frame->size() / 2), text.size()).ok());
    CHECK_FALSE(zstd_decompress("garbage!", 100).ok());
    CHECK_FALSE(zstd_decompress("", 100).ok());
  }

  TEST_CASE("kallsyms travels in chunks and parses into a symbol table") {
    auto msgs = kallsyms_for(kSampleKallsyms);
    auto table = assemble(msgs);
    REQUIRE_MESSAGE(table.ok(), table.error().to_string());
    CHECK(table->symbols().size() == 6);
    REQUIRE(table->find("_text") != nullptr);
    CHECK(table->find("_text")->address == 0xffffffff81000000ull);
    CHECK(table->find("nr_cpu_ids")->type == 'D');
    auto* prog = table->find("bpf_prog_6deef7357e7b4530_enqueue");
    REQUIRE(prog != nullptr);
    CHECK(prog->module == "bpf");
    CHECK(table->find("dup")->module.empty());  // vmlinux wins over a module
    CHECK(table->find("absent") == nullptr);
  }

  TEST_CASE("find() gives the first vmlinux symbol of a name, else the first module one") {
    // 3000 lines over 1000 names: each name three times, in mixed origins.
    std::string text;
    for (int i = 0; i < 3000; ++i) {
      const int name = i % 1000;
      const bool module = (i / 1000 == 0 && name % 2 == 0) || (i / 1000 == 2 && name % 3 == 0);
      char line[64];
      std::snprintf(line, sizeof line, "%016llx t n%d%s\n", 0xffffffff81000000ull + i * 16ull, name,
                    module ? "\t[m]" : "");
      text += line;
    }
    auto table = SymbolTable::parse(text);
    REQUIRE(table.ok());
    for (int name = 0; name < 1000; ++name) {
      int want = -1;  // what the rule picks, by a plain scan
      for (int i = name; i < 3000 && want < 0; i += 1000)
        if (table->symbols()[i].module.empty()) want = i;
      if (want < 0) want = name;
      const KernelSymbol* got = table->find("n" + std::to_string(name));
      REQUIRE(got != nullptr);
      CHECK(got == &table->symbols()[want]);
    }
    CHECK(table->find("n1000") == nullptr);
    CHECK(table->find("") == nullptr);
  }

  TEST_CASE("a large kallsyms spans many bounded chunks") {
    std::string text;
    std::mt19937_64 rng(42);
    for (int i = 0; i < 60000; ++i)
      text += "ffffffff8" + std::to_string(1000000 + rng() % 8999999) + " t sym_" +
              std::to_string(rng()) + "\n";
    auto msgs = kallsyms_for(text);
    CHECK(msgs.size() > 3);
    for (const auto& m : msgs) CHECK(encode(m).size() < kMaxLineBytes);
    auto table = assemble(msgs);
    REQUIRE_MESSAGE(table.ok(), table.error().to_string());
    CHECK(table->symbols().size() == 60000);
  }

  TEST_CASE("the control stream decodes a byte stream split anywhere") {
    std::string wire = encode(Hello{"0.1.0", 1, "7.2", 0xffffffff81000000ull, 2, "", false});
    for (const auto& m : kallsyms_for(kSampleKallsyms)) wire += encode(m);
    wire += "garbage line\n";
    wire += encode(StepStarted{0, "Sleep"});
    wire += encode(Done{true, 1, ""});
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, wire.size()}) {
      ControlStream stream;
      std::vector<Message> got;
      std::vector<std::string> errors;
      for (std::size_t off = 0; off < wire.size(); off += piece) {
        auto out = stream.feed(std::string_view(wire).substr(off, piece));
        got.insert(got.end(), out.messages.begin(), out.messages.end());
        errors.insert(errors.end(), out.errors.begin(), out.errors.end());
      }
      REQUIRE(got.size() == 4);  // hello, kallsyms_end, step_started, done
      CHECK(message_type(got[1]) == "kallsyms_end");
      CHECK(errors.size() == 1);
      REQUIRE(stream.symbols().has_value());
      CHECK(stream.symbols()->find("_text") != nullptr);
    }
  }

  TEST_CASE("the control stream reports a broken kallsyms transfer") {
    auto msgs = kallsyms_for(kSampleKallsyms);
    std::get<KallsymsEnd>(msgs.back()).raw_bytes += 1;
    std::string wire;
    for (const auto& m : msgs) wire += encode(m);
    ControlStream stream;
    auto out = stream.feed(wire);
    CHECK_FALSE(stream.symbols().has_value());
    CHECK(stream.kallsyms_error().find("announced") != std::string::npos);
    REQUIRE(out.errors.size() == 1);
  }

  TEST_CASE("kallsyms chunks are bounded in total") {
    KallsymsAssembler a;
    std::string chunk(kKallsymsChunkChars, 'A');
    ktest::Status st;
    uint32_t seq = 0;
    while ((st = a.add(KallsymsChunk{seq, chunk})).ok() && seq < kMaxKallsymsChunks + 1) ++seq;
    CHECK_FALSE(st.ok());
    CHECK(seq * kKallsymsChunkChars <= (kMaxKallsymsBytes / 3 + 1) * 4);
  }

  TEST_CASE("kallsyms: kMaxKallsymsChunks chunks are taken, one more is refused") {
    KallsymsAssembler a;
    for (uint32_t seq = 0; seq < kMaxKallsymsChunks; ++seq) REQUIRE(a.add(KallsymsChunk{seq, "QUJD"}).ok());
    auto past = a.add(KallsymsChunk{static_cast<uint32_t>(kMaxKallsymsChunks), "QUJD"});
    REQUIRE_FALSE(past.ok());
    CHECK(past.error().message == "more than 4096 kallsyms chunks");
  }

  TEST_CASE("kallsyms: the base64 of kMaxKallsymsBytes is taken, one character more is refused") {
    const std::size_t max_chars = (kMaxKallsymsBytes / 3 + 1) * 4;
    const std::string full(kKallsymsChunkChars, 'A');
    KallsymsAssembler a;
    uint32_t seq = 0;
    std::size_t sent = 0;
    for (; sent + full.size() <= max_chars; sent += full.size()) REQUIRE(a.add(KallsymsChunk{seq++, full}).ok());
    REQUIRE(a.add(KallsymsChunk{seq++, std::string(max_chars - sent, 'A')}).ok());  // exactly at the bound
    auto past = a.add(KallsymsChunk{seq, "A"});
    REQUIRE_FALSE(past.ok());
    CHECK(past.error().message == "kallsyms chunks exceed 67108864 bytes");
  }

  TEST_CASE("kallsyms: kMaxSymbols symbols parse, the next line is refused") {
    std::string text;
    text.reserve((kMaxSymbols + 1) * 24);
    char line[64];
    for (std::size_t i = 0; i < kMaxSymbols; ++i) {
      int n = std::snprintf(line, sizeof line, "%016llx t s%zu\n", 0xffffffff81000000ULL + i * 16, i);
      text.append(line, static_cast<std::size_t>(n));
    }
    text += "ffffffffa0000000 t one_more\n";
    // One parse tells both (2M symbols take seconds): every line up to the
    // cap is taken, the refusal names the line past it.
    auto past = SymbolTable::parse(text);
    REQUIRE_FALSE(past.ok());
    CHECK(past.error().message == "more than 2000000 symbols");
    CHECK(past.error().location == "kallsyms line 2000001");
  }

  TEST_CASE("hostile kallsyms streams are rejected") {
    auto msgs = kallsyms_for(kSampleKallsyms);
    SUBCASE("out-of-order chunk") {
      KallsymsAssembler a;
      CHECK_FALSE(a.add(KallsymsChunk{1, "QUJD"}).ok());
    }
    SUBCASE("oversized chunk") {
      KallsymsAssembler a;
      CHECK_FALSE(a.add(KallsymsChunk{0, std::string(kKallsymsChunkChars + 1, 'A')}).ok());
    }
    SUBCASE("wrong counts and sizes") {
      for (auto mutate : {+[](KallsymsEnd& e) { e.chunks += 1; },
                          +[](KallsymsEnd& e) { e.raw_bytes -= 1; },
                          +[](KallsymsEnd& e) { e.raw_bytes = kMaxKallsymsBytes + 1; },
                          +[](KallsymsEnd& e) { e.compressed_bytes += 1; },
                          +[](KallsymsEnd& e) { e.encoding = "gzip"; },
                          +[](KallsymsEnd& e) { e.error = "EPERM"; }}) {
        auto copy = msgs;
        mutate(std::get<KallsymsEnd>(copy.back()));
        CHECK_FALSE(assemble(copy).ok());
      }
    }
    SUBCASE("malformed symbol lines") {
      for (const char* bad : {"zzzz T x\n", "ffff T\n", "ffff  x\n", "ffff T x\t[mod\n",
                              "ffffffff81000000ff T x\n", "ffff TT x\n"}) {
        CHECK_MESSAGE(!SymbolTable::parse(bad).ok(), bad);
      }
      CHECK_FALSE(SymbolTable::parse("ffff T " + std::string(kMaxSymbolNameBytes + 1, 'n') + "\n").ok());
    }
  }
}

TEST_CASE("SymbolTable::lookup/symbolize: address to symbol, bounded, as %pS prints it") {
  auto table = SymbolTable::parse(
      "ffffffff81000000 T _text\n"
      "ffffffff81001000 t helper\n"
      "ffffffff81001000 D helper_data\n"  // same address: the text symbol wins
      "ffffffff81001040 T scx_bpf_error_bstr\n"
      "ffffffff810010e0 T after\n"
      "ffffffff83000000 T far_away\n"     // 32 MiB gap after `after`: not a function
      "ffffffffc0000000 t mod_fn\t[kvm]\n"
      "ffffffffc0000100 t bpf_prog_0123456789abcdef_enqueue\t[bpf]\n"
      "ffffffffc0000200 t mod_end\t[kvm]\n"
      "0000000000000000 T zeroed\n");
  REQUIRE(table);
  auto hit = table->lookup(0xffffffff810010abULL);
  REQUIRE(hit);
  CHECK(hit->symbol->name == "scx_bpf_error_bstr");
  CHECK(hit->offset == 0x6b);
  CHECK(hit->size == 0xa0);
  CHECK(table->symbolize(0xffffffff810010abULL) == "scx_bpf_error_bstr+0x6b/0xa0");
  CHECK(table->symbolize(0xffffffff81001000ULL) == "helper+0x0/0x40");
  CHECK(table->symbolize(0xffffffffc0000010ULL) == "mod_fn+0x10/0x100 [kvm]");
  CHECK(table->symbolize(0xffffffffc0000104ULL) == "bpf_prog_0123456789abcdef_enqueue+0x4/0x100");
  // Below the first symbol, in a wide gap, at or past the last: no symbol.
  CHECK_FALSE(table->lookup(0x1000));
  CHECK_FALSE(table->lookup(0xffffffff81200000ULL));
  CHECK_FALSE(table->lookup(0xffffffffc0000200ULL));
  CHECK_FALSE(table->lookup(~0ULL));
  CHECK(table->symbolize(0xffffffff81200000ULL) == "0xffffffff81200000");
  // An empty table finds nothing.
  auto empty = SymbolTable::parse("");
  REQUIRE(empty);
  CHECK_FALSE(empty->lookup(0xffffffff81000000ULL));
}

TEST_CASE("a resize line round-trips, and anything else is no resize") {
  using namespace ktest::kvm::control;
  std::string line = resize_line({40, 120});
  REQUIRE(line.back() == '\n');
  line.pop_back();
  auto size = parse_resize(line);
  REQUIRE(size);
  CHECK(size->rows == 40);
  CHECK(size->cols == 120);
  CHECK_FALSE(parse_resize(R"({"type":"resize","rows":-1,"cols":3})"));
  CHECK_FALSE(parse_resize(R"({"type":"resize","rows":70000,"cols":3})"));
  CHECK_FALSE(parse_resize(R"({"type":"resize","rows":3})"));
  CHECK_FALSE(parse_resize(R"({"type":"hello"})"));
  CHECK_FALSE(parse_resize("not json"));
}
