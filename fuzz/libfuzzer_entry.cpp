// libFuzzer's entry for a fuzz executable built from exactly one target
// (fuzz/meson.build links one fuzz/<name>.cpp with this file).
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& all = ktest::fuzz::targets();
  if (all.size() != 1) {
    std::fprintf(stderr, "a fuzz executable links exactly one target, this one has %zu\n", all.size());
    std::abort();
  }
  all.front().run(std::span<const uint8_t>(data, size));
  return 0;
}
