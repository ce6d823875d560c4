// Consistency across steps and assertions: what a YAML schema cannot say.
#include <fmt/format.h>

#include <map>

#include "dsl/loader_state.h"
#include "snapshot/scx_state.h"
#include "util/edit_distance.h"

namespace ktest::dsl {
namespace {

// Where a step's field was written, else the step itself.
Location field_loc(const LoadState& state, std::size_t step, const Step& s, const std::string& field) {
  if (step < state.step_fields.size()) {
    auto it = state.step_fields[step].find(field);
    if (it != state.step_fields[step].end()) return it->second;
  }
  return s.loc;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& names,
                         const std::string& otherwise) {
  auto guess = nearest(word, names);
  return guess ? fmt::format("did you mean '{}'?", *guess) : otherwise;
}

// True when the expression reads the default (last captured) snapshot.
bool uses_default_snapshot(const Expr& e) {
  static const std::vector<std::string> roots = {"var", "map", "active", "live_var", "vars", "scx"};
  if (e.kind == ExprKind::Call && std::find(roots.begin(), roots.end(), e.name) != roots.end())
    return true;
  if (e.receiver && uses_default_snapshot(*e.receiver)) return true;
  for (const auto& a : e.args)
    if (uses_default_snapshot(*a)) return true;
  return false;
}

class Checker {
 public:
  Checker(const Scenario& s, LoadState& state) : s_(s), state_(state) {}

  void run() {
    for (std::size_t i = 0; i < s_.steps.size(); ++i) check_step(i, s_.steps[i]);
    for (std::size_t i = 0; i < s_.assertions.size(); ++i) check_assertion(i, s_.assertions[i]);
  }

 private:
  void check_step(std::size_t i, const Step& step) {
    std::visit([&](const auto& op) { check(i, step, op); }, step.op);
  }

  void check(std::size_t i, const Step& step, const AttachScheduler&) {
    if (attached_line_ >= 0)
      state_.error(step.loc, 15,
                   attached_line_ == 0 ? "a scheduler is already attached (the top-level 'scheduler')"
                                       : fmt::format("a scheduler is already attached (line {})", attached_line_),
                   "use ReplaceScheduler, or DetachScheduler first");
    attached_line_ = step.loc.line;
    (void)i;
  }
  void check(std::size_t, const Step& step, const ReplaceScheduler&) {
    if (attached_line_ < 0)
      state_.error(step.loc, 16, "ReplaceScheduler with no scheduler attached", "use AttachScheduler");
    attached_line_ = step.loc.line;
  }
  void check(std::size_t, const Step& step, const DetachScheduler&) {
    if (attached_line_ < 0)
      state_.error(step.loc, 15, "DetachScheduler with no scheduler attached",
                   "attach one first with AttachScheduler, or delete this step");
    attached_line_ = -1;
  }

  void check(std::size_t i, const Step& step, const Spawn& spawn) {
    const Location name_loc = field_loc(state_, i, step, "name");
    auto [it, inserted] = workloads_.emplace(spawn.name, name_loc.line);
    if (!inserted)
      state_.error(name_loc, static_cast<int>(spawn.name.size()),
                   fmt::format("workload '{}' is spawned twice (first at line {})", spawn.name, it->second),
                   "give each Spawn its own name");
    if (!spawn.cpus.empty() && spawn.cpus.back() >= s_.vm.cpus)
      state_.error(field_loc(state_, i, step, "cpus"), static_cast<int>(spawn.cpus_text.size()) + 2,
                   fmt::format("cpu {} does not exist: the vm has {} cpu{}", spawn.cpus.back(), s_.vm.cpus,
                               s_.vm.cpus == 1 ? "" : "s"),
                   s_.vm.cpus == 1 ? "use cpus: \"0\", or raise vm.cpus"
                                   : fmt::format("use cpus within 0-{}, or raise vm.cpus", s_.vm.cpus - 1));
  }

  void check(std::size_t i, const Step& step, const Kill& kill) {
    if (workloads_.count(kill.name)) return;
    const Location loc = field_loc(state_, i, step, "name");
    const int len = static_cast<int>(kill.name.size());
    for (std::size_t later = i + 1; later < s_.steps.size(); ++later) {
      const auto* spawn = std::get_if<Spawn>(&s_.steps[later].op);
      if (spawn && spawn->name == kill.name) {
        state_.error(loc, len, fmt::format("workload '{}' is killed before it is spawned", kill.name),
                     fmt::format("move this step after the Spawn at line {}", s_.steps[later].loc.line));
        return;
      }
    }
    state_.error(loc, len, fmt::format("workload '{}' is never spawned", kill.name),
                 did_you_mean(kill.name, s_.workload_names(), "spawn it first with a Spawn step"));
  }

  void check(std::size_t i, const Step& step, const Run& run) {
    if (run.json) json_name(i, step, "json", *run.json);
  }

  // A name stats("...") reads; one step records each.
  void json_name(std::size_t i, const Step& step, const char* field, const std::string& name) {
    const Location loc = field_loc(state_, i, step, field);
    auto [it, inserted] = json_docs_.emplace(name, loc.line);
    if (!inserted)
      state_.error(loc, static_cast<int>(name.size()),
                   fmt::format("JSON document '{}' is recorded twice (first at line {})", name, it->second),
                   fmt::format("give each its own name, e.g. '{}_2'", name));
  }

  void check(std::size_t i, const Step& step, const LoadBpf& load) {
    // A default label (the file stem) points at the step itself.
    const bool written = i < state_.step_fields.size() && state_.step_fields[i].count("name");
    const Location loc = field_loc(state_, i, step, "name");
    auto [it, inserted] = bpf_labels_.emplace(load.bpf.name, loc.line);
    if (!inserted)
      state_.error(loc, written ? static_cast<int>(load.bpf.name.size()) : 7,
                   fmt::format("BPF object label '{}' is used twice (first at line {})", load.bpf.name, it->second),
                   fmt::format("give each LoadBpf its own name, e.g. 'name: {}_2'", load.bpf.name));
  }
  void check(std::size_t, const Step&, const Sleep&) {}

  void check(std::size_t i, const Step& step, const CaptureSnapshot& c) {
    if (!c.series()) return snapshot_name(i, step, c.name);
    const Location loc = field_loc(state_, i, step, "name");
    if (!series_.emplace(c.name, loc.line).second)
      state_.error(loc, static_cast<int>(c.name.size()), fmt::format("series '{}' is taken twice", c.name),
                   fmt::format("give each series its own name, e.g. '{}_2'", c.name));
    for (uint32_t k = 1; k <= c.count; ++k) snapshot_name(i, step, kvm::series_member(c.name, k));
    const auto span = c.every * (c.count - 1);
    if (span >= s_.vm.timeout)
      state_.error(field_loc(state_, i, step, "every"), 0,
                   fmt::format("series '{}' spans {} ms ({} captures every {} ms), not less than vm.timeout ({} ms)",
                               c.name, ms(span), c.count, ms(c.every), ms(s_.vm.timeout)),
                   "take fewer captures, closer together, or raise vm.timeout");
  }
  static int64_t ms(std::chrono::nanoseconds d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }
  void check(std::size_t i, const Step& step, const WatchSnapshot& w) { snapshot_name(i, step, w.name); }

  void snapshot_name(std::size_t i, const Step& step, const std::string& name) {
    const Location loc = field_loc(state_, i, step, "name");
    auto [it, inserted] = snapshots_.emplace(name, loc.line);
    if (!inserted)
      state_.error(loc, static_cast<int>(name.size()),
                   fmt::format("snapshot '{}' is captured twice (first at line {})", name, it->second),
                   fmt::format("give each capture its own name, e.g. '{}_2'", name));
    else if (snapshots_.size() == kMaxCaptures + 1)
      state_.error(loc, static_cast<int>(name.size()),
                   fmt::format("snapshot '{}' is capture {}: a scenario takes at most {} (CaptureSnapshot and "
                               "WatchSnapshot steps)",
                               name, snapshots_.size(), kMaxCaptures),
                   "split the scenario in two");
  }

  void check_assertion(std::size_t i, const Assertion& a) {
    for (const auto& ref : collect_refs(*a.expr)) {
      // A string argument's span includes its quotes; point inside them.
      const bool quoted = ref.span.length >= 2 && (a.text[ref.span.offset] == '"' || a.text[ref.span.offset] == '\'');
      const Location loc = state_.expr_location(i, a.text, ref.span.offset + (quoted ? 1 : 0));
      const int len = static_cast<int>(ref.span.length) - (quoted ? 2 : 0);
      if (ref.kind == ExprRef::Kind::Snapshot && !snapshots_.count(ref.name) &&
          !trigger_snapshot(ref.name)) {
        state_.error(loc, len, fmt::format("assertion reads snapshot '{}', which no step captures", ref.name),
                     did_you_mean(ref.name, s_.snapshot_names(),
                                  fmt::format("add a step '- CaptureSnapshot: {}'", ref.name)));
      }
      if (ref.kind == ExprRef::Kind::Stats && !json_docs_.count(ref.name)) {
        std::vector<std::string> names;
        for (const auto& [name, line] : json_docs_) names.push_back(name);
        state_.error(loc, len, fmt::format("assertion reads JSON document '{}', which no step records", ref.name),
                     did_you_mean(ref.name, names,
                                  fmt::format("add `json: {}` to a Run step whose output is JSON", ref.name)));
      }
      if (ref.kind == ExprRef::Kind::Series && !series_.count(ref.name)) {
        state_.error(loc, len, fmt::format("assertion reads series '{}', which no step takes", ref.name),
                     did_you_mean(ref.name, s_.series_names(),
                                  fmt::format("add a step '- CaptureSnapshot: {{name: {}, every: 250ms, count: 8}}'",
                                              ref.name)));
      }
      if (ref.kind == ExprRef::Kind::Workload && !workloads_.count(ref.name)) {
        state_.error(loc, len, fmt::format("assertion refers to workload '{}', which no step spawns", ref.name),
                     did_you_mean(ref.name, s_.workload_names(),
                                  fmt::format("add a step '- Spawn: {{name: {}, command: ...}}'", ref.name)));
      }
    }
    if (snapshots_.empty() && !s_.expect_scheduler_exit && uses_default_snapshot(*a.expr))
      state_.error(a.loc, static_cast<int>(a.text.size()), "assertion reads a snapshot, but no step captures one",
                   "add a step '- CaptureSnapshot: end' after the workload runs");
  }

  // "@exit"/"@early" (also written "exit"/"early") exist only in a run that
  // expects the scheduler's exit; a step's capture of the name wins.
  bool trigger_snapshot(const std::string& name) const {
    if (!s_.expect_scheduler_exit) return false;
    for (std::string_view trigger : {kExitSnapshotName, kEarlySnapshotName})
      if (name == trigger || name == trigger.substr(1)) return true;
    return false;
  }

  const Scenario& s_;
  LoadState& state_;
  // Line of the step that attached the current scheduler; 0 = the top-level
  // scheduler, -1 = none attached.
  int attached_line_ = -1;
  std::map<std::string, int> workloads_;  // name -> line of its Spawn
  std::map<std::string, int> snapshots_;  // name -> line of its capture
  std::map<std::string, int> series_;     // series name -> line of its step
  std::map<std::string, int> bpf_labels_;  // LoadBpf name -> line of its step
  std::map<std::string, int> json_docs_;  // stats() document name -> line of its step

 public:
  void start_with_top_level_scheduler(bool present) { attached_line_ = present ? 0 : -1; }
};

}  // namespace

void check_scenario(const Scenario& scenario, LoadState& state) {
  Checker checker(scenario, state);
  checker.start_with_top_level_scheduler(scenario.scheduler.has_value());
  checker.run();
}

}  // namespace ktest::dsl
