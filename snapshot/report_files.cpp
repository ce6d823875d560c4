// Report files: naming, one-report-per-snapshot run directories, and
// loading ktstr failure dumps (single / dual / degraded) as is.
#include <algorithm>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "snapshot/json_read.h"
#include "snapshot/report.h"
#include "snapshot/report_stream.h"
#include "util/atomic_file.h"
#include "util/zstd_frame.h"

namespace ktest {

using nlohmann::json;
namespace fs = std::filesystem;

std::string map_type_name(uint32_t map_type) {
  static const char* const kNames[] = {
      "unspec",        "hash",          "array",           "prog_array",
      "perf_event_array", "percpu_hash", "percpu_array",    "stack_trace",
      "cgroup_array",  "lru_hash",      "lru_percpu_hash", "lpm_trie",
      "array_of_maps", "hash_of_maps",  "devmap",          "sockmap",
      "cpumap",        "xskmap",        "sockhash",        "cgroup_storage",
      "reuseport_sockarray", "percpu_cgroup_storage", "queue", "stack",
      "sk_storage",    "devmap_hash",   "struct_ops",      "ringbuf",
      "inode_storage", "task_storage",  "bloom_filter",    "user_ringbuf",
      "cgrp_storage",  "arena"};
  if (map_type < std::size(kNames)) return kNames[map_type];
  return fmt::format("type {}", map_type);
}

namespace {

bool is_dual(const json& j) {
  const json* schema = json_read::find(j, "schema");
  return schema != nullptr && schema->is_string() && *schema == kSchemaDual;
}

Result<std::vector<NamedReport>> reports_from_json(const json& j, std::string_view fallback_name) {
  std::vector<NamedReport> out;
  auto name_of = [](const Report& r, std::string fallback) {
    return r.snapshot_name.empty() ? fallback : r.snapshot_name;
  };
  if (is_dual(j)) {
    if (const json* early = json_read::find(j, "early")) {
      auto r = report_from_json(*early);
      if (!r) return std::move(r).context("early");
      std::string n = name_of(*r, fmt::format("{}.early", fallback_name));
      out.push_back(NamedReport{std::move(n), std::move(*r)});
    }
    const json* late = json_read::find(j, "late");
    if (late == nullptr) return fail("report: dual report has no \"late\" snapshot");
    auto r = report_from_json(*late);
    if (!r) return std::move(r).context("late");
    std::string n = name_of(*r, fmt::format("{}.late", fallback_name));
    out.push_back(NamedReport{std::move(n), std::move(*r)});
    return out;
  }
  KTEST_ASSIGN(Report r, report_from_json(j));
  std::string n = name_of(r, std::string(fallback_name));
  out.push_back(NamedReport{std::move(n), std::move(r)});
  return out;
}


// Puts the entries parse_streaming() took out back in their maps; false
// when some found no map (the text was not shaped as it looked).
bool put_back_entries(StreamedReport& streamed, std::vector<NamedReport>& out) {
  std::vector<std::pair<std::string, Report*>> reports;
  if (!is_dual(streamed.rest)) {
    reports.emplace_back("", &out.front().report);
  } else {  // early (when present), then late: as reports_from_json() lists them
    if (out.size() == 2) reports.emplace_back("early", &out.front().report);
    reports.emplace_back("late", &out.back().report);
  }
  std::size_t placed = 0;
  for (auto& [key, report] : reports) {
    for (std::size_t i = 0; i < report->maps.size(); ++i) {
      auto it = streamed.entries.find({key, i});
      if (it == streamed.entries.end()) continue;
      report->maps[i].entries = std::move(it->second);
      ++placed;
    }
  }
  return placed == streamed.entries.size();
}

}  // namespace

Result<std::vector<NamedReport>> parse_any_report(std::string_view text,
                                                  std::string_view fallback_name) {
  if (auto streamed = parse_streaming(text)) {
    auto out = reports_from_json(streamed->rest, fallback_name);
    if (out && put_back_entries(*streamed, *out)) return out;
  }
  // Whatever the streaming parse gave up on, the plain one words.
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return fail(fmt::format("report: invalid JSON: {}", e.what()));
  }
  return reports_from_json(j, fallback_name);
}


std::string report_file_in(const std::string& dir, std::string_view snapshot_name) {
  return (fs::path(dir) / (report_file_stem(snapshot_name) + ".json")).string();
}

std::string report_file_stem(std::string_view snapshot_name) {
  std::string out;
  for (std::size_t i = 0; i < snapshot_name.size(); ++i) {
    auto c = static_cast<unsigned char>(snapshot_name[i]);
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || (c == '.' && i != 0);
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  if (out.empty()) out = "%00";  // an unnamed snapshot still gets a file
  return out;
}

bool is_report_file_name(std::string_view file_name) {
  auto ends_with = [&](std::string_view suffix) {
    return file_name.size() > suffix.size() && file_name.substr(file_name.size() - suffix.size()) == suffix;
  };
  return ends_with(".json") || ends_with(std::string(".json") + std::string(kCompressedReportSuffix));
}

Result<std::string> save_report(const std::string& path, const Report& r) {
  // Compact: a capture of many maps is tens of MB pretty-printed, three
  // times its compact size; `ktest snapshot dump` or jq show it to people.
  std::string text = report_to_text(r, -1);
  std::string compressed_path = path + std::string(kCompressedReportSuffix);
  const bool compress = text.size() > kCompressReportsAbove;
  const std::string& target = compress ? compressed_path : path;
  if (compress) {
    // Level 3: the whole of a 200 MB report compresses in about a second.
    auto frame = zstd_compress(text, 3);
    if (!frame) return std::move(frame).context(fmt::format("compressing report {}", target));
    text = std::move(*frame);
  }
  if (Status s = write_file_atomic(target, text); !s) return std::move(s).context(fmt::format("writing report {}", target));
  std::error_code ec;
  fs::remove(compress ? path : compressed_path, ec);  // a stale other form would load twice
  return target;
}

namespace {

std::string fallback_name_for(const fs::path& path) {
  std::string file = path.filename().string();
  auto strip = [&file](std::string_view suffix) {
    bool has = file.size() > suffix.size() && file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (has) file.resize(file.size() - suffix.size());
    return has;
  };
  strip(kCompressedReportSuffix);
  for (std::string_view suffix : {".failure-dump.json", ".json"})
    if (strip(suffix)) break;
  return file;
}

bool is_zstd_frame(std::string_view bytes) {
  return bytes.size() >= 4 && bytes.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4);
}

}  // namespace

Result<std::vector<NamedReport>> load_report_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::move(text).context(fmt::format("loading report {}", path));
  if (is_zstd_frame(*text)) {
    auto inflated = zstd_decompress(*text, kMaxReportJsonBytes);
    if (!inflated) {
      Error e = std::move(inflated.error());
      e.location = path;
      e.with_context("reading a compressed report");
      if (e.hint.empty()) e.hint = "the file is damaged, or not one ktest wrote; `zstd -t` tests it";
      return fail(std::move(e));
    }
    text = std::move(*inflated);
  }
  auto reports = parse_any_report(*text, fallback_name_for(path));
  if (!reports) {
    Error e = std::move(reports.error());
    e.location = path;
    return fail(std::move(e));
  }
  return reports;
}

Result<std::vector<std::string>> save_run_reports(const std::string& dir, const std::vector<NamedReport>& reports) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(fmt::format("cannot create report directory {}: {}", dir, ec.message()));
  std::vector<std::string> written;
  for (const auto& nr : reports) {
    Report r = nr.report;
    if (r.snapshot_name.empty()) r.snapshot_name = nr.name;
    KTEST_ASSIGN(std::string path, save_report(report_file_in(dir, nr.name), r));
    written.push_back(std::move(path));
  }
  return written;
}

Result<std::vector<NamedReport>> load_reports(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return load_report_file(path);
  std::vector<fs::path> files;
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (is_report_file_name(it->path().filename().string()) && it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) return fail(fmt::format("cannot list report directory {}: {}", path, ec.message()));
  std::vector<NamedReport> out;
  for (const auto& f : files) {
    KTEST_ASSIGN(auto reports, load_report_file(f.string()));
    for (auto& r : reports) out.push_back(std::move(r));
  }
  std::stable_sort(out.begin(), out.end(), [](const NamedReport& a, const NamedReport& b) {
    if (a.report.captured_at != b.report.captured_at) {
      return a.report.captured_at < b.report.captured_at;
    }
    return a.name < b.name;
  });
  return out;
}

}  // namespace ktest
