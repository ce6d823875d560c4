// The fuzz targets' common frame: one registry of targets, each a function
// over arbitrary bytes, and the seeds a target builds itself.
//
// Contract:
// - A target lives in fuzz/<name>.cpp and registers itself with
//   KTEST_FUZZ_TARGET(name, seeds) { ...body over data, size... }. The body
//   calls the product's real functions on the bytes; it must never crash,
//   hang, leak or trip a sanitizer on any input. What it checks beyond that
//   (a round trip, an error that names something) it states with
//   fuzz_check(), which aborts: libFuzzer then saves the input as a crash.
// - The same sources build two ways: one libFuzzer executable per target
//   (-Dfuzz=true, fuzz/libfuzzer_entry.cpp: exactly one target linked in),
//   and, in every build, test_fuzz_replay (fuzz/replay_test.cpp), which runs
//   each target over fuzz/corpus/<name>/ and fuzz/regressions/<name>/.
// - `seeds` (may be null) builds the target's binary seed inputs in code
//   from the real encoders, so they follow the layouts; `write_fuzz_seeds`
//   writes them to fuzz/corpus/<name>/seed-<label> and the replay test
//   checks the committed files still equal them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ktest::fuzz {

using Bytes = std::vector<uint8_t>;
struct Seed {
  std::string label;  // file name: seed-<label>
  Bytes bytes;
};
using RunFn = void (*)(std::span<const uint8_t> data);
using SeedsFn = std::vector<Seed> (*)();

struct Target {
  std::string_view name;
  RunFn run;
  SeedsFn seeds;  // nullptr: the corpus is hand-written files only
};

// Every target linked into this executable, in registration order.
const std::vector<Target>& targets();

struct Registrar {
  Registrar(std::string_view name, RunFn run, SeedsFn seeds);
};

// Aborts with `what` on stderr when `ok` is false (an invariant broke).
void fuzz_check(bool ok, std::string_view what);

// Text seeds from a string literal; binary seeds from a vector.
Bytes bytes_of(std::string_view text);

}  // namespace ktest::fuzz

#define KTEST_FUZZ_TARGET(name, seeds)                                              \
  static void ktest_fuzz_run_##name(std::span<const uint8_t> data);                 \
  static const ::ktest::fuzz::Registrar ktest_fuzz_registrar_##name(#name,          \
                                                                    &ktest_fuzz_run_##name, seeds); \
  static void ktest_fuzz_run_##name(std::span<const uint8_t> data)
