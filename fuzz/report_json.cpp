// Report JSON: parse_any_report on mutated text, ktest's format (single,
// degraded) and ktstr's failure dumps (single, dual). Whatever parses must
// pass check_report() (write, read back, unchanged; Snapshot view, text),
// and its dump (`ktest snapshot dump --json`) renders.
#include <string_view>

#include "fuzz/capture.h"
#include "snapshot/dump.h"
#include "snapshot/snapshot.h"

using namespace ktest;
using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(report_json, nullptr) {
  std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  auto reports = parse_any_report(text, "fuzz");
  if (!reports) {
    fuzz_check(!reports.error().message.empty(), "a refused report says why");
    return;
  }
  for (const auto& named : *reports) {
    check_report(named.report);
    Snapshot s(named.report);
    for (const auto& name : s.var_names()) (void)s.var(name).as_u64();
    for (const auto& m : s.maps()) {
      (void)m.sum_u64("value");
      for (const auto& e : m.entries()) (void)e.value().as_u64_array();
    }
  }
  DumpOptions json;
  json.json = true;
  (void)dump_reports(*reports, json);
  (void)dump_reports(*reports, DumpOptions{});
}
