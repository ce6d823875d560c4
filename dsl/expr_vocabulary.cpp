#include "dsl/expr_vocabulary.h"

#include <iterator>

namespace ktest::dsl {
namespace {

constexpr Signature kRoots[] = {
    {"var", 1, ArgKind::String, "var(\"nr_cpus_onln\")"},
    {"map", 1, ArgKind::String, "map(\"scx_per_task\")"},
    {"active", 0, ArgKind::None, "active().var(\"nr_cpus_onln\")"},
    {"live_var", 1, ArgKind::String, "live_var(\"nr_cpus_onln\")"},
    {"vars", 1, ArgKind::String, "vars(\"nr_cpus_onln\")"},
    {"snapshot", 1, ArgKind::String, "snapshot(\"before\").var(\"x\")"},
    {"pid", 1, ArgKind::String, "pid(\"worker\")"},
    {"pids", 1, ArgKind::String, "pids(\"worker\")"},
    {"nr_cpus", 0, ArgKind::None, "nr_cpus()"},
    {"scx", 0, ArgKind::None, "scx().state == \"enabled\""},
    {"stats", 1, ArgKind::String, "stats(\"sched\").get(\"nr_dispatched\")"},
    {"series", 1, ArgKind::String, "series(\"tick\").var(\"nr_enqueued\").never_decreases()"},
};

constexpr Signature kMethods[] = {
    {"var", 1, ArgKind::String, "@before.var(\"nr_cpus_onln\")"},
    {"map", 1, ArgKind::String, "@before.map(\"scx_per_task\")"},
    {"active", 0, ArgKind::None, "@before.active()"},
    {"live_var", 1, ArgKind::String, "@before.live_var(\"nr_cpus_onln\")"},
    {"vars", 1, ArgKind::String, "@before.vars(\"nr_cpus_onln\")"},
    {"scx", 0, ArgKind::None, "@exit.scx().exit.kind"},
    {"dsq", 1, ArgKind::IdOrName, "scx().dsq(0x4b54).nr"},
    {"find", 1, ArgKind::Predicate, "map(\"m\").find(tid == pid(\"worker\"))"},
    {"filter", 1, ArgKind::Predicate, "map(\"m\").filter(ctx.weight.value > 100)"},
    {"max_by", 1, ArgKind::String, "map(\"m\").max_by(\"ctx.runtime\")"},
    {"min_by", 1, ArgKind::String, "map(\"m\").min_by(\"ctx.runtime\")"},
    {"at", 1, ArgKind::Int, "map(\"m\").at(0)"},
    {"len", 0, ArgKind::None, "map(\"m\").len()"},
    {"count", 0, ArgKind::None, "map(\"m\").filter(tid > 0).count()"},
    {"sum", 0, ArgKind::None, "var(\"per_cpu_counter\").sum()"},
    {"max", 0, ArgKind::None, "var(\"per_cpu_counter\").max()"},
    {"min", 0, ArgKind::None, "var(\"per_cpu_counter\").min()"},
    {"exists", 0, ArgKind::None, "map(\"m\").find(tid == 1).exists()"},
    {"key", 0, ArgKind::None, "map(\"m\").at(0).key()"},
    {"value", 0, ArgKind::None, "map(\"m\").at(0).value()"},
    {"get", 1, ArgKind::String, "x.get(\"ctx.weight.value\")"},
    {"index", 1, ArgKind::Int, "var(\"slots\").index(0)"},
    {"cpu", 1, ArgKind::Int, "map(\"stats\").at(0).cpu(1) or scx().cpu(1)"},
    {"as_u64", 0, ArgKind::None, "x.as_u64()"},
    {"as_i64", 0, ArgKind::None, "x.as_i64()"},
    {"as_f64", 0, ArgKind::None, "x.as_f64()"},
    {"as_bool", 0, ArgKind::None, "x.as_bool()"},
    {"as_str", 0, ArgKind::None, "x.as_str()"},
    {"as_u64_array", 0, ArgKind::None, "x.as_u64_array()"},
    {"as_u32_array", 0, ArgKind::None, "x.as_u32_array()"},
    {"as_i64_array", 0, ArgKind::None, "x.as_i64_array()"},
    {"as_f64_array", 0, ArgKind::None, "x.as_f64_array()"},
    {"as_bool_array", 0, ArgKind::None, "x.as_bool_array()"},
    {"each", 1, ArgKind::Predicate, "series(\"tick\").map(\"queue\").each(value.len())"},
    {"take", 1, ArgKind::Int, "series(\"tick\").var(\"nr_queued\").take(4)"},
    {"never_decreases", 0, ArgKind::None, "series(\"tick\").var(\"nr_enqueued\").never_decreases()"},
    {"never_increases", 0, ArgKind::None, "series(\"tick\").var(\"nr_queued\").never_increases()"},
};

template <std::size_t N>
const Signature* lookup(const Signature (&table)[N], const std::string& name) {
  for (const auto& sig : table)
    if (name == sig.name) return &sig;
  return nullptr;
}

template <std::size_t N>
std::vector<std::string> names_of(const Signature (&table)[N]) {
  std::vector<std::string> out;
  for (const auto& sig : table) out.emplace_back(sig.name);
  return out;
}

}  // namespace

const Signature* find_root(const std::string& name) { return lookup(kRoots, name); }
const Signature* find_method(const std::string& name) { return lookup(kMethods, name); }

const std::vector<std::string>& root_names() {
  static const std::vector<std::string> names = names_of(kRoots);
  return names;
}

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = names_of(kMethods);
  return names;
}

}  // namespace ktest::dsl
