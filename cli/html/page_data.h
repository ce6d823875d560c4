// Internal to cli/html/: the page's data, built from a run directory.
//
// A capture becomes a tree of plain nodes the page's script walks:
//   {"k": label, "v": text, "x": number, "t": type, "c": [children],
//    "more": children left out, "e": error, "g": 1 on a global-section map}
// Every key but "k" is optional. "x" is set on numeric scalars (what the
// charts plot); the label path from a map down to a node names it across
// captures (a hash entry's label is its rendered key).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cli/html/html_report.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest::cli::html_detail {

struct CaptureTree {
  nlohmann::json maps = nlohmann::json::array();  // one node per map, then "scx" when captured
  std::size_t omitted = 0;  // nodes left out by HtmlLimits::nodes_per_capture
};
CaptureTree capture_tree(const Report& report, const HtmlLimits& limits);

// results.json plus what each scenario's files add (see html_report.h).
Result<nlohmann::json> load_page_data(const std::string& run_dir, const HtmlLimits& limits);

// The whole page for load_page_data()'s document.
Result<std::string> render_page(const nlohmann::json& data);

// JSON text that is safe inside <script>: '<', '>', '&', U+2028 and U+2029
// are written as \u escapes (they only occur inside strings).
std::string script_safe_json(const nlohmann::json& doc);

}  // namespace ktest::cli::html_detail
