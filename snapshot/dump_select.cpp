// Selection (snapshot / map / path) for `ktest snapshot dump`.
#include <algorithm>

#include <fmt/format.h>

#include "snapshot/dump.h"
#include "snapshot/json_read.h"
#include "snapshot/snapshot.h"

namespace ktest {

using nlohmann::json;

namespace {

std::string indent_lines(const std::string& text, std::size_t levels) {
  std::string pad(levels * 2, ' ');
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string::npos ? text.size() : nl + 1;
    out += pad;
    out.append(text, pos, end - pos);
    pos = end;
  }
  return out;
}

Result<const RenderedValue*> field_node(const SnapshotField& f) {
  if (!f.ok()) return fail(*f.error());
  return f.raw();
}

// The sched_ext state is "scx" for a map-less path, unless a global has that name.
bool is_scx_path(const Snapshot& s, std::string_view path) {
  if (path.substr(0, path.find_first_of(".[")) != "scx") return false;
  auto names = s.var_names();
  return std::find(names.begin(), names.end(), "scx") == names.end();
}

// A map-less path: inside the sched_ext state, or a global variable.
SnapshotField path_field(const Snapshot& s, std::string_view path) {
  if (!is_scx_path(s, path)) return s.var(path);
  std::string_view rest = path.substr(3);
  if (!rest.empty() && rest.front() == '.') rest.remove_prefix(1);
  return s.scx().get(rest);
}

std::size_t entry_limit(const DumpOptions& o) { return o.max_entries == 0 ? SIZE_MAX : o.max_entries; }

// map + path on a multi-entry map: the path in every entry (and CPU slot).
std::string entries_text(const SnapshotMap& m, const DumpOptions& o) {
  std::string out = fmt::format("map {} path {}\n", m.name(), o.path);
  auto entries = m.entries();
  std::size_t limit = entry_limit(o);
  for (std::size_t i = 0; i < entries.size() && i < limit; ++i) {
    const SnapshotEntry& e = entries[i];
    out += fmt::format("  [{}] key = {}\n", i, e.key_text());
    std::vector<std::pair<std::string, SnapshotField>> fields;
    if (e.is_per_cpu()) {
      for (std::size_t c = 0; c < e.nr_cpus(); ++c) {
        auto ec = e.cpu(c);
        if (ec) fields.emplace_back(fmt::format("cpu{}.{}", c, o.path), ec->get(o.path));
      }
    } else {
      fields.emplace_back(o.path, e.get(o.path));
    }
    for (const auto& [label, f] : fields) {
      if (!f.ok()) {
        out += fmt::format("    {}: <missing: {}>\n", label, f.error()->message);
        continue;
      }
      out += indent_lines(render_value_text(*f.raw().value(), label, o), 2);
    }
  }
  if (entries.size() > limit)
    out += fmt::format("  ({} more entries; --max-entries 0 lists all)\n", entries.size() - limit);
  return out;
}

json entries_json(const SnapshotMap& m, const DumpOptions& o) {
  json out = json::array();
  auto entries = m.entries();
  std::size_t limit = entry_limit(o);
  auto field_json = [](const SnapshotField& f) {
    return f.ok() ? value_to_json(*f.raw().value()) : json{{"error", f.error()->message}};
  };
  for (std::size_t i = 0; i < entries.size() && i < limit; ++i) {
    const SnapshotEntry& e = entries[i];
    json je = {{"index", i}, {"key", e.key_text()}};
    if (e.is_per_cpu()) {
      json slots = json::array();
      for (std::size_t c = 0; c < e.nr_cpus(); ++c) {
        auto ec = e.cpu(c);
        slots.push_back(ec ? field_json(ec->get(o.path)) : json(nullptr));
      }
      je["per_cpu"] = std::move(slots);
    } else {
      je["value"] = field_json(e.get(o.path));
    }
    out.push_back(std::move(je));
  }
  return out;
}

bool single_value_map(const SnapshotMap& m) { return m.size() == 1 && !m.is_per_cpu(); }

Result<std::string> select_text(const NamedReport& nr, const DumpOptions& o) {
  if (o.map.empty() && o.path.empty()) return render_report_text(nr, o);
  Snapshot s(nr.report);
  std::string head = fmt::format("snapshot {}\n", nr.name.empty() ? "(unnamed)" : nr.name);
  if (o.map.empty()) {
    if (o.path == "scx" && nr.report.scx && is_scx_path(s, o.path)) return head + scx_to_text(*nr.report.scx);
    KTEST_ASSIGN(const RenderedValue* v, field_node(path_field(s, o.path)));
    return head + render_value_text(*v, o.path, o);
  }
  KTEST_ASSIGN(SnapshotMap m, s.map(o.map));
  if (o.path.empty()) return head + render_map_text(m.raw(), o);
  if (single_value_map(m)) {
    KTEST_ASSIGN(const RenderedValue* v, field_node(m.get(o.path)));
    return head + render_value_text(*v, o.path, o);
  }
  return head + entries_text(m, o);
}

Result<json> select_json(const NamedReport& nr, const DumpOptions& o) {
  if (o.map.empty() && o.path.empty()) return report_to_json(nr.report);
  Snapshot s(nr.report);
  if (o.map.empty()) {
    if (o.path == "scx" && nr.report.scx && is_scx_path(s, o.path)) return scx_to_json(*nr.report.scx);
    KTEST_ASSIGN(const RenderedValue* v, field_node(path_field(s, o.path)));
    return value_to_json(*v);
  }
  KTEST_ASSIGN(SnapshotMap m, s.map(o.map));
  if (o.path.empty()) {
    Report one;
    one.maps.push_back(m.raw());
    return report_to_json(one)["maps"][0];
  }
  if (single_value_map(m)) {
    KTEST_ASSIGN(const RenderedValue* v, field_node(m.get(o.path)));
    return value_to_json(*v);
  }
  return entries_json(m, o);
}

}  // namespace

Result<std::string> dump_reports(const std::vector<NamedReport>& reports, const DumpOptions& o) {
  std::vector<const NamedReport*> selected;
  if (!o.snapshot.empty()) {
    std::vector<std::string> names;
    for (const auto& nr : reports) {
      if (nr.name == o.snapshot) selected.push_back(&nr);
      names.push_back(nr.name);
    }
    if (selected.empty()) return fail(SnapshotError::no_such_snapshot(o.snapshot, names));
  } else {
    for (const auto& nr : reports) selected.push_back(&nr);
  }
  if (selected.empty()) {
    return fail("no snapshots to dump", "", "capture some with CaptureSnapshot steps");
  }
  if (o.json) {
    if (!o.snapshot.empty()) {
      KTEST_ASSIGN(json j, select_json(*selected[0], o));
      return json_read::safe_dump(j, 2) + "\n";
    }
    json all = json::array();
    for (const NamedReport* nr : selected) {
      auto j = select_json(*nr, o);
      if (!j) return std::move(j).context(fmt::format("snapshot '{}'", nr->name));
      all.push_back(json{{"snapshot", nr->name}, {"data", std::move(*j)}});
    }
    return json_read::safe_dump(all, 2) + "\n";
  }
  std::string out;
  for (const NamedReport* nr : selected) {
    auto text = select_text(*nr, o);
    if (!text) return std::move(text).context(fmt::format("snapshot '{}'", nr->name));
    if (!out.empty()) out += "\n";
    out += *text;
  }
  return out;
}

}  // namespace ktest
