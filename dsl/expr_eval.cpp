// Evaluation of roots, names, operators and truth; methods are in expr_methods.cpp.
#include "dsl/expr_eval.h"

#include <fmt/format.h>

#include <algorithm>

namespace ktest::dsl {

Unexpected Evaluator::raise(Span span, std::string message, std::string hint,
                            std::vector<std::string> available) {
  // The innermost failure is the one to show; outer frames only propagate.
  if (!error_) error_ = EvalError{span, message, hint, std::move(available)};
  return fail(std::move(message), "", std::move(hint));
}

Unexpected Evaluator::raise(Span span, const Error& error) {
  std::string message;
  for (const auto& frame : error.context) message += frame + ": ";
  return raise(span, message + error.message, error.hint);
}

Unexpected Evaluator::raise(Span span, const SnapshotError& error) {
  return raise(span, error.message, error.hint, error.available);
}

void Evaluator::record(const Expr& e, std::string lhs_text, std::string op, std::string rhs_text,
                       std::string lhs_value, std::string rhs_value) {
  if (!entries_.empty()) return;  // a predicate's false is a non-match, not a failure
  failures_.push_back({e.span, std::move(lhs_text), std::move(op), std::move(rhs_text),
                       std::move(lhs_value), std::move(rhs_value)});
}

std::optional<FailedComparison> Evaluator::compared(Span span) const {
  for (auto it = compared_.rbegin(); it != compared_.rend(); ++it)
    if (it->span.offset == span.offset && it->span.length == span.length) return *it;
  return std::nullopt;
}

Result<Value> Evaluator::field(const SnapshotField& f, Span span) {
  if (!f.ok()) return raise(span, *f.error());
  return Value{f};
}

Result<Value> Evaluator::json(const JsonField& j, Span span) {
  if (!j.ok()) return raise(span, *j.error());
  return Value{j};
}

Result<Snapshot> Evaluator::default_snapshot(Span span) {
  if (ctx_.snapshots.empty())
    return raise(span, "no snapshot was captured", "add a CaptureSnapshot step before the end of the steps");
  return ctx_.snapshots.back().second;
}

Result<Value> Evaluator::eval(const Expr& e) {
  switch (e.kind) {
    case ExprKind::Literal:
      if (const auto* i = std::get_if<expr_int_t>(&e.literal)) return Value{*i};
      if (const auto* d = std::get_if<double>(&e.literal)) return Value{*d};
      if (const auto* s = std::get_if<std::string>(&e.literal)) return Value{*s};
      return Value{std::get<bool>(e.literal)};
    case ExprKind::List: {
      ValueList items;
      for (const auto& a : e.args) {
        KTEST_ASSIGN(Value item, eval(*a));
        items.push_back(std::move(item));
      }
      return Value{std::move(items)};
    }
    case ExprKind::Name: return name(e);
    case ExprKind::Call: return root(e);
    case ExprKind::Method: return method(e);
    case ExprKind::Member: return member(e);
    case ExprKind::Unary:
      if (e.op == Op::Neg) {
        KTEST_ASSIGN(Value v, eval(*e.args[0]));
        auto s = to_scalar(v, false);
        if (!s) return raise(e.args[0]->span, s.error());
        auto r = arithmetic(Op::Sub, Scalar(expr_int_t{0}), *s);
        if (!r) return raise(e.span, r.error());
        return std::visit([](auto x) { return Value{x}; }, *r);
      }
      [[fallthrough]];
    case ExprKind::Binary:
      if (e.op == Op::Add || e.op == Op::Sub || e.op == Op::Mul || e.op == Op::Div || e.op == Op::Mod)
        return binary(e);
      KTEST_ASSIGN(bool b, eval_bool(e));
      return Value{b};
  }
  return raise(e.span, "unknown expression");
}

Result<Value> Evaluator::binary(const Expr& e) {
  KTEST_ASSIGN(Value lv, eval(*e.args[0]));
  KTEST_ASSIGN(Value rv, eval(*e.args[1]));
  auto l = to_scalar(lv, false);
  if (!l) return raise(e.args[0]->span, l.error());
  auto r = to_scalar(rv, false);
  if (!r) return raise(e.args[1]->span, r.error());
  auto out = arithmetic(e.op, *l, *r);
  if (!out) return raise(e.span, out.error());
  return std::visit([](auto x) { return Value{x}; }, *out);
}

Result<Value> Evaluator::root(const Expr& e) {
  const std::string arg = e.args.empty() ? "" : std::get<std::string>(e.args[0]->literal);
  if (e.name == "nr_cpus") return Value{expr_int_t{ctx_.nr_cpus}};
  if (e.name == "pid" || e.name == "pids") {
    for (const auto& [name, pids] : ctx_.workload_pids) {
      if (name != arg) continue;
      if (e.name == "pids") {
        ValueList list;
        for (int64_t p : pids) list.push_back(Value{expr_int_t{p}});
        return Value{std::move(list)};
      }
      if (pids.empty()) return raise(e.span, fmt::format("workload '{}' has no recorded pid", arg));
      return Value{expr_int_t{pids.front()}};
    }
    std::vector<std::string> names;
    for (const auto& w : ctx_.workload_pids) names.push_back(w.first);
    return raise(e.args[0]->span, fmt::format("no pids recorded for workload '{}'", arg),
                 "pid() names a Spawn step's workload", names);
  }
  if (e.name == "stats") {
    std::vector<std::string> names;
    for (const auto& [name, doc] : ctx_.json_docs) {
      if (name == arg) return Value{JsonField(doc)};
      names.push_back(name);
    }
    return raise(e.args[0]->span, fmt::format("no JSON document named '{}' was recorded", arg),
                 "a Run step with `json: " + arg + "` records it",
                 names);
  }
  if (e.name == "series") return series(e);
  if (e.name == "snapshot") {
    std::vector<std::string> names;
    for (const auto& [name, snap] : ctx_.snapshots) {
      if (name == arg) return Value{snap};
      names.push_back(name);
    }
    // @exit / @early are the error-trigger captures ("@exit" in reports).
    for (const auto& [name, snap] : ctx_.snapshots)
      if (name.size() == arg.size() + 1 && name[0] == '@' && name.compare(1, arg.size(), arg) == 0)
        return Value{snap};
    return raise(e.args[0]->span, SnapshotError::no_such_snapshot(arg, names));
  }
  KTEST_ASSIGN(Snapshot snap, default_snapshot(e.span));
  return snapshot_method(e, snap, arg);
}

Result<Value> Evaluator::snapshot_method(const Expr& e, const Snapshot& snap, const std::string& arg) {
  const Span at = e.args.empty() ? e.name_span : e.args[0]->span;
  if (e.name == "var") return field(snap.var(arg), at);
  if (e.name == "live_var") return field(snap.live_var(arg), at);
  if (e.name == "map") {
    auto m = snap.map(arg);
    if (!m) return raise(at, m.error());
    return Value{*m};
  }
  if (e.name == "active") {
    auto a = snap.active();
    if (!a) return raise(e.name_span, a.error());
    return Value{*a};
  }
  if (e.name == "scx") return field(snap.scx(), e.name_span);
  if (e.name == "vars") {
    auto copies = snap.vars(arg);
    if (copies.empty()) return field(snap.var(arg), at);  // its error says why
    ValueList list;
    for (auto& f : copies) list.push_back(Value{std::move(f)});
    return Value{std::move(list)};
  }
  return raise(e.name_span, fmt::format("'{}' does not apply to a snapshot", e.name));
}

// A bare name inside a predicate: a path into the current entry.
Result<Value> Evaluator::name(const Expr& e) {
  if (!e.in_predicate || entries_.empty()) {
    if (e.name == "nr_cpus") return Value{expr_int_t{ctx_.nr_cpus}};
    return raise(e.span, fmt::format("unknown name '{}'", e.name));
  }
  const Value& entry = entries_.back();
  const std::string& path = e.name;
  const std::string head = path.substr(0, path.find('.'));
  const std::string rest = path.find('.') == std::string::npos ? "" : path.substr(path.find('.') + 1);
  if (const auto* en = std::get_if<SnapshotEntry>(&entry.v)) {
    if (head == "key") return field(en->key().get(rest), e.span);
    if (head == "value") return field(en->value().get(rest), e.span);
    return field(en->get(path), e.span);
  }
  if (head == "value") return rest.empty() ? entry : get_path(e, e.span, entry, rest);
  return get_path(e, e.span, entry, path);
}

Result<bool> Evaluator::truth(const Expr& e, const Value& v) {
  if (const auto* b = std::get_if<bool>(&v.v)) return *b;
  if (const auto* j = std::get_if<JsonField>(&v.v); j && j->ok() && (*j->raw())->is_boolean())
    return (*j->raw())->get<bool>();
  if (const auto* f = std::get_if<SnapshotField>(&v.v)) {
    if (f->kind() == ValueKind::Bool) {
      auto b = f->as_bool();
      if (!b) return raise(e.span, b.error());
      return *b;
    }
  }
  return raise(e.span, fmt::format("this is {} ({}), not true/false", value_kind(v), render_value(v)),
               "compare it, e.g. `... > 0` or `... == \"x\"`");
}

Result<bool> Evaluator::eval_bool(const Expr& e) {
  const std::size_t mark = failures_.size();
  auto holds = [&](bool b) -> Result<bool> {
    if (b) failures_.resize(mark);  // a true term explains nothing
    return b;
  };
  if (e.kind == ExprKind::Unary && e.op == Op::Not) {
    KTEST_ASSIGN(bool inner, eval_bool(*e.args[0]));
    failures_.resize(mark);
    if (inner) record(e, text_of(*e.args[0]), "not", "", "true", "false");
    return !inner;
  }
  if (e.kind == ExprKind::Binary && (e.op == Op::And || e.op == Op::Or)) {
    KTEST_ASSIGN(bool l, eval_bool(*e.args[0]));
    if (e.op == Op::And && !l) return false;
    if (e.op == Op::Or && l) return holds(true);
    KTEST_ASSIGN(bool r, eval_bool(*e.args[1]));
    return holds(r);
  }
  if (e.kind == ExprKind::Binary && e.op != Op::Add && e.op != Op::Sub && e.op != Op::Mul &&
      e.op != Op::Div && e.op != Op::Mod) {
    KTEST_ASSIGN(Value lv, eval(*e.args[0]));
    KTEST_ASSIGN(Value rv, eval(*e.args[1]));
    bool result = false;
    if (e.op == Op::In) {
      KTEST_ASSIGN(ValueList items, elements(*e.args[1], rv));
      // Enums and char arrays match a list of strings by their text.
      const bool strings = std::any_of(items.begin(), items.end(), [](const Value& item) {
        return std::holds_alternative<std::string>(item.v);
      });
      auto l = to_scalar(lv, strings);
      if (!l) return raise(e.args[0]->span, l.error());
      for (const auto& item : items) {
        auto r = to_scalar(item, std::holds_alternative<std::string>(*l));
        if (r && r->index() == l->index() && compare_scalars(Op::Eq, *l, *r).value_or(false)) result = true;
      }
    } else {
      const bool l_str = std::holds_alternative<std::string>(rv.v);
      const bool r_str = std::holds_alternative<std::string>(lv.v);
      auto l = to_scalar(lv, l_str);
      if (!l) return raise(e.args[0]->span, l.error());
      auto r = to_scalar(rv, r_str);
      if (!r) return raise(e.args[1]->span, r.error());
      auto c = compare_scalars(e.op, *l, *r);
      if (!c) return raise(e.span, c.error());
      result = *c;
    }
    FailedComparison sides{e.span, text_of(*e.args[0]), op_text(e.op), text_of(*e.args[1]), render_value(lv),
                           render_value(rv)};
    if (entries_.empty()) compared_.push_back(sides);
    if (!result)
      record(e, sides.lhs_text, sides.op, sides.rhs_text, sides.lhs_value, sides.rhs_value);
    return result;
  }
  KTEST_ASSIGN(Value v, eval(e));
  KTEST_ASSIGN(bool b, truth(e, v));
  if (!b && failures_.size() == mark) record(e, text_of(e), "", "", render_value(v), "true");  // else: its own reason
  return b;
}

}  // namespace ktest::dsl
