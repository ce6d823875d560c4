// Guest kernels: fetching Debian's sched_ext kernel, the local cache,
// configuration checks, vmlinux extraction, and resolving what to boot.
//
// Contract:
// - fetch_kernel() downloads sid's newest linux-binary-<v>-amd64 plus the
//   matching linux-base-<v>-amd64 (config) with apt-get through a private
//   apt state under the cache (the system's apt state is never touched and
//   nothing is installed), then leaves <cache>/kernels/<v>/{vmlinuz,vmlinux,
//   config}; with `modules`, also linux-modules-<v>-amd64, indexed with
//   depmod, as <v>/modules/ (kernel/..., modules.dep, modules.builtin; added
//   atomically to a cached kernel that lacks it). The directory appears atomically (temp dir, then rename); an
//   existing version is reused unless `force`. sid's package index is
//   refreshed (apt-get update) only when it is older than kAptIndexMaxAge,
//   absent, or `refresh` asks for it; a download that fails on an unrefreshed
//   index is retried once after a refresh. Without a version or `force`, when the
//   refresh fails (no network), the newest cached kernel is returned with a
//   warning on stderr (even when `quiet`).
// - extract_vmlinux() finds the zstd or gzip payload inside a bzImage and
//   returns the decompressed ELF (first frame/member only: trailing data is
//   ignored). inspect_vmlinux() says whether an ELF has .BTF, a PVH entry
//   note (Xen note type 18) and a symbol table.
// - check_kernel_config() names every option ktest needs that is missing or
//   wrong, with the reason ktest needs it.
// - resolve_kernel() turns a version / directory / user image path into a
//   KernelImage: what QEMU boots (the PVH vmlinux when there is one), where
//   the BTF is, a real System.map (Debian's stub is rejected) and the config.
// Every failure is an Error naming the file and what to do about it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace ktest::kvm {

// $XDG_CACHE_HOME/ktest (default ~/.cache/ktest), created on demand by writers.
std::string ktest_cache_dir();
// <ktest_cache_dir()>/kernels.
std::string kernel_cache_dir();

// ---- fetch ---------------------------------------------------------------
struct FetchOptions {
  std::string version;      // "" = newest in sid, e.g. "7.2.13+deb14-amd64" or "7.2.13+deb14"
  bool force = false;       // download again even if the version is cached
  bool quiet = false;       // no progress lines on stderr
  bool refresh = false;     // refresh sid's package index even when it is fresh
  bool modules = false;     // also the kernel's loadable modules (<dir>/modules)
  std::string cache_dir;    // "" = kernel_cache_dir()
};
// Returns the kernel directory (<cache>/<version>).
Result<std::string> fetch_kernel(const FetchOptions& options);

// What ktest knows about sid's package index in its private apt state
// (<cache>/.apt). apt keeps the mirror's Last-Modified as the index files'
// mtime and leaves them alone when nothing changed, so a stamp written after
// each successful refresh says when that was.
inline constexpr std::chrono::hours kAptIndexMaxAge{6};
struct AptIndexState {
  bool has_index = false;  // the stamp and a Packages index are there
  std::filesystem::file_time_type refreshed_at{};  // the last successful apt-get update
  std::string newest;      // sid's newest kernel ABI then ("" when it listed none)
};
// Refresh when asked to, when there is no index, or when the last refresh is
// kAptIndexMaxAge old or more; a refresh time more than a few minutes ahead of
// `now` (a clock that moved back) counts as stale too.
bool apt_index_needs_refresh(const AptIndexState& index, std::filesystem::file_time_type now,
                             bool refresh_requested);
// Reads the stamp <apt_dir>/index-refreshed and looks for the Packages index
// under <apt_dir>/lists; without either, has_index is false.
AptIndexState read_apt_index_state(const std::string& apt_dir);
// Writes the stamp (its mtime: now) after a successful refresh.
Status record_apt_index_refresh(const std::string& apt_dir, const std::string& newest);

// Debian version ordering (dpkg --compare-versions): <0, 0, >0.
int compare_debian_versions(std::string_view a, std::string_view b);
// From apt package names, the newest "<v>-amd64" flavour of linux-binary-<v>-amd64
// (cloud, rt and unsigned flavours excluded); "" when none.
std::string newest_kernel_abi(const std::vector<std::string>& package_names);

// ---- cache listing -------------------------------------------------------
struct CachedKernel {
  std::string version;  // directory name, e.g. "7.2.13+deb14-amd64"
  std::string dir;
  bool has_vmlinuz = false;
  bool has_vmlinux = false;
  bool has_config = false;
  bool has_modules = false;  // <dir>/modules/modules.dep
};
// Sorted newest first (Debian ordering). An absent cache is an empty list.
Result<std::vector<CachedKernel>> list_kernels(const std::string& cache_dir = {});

// ---- extraction and inspection ------------------------------------------
// The decompressed vmlinux ELF embedded in a bzImage (zstd or gzip payload).
Result<std::string> extract_vmlinux(std::string_view bzimage);
// Reads `bzimage_path`, extracts, checks it is an ELF, writes `vmlinux_path` atomically.
Status extract_vmlinux_file(const std::string& bzimage_path, const std::string& vmlinux_path);

struct ElfFacts {
  bool has_btf = false;          // a .BTF section
  bool has_pvh_note = false;     // Xen ELF note type 18 (XEN_ELFNOTE_PHYS32_ENTRY)
  bool has_symbols = false;      // a non-empty .symtab
  std::uint64_t btf_offset = 0;  // file offset and size of .BTF when present
  std::uint64_t btf_size = 0;
};
Result<ElfFacts> inspect_vmlinux(const std::string& path);
Result<ElfFacts> inspect_vmlinux_bytes(std::string_view elf);

// ---- configuration -------------------------------------------------------
struct ConfigProblem {
  std::string option;    // "CONFIG_SCHED_CLASS_EXT"
  std::string expected;  // "y" or "y or m"
  std::string actual;    // "not set", "m", "(absent)"
  std::string why;       // why ktest needs it
  // "CONFIG_X is not set, ktest needs y: <why>"
  std::string to_string() const;
};
// Problems in a .config text; empty = fine.
std::vector<ConfigProblem> check_config_text(std::string_view config_text);

struct ConfigReport {
  std::string config_path;  // the file that was checked
  std::vector<ConfigProblem> problems;
  bool ok() const { return problems.empty(); }
};
// `path`: a kernel directory, a config file, or a vmlinux/bzImage with a
// `config` (or config-<version>) beside it.
Result<ConfigReport> check_kernel_config(const std::string& path);
// The value of one option in a .config text ("y", "250", "not set"), or
// nullopt when the text does not mention it.
std::optional<std::string> config_value(std::string_view config_text, std::string_view option);

// ---- resolution for `ktest run` -------------------------------------------
struct KernelSpec {
  std::string image;      // --kernel PATH: a user's bzImage or vmlinux (wins)
  std::string dir;        // a kernel directory like the cache's (next)
  std::string version;    // a cached version (next); all empty = newest cached
  std::string cache_dir;  // "" = kernel_cache_dir()
};

// The kernel a user named (config `kernel`, `--kernel`): "" = newest cached;
// an existing directory = dir; an existing file or anything with '/' =
// image; otherwise a version.
KernelSpec kernel_spec_from_choice(std::string_view choice);

struct KernelImage {
  std::string boot_image;   // what -kernel gets: the PVH vmlinux if any, else the bzImage
  bool boot_is_elf = false; // boot_image is an uncompressed ELF with a PVH note
  std::string btf_vmlinux;  // an ELF with .BTF ("" when none)
  std::string system_map;   // a real System.map ("" when none or only Debian's stub)
  std::string config;       // "" when none was found
  std::string version;      // cache directory name, or the image's file name
  bool has_symbols = false; // btf_vmlinux also carries .symtab
  std::string modules_dir;  // <dir>/modules when it has modules.dep, else ""
};
Result<KernelImage> resolve_kernel(const KernelSpec& spec);

// True when `path` looks like a real System.map (Debian ships a one-line stub).
bool is_real_system_map(const std::string& path);

// Where the vmlinux BTF of a resolved kernel lives (the .BTF section of
// btf_vmlinux), or an error saying how to get a kernel with BTF.
Result<std::string> vmlinux_btf_path(const KernelImage& image);

// ---- modules (vm.modules) -------------------------------------------------
// Names match the way modprobe matches them: "kvm-amd" == "kvm_amd".
// ".../kvm-amd.ko.xz" -> "kvm_amd"; header-only (dsl/ checks vm.modules with it).
inline std::string module_name(std::string_view name_or_path) {
  std::string_view base = name_or_path.substr(name_or_path.find_last_of('/') + 1);
  std::string out(base.substr(0, base.find(".ko")));
  for (char& c : out)
    if (c == '-') c = '_';
  return out;
}
struct ModuleIndex {
  std::map<std::string, std::vector<std::string>> deps;  // modules.dep: file -> the files it needs
  std::map<std::string, std::string> by_name;             // module_name -> file
  std::set<std::string> builtin;                          // module names in modules.builtin
};
ModuleIndex parse_module_index(std::string_view modules_dep, std::string_view modules_builtin);
// The files to load for `names`, each after what it needs, once each; a
// built-in name needs nothing. Unknown names fail with a "did you mean".
Result<std::vector<std::string>> module_load_order(const ModuleIndex& index, const std::vector<std::string>& names);
struct ModuleFile {
  std::string name;       // module_name()
  std::string host_path;  // <modules_dir>/<relative>
  std::string relative;   // as in modules.dep: "kernel/arch/x86/kvm/kvm.ko.xz"
};
// module_load_order() over <modules_dir>/modules.dep; no modules_dir is an
// error that says to fetch them (when `names` is not empty).
Result<std::vector<ModuleFile>> resolve_modules(const std::string& modules_dir, const std::vector<std::string>& names);

}  // namespace ktest::kvm
