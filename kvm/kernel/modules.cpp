// A kernel's loadable modules: depmod's index read, names resolved to files
// in load order (dependencies first).
#include <algorithm>
#include <filesystem>
#include <functional>
#include <set>

#include "kvm/kernel/kernel.h"
#include "util/atomic_file.h"
#include "util/edit_distance.h"

namespace ktest::kvm {

namespace {

namespace fs = std::filesystem;

// Bounds for a hand-edited or corrupt index: deeper chains than this are cycles.
constexpr std::size_t kMaxModuleDepth = 64;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

template <typename F>
void for_each_line(std::string_view text, F&& f) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = trim(text.substr(pos, nl - pos));
    if (!line.empty()) f(line);
    pos = nl + 1;
  }
}

}  // namespace

ModuleIndex parse_module_index(std::string_view modules_dep, std::string_view modules_builtin) {
  ModuleIndex index;
  for_each_line(modules_dep, [&](std::string_view line) {
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return;
    std::string file(trim(line.substr(0, colon)));
    std::vector<std::string> deps;
    std::string_view rest = line.substr(colon + 1);
    while (!(rest = trim(rest)).empty()) {
      std::size_t space = rest.find_first_of(" \t");
      deps.emplace_back(rest.substr(0, space));
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space);
    }
    index.by_name[module_name(file)] = file;
    index.deps[file] = std::move(deps);
  });
  for_each_line(modules_builtin, [&](std::string_view line) { index.builtin.insert(module_name(line)); });
  return index;
}

Result<std::vector<std::string>> module_load_order(const ModuleIndex& index, const std::vector<std::string>& names) {
  std::vector<std::string> order;
  std::set<std::string> placed;
  // Post-order: a module after everything it needs.
  std::function<Status(const std::string&, std::size_t)> place = [&](const std::string& file,
                                                                    std::size_t depth) -> Status {
    if (placed.count(file)) return {};
    if (depth > kMaxModuleDepth) return fail("module dependencies nest deeper than " +
                                             std::to_string(kMaxModuleDepth) + " at " + file + " (a cycle?)");
    auto deps = index.deps.find(file);
    if (deps == index.deps.end()) return fail("modules.dep names " + file + " as a dependency but has no entry for it");
    for (const auto& dep : deps->second) KTEST_TRY(place(dep, depth + 1));
    placed.insert(file);
    order.push_back(file);
    return {};
  };
  for (const auto& wanted : names) {
    std::string name = module_name(wanted);
    if (index.builtin.count(name)) continue;
    auto file = index.by_name.find(name);
    if (file == index.by_name.end()) {
      std::vector<std::string> known;
      for (const auto& [n, f] : index.by_name) known.push_back(n);
      auto near = nearest(name, known);
      return fail("the kernel has no module named " + wanted, "",
                  near ? "did you mean " + *near + "?" : "list them: find <kernel dir>/modules -name '*.ko*'");
    }
    KTEST_TRY(place(file->second, 0));
  }
  return order;
}

Result<std::vector<ModuleFile>> resolve_modules(const std::string& modules_dir, const std::vector<std::string>& names) {
  if (names.empty()) return std::vector<ModuleFile>{};
  std::error_code ec;
  if (modules_dir.empty() || !fs::exists(modules_dir + "/modules.dep", ec)) {
    return fail("the guest kernel has no modules beside it (no modules/modules.dep)", modules_dir,
                "fetch them with: ktest kernel fetch --modules");
  }
  KTEST_ASSIGN(std::string dep, read_file(modules_dir + "/modules.dep"));
  auto builtin = read_file(modules_dir + "/modules.builtin");
  ModuleIndex index = parse_module_index(dep, builtin ? *builtin : std::string());
  KTEST_ASSIGN(auto order, module_load_order(index, names));
  std::vector<ModuleFile> files;
  for (const auto& relative : order) {
    std::string host = modules_dir + "/" + relative;
    if (relative.find("..") != std::string::npos || !fs::is_regular_file(host, ec)) {
      return fail("modules.dep names " + relative + ", which is not a file under " + modules_dir, "",
                  "fetch the modules again: ktest kernel fetch --modules --force");
    }
    files.push_back({module_name(relative), host, relative});
  }
  return files;
}

}  // namespace ktest::kvm
