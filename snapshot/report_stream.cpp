#include "snapshot/report_stream.h"

#include <fmt/format.h>

namespace ktest {
namespace {

using json = nlohmann::json;

// Where the parser is: the last key seen at each depth. An entry of a
// single report ends at depth 4 (report {maps [map {entries [entry), of a
// dual report's early/late at depth 5.
class EntryStream {
 public:
  explicit EntryStream(StreamedReport& out) : out_(out) {}

  bool on_event(int depth, json::parse_event_t event, json& parsed) {
    const auto d = static_cast<std::size_t>(depth);
    if (event == json::parse_event_t::key) {
      if (key_at_.size() <= d) key_at_.resize(d + 1);
      key_at_[d] = parsed.get<std::string>();
      return true;
    }
    if (failed_) return true;
    if (auto report = report_of_entry(d); report) {
      if (event == json::parse_event_t::object_end) return take_entry(*report, parsed);
      if (event == json::parse_event_t::value || event == json::parse_event_t::array_start) failed_ = true;
      return true;
    }
    if (event == json::parse_event_t::object_end && d >= 2) {
      if (auto report = report_of_map(d); report) ++next_map_[*report];
    }
    return true;
  }
  bool failed() const { return failed_; }

 private:
  bool key_is(std::size_t depth, std::string_view key) const {
    return depth < key_at_.size() && key_at_[depth] == key;
  }
  // The report ("" single, "early", "late") whose map sits at `depth`.
  std::optional<std::string> report_of_map(std::size_t depth) const {
    if (depth == 2 && key_is(1, "maps")) return "";
    if (depth == 3 && key_is(2, "maps") && (key_is(1, "early") || key_is(1, "late"))) return key_at_[1];
    return std::nullopt;
  }
  // The report whose map's entries[] holds the value ending at `depth`.
  std::optional<std::string> report_of_entry(std::size_t depth) const {
    if (depth < 3 || !key_is(depth - 1, "entries")) return std::nullopt;
    return report_of_map(depth - 2);
  }

  bool take_entry(const std::string& report, const json& parsed) {
    const std::size_t map = next_map_[report];
    std::vector<MapEntry>& entries = out_.entries[{report, map}];
    auto entry = entry_from_json(parsed, fmt::format("maps[{}].entries[{}]", map, entries.size()));
    if (!entry) {
      failed_ = true;
      return true;
    }
    entries.push_back(std::move(*entry));
    return false;  // dropped from the JSON
  }

  StreamedReport& out_;
  std::vector<std::string> key_at_;
  std::map<std::string, std::size_t> next_map_;  // maps finished so far, per report
  bool failed_ = false;
};

}  // namespace

Result<StreamedReport> parse_streaming(std::string_view text) {
  StreamedReport out;
  EntryStream stream(out);
  try {
    out.rest = json::parse(text.begin(), text.end(), [&stream](int depth, json::parse_event_t event, json& parsed) {
      return stream.on_event(depth, event, parsed);
    });
  } catch (const json::exception& e) {
    return fail(e.what());
  }
  if (stream.failed()) return fail("an entry needs the plain parse's error");
  return out;
}

}  // namespace ktest
