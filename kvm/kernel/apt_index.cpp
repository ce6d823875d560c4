// When ktest last refreshed sid's package index, and whether to refresh it
// now (`ktest kernel fetch` runs on every ./dev build; apt-get update takes
// seconds, so it runs only when the index is old).
#include <filesystem>

#include "kvm/kernel/kernel.h"
#include "util/atomic_file.h"

namespace ktest::kvm {

namespace {

namespace fs = std::filesystem;

// Outside lists/: apt-get update deletes files there that it did not fetch.
std::string stamp_path(const std::string& apt_dir) { return apt_dir + "/index-refreshed"; }

constexpr std::string_view kNewestKey = "newest ";

// An NFS server's clock a little ahead of ours is no reason to refresh.
constexpr std::chrono::minutes kClockSkew{5};

bool has_packages_index(const std::string& lists_dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(lists_dir, ec)) {
    // deb.debian.org_debian_dists_sid_main_binary-amd64_Packages(.lz4|.xz|...)
    if (entry.path().filename().string().find("_Packages") != std::string::npos) return true;
  }
  return false;
}

}  // namespace

bool apt_index_needs_refresh(const AptIndexState& index, fs::file_time_type now, bool refresh_requested) {
  if (refresh_requested || !index.has_index) return true;
  const auto age = now - index.refreshed_at;
  return age >= kAptIndexMaxAge || age < -kClockSkew;
}

AptIndexState read_apt_index_state(const std::string& apt_dir) {
  AptIndexState state;
  auto text = read_file(stamp_path(apt_dir));
  std::error_code ec;
  const auto mtime = fs::last_write_time(stamp_path(apt_dir), ec);
  if (!text || ec || !has_packages_index(apt_dir + "/lists")) return state;
  std::size_t pos = 0;
  while (pos < text->size()) {
    std::size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    std::string_view line(text->data() + pos, end - pos);
    if (line.starts_with(kNewestKey)) state.newest = line.substr(kNewestKey.size());
    pos = end + 1;
  }
  state.has_index = true;
  state.refreshed_at = mtime;
  return state;
}

Status record_apt_index_refresh(const std::string& apt_dir, const std::string& newest) {
  return write_file_atomic(stamp_path(apt_dir),
                           "# ktest refreshed Debian sid's package index at this file's mtime\n" +
                               std::string(kNewestKey) + newest + "\n");
}

}  // namespace ktest::kvm
