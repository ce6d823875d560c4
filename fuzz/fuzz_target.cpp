#include "fuzz/fuzz_target.h"

#include <cstdio>
#include <cstdlib>

#include <bpf/libbpf.h>

namespace ktest::fuzz {
namespace {

std::vector<Target>& registry() {
  static std::vector<Target> all;
  return all;
}

}  // namespace

const std::vector<Target>& targets() { return registry(); }

Registrar::Registrar(std::string_view name, RunFn run, SeedsFn seeds) {
  // libbpf prints a warning for every blob it refuses: millions, fuzzing
  // (the refusal itself reaches the targets as an Error).
  libbpf_set_print(nullptr);
  registry().push_back(Target{name, run, seeds});
}

void fuzz_check(bool ok, std::string_view what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

}  // namespace ktest::fuzz
