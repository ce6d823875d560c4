// Report JSON: parse_any_report on mutated text, ktest's format (single,
// degraded) and ktstr's failure dumps (single, dual). Whatever parses must
// pass check_report() (write, read back, unchanged; Snapshot view, text),
// and its dump (`ktest snapshot dump --json`) renders. Entries read as they
// are parsed equal the plain reader's.
#include <string_view>

#include "fuzz/capture.h"
#include "snapshot/dump.h"
#include "snapshot/report_stream.h"
#include "snapshot/snapshot.h"

using namespace ktest;
using namespace ktest::fuzz;

namespace {

bool same(const std::optional<RenderedValue>& a, const std::optional<RenderedValue>& b) {
  return a.has_value() == b.has_value() && (!a || *a == *b);
}

// parse_any_report() first reads map entries as the parser meets them,
// without their JSON (report_stream.cpp); each must be what the plain
// reader makes of the whole document.
void check_streamed_entries(std::string_view text) {
  auto streamed = parse_streaming(text);
  if (!streamed) return;
  nlohmann::json plain = nlohmann::json::parse(text.begin(), text.end());  // the text parsed once already
  for (const auto& [where, entries] : streamed->entries) {
    const auto& report = where.first.empty() ? plain : plain.at(where.first);
    const auto& read = report.at("maps").at(where.second).at("entries");
    fuzz_check(read.size() == entries.size(), "the streamed entries are the document's");
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto e = entry_from_json(read[i], "e");
      fuzz_check(e.ok() && same(e->key, entries[i].key) && same(e->value, entries[i].value) &&
                     same(e->payload, entries[i].payload) && e->key_hex == entries[i].key_hex &&
                     e->value_hex == entries[i].value_hex,
                 "a streamed entry is what the plain reader reads");
    }
  }
}

}  // namespace

KTEST_FUZZ_TARGET(report_json, nullptr) {
  std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  check_streamed_entries(text);
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
