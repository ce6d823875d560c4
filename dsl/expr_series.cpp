// Periodic captures in expressions: series(NAME), the methods that apply a
// snapshot method or a path to each element of a list, and the list
// methods a series is asserted with (each, take, never_decreases/_increases).
#include <fmt/format.h>

#include "dsl/expr_eval.h"
#include "kvm/plan.h"

namespace ktest::dsl {
namespace {

// Whether `name` is member k of `series` ("tick.3"), and which.
std::optional<uint32_t> member_number(const std::string& name, const std::string& series) {
  if (name.size() <= series.size() + 1 || name.compare(0, series.size(), series) != 0 || name[series.size()] != '.')
    return std::nullopt;
  uint32_t k = 0;
  for (std::size_t i = series.size() + 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || k > kvm::kMaxCaptures) return std::nullopt;
    k = k * 10 + static_cast<uint32_t>(name[i] - '0');
  }
  return name == kvm::series_member(series, k) ? std::optional(k) : std::nullopt;
}

}  // namespace

// The members captured, in capture order: a missed capture is absent, so
// len() tells how many were taken.
Result<Value> Evaluator::series(const Expr& e) {
  const std::string& name = std::get<std::string>(e.args[0]->literal);
  ValueList members;
  std::vector<std::string> others;
  for (const auto& [snap_name, snap] : ctx_.snapshots) {
    if (member_number(snap_name, name)) members.push_back(Value{snap});
    else others.push_back(snap_name);
  }
  if (members.empty())
    return raise(e.args[0]->span, fmt::format("no capture of series '{}' was taken", name),
                 fmt::format("a step '- CaptureSnapshot: {{name: {}, every: 250ms, count: 8}}' takes {}.1, {}.2, ...",
                             name, name, name),
                 others);
  return Value{std::move(members)};
}

bool Evaluator::all_snapshots(const Value& v) {
  const auto* list = std::get_if<ValueList>(&v.v);
  if (list == nullptr || list->empty()) return false;
  for (const auto& item : *list)
    if (!std::holds_alternative<Snapshot>(item.v)) return false;
  return true;
}

// A snapshot method on a list of snapshots: the list of its results.
Result<Value> Evaluator::snapshot_method_each(const Expr& e, const ValueList& snaps, const std::string& arg) {
  ValueList out;
  for (const auto& item : snaps) {
    const auto& snap = std::get<Snapshot>(item.v);
    auto v = snapshot_method(e, snap, arg);
    if (!v) {
      if (error_) error_->message += fmt::format(" (in snapshot '{}')", snap.name());
      return v;
    }
    out.push_back(std::move(*v));
  }
  return Value{std::move(out)};
}

// A path into each element of a list.
Result<Value> Evaluator::get_path_each(const Expr& e, Span at, const ValueList& items, const std::string& path) {
  ValueList out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto v = get_path(e, at, items[i], path);
    if (!v) {
      if (error_) error_->message += fmt::format(" (element {})", i);
      return v;
    }
    out.push_back(std::move(*v));
  }
  return Value{std::move(out)};
}

Result<Value> Evaluator::list_method(const Expr& e, const Value& recv) {
  KTEST_ASSIGN(ValueList items, elements(*e.receiver, recv));
  if (e.name == "take") {
    KTEST_ASSIGN(std::size_t n, index_arg(e));
    if (items.size() > n) items.resize(n);
    return Value{std::move(items)};
  }
  if (e.name == "each") {
    ValueList out;
    for (const auto& item : items) {
      entries_.push_back(item);
      auto v = eval(*e.args[0]);
      entries_.pop_back();
      if (!v) return v;
      out.push_back(std::move(*v));
    }
    return Value{std::move(out)};
  }
  // never_decreases / never_increases: every neighbour pair in order; the
  // first pair out of order is the failure, as the comparison it broke
  // (list[i-1] <= list[i] for never_decreases).
  const bool up = e.name == "never_decreases";
  std::optional<Scalar> prev;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto s = to_scalar(items[i], false);
    if (!s || s->index() > 1)
      return raise(e.name_span, fmt::format("{}() needs numbers; element {} is {}", e.name, i, render_value(items[i])));
    if (prev && compare_scalars(up ? Op::Lt : Op::Gt, *s, *prev).value_or(false)) {
      const std::string list = text_of(*e.receiver);
      record(e, fmt::format("{}[{}]", list, i - 1), up ? "<=" : ">=", fmt::format("{}[{}]", list, i),
             render_value(items[i - 1]), render_value(items[i]));
      return Value{false};
    }
    prev = *s;
  }
  return Value{true};
}

}  // namespace ktest::dsl
