// Where the files ktest ships (the guest agent, the bundled BPF objects)
// are found: cli/run/shipped_files.h.
#include "cli/run/shipped_files.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

namespace ktest::cli {

namespace fs = std::filesystem;

namespace {

// The running ktest (/proc/self/exe); empty when that cannot be read.
fs::path running_executable() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe;
}

// Only the build tree's own ktest uses its build outputs: an installed ktest
// must not pick up a build tree that happens to still exist.
bool runs_from_build_tree(const fs::path& exe) {
  std::error_code ec;
  fs::path root = fs::weakly_canonical(KTEST_BUILD_ROOT, ec);
  if (ec) return false;
  fs::path inside = exe.lexically_relative(root);
  return !inside.empty() && *inside.begin() != "..";
}

// Where a file ktest ships may be, in lookup order: the build tree's copy,
// the installed copy beside the running ktest (a DESTDIR-staged or moved
// install keeps bin/ next to libexec/ and share/), the configured prefix's.
std::vector<fs::path> shipped_file_candidates(const fs::path& build_path, const fs::path& install_path) {
  std::vector<fs::path> candidates;
  if (fs::path exe = running_executable(); !exe.empty()) {
    if (!build_path.empty() && runs_from_build_tree(exe)) candidates.push_back(build_path);
    candidates.push_back(
        (exe.parent_path() / install_path.lexically_relative(KTEST_INSTALL_BINDIR)).lexically_normal());
  }
  candidates.push_back(install_path);
  return candidates;
}

}  // namespace

std::string default_agent_binary() {
  if (const char* env = std::getenv("KTEST_AGENT"); env && *env) return env;
  std::error_code ec;
  for (const fs::path& candidate : shipped_file_candidates(KTEST_AGENT_BUILD_PATH, KTEST_AGENT_INSTALL_PATH)) {
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  return "";
}

std::string default_object_dir() {
  std::error_code ec;
  for (const fs::path& dir : shipped_file_candidates(KTEST_BPF_OBJECT_BUILD_DIR, KTEST_BPF_OBJECT_INSTALL_DIR)) {
    if (fs::is_directory(dir, ec)) return dir.string();
  }
  return KTEST_BPF_OBJECT_INSTALL_DIR;
}

}  // namespace ktest::cli
