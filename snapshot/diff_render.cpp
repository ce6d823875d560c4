// Snapshot diff: the text and JSON forms of one SnapshotDiff.
#include <fmt/format.h>

#include "snapshot/diff.h"
#include "snapshot/dump.h"
#include "snapshot/json_read.h"
#include "snapshot/snapshot.h"

namespace ktest {

using nlohmann::json;

namespace {

// Fields listed per value in the text form; JSON lists every one.
constexpr std::size_t kTextFieldsPerValue = 40;

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string delta_text(const Delta& d) {
  if (const auto* i = std::get_if<IntDelta>(&d))
    return (i->negative ? "-" : "+") + json_read::u128_text(i->magnitude);
  return fmt::format("{:+}", std::get<double>(d));
}

json delta_json(const Delta& d) {
  if (const auto* i = std::get_if<IntDelta>(&d)) {
    // A JSON number while it fits 64 bits, else a decimal string (as the reports do).
    if (!i->negative) return json_read::u128_json(i->magnitude);
    if (i->magnitude <= static_cast<uint128_t>(INT64_MAX)) return -static_cast<int64_t>(i->magnitude);
    return "-" + json_read::u128_text(i->magnitude);
  }
  return std::get<double>(d);
}

const char* sign(Change c) {
  switch (c) {
    case Change::Added: return "+";
    case Change::Removed: return "-";
    case Change::Changed: return "~";
    case Change::Same: return "=";
  }
  return "?";
}

std::string value_text(const RenderedValue& v) { return cut_key_text(render_value_inline(v)); }

std::string field_label(const FieldDiff& f) {
  std::string cpu = f.cpu ? fmt::format("cpu{}", *f.cpu) : "";
  if (f.path.empty()) return cpu.empty() ? "value" : cpu;
  if (cpu.empty()) return f.path;
  return cpu + (f.path.front() == '[' ? "" : ".") + f.path;
}

class TextWriter {
 public:
  std::string out;

  void line(std::size_t indent, std::string_view text) {
    out.append(indent * 2, ' ');
    out += text;
    out += '\n';
  }

  // Changed fields at `indent + 1`; added/removed ones one level out, with their sign.
  void fields(const std::vector<FieldDiff>& list, std::size_t indent) {
    std::size_t n = std::min(list.size(), kTextFieldsPerValue);
    for (std::size_t i = 0; i < n; ++i) {
      const FieldDiff& f = list[i];
      switch (f.change) {
        case Change::Added: line(indent, fmt::format("+ {} = {}", field_label(f), value_text(*f.after))); break;
        case Change::Removed: line(indent, fmt::format("- {} = {}", field_label(f), value_text(*f.before))); break;
        case Change::Changed:
        case Change::Same:
          line(indent + 1, fmt::format("{}: {} → {}{}", field_label(f), value_text(*f.before),
                                       value_text(*f.after), f.delta ? " (" + delta_text(*f.delta) + ")" : ""));
      }
    }
    if (list.size() > n) line(indent + 1, fmt::format("({} more; --json lists all)", plural(list.size() - n, "field", "fields")));
  }

  void entry(const EntryDiff& e) {
    // A whole value added or removed fits on the key's line.
    bool one_line = e.fields.size() == 1 && e.fields[0].path.empty() && !e.fields[0].cpu &&
                    e.change != Change::Changed;
    switch (e.change) {
      case Change::Added:
        if (one_line) return line(1, fmt::format("+ key {} = {}", e.key, value_text(*e.fields[0].after)));
        line(1, "+ key " + e.key);
        break;
      case Change::Removed:
        if (one_line) return line(1, fmt::format("- key {} = {}", e.key, value_text(*e.fields[0].before)));
        line(1, "- key " + e.key);
        break;
      case Change::Changed: line(1, "~ key " + e.key); break;
      case Change::Same: line(1, "= key " + e.key); break;
    }
    // The slots of an added/removed per-CPU entry, one per line.
    if (e.change == Change::Added || e.change == Change::Removed) {
      for (const FieldDiff& f : e.fields)
        line(3, fmt::format("{} = {}", field_label(f), value_text(f.after ? *f.after : *f.before)));
      return;
    }
    fields(e.fields, 2);
  }

  void map(const MapDiff& m) {
    std::string detail = m.type;
    if (m.variables) {
      detail += ", global variables";
    } else if (m.counts.before != 0 || m.counts.after != 0) {
      const EntryCounts& c = m.counts;
      if (m.change == Change::Added || m.change == Change::Removed) {
        detail += ", " + plural(m.change == Change::Added ? c.after : c.before, "entry", "entries");
      } else {
        detail += fmt::format(", entries {} → {}: {} added, {} removed, {} changed, {} same", c.before,
                              c.after, c.added, c.removed, c.changed, c.same);
      }
    }
    line(0, fmt::format("{} map {} ({})", sign(m.change), m.name, detail));
    fields(m.state, 1);
    fields(m.value, 1);
    for (const EntryDiff& e : m.entries) entry(e);
    if (m.counts.not_listed != 0)
      line(1, fmt::format("({} not listed; --max-entries 0 lists all)",
                          plural(m.counts.not_listed, "more entry", "more entries")));
  }
};

std::string hidden_line(const DiffHidden& h) {
  std::vector<std::string> parts;
  if (h.same_maps) parts.push_back(plural(h.same_maps, "unchanged map", "unchanged maps"));
  if (h.same_entries) parts.push_back(plural(h.same_entries, "unchanged entry", "unchanged entries"));
  if (!h.constant_sections.empty()) {
    std::string names;
    for (const auto& n : h.constant_sections) names += (names.empty() ? "" : ", ") + n;
    std::string differ = h.constant_sections_differing.empty()
                             ? "same"
                             : fmt::format("{} differ{}", h.constant_sections_differing.size(),
                                           h.constant_sections_differing.size() == 1 ? "s" : "");
    parts.push_back(fmt::format("{} ({}; {})",
                                plural(h.constant_sections.size(), "constant section", "constant sections"),
                                names, differ));
  }
  if (parts.empty()) return "";
  std::string text;
  for (const auto& p : parts) text += (text.empty() ? "" : ", ") + p;
  return "hidden: " + text + "; --all shows them";
}

json field_json(const FieldDiff& f) {
  json j = {{"path", f.path}, {"change", change_name(f.change)}};
  if (f.cpu) j["cpu"] = *f.cpu;
  if (f.before) j["before"] = value_to_json(*f.before);
  if (f.after) j["after"] = value_to_json(*f.after);
  if (f.delta) j["delta"] = delta_json(*f.delta);
  return j;
}

json fields_json(const std::vector<FieldDiff>& list) {
  json out = json::array();
  for (const auto& f : list) out.push_back(field_json(f));
  return out;
}

}  // namespace

std::string diff_text(const SnapshotDiff& d) {
  TextWriter w;
  auto side = [](const std::string& name, const std::string& at) {
    return at.empty() ? name : fmt::format("{} (captured {})", name, at);
  };
  w.line(0, "--- " + side(d.before, d.before_captured_at));
  w.line(0, "+++ " + side(d.after, d.after_captured_at));
  for (const auto& n : d.notes) w.line(0, "note: " + n);
  for (const MapDiff& m : d.maps) w.map(m);
  if (std::string h = hidden_line(d.hidden); !h.empty()) w.line(0, h);
  if (d.hidden.ignored_fields != 0)
    w.line(0, fmt::format("ignored: {} (--ignore)", plural(d.hidden.ignored_fields, "differing field", "differing fields")));
  std::size_t differing = 0;
  for (const MapDiff& m : d.maps) differing += m.change == Change::Same ? 0 : 1;
  w.line(0, differing == 0 ? std::string("no differences")
                           : plural(differing, "map differs", "maps differ"));
  return w.out;
}

json diff_json(const SnapshotDiff& d) {
  json maps = json::array();
  for (const MapDiff& m : d.maps) {
    json entries = json::array();
    for (const EntryDiff& e : m.entries) {
      json je = {{"change", change_name(e.change)}, {"key", e.key}, {"fields", fields_json(e.fields)}};
      if (!e.key_hex.empty()) je["key_hex"] = e.key_hex;
      entries.push_back(std::move(je));
    }
    const EntryCounts& c = m.counts;
    maps.push_back({{"map", m.name},
                    {"change", change_name(m.change)},
                    {"type", m.type},
                    {"variables", m.variables},
                    {"constant", m.constant},
                    {"state", fields_json(m.state)},
                    {"value", fields_json(m.value)},
                    {"counts", {{"before", c.before}, {"after", c.after}, {"added", c.added},
                                {"removed", c.removed}, {"changed", c.changed}, {"same", c.same},
                                {"not_listed", c.not_listed}}},
                    {"entries", std::move(entries)}});
  }
  const DiffHidden& h = d.hidden;
  return {{"before", {{"snapshot", d.before}, {"captured_at", d.before_captured_at}}},
          {"after", {{"snapshot", d.after}, {"captured_at", d.after_captured_at}}},
          {"differs", d.differs()},
          {"notes", d.notes},
          {"maps", std::move(maps)},
          {"hidden", {{"same_maps", h.same_maps}, {"same_entries", h.same_entries},
                      {"constant_sections", h.constant_sections},
                      {"constant_sections_differing", h.constant_sections_differing},
                      {"ignored_fields", h.ignored_fields}}}};
}

}  // namespace ktest
