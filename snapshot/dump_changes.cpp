// `ktest snapshot dump --changed-since`: the dump as a diff view.
#include <fmt/format.h>

#include "snapshot/diff.h"
#include "snapshot/dump.h"
#include "snapshot/json_read.h"
#include "snapshot/snapshot.h"

namespace ktest {

using nlohmann::json;

Result<std::string> dump_changes(const std::vector<NamedReport>& reports, const NamedReport& base,
                                 const DumpOptions& o) {
  std::vector<const NamedReport*> selected;
  std::vector<std::string> names;
  for (const auto& nr : reports) {
    names.push_back(nr.name);
    if (&nr == &base) continue;
    if (o.snapshot.empty() || nr.name == o.snapshot) selected.push_back(&nr);
  }
  if (!o.snapshot.empty() && selected.empty()) {
    if (o.snapshot == base.name)
      return fail(fmt::format("--snapshot {} is the snapshot --changed-since compares with", o.snapshot), "",
                  "name a later snapshot, or leave --snapshot out for every other one");
    return fail(SnapshotError::no_such_snapshot(o.snapshot, names));
  }
  if (selected.empty())
    return fail(fmt::format("no snapshot besides '{}' to compare with it", base.name), "",
                "capture more than one snapshot, or compare with another run's: --changed-since RUN:NAME");

  DiffOptions d;
  if (!o.map.empty()) d.maps.push_back(o.map);
  if (!o.path.empty() && o.map.empty()) d.vars.push_back(o.path);
  if (!o.path.empty() && !o.map.empty()) d.within = o.path;
  d.show_constants = o.show_constants;
  d.max_entries = o.max_entries;

  std::string text;
  json all = json::array();
  for (const NamedReport* nr : selected) {
    auto diff = diff_snapshots(base, *nr, d);
    if (!diff) return std::move(diff).context(fmt::format("snapshot '{}'", nr->name));
    if (o.json && !o.snapshot.empty()) return json_read::safe_dump(diff_json(*diff), 2) + "\n";
    if (o.json) {
      all.push_back(json{{"snapshot", nr->name}, {"data", diff_json(*diff)}});
    } else {
      text += (text.empty() ? "" : "\n") + diff_text(*diff);
    }
  }
  return o.json ? json_read::safe_dump(all, 2) + "\n" : text;
}

}  // namespace ktest
