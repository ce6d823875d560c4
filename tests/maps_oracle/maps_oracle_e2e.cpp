// End to end: `ktest run maps_oracle.yaml` boots the real guest, attaches
// ktest_sched and loads ktest_maps (one map of every supported type, filled
// with known data), captures, and runs `bpftool map dump -j` on every map
// (`bpftool struct_ops dump -j` on the scheduler's struct_ops map) in the
// same guest; then every map and entry of the capture must agree with
// bpftool's output (capture_oracle.h), and every supported map type, the
// .bss/.data/.rodata sections and the struct_ops callbacks' programs must
// have been compared.
// Needs KTEST_BINARY, KTEST_KERNEL_DIR, KTEST_OBJECT_DIR and
// KTEST_ORACLE_SCENARIO (set by meson); exits 77 naming what is missing.
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/maps_oracle/capture_oracle.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;
using namespace ktest;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

[[noreturn]] void skip(const std::string& why) {
  std::printf("SKIP: %s\n", why.c_str());
  std::exit(77);
}

[[noreturn]] void failed(const std::string& why) {
  std::printf("FAIL: %s\n", why.c_str());
  std::exit(1);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_or_fail(const std::string& path, const char* what) {
  auto text = read_file(path);
  if (!text) failed(fmt::format("cannot read {} {}: {}", what, path, text.error().to_string()));
  return *text;
}

// Runs the scenario in `work`; returns results.json's scenario object.
nlohmann::json run_scenario(const std::string& work) {
  std::string log = work + "/ktest-output.txt";
  std::string cmd = fmt::format("cd {} && {} --color=never run --quiet --kernel {} --object-path {} {} >{} 2>&1",
                                shell_quote(work), shell_quote(env("KTEST_BINARY")),
                                shell_quote(env("KTEST_KERNEL_DIR")), shell_quote(env("KTEST_OBJECT_DIR")),
                                shell_quote(env("KTEST_ORACLE_SCENARIO")), shell_quote(log));
  int status = std::system(cmd.c_str());
  std::string output = read_file(log).value_or("");
  if (status != 0) failed(fmt::format("ktest run exited with status {}:\n{}", status, output));
  auto results = nlohmann::json::parse(read_or_fail(work + "/ktest-runs/latest/results.json", "results"),
                                       nullptr, false);
  if (results.is_discarded() || results["scenarios"].size() != 1) failed("results.json is not one scenario");
  return results["scenarios"][0];
}

std::string field(const nlohmann::json& list, const char* key, const char* match_key,
                  const std::string& match, const char* want) {
  for (const auto& item : list) {
    if (item.value(match_key, "") == match && item.contains(want) && item[want].is_string())
      return item[want].get<std::string>();
  }
  failed(fmt::format("results.json has no {} with {} == {} and a {}", key, match_key, match, want));
}

}  // namespace

int main() {
  for (const char* name : {"KTEST_BINARY", "KTEST_KERNEL_DIR", "KTEST_OBJECT_DIR", "KTEST_ORACLE_SCENARIO"}) {
    if (env(name).empty()) skip(fmt::format("{} is not set (configure with -Dkernel_dir=...)", name));
  }
  if (!fs::exists(env("KTEST_KERNEL_DIR") + "/vmlinux")) skip("no fetched kernel at " + env("KTEST_KERNEL_DIR"));
  for (const char* object : {"ktest_maps.bpf.o", "ktest_sched.bpf.o"}) {
    if (!fs::exists(env("KTEST_OBJECT_DIR") + "/" + object)) skip(fmt::format("{} was not built", object));
  }

  char dir[] = "/tmp/ktest-maps-oracle-XXXXXX";
  if (mkdtemp(dir) == nullptr) failed("mkdtemp failed");
  const std::string work = dir;
  nlohmann::json scenario = run_scenario(work);

  std::string report_path = field(scenario["captures"], "captures", "name", "filled", "report");
  std::string dump_path = field(scenario["steps"], "steps", "op", "Run", "output_file");
  auto report = parse_report(read_or_fail(report_path, "capture report"));
  if (!report) failed("the capture report does not parse: " + report.error().to_string());
  auto dumps = oracle_test::parse_dump_listing(read_or_fail(dump_path, "bpftool output"));
  if (!dumps) failed("bpftool's output does not parse: " + dumps.error().to_string());

  auto result = oracle_test::compare_capture(*report, *dumps);
  for (const auto& [type, count] : result.compared)
    std::printf("agreed: %zu entries of %s maps\n", count, map_type_name(type).c_str());
  std::printf("agreed: global sections %s\n", fmt::format("{}", fmt::join(result.datasec_maps, ", ")).c_str());
  std::printf("agreed: %zu struct_ops callback programs\n", result.callbacks);
  for (const auto& q : result.quirks) std::printf("bpftool quirk (its bug, not a mismatch): %s\n", q.c_str());
  for (const auto& m : result.mismatches) std::printf("MISMATCH %s\n", m.c_str());

  std::string missing;
  for (uint32_t type : {kMapTypeArray, kMapTypePercpuArray, kMapTypeHash, kMapTypePercpuHash,
                        kMapTypeLruHash, kMapTypeLruPercpuHash, kMapTypeQueue, kMapTypeStack,
                        kMapTypeArrayOfMaps, kMapTypeHashOfMaps, kMapTypeStructOps}) {
    if (result.compared[type] == 0) missing += " " + map_type_name(type);
  }
  if (result.datasec_maps.size() < 3) missing += " .bss/.data/.rodata";
  if (result.callbacks == 0) missing += " struct_ops callbacks";
  if (!result.mismatches.empty()) failed(fmt::format("{} mismatches (kept in {})", result.mismatches.size(), work));
  if (!missing.empty()) failed("nothing was compared for:" + missing + " (kept in " + work + ")");
  fs::remove_all(work);
  std::printf("ok: the capture agrees with bpftool on %zu maps\n", dumps->size());
  return 0;
}
