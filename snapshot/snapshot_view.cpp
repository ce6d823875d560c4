// Snapshot: map lookup, global variables, and the active-scheduler projection.
#include <algorithm>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "snapshot/snapshot.h"

namespace ktest {

namespace {

constexpr std::string_view kSections[] = {".bss", ".data", ".rodata"};

// The DATASEC struct of a global-section map (vars are its members).
const RenderedValue* section_struct(const MapDump& m) {
  if (!m.value) return nullptr;
  const RenderedValue* v = &*m.value;
  if (v->kind == ValueKind::Truncated && v->detail().partial) v = v->detail().partial.get();
  return v->kind == ValueKind::Struct ? v : nullptr;
}

std::string var_head(std::string_view name_path) {
  return std::string(name_path.substr(0, name_path.find_first_of(".[")));
}

// What follows the variable name: "stats.nr" -> "nr", "slots[2]" -> "[2]".
std::string_view var_rest(std::string_view name_path, std::string_view head) {
  std::string_view rest = name_path.substr(head.size());
  if (!rest.empty() && rest.front() == '.') rest.remove_prefix(1);
  return rest;
}

struct VarHit {
  std::size_t map_index;
  const RenderedValue* value;
};

std::vector<VarHit> find_var(const Report& r, std::string_view var) {
  std::vector<VarHit> hits;
  for (std::size_t i = 0; i < r.maps.size(); ++i) {
    if (!global_section_obj(r.maps[i].name)) continue;
    const RenderedValue* s = section_struct(r.maps[i]);
    if (s == nullptr) continue;
    for (const auto& m : s->members) {
      if (m.name == var) {
        hits.push_back(VarHit{i, &m.value});
        break;
      }
    }
  }
  return hits;
}

std::string map_label(const MapDump& m) {
  return m.map_kva ? fmt::format("{} (kva 0x{:x})", m.name, m.map_kva) : m.name;
}

}  // namespace

std::optional<std::string> global_section_obj(std::string_view map_name) {
  for (std::string_view sec : kSections) {
    for (std::size_t pos = map_name.find(sec); pos != std::string_view::npos;
         pos = map_name.find(sec, pos + 1)) {
      std::size_t end = pos + sec.size();
      if (end == map_name.size() || map_name[end] == '.') {
        return std::string(map_name.substr(0, pos));
      }
    }
  }
  return std::nullopt;
}

bool is_constant_section(std::string_view map_name) {
  for (std::string_view sec : {std::string_view(".rodata"), std::string_view(".kconfig")}) {
    for (std::size_t pos = map_name.find(sec); pos != std::string_view::npos;
         pos = map_name.find(sec, pos + 1)) {
      std::size_t end = pos + sec.size();
      if (end == map_name.size() || map_name[end] == '.') return true;
    }
  }
  return false;
}

struct Snapshot::ScxTree {
  std::once_flag once;
  std::shared_ptr<const RenderedValue> tree;  // null when the report has no scx
};

Snapshot::Snapshot(Report report)
    : report_(std::make_shared<const Report>(std::move(report))),
      scx_tree_(std::make_shared<ScxTree>()) {}
Snapshot::Snapshot(std::shared_ptr<const Report> report)
    : report_(report ? std::move(report) : std::make_shared<const Report>()),
      scx_tree_(std::make_shared<ScxTree>()) {}

SnapshotField Snapshot::scx() const {
  ScxTree& cache = *scx_tree_;
  std::call_once(cache.once, [&] {
    if (report_->scx) cache.tree = std::make_shared<const RenderedValue>(scx_to_rendered(*report_->scx));
  });
  if (!cache.tree) return SnapshotField::missing(SnapshotError::no_scx_state(name_or_unnamed()));
  return SnapshotField(cache.tree, cache.tree.get(), "scx");
}

const std::string& Snapshot::name() const { return report_->snapshot_name; }

std::vector<std::string> Snapshot::map_names() const {
  std::vector<std::string> names;
  for (const auto& m : report_->maps) names.push_back(m.name);
  return names;
}

std::vector<SnapshotMap> Snapshot::maps() const {
  std::vector<SnapshotMap> out;
  for (std::size_t i = 0; i < report_->maps.size(); ++i) {
    SnapshotMap m;
    m.report_ = report_;
    m.map_index_ = i;
    out.push_back(std::move(m));
  }
  return out;
}

Result<SnapshotMap> Snapshot::map(std::string_view name) const {
  std::vector<std::size_t> exact, suffix;
  std::string dotted = "." + std::string(name);
  // The kernel keeps BPF_OBJ_NAME_LEN - 1 characters of a map's name, so the
  // name in the source ("loader_task_slot") also finds "loader_task_slo".
  const std::string_view kept = name.substr(0, std::min(name.size(), kKernelMapNameChars));
  for (std::size_t i = 0; i < report_->maps.size(); ++i) {
    const std::string& n = report_->maps[i].name;
    if (n == name || (name.size() > kKernelMapNameChars && n == kept)) exact.push_back(i);
    if (!name.empty() && n.size() > dotted.size() &&
        n.compare(n.size() - dotted.size(), dotted.size(), dotted) == 0) {
      suffix.push_back(i);
    }
  }
  const auto& chosen = exact.empty() ? suffix : exact;
  if (chosen.size() == 1) {
    SnapshotMap m;
    m.report_ = report_;
    m.map_index_ = chosen[0];
    return m;
  }
  if (chosen.size() > 1) {
    std::vector<std::string> labels;
    for (std::size_t i : chosen) labels.push_back(map_label(report_->maps[i]));
    return fail(SnapshotError::ambiguous_map(name, labels));
  }
  return fail(SnapshotError::no_such_map(name, name_or_unnamed(), map_names()));
}

std::string Snapshot::name_or_unnamed() const {
  return report_->snapshot_name.empty() ? "(unnamed)" : report_->snapshot_name;
}

std::vector<std::string> Snapshot::var_names() const {
  std::set<std::string> names;
  for (const auto& m : report_->maps) {
    if (!global_section_obj(m.name)) continue;
    if (const RenderedValue* s = section_struct(m)) {
      for (const auto& member : s->members) {
        if (!member.name.empty()) names.insert(member.name);
      }
    }
  }
  return {names.begin(), names.end()};
}

SnapshotField Snapshot::var(std::string_view name_path) const {
  if (auto bad = empty_component_position(name_path)) {
    return SnapshotField::missing(SnapshotError::empty_path_component(name_path, *bad));
  }
  std::string head = var_head(name_path);
  auto hits = find_var(*report_, head);
  if (hits.empty()) {
    return SnapshotField::missing(SnapshotError::no_such_var(head, name_or_unnamed(), var_names()));
  }
  if (hits.size() > 1) {
    std::vector<std::string> labels;
    for (const auto& h : hits) labels.push_back(map_label(report_->maps[h.map_index]));
    return SnapshotField::missing(SnapshotError::ambiguous_var(head, labels));
  }
  return SnapshotField(report_, hits[0].value, head).get(var_rest(name_path, head));
}

std::vector<SnapshotField> Snapshot::vars(std::string_view name_path) const {
  if (auto bad = empty_component_position(name_path)) {
    return {SnapshotField::missing(SnapshotError::empty_path_component(name_path, *bad))};
  }
  std::string head = var_head(name_path);
  std::string_view rest = var_rest(name_path, head);
  std::vector<SnapshotField> out;
  for (const auto& h : find_var(*report_, head)) {
    out.push_back(SnapshotField(report_, h.value, head).get(rest));
  }
  return out;
}

std::variant<Snapshot, SnapshotError> Snapshot::active_view() const {
  const Report& r = *report_;
  std::string obj;
  if (r.active_obj_name) {
    obj = *r.active_obj_name;
  } else {
    std::set<std::string> objs;
    std::set<std::string> seen_sections;
    std::vector<std::string> duplicated;
    for (const auto& m : r.maps) {
      auto o = global_section_obj(m.name);
      if (!o) continue;
      objs.insert(*o);
      if (!seen_sections.insert(m.name).second) duplicated.push_back(m.name);
    }
    std::vector<std::string> observed(objs.begin(), objs.end());
    if (objs.empty()) {
      return SnapshotError::no_active_scheduler(
          "the report has no global-section maps (.bss/.data/.rodata)", observed);
    }
    if (objs.size() > 1) {
      return SnapshotError::no_active_scheduler(
          "the report names no active_obj_name and several BPF objects have globals", observed);
    }
    if (!duplicated.empty()) {
      return SnapshotError::no_active_scheduler(
          fmt::format("two copies of '{}' and no active_map_kvas to choose one", duplicated[0]),
          observed);
    }
    obj = observed[0];
  }
  std::set<uint64_t> kvas(r.active_map_kvas.begin(), r.active_map_kvas.end());
  auto kva_ok = [&](const MapDump& m) { return kvas.empty() || m.map_kva == 0 || kvas.count(m.map_kva); };
  Report projected = r;
  projected.maps.clear();
  projected.active_obj_name = obj;
  for (const auto& m : r.maps) {
    auto section_obj = global_section_obj(m.name);
    bool keep = section_obj          ? (*section_obj == obj && kva_ok(m))
                : !m.program.empty() ? m.program == obj
                : !kvas.empty() && m.map_kva != 0 ? kvas.count(m.map_kva) != 0
                                                  : true;
    if (keep) projected.maps.push_back(m);
  }
  return Snapshot(std::move(projected));
}

Result<Snapshot> Snapshot::active() const {
  auto v = active_view();
  if (auto* e = std::get_if<SnapshotError>(&v)) return fail(*e);
  return std::get<Snapshot>(std::move(v));
}

SnapshotField Snapshot::live_var(std::string_view name_path) const {
  auto v = active_view();
  if (auto* e = std::get_if<SnapshotError>(&v)) return SnapshotField::missing(std::move(*e));
  return std::get<Snapshot>(v).var(name_path);
}

}  // namespace ktest
