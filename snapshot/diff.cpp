// Snapshot diff: maps matched by name, entries by key (snapshot/diff.h).
#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "snapshot/diff_detail.h"
#include "snapshot/dump.h"
#include "snapshot/snapshot.h"

namespace ktest {

using diff_detail::FieldSink;
using diff_detail::PathFilter;

const char* change_name(Change c) {
  switch (c) {
    case Change::Added: return "added";
    case Change::Removed: return "removed";
    case Change::Changed: return "changed";
    case Change::Same: return "same";
  }
  return "?";
}

bool SnapshotDiff::differs() const {
  return std::any_of(maps.begin(), maps.end(), [](const MapDiff& m) { return m.change != Change::Same; });
}

namespace {

// A view that does not own the report (it outlives the diff call).
Snapshot view_of(const NamedReport& nr) {
  return Snapshot(std::shared_ptr<const Report>(std::shared_ptr<const void>(), &nr.report));
}

// One entry of any of a map's three entry lists.
struct EntryView {
  std::string identity;  // what matches it with the other side
  const RenderedValue* key = nullptr;
  const std::string* key_hex = nullptr;
  std::optional<uint32_t> index_key;  // per-CPU array keys
  const RenderedValue* value = nullptr;
  const std::string* value_hex = nullptr;
  const RenderedValue* payload = nullptr;
  const std::vector<std::optional<RenderedValue>>* per_cpu = nullptr;

  std::string key_text() const {
    if (index_key) return std::to_string(*index_key);
    if (key) return cut_key_text(render_value_inline(*key));
    return std::string(HEX_KEY_PREFIX) + (key_hex ? *key_hex : "");
  }
};

std::vector<EntryView> entry_views(const MapDump& m) {
  std::vector<EntryView> out;
  out.reserve(m.entries.size() + m.percpu_entries.size() + m.percpu_hash_entries.size());
  auto identity = [](const std::optional<RenderedValue>& key, const std::string& hex) {
    return hex.empty() && key ? "t:" + render_value_inline(*key) : "h:" + hex;
  };
  for (const auto& e : m.entries) {
    EntryView v;
    v.identity = identity(e.key, e.key_hex);
    v.key = e.key ? &*e.key : nullptr;
    v.key_hex = &e.key_hex;
    v.value = e.value ? &*e.value : nullptr;
    v.value_hex = &e.value_hex;
    v.payload = e.payload ? &*e.payload : nullptr;
    out.push_back(std::move(v));
  }
  for (const auto& e : m.percpu_entries) {
    EntryView v;
    v.identity = "i:" + std::to_string(e.key);
    v.index_key = e.key;
    v.per_cpu = &e.per_cpu;
    out.push_back(std::move(v));
  }
  for (const auto& e : m.percpu_hash_entries) {
    EntryView v;
    v.identity = identity(e.key, e.key_hex);
    v.key = e.key ? &*e.key : nullptr;
    v.key_hex = &e.key_hex;
    v.per_cpu = &e.per_cpu;
    out.push_back(std::move(v));
  }
  // A key seen again (never for hash maps) is told apart by its occurrence.
  std::unordered_map<std::string, std::size_t> seen;
  for (auto& v : out)
    if (std::size_t n = seen[v.identity]++; n != 0) v.identity += "#" + std::to_string(n);
  return out;
}

// Compares one entry's contents (either side may be absent).
void diff_entry(const EntryView* a, const EntryView* b, FieldSink& sink) {
  if ((a && a->per_cpu) || (b && b->per_cpu))
    return diff_detail::diff_per_cpu(a ? a->per_cpu : nullptr, b ? b->per_cpu : nullptr, sink);
  if (a && b && (!a->value || !b->value)) {  // no BTF on a side: the bytes decide
    if (*a->value_hex != *b->value_hex) {
      RenderedValue ha = make_bytes(*a->value_hex), hb = make_bytes(*b->value_hex);
      diff_detail::diff_values(&ha, &hb, "", sink);
    }
  } else {
    auto value = [](const EntryView* e) -> std::optional<RenderedValue> {
      if (!e) return std::nullopt;
      return e->value ? *e->value : make_bytes(*e->value_hex);
    };
    if (a && b) {
      diff_detail::diff_values(a->value, b->value, "", sink);
    } else {
      std::optional<RenderedValue> va = value(a), vb = value(b);
      diff_detail::diff_values(va ? &*va : nullptr, vb ? &*vb : nullptr, "", sink);
    }
  }
  const RenderedValue* pa = a ? a->payload : nullptr;
  const RenderedValue* pb = b ? b->payload : nullptr;
  if (pa || pb) diff_detail::diff_values(pa, pb, "payload()", sink);
}

std::string type_text(const MapDump& m) { return m.type_name.empty() ? map_type_name(m.map_type) : m.type_name; }

bool has_entries(const MapDump& m) {
  return !m.entries.empty() || !m.percpu_entries.empty() || !m.percpu_hash_entries.empty();
}

std::size_t entry_count(const MapDump& m) {
  return m.entries.size() + m.percpu_entries.size() + m.percpu_hash_entries.size();
}

// The map's own state, as (name, value) pairs to compare.
std::vector<std::pair<std::string, RenderedValue>> state_of(const MapDump& m) {
  std::vector<std::pair<std::string, RenderedValue>> s;
  s.emplace_back("type", diff_detail::text_value(type_text(m)));
  s.emplace_back("value_size", make_uint(32, m.value_size));
  s.emplace_back("max_entries", make_uint(32, m.max_entries));
  if (m.error) s.emplace_back("error", diff_detail::text_value(*m.error));
  using Number = std::pair<const char*, uint64_t>;
  if (const auto& r = m.ringbuf) {
    for (auto [name, v] : std::initializer_list<Number>{
             {"capacity", r->capacity}, {"consumer_pos", r->consumer_pos},
             {"producer_pos", r->producer_pos}, {"pending_pos", r->pending_pos},
             {"pending_bytes", r->pending_bytes}, {"records", r->records.size()}})
      s.emplace_back(fmt::format("ringbuf.{}", name), make_uint(64, v));
  }
  if (const auto& a = m.arena) {
    for (auto [name, v] : std::initializer_list<Number>{
             {"user_vm_start", a->user_vm_start}, {"user_vm_end", a->user_vm_end},
             {"kern_vm_start", a->kern_vm_start}, {"pages_present", a->pages_present},
             {"globals_addr", a->globals_addr}, {"globals_size", a->globals_size}})
      s.emplace_back(fmt::format("arena.{}", name), make_uint(64, v));
  }
  return s;
}

class Differ {
 public:
  Differ(const DiffOptions& o, DiffHidden& hidden) : opts_(o), hidden_(hidden) {}

  // `keep`: the field paths selected in this map (none = all).
  MapDiff map(const MapDump* a, const MapDump* b, std::vector<std::string> keep) {
    const MapDump& any = b ? *b : *a;
    MapDiff d;
    d.name = any.name;
    d.type = type_text(any);
    d.variables = global_section_obj(any.name).has_value();
    d.constant = is_constant_section(any.name);
    d.counts.before = a ? entry_count(*a) : 0;
    d.counts.after = b ? entry_count(*b) : 0;
    if (!a || !b) {
      d.change = a ? Change::Removed : Change::Added;
      return d;
    }
    // Selected fields leave the map's own state out; ignored names apply to it.
    if (keep.empty() && opts_.within.empty()) state(*a, *b, d);
    if (keep.empty() && !opts_.within.empty()) keep.push_back(opts_.within);
    PathFilter filter(std::move(keep), opts_.ignore);
    // An ARRAY's value is its element 0, which its entries list again.
    bool value_is_entry0 = (any.map_type == kMapTypeArray || any.map_type == kMapTypePercpuArray) &&
                           (has_entries(*a) || has_entries(*b));
    if (!value_is_entry0 && (a->value || b->value)) {
      FieldSink sink{filter, d.value, hidden_.ignored_fields};
      diff_detail::diff_values(a->value ? &*a->value : nullptr, b->value ? &*b->value : nullptr, "", sink);
    }
    entries(*a, *b, d, filter);
    bool same = d.state.empty() && d.value.empty() && d.counts.added + d.counts.removed + d.counts.changed == 0;
    d.change = same ? Change::Same : Change::Changed;
    return d;
  }

 private:
  void state(const MapDump& a, const MapDump& b, MapDiff& d) {
    auto sa = state_of(a), sb = state_of(b);
    PathFilter filter({}, opts_.ignore);
    FieldSink sink{filter, d.state, hidden_.ignored_fields};
    for (const auto& [name, vb] : sb) {
      auto it = std::find_if(sa.begin(), sa.end(), [&](const auto& p) { return p.first == name; });
      diff_detail::diff_values(it == sa.end() ? nullptr : &it->second, &vb, name, sink);
    }
    for (const auto& [name, va] : sa) {
      if (std::none_of(sb.begin(), sb.end(), [&](const auto& p) { return p.first == name; }))
        diff_detail::diff_values(&va, nullptr, name, sink);
    }
  }

  void entries(const MapDump& a, const MapDump& b, MapDiff& d, const PathFilter& filter) {
    std::vector<EntryView> va = entry_views(a), vb = entry_views(b);
    std::unordered_map<std::string_view, std::size_t> index;
    index.reserve(va.size());
    for (std::size_t i = 0; i < va.size(); ++i) index.emplace(va[i].identity, i);
    std::vector<bool> matched(va.size(), false);
    for (const EntryView& e : vb) {
      auto it = index.find(e.identity);
      const EntryView* before = it == index.end() ? nullptr : &va[it->second];
      if (before) matched[it->second] = true;
      one_entry(before, &e, d, filter);
    }
    for (std::size_t i = 0; i < va.size(); ++i)
      if (!matched[i]) one_entry(&va[i], nullptr, d, filter);
  }

  void one_entry(const EntryView* a, const EntryView* b, MapDiff& d, const PathFilter& filter) {
    bool full = opts_.max_entries != 0 && d.entries.size() >= opts_.max_entries;
    if (full && (!a || !b)) {  // counted, and not copied
      ++(a ? d.counts.removed : d.counts.added);
      ++d.counts.not_listed;
      return;
    }
    EntryDiff e;
    std::size_t ignored = 0;
    FieldSink sink{filter, e.fields, ignored};
    diff_entry(a, b, sink);
    e.change = !a ? Change::Added : !b ? Change::Removed : e.fields.empty() ? Change::Same : Change::Changed;
    switch (e.change) {
      case Change::Added: ++d.counts.added; break;
      case Change::Removed: ++d.counts.removed; break;
      case Change::Changed: ++d.counts.changed; break;
      case Change::Same: ++d.counts.same; break;
    }
    hidden_.ignored_fields += ignored;
    if (e.change == Change::Same && !opts_.show_unchanged) return;
    if (full) {
      ++d.counts.not_listed;
      return;
    }
    const EntryView& v = b ? *b : *a;
    e.key = v.key_text();
    e.key_hex = v.key_hex ? *v.key_hex : "";
    d.entries.push_back(std::move(e));
  }

  const DiffOptions& opts_;
  DiffHidden& hidden_;
};

// Both snapshots' names for SnapshotError factories, which quote the one
// name they take: "a' or 'b" reads "snapshot 'a' or 'b'".
std::string labels(const NamedReport& a, const NamedReport& b) {
  return a.name == b.name ? a.name : fmt::format("{}' or '{}", a.name, b.name);
}

// Map name -> the field paths selected in it (empty: the whole map);
// nullopt when nothing is selected (every map).
using Selection = std::optional<std::map<std::string, std::vector<std::string>>>;

Result<Selection> select(const NamedReport& a, const NamedReport& b, const DiffOptions& o) {
  if (o.maps.empty() && o.vars.empty()) return Selection{};
  std::map<std::string, std::vector<std::string>> chosen;
  std::set<std::string> whole;
  Snapshot sa = view_of(a), sb = view_of(b);
  for (const auto& name : o.maps) {
    auto mb = sb.map(name);
    auto ma = sa.map(name);
    if (!mb && !ma) return fail(std::move(mb.error()));
    whole.insert(mb ? mb->name() : ma->name());
  }
  for (const auto& path : o.vars) {
    std::string head = path.substr(0, path.find_first_of(".["));
    bool found = false;
    for (const NamedReport* nr : {&a, &b}) {
      for (const auto& m : nr->report.maps) {
        if (!global_section_obj(m.name) || !m.value || m.value->kind != ValueKind::Struct) continue;
        for (const auto& member : m.value->members) {
          if (member.name != head) continue;
          chosen[m.name].push_back(path);
          found = true;
        }
      }
    }
    if (!found) {
      std::set<std::string> names;
      for (const Snapshot* s : {&sa, &sb})
        for (auto& n : s->var_names()) names.insert(n);
      return fail(SnapshotError::no_such_var(head, labels(a, b), {names.begin(), names.end()}));
    }
  }
  for (const auto& name : whole) chosen[name].clear();
  return Selection{std::move(chosen)};
}

std::vector<std::string> header_notes(const NamedReport& a, const NamedReport& b) {
  std::vector<std::string> notes;
  if (a.report.kernel_version != b.report.kernel_version)
    notes.push_back(fmt::format("kernel {} → {}", a.report.kernel_version.empty() ? "(unknown)" : a.report.kernel_version,
                                b.report.kernel_version.empty() ? "(unknown)" : b.report.kernel_version));
  for (const NamedReport* nr : {&a, &b}) {
    if (nr->report.degraded)
      notes.push_back(fmt::format("{} is a degraded capture: {}", nr->name, nr->report.degraded->reason));
    if (nr->report.is_placeholder)
      notes.push_back(fmt::format("{} is a placeholder: its capture produced no data", nr->name));
  }
  return notes;
}

}  // namespace

Result<SnapshotDiff> diff_snapshots(const NamedReport& before, const NamedReport& after,
                                    const DiffOptions& options) {
  KTEST_ASSIGN(Selection selection, select(before, after, options));
  SnapshotDiff out;
  out.before = before.name;
  out.after = after.name;
  out.before_captured_at = before.report.captured_at;
  out.after_captured_at = after.report.captured_at;
  out.notes = header_notes(before, after);

  // The n-th map of a name in `after` pairs with the n-th of that name in `before`.
  std::unordered_map<std::string, std::vector<std::size_t>> before_by_name;
  for (std::size_t i = 0; i < before.report.maps.size(); ++i)
    before_by_name[before.report.maps[i].name].push_back(i);
  std::vector<bool> paired(before.report.maps.size(), false);
  std::vector<std::pair<const MapDump*, const MapDump*>> pairs;
  std::unordered_map<std::string, std::size_t> seen;
  for (const MapDump& m : after.report.maps) {
    const auto& same_name = before_by_name[m.name];
    std::size_t n = seen[m.name]++;
    const MapDump* a = n < same_name.size() ? &before.report.maps[same_name[n]] : nullptr;
    if (a) paired[same_name[n]] = true;
    pairs.emplace_back(a, &m);
  }
  for (std::size_t i = 0; i < before.report.maps.size(); ++i)
    if (!paired[i]) pairs.emplace_back(&before.report.maps[i], nullptr);

  Differ differ(options, out.hidden);
  for (auto [a, b] : pairs) {
    const std::string& name = (b ? b : a)->name;
    std::vector<std::string> keep;
    if (selection) {
      auto it = selection->find(name);
      if (it == selection->end()) continue;
      keep = it->second;
    }
    if (std::find(options.ignore.begin(), options.ignore.end(), name) != options.ignore.end()) continue;
    if (is_constant_section(name) && !options.show_constants && !selection) {
      out.hidden.constant_sections.push_back(name);
      bool same = a && b && a->value == b->value && a->error == b->error;
      if (!same) out.hidden.constant_sections_differing.push_back(name);
      continue;
    }
    MapDiff d = differ.map(a, b, std::move(keep));
    if (d.change == Change::Same && !options.show_unchanged) {
      ++out.hidden.same_maps;
      continue;
    }
    if (!options.show_unchanged) out.hidden.same_entries += d.counts.same;
    out.maps.push_back(std::move(d));
  }
  return out;
}

}  // namespace ktest
