// Internal to snapshot/: report JSON text parsed with its map entries taken
// out as they are read.
//
// Contract:
// - A big report is mostly map entries, and building their JSON costs
//   more than everything else loading does. parse_streaming() reads each
//   element of a map's "entries" (of a single report, or of a dual
//   report's "early" / "late") into a MapEntry straight from the parser's
//   events (EntryReader, entry_tokens.h), or, in a shape that reader
//   leaves, through its JSON and entry_from_json(); the rest of the text
//   is kept as JSON. `entries` is keyed by ("" / "early" / "late", the
//   map's index).
// - It gives up (an Error whose text does not matter) on anything it would
//   have to word an error for: invalid JSON, an entry that is not an
//   object or does not convert, a key given twice outside the entries.
//   The caller then parses the whole text the plain way, whose errors say
//   what and where.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "snapshot/report.h"
#include "util/result.h"

namespace ktest {

// One element of a map's "entries"; `at` prefixes error messages (report_json.cpp).
Result<MapEntry> entry_from_json(const nlohmann::json& j, const std::string& at);

struct StreamedReport {
  nlohmann::json rest;  // the text's JSON, every entries[] array emptied
  std::map<std::pair<std::string, std::size_t>, std::vector<MapEntry>> entries;
};
Result<StreamedReport> parse_streaming(std::string_view text);

}  // namespace ktest
