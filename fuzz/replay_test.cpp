// Every fuzz target over its committed corpus (fuzz/corpus/<name>/) and the
// inputs that once broke it (fuzz/regressions/<name>/): none may crash, hang
// or trip a sanitizer (./dev asan runs this under ASan+UBSan). The
// generated seeds on disk must be exactly what the targets build now.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "fuzz/fuzz_target.h"

namespace ktest::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = KTEST_FUZZ_DIR;

Bytes read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read " << path);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("every fuzz target has a seed corpus; every corpus directory is a target's") {
  std::set<std::string> names;
  for (const auto& t : targets()) {
    names.emplace(t.name);
    CHECK_MESSAGE(!files_in(kFuzzDir / "corpus" / t.name).empty(), "no seed corpus for " << t.name);
  }
  CHECK(names.size() == targets().size());
  for (const char* kind : {"corpus", "regressions"}) {
    if (!fs::is_directory(kFuzzDir / kind)) continue;
    for (const auto& entry : fs::directory_iterator(kFuzzDir / kind)) {
      CHECK_MESSAGE(names.count(entry.path().filename().string()) == 1,
                    entry.path() << " is not a fuzz target's directory (fuzz/meson.build lists them)");
    }
  }
}

TEST_CASE("the generated seeds on disk are what the targets build (else: write_fuzz_seeds fuzz/corpus)") {
  for (const auto& t : targets()) {
    if (t.seeds == nullptr) continue;
    std::set<std::string> expected;
    for (const auto& seed : t.seeds()) {
      std::string file = "seed-" + seed.label;
      expected.insert(file);
      fs::path path = kFuzzDir / "corpus" / t.name / file;
      INFO(path.string());
      REQUIRE(fs::exists(path));
      CHECK(read_file(path) == seed.bytes);
    }
    for (const auto& path : files_in(kFuzzDir / "corpus" / t.name)) {
      std::string file = path.filename().string();
      CHECK_MESSAGE((file.rfind("seed-", 0) != 0 || expected.count(file) == 1),
                    path << " is a seed no target builds any more");
    }
  }
}

TEST_CASE("every corpus and regression input runs cleanly") {
  std::size_t runs = 0;
  for (const auto& t : targets()) {
    for (const char* kind : {"corpus", "regressions"}) {
      for (const auto& path : files_in(kFuzzDir / kind / t.name)) {
        // Printed before the run: a crash (abort, sanitizer) names no input otherwise.
        std::fprintf(stderr, "replaying %.*s on %s\n", static_cast<int>(t.name.size()), t.name.data(),
                     path.c_str());
        Bytes input = read_file(path);
        t.run(input);
        ++runs;
      }
    }
  }
  MESSAGE(runs << " inputs replayed over " << targets().size() << " targets");
  CHECK(runs >= targets().size());
}

}  // namespace
}  // namespace ktest::fuzz
