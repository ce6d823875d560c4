// Internal to cli/html/: the page's assets, embedded at build time by
// embed_assets.py (cli/html/meson.build) into html_assets.cpp.
#pragma once

#include <string_view>

namespace ktest::cli::html_assets {

extern const std::string_view kPageTemplate;   // assets/report.html (mustache)
extern const std::string_view kPageStyle;      // assets/report.css
extern const std::string_view kPageScript;     // assets/report.js
extern const std::string_view kChartJs;        // the system's Chart.js (libjs-chart.js)
extern const std::string_view kChartJsVersion;  // "3.9.1", from its banner
// CSP script-src sources: the sha256 of each inline script, kChartJs then kPageScript.
extern const std::string_view kScriptHashes;

}  // namespace ktest::cli::html_assets
