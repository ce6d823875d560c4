// `ktest kernel fetch`: Debian sid's kernel through a private apt state.
//
// apt-get and dpkg-deb are the tools for this job (signature checking,
// mirrors, proxies, .deb format); we only steer them with -o options so
// that the host's own apt lists, caches and installed packages stay as
// they were.
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <regex>

#include "kvm/kernel/kernel.h"
#include "util/atomic_file.h"
#include "util/subprocess.h"

namespace ktest::kvm {

namespace {

namespace fs = std::filesystem;

ProcessOptions in_dir(const std::string& cwd) {
  ProcessOptions options;
  options.cwd = cwd;
  return options;
}

std::vector<std::string> private_apt_options(const std::string& apt_dir) {
  return {"-o", "Dir::Etc::SourceList=" + apt_dir + "/sources.list",
          "-o", "Dir::Etc::SourceParts=/dev/null",
          "-o", "Dir::State::Lists=" + apt_dir + "/lists",
          "-o", "Dir::Cache=" + apt_dir + "/cache",
          "-o", "Dir::Etc::Preferences=/dev/null",
          "-o", "Dir::Etc::PreferencesParts=/dev/null",
          "-o", "APT::Sandbox::User=root"};  // our files are not readable by _apt
}

Status prepare_apt_dir(const std::string& apt_dir) {
  std::error_code ec;
  fs::create_directories(apt_dir + "/lists/partial", ec);
  fs::create_directories(apt_dir + "/cache/archives/partial", ec);
  if (ec) return fail("cannot create " + apt_dir + ": " + ec.message());
  const std::string sources =
      "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main\n";
  if (auto current = read_file(apt_dir + "/sources.list"); current && *current == sources) return {};
  return write_file_atomic(apt_dir + "/sources.list", sources);
}

void say(const FetchOptions& o, const std::string& line) {
  if (!o.quiet) std::fprintf(stderr, "ktest: %s\n", line.c_str());
}

// "42 min" or "5 h".
std::string describe_age(fs::file_time_type::duration age) {
  const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(age).count();
  return minutes < 120 ? std::to_string(minutes) + " min" : std::to_string(minutes / 60) + " h";
}

// "7.2.13+deb14" or "7.2.13+deb14-amd64" -> "7.2.13+deb14-amd64".
std::string abi_with_flavour(std::string v) {
  if (!v.ends_with("-amd64")) v += "-amd64";
  return v;
}

// sid's newest kernel ABI in the index, "" when it lists none.
Result<std::string> newest_in_sid(const std::string& apt_dir) {
  std::vector<std::string> argv = {"apt-cache"};
  for (auto& o : private_apt_options(apt_dir)) argv.push_back(o);
  argv.insert(argv.end(), {"search", "--names-only", "^linux-binary-"});
  KTEST_ASSIGN(ProcessResult r, run_checked(argv));
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    std::size_t end = r.out.find('\n', pos);
    if (end == std::string::npos) end = r.out.size();
    std::string line = r.out.substr(pos, end - pos);
    names.push_back(line.substr(0, line.find(' ')));
    pos = end + 1;
  }
  return newest_kernel_abi(names);
}

// apt-get update, then the stamp that lets the next calls skip it.
Result<AptIndexState> refresh_apt_index(const std::string& apt_dir, const FetchOptions& options) {
  say(options, "updating the package list of Debian sid (private apt state in " + apt_dir + ")");
  std::vector<std::string> update = {"apt-get", "-qq"};
  for (auto& o : private_apt_options(apt_dir)) update.push_back(o);
  update.push_back("update");
  KTEST_ASSIGN(ProcessResult r, run_checked(update));
  // apt-get update exits 0 when an index could not be fetched; it says so on stderr.
  if (r.err.find("Failed to fetch") != std::string::npos || r.err.find("index files failed") != std::string::npos) {
    std::string err = r.err;
    while (!err.empty() && std::isspace(static_cast<unsigned char>(err.back()))) err.pop_back();
    return fail("apt-get update could not fetch sid's index: " + err);
  }
  KTEST_ASSIGN(std::string newest, newest_in_sid(apt_dir));
  KTEST_TRY(record_apt_index_refresh(apt_dir, newest));
  return AptIndexState{true, fs::file_time_type::clock::now(), newest};
}

// Offline with a kernel already cached: keep working with the newest one,
// unless the user asked for a version or a fresh download.
Result<std::string> cached_instead(const std::string& cache, const FetchOptions& options, Error why) {
  auto cached = list_kernels(cache);
  if (options.version.empty() && !options.force && cached && !cached->empty() && (*cached)[0].has_vmlinux) {
    const std::string cause = why.message.substr(0, why.message.find('\n'));
    std::fprintf(stderr, "ktest: warning: using the cached %s: cannot update Debian sid's package list: %s\n",
                 (*cached)[0].version.c_str(), cause.c_str());
    return (*cached)[0].dir;
  }
  return fail(std::move(why.with_context("updating Debian sid's package list")));
}

// Finds `name` anywhere under `root` (the .deb layout moves between releases).
std::string find_file_named(const std::string& root, const std::string& name) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file() && it->path().filename() == name) return it->path().string();
  }
  return {};
}

Status download_and_unpack(const std::string& apt_dir, const std::string& abi, const std::string& work,
                           const std::string& stage) {
  std::vector<std::string> argv = {"apt-get", "-qq"};
  for (auto& o : private_apt_options(apt_dir)) argv.push_back(o);
  argv.insert(argv.end(), {"download", "linux-binary-" + abi, "linux-base-" + abi});
  if (auto r = run_checked(argv, in_dir(work)); !r) {
    return std::move(r).context("downloading linux-binary-" + abi);
  }
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(work, ec)) {
    if (entry.path().extension() != ".deb") continue;
    KTEST_TRY(run_checked({"dpkg-deb", "-x", entry.path().string(), work + "/root"}));
  }
  std::string vmlinuz = find_file_named(work + "/root", "vmlinuz");
  if (vmlinuz.empty()) vmlinuz = find_file_named(work + "/root", "vmlinuz-" + abi);
  std::string config = find_file_named(work + "/root", "config");
  if (config.empty()) config = find_file_named(work + "/root", "config-" + abi);
  if (vmlinuz.empty() || config.empty()) {
    return fail("the downloaded packages hold no " + std::string(vmlinuz.empty() ? "vmlinuz" : "config"),
                work, "the Debian package layout may have changed; report this to ktest");
  }
  fs::create_directories(stage, ec);
  fs::rename(vmlinuz, stage + "/vmlinuz", ec);
  if (!ec) fs::rename(config, stage + "/config", ec);
  if (ec) return fail("cannot move the kernel into " + stage + ": " + ec.message());
  return {};
}

bool has_modules(const std::string& dir) {
  std::error_code ec;
  return fs::exists(dir + "/modules/modules.dep", ec);
}

// linux-modules-<abi> into <dir>/modules: downloaded and unpacked in `work`,
// indexed with depmod (the package ships no modules.dep: dpkg's trigger
// writes it on install), then renamed into place.
Status fetch_modules(const std::string& apt_dir, const std::string& abi, const std::string& work,
                     const std::string& dir) {
  const std::string package = "linux-modules-" + abi;
  std::vector<std::string> argv = {"apt-get", "-qq"};
  for (auto& o : private_apt_options(apt_dir)) argv.push_back(o);
  argv.insert(argv.end(), {"download", package});
  if (auto r = run_checked(argv, in_dir(work)); !r) return std::move(r).context("downloading " + package);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(work, ec)) {
    if (entry.path().filename().string().starts_with(package + "_"))
      KTEST_TRY(run_checked({"dpkg-deb", "-x", entry.path().string(), work + "/modules-root"}));
  }
  // usr/lib/modules/<abi> on merged-/usr Debian, lib/modules/<abi> before.
  std::string base;
  for (const char* prefix : {"/modules-root/usr", "/modules-root"}) {
    if (fs::is_directory(work + prefix + "/lib/modules/" + abi, ec)) {
      base = work + prefix;
      break;
    }
  }
  if (base.empty()) {
    return fail(package + " holds no lib/modules/" + abi, work,
                "the Debian package layout may have changed; report this to ktest");
  }
  // /usr/sbin is not on every user's PATH.
  const std::string depmod = fs::exists("/usr/sbin/depmod", ec) ? "/usr/sbin/depmod" : "depmod";
  if (auto r = run_checked({depmod, "-b", base, abi}); !r) {
    Error e = std::move(r.error());
    if (e.hint.empty()) e.hint = "depmod comes with kmod: apt install kmod";
    return fail(std::move(e.with_context("indexing the modules with depmod")));
  }
  const std::string staged = work + "/modules-staged";
  fs::rename(base + "/lib/modules/" + abi, staged, ec);
  if (!ec) fs::rename(staged, dir + "/modules", ec);
  if (ec) return fail("cannot move the modules into " + dir + "/modules: " + ec.message());
  return {};
}

// The kernel `options` names (or the index's newest), from the cache or downloaded.
Result<std::string> fetch_from_index(const std::string& cache, const std::string& apt_dir,
                                     const AptIndexState& index, const FetchOptions& options) {
  std::string abi = options.version.empty() ? index.newest : abi_with_flavour(options.version);
  if (abi.empty()) {
    return fail("Debian sid lists no linux-binary-<version>-amd64 package", "",
                "check that http://deb.debian.org/debian is reachable, or pass --version");
  }
  std::error_code ec;
  std::string dir = cache + "/" + abi;
  const bool cached = !options.force && fs::exists(dir + "/vmlinux", ec) && fs::exists(dir + "/config", ec);
  if (cached && (!options.modules || has_modules(dir))) {
    say(options, abi + " is already in the cache");
    return dir;
  }
  std::string work = cache + "/.fetch-" + abi + "." + std::to_string(::getpid());
  fs::remove_all(work, ec);
  fs::create_directories(work, ec);
  if (ec) return fail("cannot create " + work + ": " + ec.message(), "", "check that the cache is writable");
  if (cached) {  // only the modules are missing
    say(options, "downloading linux-modules-" + abi);
    Status done = fetch_modules(apt_dir, abi, work, dir);
    fs::remove_all(work, ec);
    if (!done) return std::move(done).context("fetching the modules of " + abi);
    say(options, "modules of " + abi + " are in " + dir + "/modules");
    return dir;
  }
  say(options, "downloading linux-binary-" + abi + " and linux-base-" + abi);
  std::string stage = work + "/kernel";
  Status done = download_and_unpack(apt_dir, abi, work, stage);
  if (done) {
    say(options, "extracting vmlinux");
    done = extract_vmlinux_file(stage + "/vmlinuz", stage + "/vmlinux");
  }
  if (done) {
    auto facts = inspect_vmlinux(stage + "/vmlinux");
    if (!facts) {
      done = fail(std::move(facts.error()));
    } else if (!facts->has_btf || !facts->has_pvh_note) {
      done = fail("the extracted vmlinux lacks " + std::string(facts->has_btf ? "a PVH entry note" : ".BTF"),
                  stage + "/vmlinux", "this Debian kernel cannot be used by ktest; try --version");
    }
  }
  if (done && options.modules) {
    say(options, "downloading linux-modules-" + abi);
    done = fetch_modules(apt_dir, abi, work, stage);
  }
  if (done) {
    // Replace atomically: the old copy moves aside first, then goes.
    std::string old = work + "/old";
    if (fs::exists(dir, ec)) fs::rename(dir, old, ec);
    fs::rename(stage, dir, ec);
    if (ec) done = fail("cannot move the kernel into " + dir + ": " + ec.message());
  }
  fs::remove_all(work, ec);
  if (!done) return std::move(done).context("fetching " + abi);
  say(options, "kernel " + abi + " is in " + dir);
  return dir;
}

}  // namespace

int compare_debian_versions(std::string_view a, std::string_view b) {
  // dpkg's verrevcmp: '~' sorts before everything, letters before non-letters.
  auto order = [](char c) -> int {
    if (std::isdigit(static_cast<unsigned char>(c))) return 0;
    if (std::isalpha(static_cast<unsigned char>(c))) return c;
    if (c == '~') return -1;
    if (c) return c + 256;
    return 0;
  };
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    int first_diff = 0;
    while ((i < a.size() && !std::isdigit(static_cast<unsigned char>(a[i]))) ||
           (j < b.size() && !std::isdigit(static_cast<unsigned char>(b[j])))) {
      int ac = i < a.size() ? order(a[i]) : 0;
      int bc = j < b.size() ? order(b[j]) : 0;
      if (ac != bc) return ac - bc;
      ++i;
      ++j;
    }
    while (i < a.size() && a[i] == '0') ++i;
    while (j < b.size() && b[j] == '0') ++j;
    while (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i])) && j < b.size() &&
           std::isdigit(static_cast<unsigned char>(b[j]))) {
      if (!first_diff) first_diff = a[i] - b[j];
      ++i;
      ++j;
    }
    if (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i]))) return 1;
    if (j < b.size() && std::isdigit(static_cast<unsigned char>(b[j]))) return -1;
    if (first_diff) return first_diff;
  }
  return 0;
}

std::string newest_kernel_abi(const std::vector<std::string>& package_names) {
  // The version part has no '-', so "-cloud-amd64", "-rt-amd64" and
  // "linux-binary-unsigned-..." do not match.
  static const std::regex kPlain(R"(linux-binary-([0-9][^-]*)-amd64)");
  std::string best;
  for (const auto& name : package_names) {
    std::smatch m;
    if (!std::regex_match(name, m, kPlain)) continue;
    if (best.empty() || compare_debian_versions(m[1].str(), best) > 0) best = m[1].str();
  }
  return best.empty() ? best : best + "-amd64";
}

Result<std::string> fetch_kernel(const FetchOptions& options) {
  std::string cache = options.cache_dir.empty() ? kernel_cache_dir() : options.cache_dir;
  std::string apt_dir = cache + "/.apt";
  std::error_code ec;
  if (!options.version.empty()) {
    std::string dir = cache + "/" + abi_with_flavour(options.version);
    if (!options.force && fs::exists(dir + "/vmlinux", ec) && fs::exists(dir + "/config", ec) &&
        (!options.modules || has_modules(dir)))
      return dir;
  }
  KTEST_TRY(prepare_apt_dir(apt_dir));
  AptIndexState index = read_apt_index_state(apt_dir);
  const auto now = fs::file_time_type::clock::now();
  const bool refresh = apt_index_needs_refresh(index, now, options.refresh);
  if (refresh) {
    auto refreshed = refresh_apt_index(apt_dir, options);
    if (!refreshed) return cached_instead(cache, options, std::move(refreshed.error()));
    index = std::move(*refreshed);
  } else {
    say(options, "Debian sid's package list is " + describe_age(now - index.refreshed_at) +
                     " old; not updating it (--refresh does)");
  }
  auto dir = fetch_from_index(cache, apt_dir, index, options);
  if (dir || refresh) return dir;
  // The mirror may have replaced what an unrefreshed index names: refresh and try once more.
  say(options, dir.error().to_string() + "; updating the package list and trying again");
  auto refreshed = refresh_apt_index(apt_dir, options);
  if (!refreshed) return cached_instead(cache, options, std::move(refreshed.error()));
  return fetch_from_index(cache, apt_dir, *refreshed, options);
}

}  // namespace ktest::kvm
