// Internal to dsl/: the tree-walking evaluator behind evaluate()/query().
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "dsl/expr.h"
#include "dsl/expr_value.h"

namespace ktest::dsl {

// The field when `v` is a sched_ext state root (Snapshot::scx()), else nullptr.
const SnapshotField* as_scx_root(const Value& v);

class Evaluator {
 public:
  Evaluator(const EvalContext& ctx, const std::string& text) : ctx_(ctx), text_(text) {}

  Result<Value> eval(const Expr& e);
  // Truth of `e`; when false (outside predicates) records why in failures().
  Result<bool> eval_bool(const Expr& e);

  // The innermost error raised, with its span (set when eval fails).
  const std::optional<EvalError>& error() const { return error_; }
  const std::vector<FailedComparison>& failures() const { return failures_; }
  // The comparison at `span` as last evaluated outside predicates, true or false.
  std::optional<FailedComparison> compared(Span span) const;

 private:
  Unexpected raise(Span span, std::string message, std::string hint = {},
                   std::vector<std::string> available = {});
  Unexpected raise(Span span, const Error& error);
  Unexpected raise(Span span, const SnapshotError& error);
  std::string text_of(const Expr& e) const { return text_.substr(e.span.offset, e.span.length); }
  void record(const Expr& e, std::string lhs_text, std::string op, std::string rhs_text,
              std::string lhs_value, std::string rhs_value);

  Result<Value> field(const SnapshotField& f, Span span);
  Result<Value> json(const JsonField& j, Span span);
  Result<Value> json_method(const Expr& e, const JsonField& j);  // expr_methods.cpp
  Result<Value> root(const Expr& e);
  Result<Value> name(const Expr& e);
  Result<Value> method(const Expr& e);
  Result<Value> member(const Expr& e);
  Result<Value> snapshot_method(const Expr& e, const Snapshot& snap, const std::string& arg);
  Result<Value> search(const Expr& e, const Value& recv);  // find / filter
  Result<Value> extreme_by(const Expr& e, const Value& recv, const std::string& path);
  Result<Value> aggregate(const Expr& e, const Value& recv);  // sum / max / min
  Result<Value> convert(const Expr& e, const Value& recv);    // as_*
  // expr_scx.cpp: scx().dsq(id) and scx().cpu(n).
  Result<Value> scx_dsq(const Expr& e, const Value& recv);
  Result<Value> scx_cpu(const Expr& e, const SnapshotField& scx, std::size_t cpu);
  Result<Value> binary(const Expr& e);
  // expr_series.cpp: series(), element-wise methods, each/take/never_*.
  Result<Value> series(const Expr& e);
  static bool all_snapshots(const Value& v);  // a non-empty list of snapshots
  Result<Value> snapshot_method_each(const Expr& e, const ValueList& snaps, const std::string& arg);
  Result<Value> get_path_each(const Expr& e, Span at, const ValueList& items, const std::string& path);
  Result<Value> list_method(const Expr& e, const Value& recv);
  Result<Value> get_path(const Expr& e, Span at, const Value& recv, const std::string& path);
  Result<std::size_t> index_arg(const Expr& e);
  Result<Snapshot> default_snapshot(Span span);
  Result<ValueList> elements(const Expr& e, const Value& recv);  // list / array / map entries
  Result<bool> truth(const Expr& e, const Value& v);

  const EvalContext& ctx_;
  const std::string& text_;
  std::optional<EvalError> error_;
  std::vector<FailedComparison> failures_;
  std::vector<FailedComparison> compared_;  // every comparison outside predicates
  std::vector<Value> entries_;  // predicate entries, innermost last
};

}  // namespace ktest::dsl
