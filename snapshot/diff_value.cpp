// Snapshot diff: value trees compared field by field, and dotted paths.
#include <algorithm>

#include "snapshot/diff_detail.h"
#include "snapshot/render_util.h"

namespace ktest {

namespace {

bool is_index(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::string canonical_path(std::string_view path) {
  std::string out;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t dot = path.find('.', pos);
    std::size_t end = dot == std::string_view::npos ? path.size() : dot;
    std::string_view comp = path.substr(pos, end - pos);
    std::size_t bracket = comp.find('[');
    std::string_view name = comp.substr(0, bracket);
    if (is_index(name)) {
      out += "[" + std::string(name) + "]";
    } else if (!name.empty()) {
      if (!out.empty()) out += '.';
      out += name;
    }
    if (bracket != std::string_view::npos) out += comp.substr(bracket);  // "[3][4]" as written
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  return out;
}

bool path_within(std::string_view path, std::string_view prefix) {
  if (prefix.empty()) return true;
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '.' || path[prefix.size()] == '[';
}

namespace diff_detail {

PathFilter::PathFilter(std::vector<std::string> keep, const std::vector<std::string>& ignore)
    : keep_(std::move(keep)) {
  for (auto& k : keep_) k = canonical_path(k);
  for (const auto& i : ignore) ignore_.push_back(canonical_path(i));
}

PathFilter::Verdict PathFilter::at(std::string_view path) const {
  for (const auto& i : ignore_)
    if (path_within(path, i)) return Verdict::Ignored;
  if (keep_.empty()) return Verdict::Keep;
  bool above = false;
  for (const auto& k : keep_) {
    if (path_within(path, k)) return Verdict::Keep;
    above = above || path_within(k, path);
  }
  return above ? Verdict::Descend : Verdict::Skip;
}

RenderedValue text_value(const std::string& text) {
  RenderedValue v = make_array(text.size(), {});
  v.text = text;
  return v;
}

RenderedValue unreadable_slot() { return make_unsupported("CPU slot not readable at capture"); }

namespace {

std::optional<Delta> delta_of(const RenderedValue& a, const RenderedValue& b) {
  if (a.kind != b.kind) return std::nullopt;
  switch (a.kind) {
    case ValueKind::Int:
      // Both 128-bit: b - a fits 128 bits unsigned once the sign is taken out.
      if (b.int_value >= a.int_value)
        return IntDelta{false, static_cast<uint128_t>(b.int_value) - static_cast<uint128_t>(a.int_value)};
      return IntDelta{true, static_cast<uint128_t>(a.int_value) - static_cast<uint128_t>(b.int_value)};
    case ValueKind::Uint:
      if (b.uint_value >= a.uint_value) return IntDelta{false, b.uint_value - a.uint_value};
      return IntDelta{true, a.uint_value - b.uint_value};
    case ValueKind::Float: return b.float_value - a.float_value;
    default: return std::nullopt;  // enums name states; bools, chars, pointers have no distance
  }
}

// A pointer without its rendered target (the targets are compared on their own).
RenderedValue bare_pointer(const RenderedValue& p) {
  RenderedValue v = make_ptr(static_cast<uint64_t>(p.uint_value));
  if (p.detail().cast_annotation) v.mutable_detail().cast_annotation = p.detail().cast_annotation;
  return v;
}

const RenderedValue* through_truncation(const RenderedValue* v) {
  return v->kind == ValueKind::Truncated && v->detail().partial ? v->detail().partial.get() : v;
}

std::string member_path(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : path + "." + std::string(name);
}

class TreeDiff {
 public:
  explicit TreeDiff(FieldSink& sink) : sink_(sink) {}

  void node(const RenderedValue* a, const RenderedValue* b, const std::string& path, std::size_t depth) {
    using V = PathFilter::Verdict;
    V verdict = sink_.filter.at(path);
    if (verdict == V::Skip) return;
    if (a != nullptr && b != nullptr && *a == *b) return;
    if (verdict == V::Ignored) {
      ++sink_.ignored;
      return;
    }
    if (a == nullptr || b == nullptr) {
      emit(a == nullptr ? Change::Added : Change::Removed, path, a, b);
      return;
    }
    a = through_truncation(a);
    b = through_truncation(b);
    if (depth >= kMaxDiffDepth || a->kind != b->kind) return emit(Change::Changed, path, a, b);
    switch (a->kind) {
      case ValueKind::Struct: return members(*a, *b, path, depth);
      case ValueKind::Array: return array(*a, *b, path, depth);
      case ValueKind::Ptr: return pointer(*a, *b, path, depth);
      default: return emit(Change::Changed, path, a, b);
    }
  }

 private:
  void emit(Change change, const std::string& path, const RenderedValue* a, const RenderedValue* b) {
    FieldDiff d;
    d.change = change;
    d.path = path;
    d.cpu = sink_.cpu;
    if (a != nullptr) d.before = *a;
    if (b != nullptr) d.after = *b;
    if (a != nullptr && b != nullptr) d.delta = delta_of(*a, *b);
    sink_.out.push_back(std::move(d));
  }

  // Members by name, in after's order, then those only before has.
  // Anonymous members are transparent: matched by their order among them.
  void members(const RenderedValue& a, const RenderedValue& b, const std::string& path,
               std::size_t depth) {
    std::vector<bool> matched(a.members.size(), false);
    std::size_t anon_b = 0;
    for (std::size_t i = 0; i < b.members.size(); ++i) {
      const RenderedMember& mb = b.members[i];
      std::optional<std::size_t> j = match(a, mb.name, i, mb.name.empty() ? anon_b++ : 0);
      const RenderedValue* va = j ? &a.members[*j].value : nullptr;
      if (j) matched[*j] = true;
      node(va, &mb.value, mb.name.empty() ? path : member_path(path, mb.name), depth + 1);
    }
    for (std::size_t j = 0; j < a.members.size(); ++j) {
      if (matched[j]) continue;
      const RenderedMember& ma = a.members[j];
      node(&ma.value, nullptr, ma.name.empty() ? path : member_path(path, ma.name), depth + 1);
    }
  }

  // The member of `a` named `name` (the same position first: layouts rarely move);
  // for an anonymous member, the `nth_anon` anonymous one.
  static std::optional<std::size_t> match(const RenderedValue& a, const std::string& name,
                                          std::size_t position, std::size_t nth_anon) {
    if (!name.empty() && position < a.members.size() && a.members[position].name == name) return position;
    std::size_t anon = 0;
    for (std::size_t j = 0; j < a.members.size(); ++j) {
      if (a.members[j].name != name) continue;
      if (!name.empty() || anon++ == nth_anon) return j;
    }
    return std::nullopt;
  }

  void array(const RenderedValue& a, const RenderedValue& b, const std::string& path, std::size_t depth) {
    auto ta = char_array_text(a);
    auto tb = char_array_text(b);
    if (ta || tb) {  // text compares as a whole, not byte by byte
      if (ta != tb) emit(Change::Changed, path, &a, &b);
      return;
    }
    std::size_t n = std::max(a.elements.size(), b.elements.size());
    for (std::size_t i = 0; i < n; ++i) {
      const RenderedValue* ea = i < a.elements.size() ? &a.elements[i] : nullptr;
      const RenderedValue* eb = i < b.elements.size() ? &b.elements[i] : nullptr;
      node(ea, eb, path + "[" + std::to_string(i) + "]", depth + 1);
    }
  }

  void pointer(const RenderedValue& a, const RenderedValue& b, const std::string& path, std::size_t depth) {
    const RenderedDetail& da = a.detail();
    const RenderedDetail& db = b.detail();
    if (a.uint_value != b.uint_value || da.cast_annotation != db.cast_annotation) {
      RenderedValue pa = bare_pointer(a), pb = bare_pointer(b);
      emit(Change::Changed, path, &pa, &pb);
      if (da.deref && db.deref) node(da.deref.get(), db.deref.get(), path, depth + 1);
      return;
    }
    if (da.deref && db.deref) return node(da.deref.get(), db.deref.get(), path, depth + 1);
    emit(Change::Changed, path, &a, &b);  // chased on one side only, or skipped for other reasons
  }

  FieldSink& sink_;
};

}  // namespace

void diff_values(const RenderedValue* before, const RenderedValue* after, const std::string& path,
                 FieldSink& sink) {
  TreeDiff(sink).node(before, after, path, 0);
}

void diff_per_cpu(const std::vector<std::optional<RenderedValue>>* before,
                  const std::vector<std::optional<RenderedValue>>* after, FieldSink& sink) {
  const RenderedValue unreadable = unreadable_slot();
  std::size_t na = before ? before->size() : 0, nb = after ? after->size() : 0;
  for (std::size_t c = 0; c < std::max(na, nb); ++c) {
    auto slot = [&](const std::vector<std::optional<RenderedValue>>* slots, std::size_t n) {
      if (c >= n) return static_cast<const RenderedValue*>(nullptr);
      return (*slots)[c] ? &*(*slots)[c] : &unreadable;
    };
    sink.cpu = c;
    diff_values(slot(before, na), slot(after, nb), "", sink);
  }
  sink.cpu.reset();
}

}  // namespace diff_detail
}  // namespace ktest
