#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "kvm/agent/agent.h"

using namespace ktest::agent;

namespace {

// A scratch file standing in for /dev/kmsg (a plain file returns many
// records per read(), which read_new() must split the same way).
struct ScratchLog {
  std::string path;
  ScratchLog() {
    char tmpl[] = "/tmp/ktest-kmsg-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = tmpl;
  }
  ~ScratchLog() { ::unlink(path.c_str()); }
  void append(const std::string& text) const { std::ofstream(path, std::ios::app) << text; }
};

}  // namespace

TEST_SUITE("kvm_agent.kmsg") {
  TEST_CASE("a record line gives its text, unescaped") {
    CHECK(kmsg_record_text("3,1234,5678901,-;sched_ext: BPF scheduler \"x\" disabled (runtime error)\n") ==
          "sched_ext: BPF scheduler \"x\" disabled (runtime error)");
    CHECK(kmsg_record_text("6,7,8,c,caller=T42;a;b") == "a;b");
    CHECK(kmsg_record_text("4,1,2,+;tab\\x09and backslash \\x5c, \\xzz kept") ==
          "tab\tand backslash \\, \\xzz kept");
    CHECK(kmsg_record_text("6,1,2,-;") == "");
    CHECK_FALSE(kmsg_record_text(" SUBSYSTEM=cpu").has_value());
    CHECK_FALSE(kmsg_record_text("").has_value());
    CHECK_FALSE(kmsg_record_text("no header here").has_value());
    CHECK_FALSE(kmsg_record_text("6,x,2,-;text").has_value());
    CHECK_FALSE(kmsg_record_text("6,1;text").has_value());
    CHECK_FALSE(kmsg_record_text(",1,2,-;text").has_value());
  }

  TEST_CASE("the reader returns only what arrived after open, once") {
    ScratchLog log;
    log.append("6,1,100,-;sched_ext: BPF scheduler \"old\" enabled\n");
    KmsgReader reader;
    REQUIRE(reader.open(log.path).ok());
    CHECK(reader.read_new().empty());
    log.append("3,2,200,-;sched_ext: BPF scheduler \"ktest_sched_die\" disabled (runtime error)\n"
               " SUBSYSTEM=x\n"
               "6,3,201,-;unrelated line\n"
               "3,4,202,-;sched_ext: ktest_sched_die: ops.init fails on purpose\n");
    auto messages = reader.read_new();
    REQUIRE(messages.size() == 3);
    CHECK(messages[1] == "unrelated line");
    CHECK(sched_ext_lines(messages) ==
          "sched_ext: BPF scheduler \"ktest_sched_die\" disabled (runtime error); "
          "sched_ext: ktest_sched_die: ops.init fails on purpose");
    CHECK(reader.read_new().empty());
    log.append("6,5,300,-;last, without a newline");
    CHECK(reader.read_new() == std::vector<std::string>{"last, without a newline"});
  }

  TEST_CASE("bounds: kept messages and joined text") {
    ScratchLog log;
    KmsgReader reader;
    REQUIRE(reader.open(log.path).ok());
    std::string many;
    for (std::size_t i = 0; i < kMaxKmsgKept + 10; ++i)
      many += "6," + std::to_string(i) + ",1,-;sched_ext: line " + std::to_string(i) + "\n";
    log.append(many);
    auto messages = reader.read_new();
    REQUIRE(messages.size() == kMaxKmsgKept);
    CHECK(messages.back() == "sched_ext: line " + std::to_string(kMaxKmsgKept + 9));
    std::vector<std::string> long_lines(64, "sched_ext: " + std::string(200, 'x'));
    auto joined = sched_ext_lines(long_lines);
    CHECK(joined.size() <= kMaxKmsgTextBytes + 3);
    CHECK(joined.ends_with("..."));
    CHECK(sched_ext_lines({"no", "sched_ext is not at the start"}).empty());
  }

  TEST_CASE("a log that cannot be opened reads as empty") {
    KmsgReader reader;
    CHECK_FALSE(reader.open("/nonexistent/kmsg").ok());
    CHECK(reader.read_new().empty());
  }
}
