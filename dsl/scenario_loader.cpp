// Reads a scenario's YAML into the model, reporting every problem found.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <iterator>

#include "dsl/scenario_vm.h"
#include "dsl/yaml_reader.h"
#include "kvm/machine.h"
#include "snapshot/scx_state.h"
#include "util/edit_distance.h"
#include "util/atomic_file.h"

namespace ktest::dsl {
namespace {

const std::vector<std::string> kTopKeys = {"name",  "description", "vm",        "kernel",
                                           "scheduler", "steps",   "assertions",
                                           "expect_scheduler_exit"};
const std::vector<std::string> kExitGroups = {"any", "any_error"};

// expect_scheduler_exit: a kind name, a list of them, or a group word.
std::optional<ExpectedExit> read_expected_exit(const YAML::Node& node, FieldReader& r) {
  const std::string example = "expect_scheduler_exit: SCX_EXIT_ERROR_STALL";
  std::vector<std::string> names;
  for (const auto& kind : kScxExitKinds) names.emplace_back(kind.name);
  std::vector<std::string> valid = names;
  valid.insert(valid.end(), kExitGroups.begin(), kExitGroups.end());
  ExpectedExit expected;
  expected.loc = r.loc(node);
  std::vector<YAML::Node> items;
  if (node.IsSequence()) {
    for (const auto& item : node) items.push_back(item);
  } else {
    items.push_back(node);
  }
  if (items.empty()) r.error(node, "'expect_scheduler_exit' is an empty list", "write " + example);
  for (const auto& item : items) {
    auto kind = r.string(item, "expect_scheduler_exit");
    if (!kind) continue;
    if (std::find(valid.begin(), valid.end(), *kind) == valid.end()) {
      auto guess = nearest(*kind, valid);
      r.error(item, fmt::format("'{}' is not a sched_ext exit kind", *kind),
              guess ? fmt::format("did you mean '{}'?", *guess)
                    : fmt::format("use one of {}, any_error or any", fmt::join(names, ", ")));
      continue;
    }
    if (*kind == "SCX_EXIT_UNREG") {
      r.error(item, "SCX_EXIT_UNREG is a userspace unload, never a failure",
              "name the kind the scheduler dies with, e.g. SCX_EXIT_ERROR_BPF");
      continue;
    }
    expected.kinds.push_back(*kind);
  }
  if (expected.kinds.empty()) return std::nullopt;
  return expected;
}

// vm.tools: the form only; `ktest run` resolves each on the host.
void read_tools(const YAML::Node& node, FieldReader& r, std::vector<VmTool>& tools) {
  const std::string example = "tools: [bpftool, /usr/bin/stress-ng]";
  if (!node.IsSequence()) {
    r.error(node, "'tools' must be a list of programs", "write " + example);
    return;
  }
  for (const auto& item : node) {
    auto program = r.string(item, "tools");
    if (!program) continue;
    const Location loc = r.loc(item);
    if (program->find('/') != std::string::npos && program->front() != '/') {
      r.error(item, fmt::format("tool '{}' is a relative path", *program),
              "write a bare name looked up on the host's $PATH (bpftool) or an absolute path "
              "(/usr/sbin/bpftool): the guest gets it at the same path");
      continue;
    }
    auto same = std::find_if(tools.begin(), tools.end(), [&](const VmTool& t) { return t.program == *program; });
    if (same != tools.end()) {
      r.error(item, fmt::format("tool '{}' is listed twice (first at line {})", *program, same->loc.line),
              "delete one of them");
      continue;
    }
    tools.push_back({*program, loc});
  }
}

void read_vm(const YAML::Node& node, FieldReader& r, const std::string& dir, VmConfig& vm) {
  if (node.IsNull()) return;
  std::vector<std::string> keys = {"cpus", "memory", "timeout", "tools"};
  keys.insert(keys.end(), std::begin(kVmShapeKeys), std::end(kVmShapeKeys));
  keys.insert(keys.end(), std::begin(kVmContentKeys), std::end(kVmContentKeys));
  auto fs = r.fields(node, keys, "vm", "vm: {cpus: 2, memory: 512M, timeout: 30s}");
  if (const YAML::Node* n = FieldReader::find(fs, "cpus"))
    if (auto cpus = r.integer(*n, "cpus", kvm::kMinCpus, kvm::kMaxCpus)) {
      vm.cpus = static_cast<uint32_t>(*cpus);
      vm.cpus_written = true;
    }
  if (const YAML::Node* n = FieldReader::find(fs, "memory")) {
    if (auto bytes = r.size(*n, "memory")) {
      if (Status s = kvm::check_guest_memory(*bytes); !s)
        r.error(*n, fmt::format("'memory' is {}: {}", n->Scalar(), s.error().message), s.error().hint);
      vm.memory_bytes = *bytes;
      vm.memory_written = true;
    }
  }
  if (const YAML::Node* n = FieldReader::find(fs, "timeout"))
    if (auto t = r.duration(*n, "timeout")) vm.timeout = *t;
  if (const YAML::Node* n = FieldReader::find(fs, "tools")) read_tools(*n, r, vm.tools);
  read_vm_shape(fs, r, vm);  // topology, numa, cpu_model (scenario_vm.cpp)
  read_vm_contents(fs, r, dir, vm);  // modules, files (scenario_vm_contents.cpp)
}

void read_kernel(const YAML::Node& node, FieldReader& r, const std::string& dir, KernelSpec& kernel) {
  auto resolve = [&dir](const std::string& p) {
    std::filesystem::path path(p);
    return path.is_absolute() ? p : (std::filesystem::path(dir) / path).lexically_normal().string();
  };
  if (node.IsNull()) return;
  if (node.IsScalar()) {
    if (node.Scalar().find('/') != std::string::npos) kernel.path = resolve(node.Scalar());
    else kernel.version = node.Scalar();
    return;
  }
  auto fs = r.fields(node, {"path", "version"}, "kernel", "kernel: {version: \"7.2.13\"}");
  const YAML::Node* path = FieldReader::find(fs, "path");
  const YAML::Node* version = FieldReader::find(fs, "version");
  if (path && version) {
    r.error(*version, "kernel takes either 'path' or 'version', not both", "delete one of them");
    return;
  }
  if (path)
    if (auto p = r.string(*path, "path")) kernel.path = resolve(*p);
  if (version) kernel.version = r.string(*version, "version");
}

// Where a scalar's text starts in the file: after the quote, or on the
// line after a block indicator (| or >).
std::size_t scalar_text_start(const YAML::Node& node, const std::string& text) {
  auto pos = static_cast<std::size_t>(std::max(node.Mark().pos, 0));
  if (pos >= text.size()) return pos;
  if (text[pos] == '"' || text[pos] == '\'') return pos + 1;
  if (text[pos] == '|' || text[pos] == '>') {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) return pos;
    pos = nl + 1;
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
  }
  return pos;
}

void read_assertions(const YAML::Node& node, FieldReader& r, std::vector<Assertion>& out) {
  if (node.IsNull()) return;
  if (!node.IsSequence()) {
    r.error(node, "'assertions' must be a list", "write assertions:\n  - var(\"nr_cpus_onln\") > 0");
    return;
  }
  LoadState& state = r.state();
  for (const auto& item : node) {
    Assertion a;
    YAML::Node expr_node = item;
    if (item.IsMap()) {
      auto fs = r.fields(item, {"expr", "name", "message"}, "an assertion",
                         "{expr: \"var(\\\"x\\\") > 0\", name: x_positive}");
      const YAML::Node* e = r.require(fs, "expr", item, "an assertion", "{expr: \"var(\\\"x\\\") > 0\"}");
      if (!e) continue;
      expr_node = *e;
      if (const YAML::Node* n = FieldReader::find(fs, "name"))
        if (auto s = r.string(*n, "name")) a.name = *s;
      if (const YAML::Node* n = FieldReader::find(fs, "message"))
        if (auto s = r.string(*n, "message")) a.message = *s;
    }
    auto text = r.string(expr_node, "assertion");
    if (!text) continue;
    a.text = *text;
    if (a.name.empty()) a.name = a.text;
    const std::size_t index = state.assertion_starts.size();
    state.assertion_starts.push_back(scalar_text_start(expr_node, state.text()));
    a.loc = state.expr_location(index, a.text, 0);
    auto parsed = parse_expr_located(a.text);
    if (auto* err = std::get_if<ExprError>(&parsed)) {
      state.error(state.expr_location(index, a.text, err->span.offset),
                  static_cast<int>(err->span.length), "in assertion: " + err->message, err->hint);
      state.assertion_starts.pop_back();
      continue;
    }
    a.expr = std::get<ExprPtr>(parsed);
    out.push_back(std::move(a));
  }
}

// YAML syntax errors end the load: yaml-cpp stops at the first one.
std::optional<YAML::Node> parse_yaml(const std::string& text, LoadState& state) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    const Location loc = e.mark.is_null() ? Location{} : Location{e.mark.line + 1, e.mark.column + 1};
    state.error(loc, 1, "YAML syntax: " + e.msg, "check the indentation and brackets near here");
    return std::nullopt;
  }
}

}  // namespace

ScenarioLoad load_scenario_text(const std::string& text, const std::string& file, const std::string& dir) {
  LoadState state(text, file);
  ScenarioLoad result;
  auto root = parse_yaml(text, state);
  if (root) {
    FieldReader r(state);
    Scenario s;
    s.file = file;
    s.dir = dir;
    s.name = std::filesystem::path(file).stem().string();
    if (root->IsNull()) {
      state.error({1, 1}, 1, "the scenario is empty", "start with 'name: my_test' and a 'steps:' list");
    } else {
      auto fs = r.fields(*root, kTopKeys, "the scenario", "name: my_test");
      if (const YAML::Node* n = FieldReader::find(fs, "name"))
        if (auto v = r.string(*n, "name")) s.name = *v;
      if (const YAML::Node* n = FieldReader::find(fs, "description"))
        if (!n->IsNull()) s.description = r.string(*n, "description").value_or("");
      if (const YAML::Node* n = FieldReader::find(fs, "vm")) read_vm(*n, r, dir, s.vm);
      if (const YAML::Node* n = FieldReader::find(fs, "kernel")) read_kernel(*n, r, dir, s.kernel);
      if (const YAML::Node* n = FieldReader::find(fs, "scheduler"))
        s.scheduler = r.scheduler(*n, *n, "scheduler", dir);
      if (const YAML::Node* n = FieldReader::find(fs, "steps")) s.steps = read_steps(*n, r, dir);
      if (const YAML::Node* n = FieldReader::find(fs, "assertions")) read_assertions(*n, r, s.assertions);
      if (const YAML::Node* n = FieldReader::find(fs, "expect_scheduler_exit"))
        s.expect_scheduler_exit = read_expected_exit(*n, r);
      check_scenario(s, state);
    }
    if (!has_errors(state.diagnostics())) result.scenario = std::move(s);
  }
  auto& ds = state.diagnostics();
  std::stable_sort(ds.begin(), ds.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.line, a.col) < std::tie(b.line, b.col);
  });
  result.diagnostics = std::move(ds);
  return result;
}

ScenarioLoad load_scenario_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) {
    ScenarioLoad result;
    Diagnostic d;
    d.file = path;
    d.message = "cannot read the scenario: " + text.error().message;
    d.hint = "check the path";
    result.diagnostics.push_back(std::move(d));
    return result;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  return load_scenario_text(*text, path, dir.empty() ? "." : dir);
}

std::vector<std::string> Scenario::snapshot_names() const {
  std::vector<std::string> out;
  for (const auto& step : steps) {
    if (const auto* c = std::get_if<CaptureSnapshot>(&step.op)) {
      if (!c->series()) out.push_back(c->name);
      for (uint32_t k = 1; c->series() && k <= c->count; ++k) out.push_back(kvm::series_member(c->name, k));
    }
    if (const auto* w = std::get_if<WatchSnapshot>(&step.op)) out.push_back(w->name);
  }
  return out;
}

std::vector<std::string> Scenario::series_names() const {
  std::vector<std::string> out;
  for (const auto& step : steps)
    if (const auto* c = std::get_if<CaptureSnapshot>(&step.op); c && c->series()) out.push_back(c->name);
  return out;
}

std::vector<std::string> Scenario::workload_names() const {
  std::vector<std::string> out;
  for (const auto& step : steps)
    if (const auto* s = std::get_if<Spawn>(&step.op)) out.push_back(s->name);
  return out;
}

const char* step_op_name(const StepOp& op) {
  static const char* names[] = {"AttachScheduler", "ReplaceScheduler", "DetachScheduler",
                                "Spawn",           "Kill",             "Run",
                                "Sleep",           "CaptureSnapshot",  "WatchSnapshot",
                                "LoadBpf"};
  static_assert(std::size(names) == std::variant_size_v<StepOp>);
  return names[op.index()];
}

bool ExpectedExit::matches(std::string_view name, int64_t value) const {
  for (const auto& kind : kinds) {
    if (kind == name) return true;
    if (kind == "any_error" && value >= kScxExitErrorFloor) return true;
    if (kind == "any" && value != kScxExitUnreg) return true;
  }
  return false;
}

std::string ExpectedExit::text() const { return fmt::format("{}", fmt::join(kinds, " or ")); }

const char* watch_access_name(WatchAccess access) {
  switch (access) {
    case WatchAccess::Write: return "write";
    case WatchAccess::Read: return "read";
    case WatchAccess::ReadWrite: return "rw";
  }
  return "write";
}

}  // namespace ktest::dsl
