// A snapshot report as the page's tree (page_data.h), within HtmlLimits.
#include <fmt/format.h>

#include <cmath>

#include "cli/html/page_data.h"
#include "snapshot/dump.h"
#include "snapshot/snapshot.h"

namespace ktest::cli::html_detail {
namespace {

using Json = nlohmann::json;

// Bytes values are shown up to this many hex characters.
constexpr std::size_t kMaxHexChars = 3 * 64;
// Longest one-line summary of a scalar array on its collapsed node.
constexpr std::size_t kMaxInlineChars = 120;

bool is_scalar(ValueKind kind) {
  switch (kind) {
    case ValueKind::Int:
    case ValueKind::Uint:
    case ValueKind::Bool:
    case ValueKind::Char:
    case ValueKind::Float:
    case ValueKind::Enum:
      return true;
    case ValueKind::Struct:
    case ValueKind::Array:
    case ValueKind::CpuList:
    case ValueKind::Ptr:
    case ValueKind::Bytes:
    case ValueKind::Truncated:
    case ValueKind::Unsupported:
      return false;
  }
  return false;
}

// What a chart plots for a scalar; nullopt for chars (text, not a quantity).
std::optional<double> plotted(const RenderedValue& v) {
  switch (v.kind) {
    case ValueKind::Int:
    case ValueKind::Enum:
      return static_cast<double>(v.int_value);
    case ValueKind::Uint:
    case ValueKind::Bool:
      return static_cast<double>(v.uint_value);
    case ValueKind::Float:
      return std::isfinite(v.float_value) ? std::optional<double>(v.float_value) : std::nullopt;
    case ValueKind::Char:
    case ValueKind::Struct:
    case ValueKind::Array:
    case ValueKind::CpuList:
    case ValueKind::Ptr:
    case ValueKind::Bytes:
    case ValueKind::Truncated:
    case ValueKind::Unsupported:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string cut(std::string text, std::size_t max) {
  if (text.size() > max) text = text.substr(0, max) + "…";
  return text;
}

class TreeBuilder {
 public:
  explicit TreeBuilder(const HtmlLimits& limits) : limits_(limits), left_(limits.nodes_per_capture) {}

  std::size_t omitted() const { return omitted_; }

  Json map_node(const MapDump& map) {
    Json node = {{"k", map.name}, {"t", map_type_name(map.map_type)}};
    if (global_section_obj(map.name)) node["g"] = 1;
    if (map.error) node["e"] = *map.error;
    if (map.value) fill(node, *map.value, 1);
    std::size_t shown = 0, total = map.entries.size() + map.percpu_entries.size() + map.percpu_hash_entries.size();
    auto room = [&] { return shown < limits_.entries_per_map; };
    for (const auto& e : map.entries) {
      if (!room()) break;
      Json entry = {{"k", e.key ? render_value_inline(*e.key) : std::string(HEX_KEY_PREFIX) + e.key_hex}};
      if (e.value) {
        fill(entry, *e.value, 1);
      } else {
        entry["v"] = cut("hex " + e.value_hex, kMaxHexChars);
      }
      if (e.payload) add(entry, value_node("payload", *e.payload, 2));
      ++shown;
      if (!add(node, std::move(entry))) break;
    }
    for (const auto& e : map.percpu_entries) {
      if (!room()) break;
      ++shown;
      if (!add(node, per_cpu_node(std::to_string(e.key), e.per_cpu))) break;
    }
    for (const auto& e : map.percpu_hash_entries) {
      if (!room()) break;
      ++shown;
      std::string key = e.key ? render_value_inline(*e.key) : std::string(HEX_KEY_PREFIX) + e.key_hex;
      if (!add(node, per_cpu_node(key, e.per_cpu))) break;
    }
    if (shown < total) node["more"] = node.value("more", std::size_t{0}) + (total - shown);
    if (map.arena) add(node, json_node("arena", arena_to_json(*map.arena), 1));
    if (map.ringbuf) add(node, json_node("ringbuf", ringbuf_to_json(*map.ringbuf), 1));
    return node;
  }

  Json value_node(std::string label, const RenderedValue& v, std::size_t depth) {
    Json node = {{"k", std::move(label)}};
    fill(node, v, depth);
    return node;
  }

 private:
  // Takes one node from the budget; false (and counted) when it is spent.
  bool add(Json& parent, Json child) {
    if (left_ == 0) {
      ++omitted_;
      parent["more"] = parent.value("more", std::size_t{0}) + 1;
      return false;
    }
    --left_;
    parent["c"].push_back(std::move(child));
    return true;
  }

  Json per_cpu_node(std::string label, const std::vector<std::optional<RenderedValue>>& slots) {
    Json node = {{"k", std::move(label)}, {"t", fmt::format("per-CPU, {} slots", slots.size())}};
    for (std::size_t cpu = 0; cpu < slots.size(); ++cpu) {
      std::string name = fmt::format("cpu{}", cpu);
      Json slot = slots[cpu] ? value_node(name, *slots[cpu], 2) : Json{{"k", name}, {"e", "unreadable"}};
      if (!add(node, std::move(slot))) break;
    }
    return node;
  }

  // A value's text, number, type and children onto `node`.
  void fill(Json& node, const RenderedValue& v, std::size_t depth) {
    const RenderedDetail& d = v.detail();
    if (depth > limits_.max_depth) {
      node["e"] = fmt::format("nested deeper than {} levels: not shown", limits_.max_depth);
      return;
    }
    switch (v.kind) {
      case ValueKind::Int:
      case ValueKind::Uint:
      case ValueKind::Bool:
      case ValueKind::Char:
      case ValueKind::Float:
      case ValueKind::Enum:
        node["v"] = render_value_inline(v);
        if (auto x = plotted(v)) node["x"] = *x;
        return;
      case ValueKind::CpuList:
        node["v"] = d.cpus;
        return;
      case ValueKind::Bytes:
        node["v"] = cut(d.hex, kMaxHexChars);
        return;
      case ValueKind::Unsupported:
        node["e"] = "unsupported: " + d.reason.str();
        return;
      case ValueKind::Truncated:
        node["e"] = fmt::format("truncated: {} of {} bytes", d.had, d.needed);
        if (d.partial) fill(node, *d.partial, depth);
        return;
      case ValueKind::Struct:
        if (v.type_name) node["t"] = *v.type_name;
        for (const auto& m : v.members) {
          if (!add(node, value_node(m.name.empty() ? "(anonymous)" : m.name, m.value, depth + 1))) break;
        }
        return;
      case ValueKind::Array:
        return fill_array(node, v, depth);
      case ValueKind::Ptr:
        node["v"] = fmt::format("{:#x}{}", static_cast<uint64_t>(v.uint_value),
                                d.cast_annotation ? " (" + *d.cast_annotation + ")" : "");
        if (d.deref_skipped_reason) node["e"] = "not followed: " + *d.deref_skipped_reason;
        if (d.deref) add(node, value_node("*", *d.deref, depth + 1));
        return;
    }
  }

  void fill_array(Json& node, const RenderedValue& v, std::size_t depth) {
    if (v.text) {
      node["v"] = render_value_inline(v);
      return;
    }
    bool scalars = !v.elements.empty() && is_scalar(v.elements.front().kind);
    if (scalars) node["v"] = cut(render_value_inline(v), kMaxInlineChars);
    std::size_t shown = std::min<std::size_t>(v.elements.size(), limits_.elements_per_array);
    for (std::size_t i = 0; i < shown; ++i) {
      if (!add(node, value_node(std::to_string(i), v.elements[i], depth + 1))) break;
    }
    uint64_t len = std::max<uint64_t>(v.len, v.elements.size());
    if (len > shown) node["more"] = node.value("more", uint64_t{0}) + (len - shown);
  }

  // Arena and ring buffer state: their report JSON as a tree.
  Json json_node(std::string label, const Json& j, std::size_t depth) {
    Json node = {{"k", std::move(label)}};
    if (depth > limits_.max_depth) return node;
    if (j.is_object()) {
      for (const auto& [key, value] : j.items()) {
        if (!add(node, json_node(key, value, depth + 1))) break;
      }
    } else if (j.is_array()) {
      std::size_t shown = std::min<std::size_t>(j.size(), limits_.elements_per_array);
      for (std::size_t i = 0; i < shown; ++i) {
        if (!add(node, json_node(std::to_string(i), j[i], depth + 1))) break;
      }
      if (j.size() > shown) node["more"] = node.value("more", std::size_t{0}) + (j.size() - shown);
    } else if (j.is_number()) {
      node["v"] = j.dump();
      node["x"] = j.get<double>();
    } else {
      node["v"] = j.is_string() ? j.get<std::string>() : j.dump();
    }
    return node;
  }

  const HtmlLimits& limits_;
  std::size_t left_;
  std::size_t omitted_ = 0;
};

}  // namespace

CaptureTree capture_tree(const Report& report, const HtmlLimits& limits) {
  TreeBuilder builder(limits);
  CaptureTree tree;
  for (const auto& map : report.maps) tree.maps.push_back(builder.map_node(map));
  // The sched_ext state under the name assertions use: snapshot(...).scx().
  if (report.scx) {
    Json scx = builder.value_node("scx", scx_to_rendered(*report.scx), 1);
    scx["t"] = "sched_ext state";
    tree.maps.push_back(std::move(scx));
  }
  tree.omitted = builder.omitted();
  return tree;
}

}  // namespace ktest::cli::html_detail
