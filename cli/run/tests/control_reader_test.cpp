// The control channel's reader: a channel whose guest end is gone ends a
// wait at once instead of spinning on it until the deadline.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "cli/run/control_reader.h"

using namespace ktest;
using namespace ktest::cli;
namespace control = ktest::kvm::control;

TEST_CASE("control reader: messages are handed on; a closed channel ends read_until at once") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  Notes notes;
  int logs = 0;
  ControlReader reader(fds[0], notes, [&](const control::Message& m) {
    if (std::holds_alternative<control::Log>(m)) ++logs;
  });
  std::string line = control::encode(control::Log{"hello"}) + "not json\n";
  REQUIRE(::write(fds[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  auto start = std::chrono::steady_clock::now();
  CHECK(reader.read_until([&] { return logs == 1; }, start + std::chrono::seconds(10)));
  CHECK_FALSE(reader.closed());
  CHECK(notes.lines().size() == 1);  // the line that is no JSON

  SUBCASE("open and quiet: the wait lasts until the deadline") {
    CHECK_FALSE(reader.read_until([] { return false; }, std::chrono::steady_clock::now() +
                                                            std::chrono::milliseconds(100)));
    CHECK_FALSE(reader.closed());
    ::close(fds[1]);
  }
  SUBCASE("closed by the guest's end (QEMU exited): the wait ends now") {
    ::close(fds[1]);
    start = std::chrono::steady_clock::now();
    CHECK_FALSE(reader.read_until([] { return false; }, start + std::chrono::seconds(10)));
    CHECK(reader.closed());
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  }
  ::close(fds[0]);
}
