// Time to diff two snapshots of a large hash map (16000 entries keyed by a
// struct, values of a few members, 1% changed, the order shuffled) versus
// the time to read those two reports from their JSON: the diff should cost a
// fraction of what loading the reports already costs (matching by hashed
// key; a quadratic match would cost hundreds of loads).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "snapshot/diff.h"
#include "snapshot/report.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kEntries = 16000;

ktest::Report make_report(bool changed) {
  using namespace ktest;
  MapDump m;
  m.name = "flows";
  m.map_type = kMapTypeHash;
  for (uint32_t i = 0; i < kEntries; ++i) {
    MapEntry e;
    e.key = make_struct("flow_key", {{"src", make_uint(32, i)}, {"dst", make_uint(32, i ^ 0x5a5a)},
                                     {"proto", make_uint(8, 6)}});
    e.key_hex = hex_bytes(reinterpret_cast<const uint8_t*>(&i), sizeof i);
    uint64_t packets = i * 3 + (changed && i % 100 == 0 ? 1 : 0);
    e.value = make_struct("flow", {{"packets", make_uint(64, packets)}, {"bytes", make_uint(64, packets * 1500)},
                                   {"last_seen", make_uint(64, 1000000 + i)}, {"state", make_enum(32, 1, "OPEN", false)}});
    m.entries.push_back(std::move(e));
  }
  if (changed) std::shuffle(m.entries.begin(), m.entries.end(), std::mt19937(7));
  Report r;
  r.snapshot_name = changed ? "after" : "before";
  r.maps.push_back(std::move(m));
  return r;
}

template <typename F>
double seconds_each(F&& once) {
  int n = std::getenv("KTEST_BENCH_SMOKE") ? 1 : 5;
  const auto start = Clock::now();
  for (int k = 0; k < n; ++k) once();
  return std::chrono::duration<double>(Clock::now() - start).count() / n;
}

}  // namespace

int main() {
  const std::string a_text = ktest::report_to_text(make_report(false), -1);
  const std::string b_text = ktest::report_to_text(make_report(true), -1);
  std::vector<ktest::NamedReport> loaded;
  const double load = seconds_each([&] {
    loaded.clear();
    for (const std::string* text : {&a_text, &b_text}) {
      auto r = ktest::parse_report(*text);
      if (!r) std::abort();
      loaded.push_back({r->snapshot_name, std::move(*r)});
    }
  });
  std::size_t changed = 0;
  const double diff = seconds_each([&] {
    auto d = ktest::diff_snapshots(loaded[0], loaded[1]);
    if (!d) std::abort();
    changed = d->maps.empty() ? 0 : d->maps[0].counts.changed;
  });
  std::printf("diff of 2 x %u entries: %.1f ms; reading the two reports: %.1f ms; ratio %.3f (%zu changed)\n",
              kEntries, diff * 1e3, load * 1e3, diff / load, changed);
  return changed == kEntries / 100 ? 0 : 1;
}
