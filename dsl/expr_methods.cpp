// Evaluation of methods and member access over snapshot views and lists.
#include <fmt/format.h>

#include <algorithm>

#include "dsl/expr_eval.h"

namespace ktest::dsl {
namespace {

const std::string& string_arg(const Expr& e) { return std::get<std::string>(e.args[0]->literal); }

// The array a field holds, also through pointers (a pointer to an array
// is walked like the array, as get() walks through pointers); else nullptr.
const RenderedValue* array_of(const Value& v) {
  const auto* f = std::get_if<SnapshotField>(&v.v);
  if (f == nullptr || !f->ok()) return nullptr;
  const RenderedValue* target = follow_pointers(**f->raw());
  return target != nullptr && target->kind == ValueKind::Array ? target : nullptr;
}

bool is_array_field(const Value& v) { return array_of(v) != nullptr; }

template <typename T>
Value list_of(const std::vector<T>& xs) {
  ValueList out;
  for (const T& x : xs) {
    if constexpr (std::is_same_v<T, bool>) out.push_back(Value{x});
    else if constexpr (std::is_floating_point_v<T>) out.push_back(Value{static_cast<double>(x)});
    else out.push_back(Value{static_cast<expr_int_t>(x)});
  }
  return Value{std::move(out)};
}

}  // namespace

Result<std::size_t> Evaluator::index_arg(const Expr& e) {
  KTEST_ASSIGN(Value v, eval(*e.args[0]));
  auto s = to_scalar(v, false);
  const auto* i = s ? std::get_if<expr_int_t>(&*s) : nullptr;
  if (!i || *i < 0 || *i > static_cast<expr_int_t>(SIZE_MAX))
    return raise(e.args[0]->span, fmt::format("{}() needs a non-negative integer, got {}", e.name, render_value(v)));
  return static_cast<std::size_t>(*i);
}

Result<Value> Evaluator::get_path(const Expr& e, Span at, const Value& recv, const std::string& path) {
  if (const auto* f = std::get_if<SnapshotField>(&recv.v)) return field(f->get(path), at);
  if (const auto* en = std::get_if<SnapshotEntry>(&recv.v)) return field(en->get(path), at);
  if (const auto* m = std::get_if<SnapshotMap>(&recv.v)) return field(m->get(path), at);
  if (const auto* j = std::get_if<JsonField>(&recv.v)) return json(j->get(path), at);
  if (const auto* list = std::get_if<ValueList>(&recv.v)) return get_path_each(e, at, *list, path);
  if (std::holds_alternative<Snapshot>(recv.v))
    return raise(at, fmt::format("a snapshot has no member '{}'", path),
                 fmt::format("write .var(\"{0}\") or .map(\"{0}\")", path));
  (void)e;
  return raise(at, fmt::format("{} ({}) has no member '{}'", value_kind(recv), render_value(recv), path));
}

Result<ValueList> Evaluator::elements(const Expr& e, const Value& recv) {
  if (const auto* list = std::get_if<ValueList>(&recv.v)) return *list;
  if (const auto* m = std::get_if<SnapshotMap>(&recv.v)) {
    ValueList out;
    for (auto& en : m->entries()) out.push_back(Value{std::move(en)});
    return out;
  }
  if (is_array_field(recv)) {
    const auto& f = std::get<SnapshotField>(recv.v);
    ValueList out;
    const std::size_t n = array_of(recv)->elements.size();
    for (std::size_t i = 0; i < n; ++i) out.push_back(Value{f.index(i)});
    return out;
  }
  if (const auto* j = std::get_if<JsonField>(&recv.v); j && j->ok() && (*j->raw())->is_array()) {
    ValueList out;
    const std::size_t n = (*j->raw())->size();
    for (std::size_t i = 0; i < n; ++i) out.push_back(Value{j->index(i)});
    return out;
  }
  return raise(e.span, fmt::format("{} ({}) is not a list, array or map", value_kind(recv), render_value(recv)));
}

Result<Value> Evaluator::search(const Expr& e, const Value& recv) {
  const Expr& pred = *e.args[0];
  auto test = [&](const Value& item) -> Result<bool> {
    entries_.push_back(item);
    auto r = eval_bool(pred);
    entries_.pop_back();
    return r;
  };
  const auto* m = std::get_if<SnapshotMap>(&recv.v);
  if (m && m->size() > 0 && e.name == "find") {
    // Walked here rather than by SnapshotMap::find so NoMatch quotes the predicate.
    const auto all = m->entries();
    for (const auto& en : all) {
      KTEST_ASSIGN(bool hit, test(Value{en}));
      if (hit) return Value{en};
    }
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < all.size() && i < NO_MATCH_KEY_SAMPLE; ++i) keys.push_back(all[i].key_text());
    return raise(e.name_span, SnapshotError::no_match(m->name(), fmt::format("`{}`", text_of(pred)), all.size(),
                                                      std::move(keys)));
  }
  if (m) {  // empty or unavailable maps: the snapshot layer says which
    auto en_test = [&](const SnapshotEntry& en) { return test(Value{en}); };
    if (e.name == "find") {
      auto found = m->find(en_test);
      if (!found) return raise(e.name_span, found.error());
      return Value{*found};
    }
    auto found = m->filter(en_test);
    if (!found) return raise(e.name_span, found.error());
    ValueList out;
    for (auto& en : *found) out.push_back(Value{std::move(en)});
    return Value{std::move(out)};
  }
  KTEST_ASSIGN(ValueList items, elements(*e.receiver, recv));
  ValueList matched;
  for (const auto& item : items) {
    KTEST_ASSIGN(bool ok, test(item));
    if (!ok) continue;
    if (e.name == "find") return item;
    matched.push_back(item);
  }
  if (e.name == "filter") return Value{std::move(matched)};
  std::vector<std::string> sample;
  for (std::size_t i = 0; i < items.size() && i < NO_MATCH_KEY_SAMPLE; ++i)
    sample.push_back(cut_key_text(render_value(items[i])));
  return raise(e.name_span, fmt::format("no element of {} matches `{}` ({} elements)", text_of(*e.receiver),
                                        text_of(pred), items.size()),
               "", sample);
}

Result<Value> Evaluator::extreme_by(const Expr& e, const Value& recv, const std::string& path) {
  const bool want_max = e.name == "max_by";
  if (const auto* m = std::get_if<SnapshotMap>(&recv.v)) {
    auto found = want_max ? m->max_by(path) : m->min_by(path);
    if (!found) return raise(e.name_span, found.error());
    return Value{*found};
  }
  KTEST_ASSIGN(ValueList items, elements(*e.receiver, recv));
  std::optional<std::size_t> best;
  std::optional<Scalar> best_key;
  const auto saved = error_;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto v = get_path(e, e.name_span, items[i], path);
    error_ = saved;  // entries without the path are skipped
    if (!v) continue;
    auto key = to_scalar(*v, false);
    if (!key || key->index() > 1) continue;
    if (!best || compare_scalars(want_max ? Op::Gt : Op::Lt, *key, *best_key).value_or(false)) {
      best = i;
      best_key = *key;
    }
  }
  if (!best)
    return raise(e.name_span, fmt::format("no element of {} has a number at '{}'", text_of(*e.receiver), path));
  return items[*best];
}

Result<Value> Evaluator::aggregate(const Expr& e, const Value& recv) {
  auto from_u64 = [&](Result<uint64_t> u, auto i_fallback) -> Result<Value> {
    if (u) return Value{static_cast<expr_int_t>(*u)};
    auto i = i_fallback();  // signed data: the u64 form refuses negatives
    if (i) return Value{static_cast<expr_int_t>(*i)};
    return raise(e.name_span, u.error());
  };
  if (const auto* m = std::get_if<SnapshotMap>(&recv.v)) {
    if (e.name == "sum") return from_u64(m->sum_u64(), [&] { return m->sum_i64(); });
    if (e.name == "max") return from_u64(m->max_u64(), [&] { return m->max_i64(); });
    return from_u64(m->min_u64(), [&] { return m->min_i64(); });
  }
  if (const auto* en = std::get_if<SnapshotEntry>(&recv.v)) {
    if (e.name == "sum") return from_u64(en->sum_u64(), [&] { return en->sum_i64(); });
    if (e.name == "max") return from_u64(en->max_u64(), [&] { return en->max_i64(); });
    return from_u64(en->min_u64(), [&] { return en->min_i64(); });
  }
  KTEST_ASSIGN(ValueList items, elements(*e.receiver, recv));
  if (items.empty()) {
    if (e.name == "sum") return Value{expr_int_t{0}};
    return raise(e.name_span, fmt::format("{}() of an empty list", e.name));
  }
  std::optional<Scalar> acc;
  for (const auto& item : items) {
    auto s = to_scalar(item, false);
    if (!s || s->index() > 1)
      return raise(e.name_span, fmt::format("{}() needs numbers; found {}", e.name, render_value(item)));
    if (!acc) {
      acc = *s;
    } else if (e.name == "sum") {
      auto r = arithmetic(Op::Add, *acc, *s);
      if (!r) return raise(e.name_span, r.error());
      acc = *r;
    } else if (compare_scalars(e.name == "max" ? Op::Gt : Op::Lt, *s, *acc).value_or(false)) {
      acc = *s;
    }
  }
  return std::visit([](auto x) { return Value{x}; }, *acc);
}

Result<Value> Evaluator::convert(const Expr& e, const Value& recv) {
  std::optional<SnapshotField> view;
  if (const auto* fp = std::get_if<SnapshotField>(&recv.v)) view = *fp;
  else if (const auto* en = std::get_if<SnapshotEntry>(&recv.v)) view = en->value();
  if (!view) {  // a plain value: check the type and pass it on
    auto s = to_scalar(recv, e.name == "as_str");
    const bool fits = s && ((e.name == "as_str" && s->index() == 3) || (e.name == "as_bool" && s->index() == 2) ||
                            (e.name == "as_f64" && s->index() <= 1) ||
                            ((e.name == "as_u64" || e.name == "as_i64") && s->index() == 0));
    if (!fits) return raise(e.name_span, fmt::format("{}() does not apply to {} ({})", e.name,
                                                     value_kind(recv), render_value(recv)));
    if (e.name == "as_f64" && s->index() == 0) return Value{static_cast<double>(std::get<expr_int_t>(*s))};
    return recv;
  }
  const SnapshotField& f = *view;
  if (!f.ok()) return raise(e.receiver->span, *f.error());
  auto wrap = [&](auto r) -> Result<Value> {
    if (!r) return raise(e.name_span, r.error());
    if constexpr (std::is_same_v<std::decay_t<decltype(*r)>, std::string>) return Value{*r};
    else if constexpr (std::is_same_v<std::decay_t<decltype(*r)>, bool>) return Value{*r};
    else if constexpr (std::is_same_v<std::decay_t<decltype(*r)>, double>) return Value{*r};
    else if constexpr (std::is_arithmetic_v<std::decay_t<decltype(*r)>>) return Value{static_cast<expr_int_t>(*r)};
    else return list_of(*r);
  };
  const std::string& n = e.name;
  if (n == "as_u64") return wrap(f.as_u64());
  if (n == "as_i64") return wrap(f.as_i64());
  if (n == "as_f64") return wrap(f.as_f64());
  if (n == "as_bool") return wrap(f.as_bool());
  if (n == "as_str") return wrap(f.as_str());
  if (n == "as_u64_array") return wrap(f.as_u64_array());
  if (n == "as_u32_array") return wrap(f.as_u32_array());
  if (n == "as_i64_array") return wrap(f.as_i64_array());
  if (n == "as_f64_array") return wrap(f.as_f64_array());
  return wrap(f.as_bool_array());
}

// get / index / len / as_* on a JSON value, through JsonField's accessors.
Result<Value> Evaluator::json_method(const Expr& e, const JsonField& j) {
  const std::string& n = e.name;
  if (n == "get") return json(j.get(string_arg(e)), e.args[0]->span);
  if (n == "index") {
    KTEST_ASSIGN(std::size_t i, index_arg(e));
    return json(j.index(i), e.span);
  }
  if (n == "len") {
    auto raw = j.raw();
    if (!raw) return raise(e.receiver->span, *j.error());
    const nlohmann::json& node = **raw;
    if (node.is_array() || node.is_object()) return Value{static_cast<expr_int_t>(node.size())};
    if (node.is_string()) return Value{static_cast<expr_int_t>(node.get<std::string>().size())};
    return raise(e.name_span, fmt::format("len() applies to a JSON array, object or string, not {}",
                                          node.type_name()));
  }
  auto wrap = [&](auto r) -> Result<Value> {
    if (!r) return raise(e.name_span, r.error());
    using T = std::decay_t<decltype(*r)>;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool> || std::is_same_v<T, double>)
      return Value{*r};
    else if constexpr (std::is_arithmetic_v<T>) return Value{static_cast<expr_int_t>(*r)};
    else return list_of(*r);
  };
  if (n == "as_u64") return wrap(j.as_u64());
  if (n == "as_i64") return wrap(j.as_i64());
  if (n == "as_f64") return wrap(j.as_f64());
  if (n == "as_bool") return wrap(j.as_bool());
  if (n == "as_str") return wrap(j.as_str());
  if (n == "as_u64_array") return wrap(j.as_u64_array());
  if (n == "as_u32_array") return wrap(j.as_u32_array());
  if (n == "as_i64_array") return wrap(j.as_i64_array());
  if (n == "as_f64_array") return wrap(j.as_f64_array());
  if (n == "as_bool_array") return wrap(j.as_bool_array());
  if (n == "exists") return Value{true};
  return raise(e.name_span, fmt::format(".{}() does not apply to a JSON value", n),
               "JSON values take .get(path), .index(i), .len(), .as_u64() ... .as_str(), and "
               ".find/.filter/.sum/.max/.min/.at over arrays");
}

Result<Value> Evaluator::member(const Expr& e) {
  KTEST_ASSIGN(Value recv, eval(*e.receiver));
  return get_path(e, e.name_span, recv, e.name);
}

Result<Value> Evaluator::method(const Expr& e) {
  const std::string& n = e.name;
  if (n == "exists") {  // the only method that turns an error into a value
    const auto saved = error_;
    auto recv = eval(*e.receiver);
    error_ = saved;
    return Value{recv.ok()};
  }
  KTEST_ASSIGN(Value recv, eval(*e.receiver));
  if (const auto* j = std::get_if<JsonField>(&recv.v)) {
    // Lists and aggregates see a JSON array as its elements (below).
    if (n != "find" && n != "filter" && n != "max_by" && n != "min_by" && n != "sum" && n != "max" &&
        n != "min" && n != "at" && n != "count")
      return json_method(e, *j);
  }
  if (const auto* snap = std::get_if<Snapshot>(&recv.v)) {
    // var/map/live_var/vars take a string (the parser checks that by name);
    // another method called on a snapshot may not (find's predicate):
    // snapshot_method() says it does not apply.
    const auto* arg = e.args.empty() ? nullptr : std::get_if<std::string>(&e.args[0]->literal);
    return snapshot_method(e, *snap, arg != nullptr ? *arg : "");
  }
  if (n == "var" || n == "map" || n == "active" || n == "live_var" || n == "vars" || n == "scx") {
    if (all_snapshots(recv)) {  // a series: the method on each capture
      const auto* arg = e.args.empty() ? nullptr : std::get_if<std::string>(&e.args[0]->literal);
      return snapshot_method_each(e, std::get<ValueList>(recv.v), arg != nullptr ? *arg : "");
    }
    return raise(e.name_span, fmt::format(".{}() applies to a snapshot, not {}", n, value_kind(recv)),
                 fmt::format("write snapshot(\"name\").{0}(...), @name.{0}(...) or series(\"name\").{0}(...)", n));
  }
  if (n == "each" || n == "take" || n == "never_decreases" || n == "never_increases") return list_method(e, recv);
  if (n == "find" || n == "filter") return search(e, recv);
  if (n == "max_by" || n == "min_by") return extreme_by(e, recv, string_arg(e));
  if (n == "sum" || n == "max" || n == "min") return aggregate(e, recv);
  if (n.rfind("as_", 0) == 0) return convert(e, recv);
  if (n == "get") return get_path(e, e.args[0]->span, recv, string_arg(e));
  if (n == "dsq") return scx_dsq(e, recv);
  if (n == "len" || n == "count") {
    if (const auto* m = std::get_if<SnapshotMap>(&recv.v)) return Value{static_cast<expr_int_t>(m->size())};
    if (const auto* s = std::get_if<std::string>(&recv.v)) return Value{static_cast<expr_int_t>(s->size())};
    if (const RenderedValue* array = array_of(recv)) return Value{static_cast<expr_int_t>(array->len)};
    KTEST_ASSIGN(ValueList items, elements(e, recv));
    return Value{static_cast<expr_int_t>(items.size())};
  }
  if (n == "key" || n == "value") {
    if (const auto* en = std::get_if<SnapshotEntry>(&recv.v)) return field(n == "key" ? en->key() : en->value(), e.name_span);
    if (const auto* m = std::get_if<SnapshotMap>(&recv.v); m && n == "value") return field(m->value(), e.name_span);
    return raise(e.name_span, fmt::format(".{}() applies to a map entry, not {}", n, value_kind(recv)));
  }
  if (n == "cpu") {
    KTEST_ASSIGN(std::size_t cpu, index_arg(e));
    if (const auto* m = std::get_if<SnapshotMap>(&recv.v)) {
      auto r = m->cpu(cpu);
      if (!r) return raise(e.span, r.error());
      return Value{*r};
    }
    if (const auto* en = std::get_if<SnapshotEntry>(&recv.v)) {
      auto r = en->cpu(cpu);
      if (!r) return raise(e.span, r.error());
      return Value{*r};
    }
    if (const SnapshotField* scx = as_scx_root(recv)) return scx_cpu(e, *scx, cpu);
    return raise(e.name_span, fmt::format(".cpu(n) selects a CPU of a per-CPU map or entry, or of scx(); "
                                          "not of {}", value_kind(recv)));
  }
  // at / index
  KTEST_ASSIGN(std::size_t i, index_arg(e));
  if (const auto* m = std::get_if<SnapshotMap>(&recv.v)) {
    auto r = m->at(i);
    if (!r) return raise(e.span, r.error());
    return Value{*r};
  }
  if (const auto* f = std::get_if<SnapshotField>(&recv.v)) return field(f->index(i), e.span);
  if (const auto* en = std::get_if<SnapshotEntry>(&recv.v)) return field(en->value().index(i), e.span);
  KTEST_ASSIGN(ValueList items, elements(*e.receiver, recv));
  if (i >= items.size())
    return raise(e.span, fmt::format("index {} is past the end of {} ({} elements)", i, text_of(*e.receiver),
                                     items.size()));
  return items[i];
}

}  // namespace ktest::dsl
