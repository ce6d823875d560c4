// The page: the build-time assets and the run's data through one template.
//
// The template engine is kainjow's mustache (Debian libkainjow-mustache-dev,
// header only): it HTML-escapes what it substitutes unless told not to, so
// scenario names and errors from the guest cannot become markup in the
// summary that is rendered without JavaScript; the inline assets and the
// data (escaped by script_safe_json) go in raw.
#include <kainjow/mustache.hpp>

#include <fmt/format.h>

#include <filesystem>

#include "cli/html/assets.h"
#include "cli/html/page_data.h"
#include "cli/report/report.h"
#include "util/atomic_file.h"

namespace ktest::cli::html_detail {
namespace {

using Json = nlohmann::json;
namespace mustache = kainjow::mustache;

std::string text_of(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  return it->is_string() ? sanitize_text(it->get<std::string>()) : it->dump();
}

std::string elapsed_of(const Json& obj) {
  auto it = obj.find("duration_ms");
  if (it == obj.end() || !it->is_number_integer()) return "";
  return format_elapsed(std::chrono::milliseconds(it->get<int64_t>()));
}

// The summary at the top of the page, readable without JavaScript.
mustache::data summary_data(const Json& results) {
  mustache::data view;
  view.set("started_at", text_of(results, "started_at"));
  view.set("duration", elapsed_of(results));
  view.set("ktest_version", text_of(results, "ktest_version"));
  view.set("output_dir", text_of(results, "output_dir"));
  mustache::data counts{mustache::data::type::list};
  const Json summary = results.value("summary", Json::object());
  for (const char* key : {"passed", "failed", "errors", "skipped"}) {
    mustache::data count;
    count.set("label", key);
    count.set("count", text_of(summary, key));
    counts.push_back(count);
  }
  view.set("counts", counts);
  mustache::data rows{mustache::data::type::list};
  std::size_t index = 0;
  std::string worst = "passed";
  for (const auto& scenario : results["scenarios"]) {
    mustache::data row;
    row.set("index", std::to_string(index++));
    row.set("name", text_of(scenario, "name"));
    std::string outcome = text_of(scenario, "outcome");
    if (outcome != "passed" && worst == "passed") worst = outcome;
    row.set("outcome", outcome);
    row.set("duration", elapsed_of(scenario));
    row.set("file", text_of(scenario, "file"));
    rows.push_back(row);
  }
  view.set("scenarios", rows);
  view.set("verdict", worst);
  std::string title = index == 1 ? text_of(results["scenarios"][0], "name") : fmt::format("{} scenarios", index);
  view.set("title", fmt::format("ktest: {} — {}", title, worst));
  return view;
}

}  // namespace

std::string script_safe_json(const Json& doc) {
  std::string text = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
               (text[i + 2] == '\xA8' || text[i + 2] == '\xA9')) {
      out += text[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::string> render_page(const Json& data) {
  mustache::mustache page{std::string(html_assets::kPageTemplate)};
  if (!page.is_valid())
    return fail("the HTML report template does not parse: " + page.error_message(), "cli/html/assets/report.html",
                "this is a bug in ktest's build: report it");
  mustache::data view = summary_data(data["results"]);
  view.set("style", std::string(html_assets::kPageStyle));
  view.set("chart_js", std::string(html_assets::kChartJs));
  view.set("chart_js_version", std::string(html_assets::kChartJsVersion));
  view.set("page_js", std::string(html_assets::kPageScript));
  view.set("script_hashes", std::string(html_assets::kScriptHashes));
  view.set("data_json", script_safe_json(data));
  std::string html = page.render(view);
  if (!page.is_valid())
    return fail("rendering the HTML report failed: " + page.error_message(), "", "this is a bug in ktest: report it");
  return html;
}

}  // namespace ktest::cli::html_detail

namespace ktest::cli {

Result<std::string> write_html_report(const HtmlReportOptions& options) {
  KTEST_ASSIGN(nlohmann::json data, html_detail::load_page_data(options.run_dir, options.limits));
  KTEST_ASSIGN(std::string html, html_detail::render_page(data));
  std::string path = options.output.empty()
                         ? (std::filesystem::path(options.run_dir) / kHtmlReportFile).string()
                         : options.output;
  if (Status s = write_file_atomic(path, html); !s)
    return fail(std::move(s.error()).with_context("writing the HTML report"));
  return path;
}

}  // namespace ktest::cli
