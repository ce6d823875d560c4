// Dotted-path walking over RenderedValue trees (pointers followed, bounded).
#include <charconv>

#include "snapshot/snapshot.h"

namespace ktest {

namespace {

struct Step {
  bool is_bracket = false;  // "[3]" form: must be an array index
  std::string_view text;    // the component as written ("ctx", "3")
  std::size_t end = 0;      // offset in the path just past this step
};

bool parse_index(std::string_view text, std::size_t& out) {
  if (text.empty() || text.size() > 19) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

// Splits "a.b[2].c" into steps; reports the 1-based number of an empty
// component or a malformed bracket.
bool split_path(std::string_view path, std::vector<Step>& steps, std::size_t& bad_component) {
  std::size_t component = 0;
  std::size_t pos = 0;
  while (true) {
    ++component;
    std::size_t dot = path.find('.', pos);
    std::size_t end = dot == std::string_view::npos ? path.size() : dot;
    std::string_view comp = path.substr(pos, end - pos);
    std::size_t bracket = comp.find('[');
    std::string_view name = comp.substr(0, bracket);
    if (comp.empty()) {
      bad_component = component;
      return false;
    }
    if (!name.empty()) steps.push_back(Step{false, name, pos + name.size()});
    while (bracket != std::string_view::npos) {
      std::size_t close = comp.find(']', bracket);
      if (close == std::string_view::npos) {
        bad_component = component;
        return false;
      }
      steps.push_back(Step{true, comp.substr(bracket + 1, close - bracket - 1), pos + close + 1});
      if (close + 1 == comp.size()) break;
      if (comp[close + 1] != '[') {
        bad_component = component;
        return false;
      }
      bracket = close + 1;
    }
    if (dot == std::string_view::npos) return true;
    pos = dot + 1;
  }
}

std::string at_text(std::string_view base, std::string_view path, std::size_t end) {
  std::string_view walked = path.substr(0, end);
  if (base.empty()) return std::string(walked);
  if (walked.empty()) return std::string(base);
  return std::string(base) + (walked.front() == '[' ? "" : ".") + std::string(walked);
}

// Follows pointers and truncation wrappers to the node a step applies to.
WalkResult resolve_for_step(const RenderedValue& v, const std::string& at) {
  const RenderedValue* cur = &v;
  for (std::size_t hops = 0;; ++hops) {
    if (cur->kind == ValueKind::Ptr && cur->detail().deref) {
      cur = cur->detail().deref.get();
    } else if (cur->kind == ValueKind::Truncated && cur->detail().partial) {
      cur = cur->detail().partial.get();
    } else if (cur->kind == ValueKind::Ptr) {
      return SnapshotError::pointer_not_followed(
          at, static_cast<uint64_t>(cur->uint_value), cur->detail().deref_skipped_reason.value_or(""));
    } else {
      return cur;
    }
    if (hops >= MAX_DEREF_CHAIN) return SnapshotError::deref_chain_too_long(at);
  }
}

std::vector<std::string> member_names_of(const RenderedValue& v) {
  std::vector<std::string> names;
  for (const auto& m : v.members) {
    if (!m.name.empty()) names.push_back(m.name);
  }
  return names;
}

// Looks `name` up in `s`, descending into anonymous struct/union members
// (C makes their members visible in the parent). Bounded by depth.
const RenderedValue* find_member(const RenderedValue& s, std::string_view name, int depth = 0) {
  for (const auto& m : s.members) {
    if (m.name == name) return &m.value;
  }
  if (depth >= 8) return nullptr;
  for (const auto& m : s.members) {
    if (m.name.empty() && m.value.kind == ValueKind::Struct) {
      if (const RenderedValue* hit = find_member(m.value, name, depth + 1)) return hit;
    }
  }
  return nullptr;
}

}  // namespace

std::optional<std::size_t> empty_component_position(std::string_view path) {
  if (path.empty()) return std::nullopt;
  std::size_t component = 1;
  for (std::size_t p = 0; p <= path.size(); ++p) {
    bool boundary = p == path.size() || path[p] == '.';
    if (boundary && (p == 0 || path[p - 1] == '.')) return component;
    if (boundary) ++component;
  }
  return std::nullopt;
}

const RenderedValue* follow_pointers(const RenderedValue& v) {
  const RenderedValue* cur = &v;
  for (std::size_t hops = 0; hops < MAX_DEREF_CHAIN && cur->kind == ValueKind::Ptr && cur->detail().deref;
       ++hops) {
    cur = cur->detail().deref.get();
  }
  return cur;
}

WalkResult walk_dotted_path(const RenderedValue& root, std::string_view path,
                            std::string_view base) {
  if (path.empty()) return &root;
  std::vector<Step> steps;
  std::size_t bad = 0;
  if (!split_path(path, steps, bad)) {
    return SnapshotError::empty_path_component(at_text(base, path, path.size()), bad);
  }
  const RenderedValue* cur = &root;
  for (const Step& step : steps) {
    std::string at = at_text(base, path, step.end);
    WalkResult resolved = resolve_for_step(*cur, at);
    if (auto* err = std::get_if<SnapshotError>(&resolved)) return std::move(*err);
    const RenderedValue* node = std::get<const RenderedValue*>(resolved);
    std::size_t index = 0;
    bool numeric = parse_index(step.text, index);
    if (node->kind == ValueKind::Array && (numeric || step.is_bracket)) {
      if (!numeric) return SnapshotError::not_a_struct(step.text, at, "array");
      if (index >= node->elements.size()) {
        return SnapshotError::index_out_of_range(index, at, node->elements.size(), node->len);
      }
      cur = &node->elements[index];
      continue;
    }
    if (node->kind == ValueKind::Struct && !step.is_bracket) {
      const RenderedValue* hit = find_member(*node, step.text);
      if (hit == nullptr) {
        return SnapshotError::missing_member(step.text, at, node->type_name.value_or(""),
                                             member_names_of(*node));
      }
      cur = hit;
      continue;
    }
    if (numeric || step.is_bracket) return SnapshotError::not_an_array(step.text, at, kind_name(node->kind));
    return SnapshotError::not_a_struct(step.text, at, kind_name(node->kind));
  }
  return cur;
}

}  // namespace ktest
