// console.log's cap: a flooding guest's log stops at the cap and says so.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kvm/qemu/bounded_log.h"

using namespace ktest::kvm;
namespace fs = std::filesystem;

namespace {

std::string written(uint64_t cap, const std::vector<std::string>& pieces) {
  fs::path path = fs::temp_directory_path() / ("ktest-bounded-log-" + std::to_string(::getpid()));
  {
    BoundedLog log(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), cap);
    REQUIRE(log.valid());
    for (const auto& p : pieces) log.append(p);
  }  // the destructor finishes the file
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  fs::remove(path);
  return text.str();
}

}  // namespace

TEST_CASE("a bounded log keeps everything up to its cap, and says nothing more") {
  CHECK(written(10, {"01234", "56789"}) == "0123456789");
}

TEST_CASE("one byte past the cap: the log says where it stops and counts what it dropped") {
  CHECK(written(10, {"01234", "567890"}) ==
        "0123456789\n[ktest: the log stops here: it keeps the first 10 bytes]\n[ktest: 1 more bytes dropped]\n");
  CHECK(written(4, {"ab", "cdef", "ghij"}) ==
        "abcd\n[ktest: the log stops here: it keeps the first 4 bytes]\n[ktest: 6 more bytes dropped]\n");
}
