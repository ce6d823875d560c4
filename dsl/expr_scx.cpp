// The sched_ext state's own methods: scx().dsq(id) and scx().cpu(n). Plain
// members (scx().exit.kind, scx().dsqs.find(...)) need nothing here: the
// state is a field like any BTF-rendered value (snapshot/scx_state.h).
#include <fmt/format.h>

#include <algorithm>

#include "dsl/expr_eval.h"
#include "snapshot/scx_state.h"

namespace ktest::dsl {
namespace {

// Every DSQ of the state, as fields (the list is bounded when read).
std::vector<SnapshotField> dsq_fields(const SnapshotField& scx) {
  std::vector<SnapshotField> out;
  const SnapshotField dsqs = scx.get("dsqs");
  auto raw = dsqs.raw();
  if (!raw) return out;
  for (std::size_t i = 0; i < (*raw)->elements.size(); ++i) out.push_back(dsqs.index(i));
  return out;
}

std::string id_text(uint64_t id) {
  return id >> 63 ? fmt::format("0x{:x}", id) : fmt::format("0x{:x} ({})", id, id);
}

// "0x8000000000000001 (global)", "0x4b54 (19284)": each id once.
std::vector<std::string> available_ids(const std::vector<SnapshotField>& dsqs) {
  std::vector<uint64_t> seen;
  std::vector<std::string> out;
  for (const auto& d : dsqs) {
    auto id = d.get("id").as_u64();
    if (!id || std::find(seen.begin(), seen.end(), *id) != seen.end()) continue;
    seen.push_back(*id);
    auto kind = d.get("kind").as_str();
    const bool builtin = *id >> 63;
    out.push_back(builtin && kind ? fmt::format("0x{:x} ({})", *id, *kind) : id_text(*id));
  }
  return out;
}

std::string listed(const std::vector<std::string>& names) {
  if (names.empty()) return "(none)";
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < MAX_LISTED_ALTERNATIVES; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > MAX_LISTED_ALTERNATIVES) out += fmt::format(" (+{} more)", names.size() - MAX_LISTED_ALTERNATIVES);
  return out;
}

}  // namespace

const SnapshotField* as_scx_root(const Value& v) {
  const auto* f = std::get_if<SnapshotField>(&v.v);
  if (f == nullptr || !f->ok()) return nullptr;
  const RenderedValue* n = *f->raw();
  return n->kind == ValueKind::Struct && n->type_name == kScxTypeName ? f : nullptr;
}

Result<Value> Evaluator::scx_dsq(const Expr& e, const Value& recv) {
  const SnapshotField* scx = as_scx_root(recv);
  if (scx == nullptr)
    return raise(e.name_span, fmt::format(".dsq(id) applies to scx(), not {}", value_kind(recv)),
                 "write scx().dsq(0x4b54) or @exit.scx().dsq(\"global\")");
  KTEST_ASSIGN(Value arg, eval(*e.args[0]));
  const std::vector<SnapshotField> dsqs = dsq_fields(*scx);
  const Span at = e.args[0]->span;
  if (const auto* name = std::get_if<std::string>(&arg.v)) {
    if (*name != "global")
      return raise(at, fmt::format("unknown DSQ name \"{}\"", *name),
                   "the only name is \"global\" (node 0's global DSQ); give other DSQs by id",
                   available_ids(dsqs));
    for (const auto& d : dsqs) {
      if (d.get("kind").as_str().value_or("") == "global" && d.get("node").as_i64().value_or(-1) <= 0)
        return Value{d};
    }
    return raise(at, "scx().dsqs holds no global DSQ", "", available_ids(dsqs));
  }
  auto s = to_scalar(arg, false);
  const auto* id = s ? std::get_if<expr_int_t>(&*s) : nullptr;
  if (!id || *id < 0 || *id > static_cast<expr_int_t>(UINT64_MAX))
    return raise(at, fmt::format("dsq() needs a DSQ id (a u64) or \"global\", got {}", render_value(arg)));
  const auto want = static_cast<uint64_t>(*id);
  for (const auto& d : dsqs) {
    if (d.get("id").as_u64().value_or(~want) == want) return Value{d};
  }
  std::vector<std::string> ids = available_ids(dsqs);
  return raise(at, fmt::format("no DSQ with id {} in {}; available ids: {}", id_text(want), scx->path() + ".dsqs",
                               listed(ids)),
               "", ids);
}

Result<Value> Evaluator::scx_cpu(const Expr& e, const SnapshotField& scx, std::size_t cpu) {
  const SnapshotField cpus = scx.get("cpus");
  auto raw = cpus.raw();
  const std::size_t n = raw ? (*raw)->elements.size() : 0;
  // Element n normally; matched by its `cpu` member in case CPUs were skipped.
  if (cpu < n && cpus.index(cpu).get("cpu").as_u64().value_or(~uint64_t{0}) == cpu) return Value{cpus.index(cpu)};
  for (std::size_t i = 0; i < n; ++i) {
    if (cpus.index(i).get("cpu").as_u64().value_or(~uint64_t{0}) == cpu) return Value{cpus.index(i)};
  }
  return raise(e.span, SnapshotError::cpu_out_of_range(cpus.path(), cpu, n, false));
}

}  // namespace ktest::dsl
