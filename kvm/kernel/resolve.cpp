// The kernel cache and turning a user's choice into what QEMU boots.
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kvm/kernel/kernel.h"
#include "util/edit_distance.h"

namespace ktest::kvm {

namespace {

namespace fs = std::filesystem;

bool exists_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::string first_existing(const fs::path& dir, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (exists_file(dir / name)) return (dir / name).string();
  }
  return {};
}

// System.map or System.map-<anything> beside an image, when it is real.
std::string real_system_map_in(const fs::path& dir) {
  std::vector<std::string> candidates;
  if (exists_file(dir / "System.map")) candidates.push_back((dir / "System.map").string());
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename().string().starts_with("System.map-")) candidates.push_back(e.path().string());
  }
  for (const auto& c : candidates) {
    if (is_real_system_map(c)) return c;
  }
  return {};
}

bool starts_with_elf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::string_view(magic, 4) == "\x7f" "ELF";
}

// A user's bzImage without a vmlinux beside it: extract once into the cache,
// keyed by the image's identity (path, size, mtime).
Result<std::string> extracted_vmlinux_for(const std::string& bzimage) {
  struct stat st{};
  if (::stat(bzimage.c_str(), &st) != 0) return fail("cannot stat " + bzimage);
  std::error_code ec;
  std::string key = fs::path(bzimage).filename().string() + "-" + std::to_string(st.st_size) + "-" +
                    std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
                    "-" + std::to_string(std::hash<std::string>{}(fs::absolute(bzimage, ec).string()));
  fs::path dir = fs::path(ktest_cache_dir()) / "extracted" / key;
  std::string vmlinux = (dir / "vmlinux").string();
  if (exists_file(vmlinux)) return vmlinux;
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  KTEST_TRY(extract_vmlinux_file(bzimage, vmlinux));
  return vmlinux;
}

// Fills `out` from an image file and the directory it sits in.
Status resolve_image(const std::string& image, KernelImage& out) {
  if (!exists_file(image)) {
    return fail("kernel image not found: " + image, "", "pass a bzImage or vmlinux path, or use a cached version");
  }
  fs::path dir = fs::path(image).parent_path();
  if (dir.empty()) dir = ".";
  std::string vmlinux;
  std::string bzimage;
  if (starts_with_elf_magic(image)) {
    vmlinux = image;
  } else {
    bzimage = image;
    std::string beside = first_existing(dir, {"vmlinux"});
    if (!beside.empty() && fs::path(beside) != fs::path(image)) vmlinux = beside;
  }
  ElfFacts facts;
  if (vmlinux.empty()) {
    auto extracted = extracted_vmlinux_for(bzimage);
    if (extracted) {
      vmlinux = *extracted;
    }  // else: boot the bzImage as it is; there is no BTF to offer
  }
  if (!vmlinux.empty()) {
    auto f = inspect_vmlinux(vmlinux);
    if (!f) return std::move(f).context("inspecting the kernel");
    facts = *f;
  }
  if (facts.has_pvh_note) {
    out.boot_image = vmlinux;
    out.boot_is_elf = true;
  } else if (!bzimage.empty()) {
    out.boot_image = bzimage;
  } else {
    return fail("this vmlinux has no PVH entry note, so QEMU cannot boot it directly", vmlinux,
                "build the kernel with CONFIG_PVH=y, or pass its bzImage instead");
  }
  if (facts.has_btf) out.btf_vmlinux = vmlinux;
  out.has_symbols = facts.has_symbols;
  out.system_map = real_system_map_in(dir);
  out.config = first_existing(dir, {"config", ".config"});
  if (exists_file(fs::path(dir) / "modules" / "modules.dep")) out.modules_dir = (dir / "modules").string();
  return {};
}

std::vector<std::string> cached_versions(const std::string& cache) {
  std::vector<std::string> names;
  if (auto list = list_kernels(cache)) {
    for (const auto& k : *list) names.push_back(k.version);
  }
  return names;
}

}  // namespace

std::string ktest_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && *xdg == '/') return std::string(xdg) + "/ktest";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/ktest";
}

std::string kernel_cache_dir() { return ktest_cache_dir() + "/kernels"; }

Result<std::vector<CachedKernel>> list_kernels(const std::string& cache_dir) {
  std::string cache = cache_dir.empty() ? kernel_cache_dir() : cache_dir;
  std::vector<CachedKernel> kernels;
  std::error_code ec;
  if (!fs::exists(cache, ec)) return kernels;
  for (const auto& e : fs::directory_iterator(cache, ec)) {
    std::string name = e.path().filename().string();
    if (!e.is_directory() || name.starts_with(".")) continue;  // .apt, .fetch-* are ours
    kernels.push_back({name, e.path().string(), exists_file(e.path() / "vmlinuz"),
                       exists_file(e.path() / "vmlinux"), exists_file(e.path() / "config"),
                       exists_file(e.path() / "modules" / "modules.dep")});
  }
  if (ec) return fail("cannot list " + cache + ": " + ec.message());
  std::sort(kernels.begin(), kernels.end(), [](const CachedKernel& a, const CachedKernel& b) {
    return compare_debian_versions(a.version, b.version) > 0;
  });
  return kernels;
}

bool is_real_system_map(const std::string& path) {
  // Debian's stub is one line: "ffffffffffffffff B The real System.map is in ...".
  // A real map has the kernel's text start symbol.
  std::ifstream in(path);
  std::string line;
  for (int lines = 0; std::getline(in, line) && lines < 1'000'000; ++lines) {
    if (line.ends_with(" _text") || line.ends_with(" _stext")) return true;
  }
  return false;
}

KernelSpec kernel_spec_from_choice(std::string_view choice) {
  KernelSpec spec;
  std::string text(choice);
  std::error_code ec;
  if (text.empty()) return spec;
  if (fs::is_directory(text, ec)) {
    spec.dir = text;
  } else if (text.find('/') != std::string::npos || fs::exists(text, ec)) {
    spec.image = text;
  } else {
    spec.version = text;
  }
  return spec;
}

Result<KernelImage> resolve_kernel(const KernelSpec& spec) {
  KernelImage out;
  if (!spec.image.empty()) {
    out.version = fs::path(spec.image).filename().string();
    if (auto st = resolve_image(spec.image, out); !st) return std::move(st).context("kernel " + spec.image);
    return out;
  }
  std::string cache = spec.cache_dir.empty() ? kernel_cache_dir() : spec.cache_dir;
  std::string dir = spec.dir;
  if (dir.empty() && !spec.version.empty()) {
    for (std::string v : {spec.version, spec.version + "-amd64"}) {
      std::error_code ec;
      if (fs::is_directory(cache + "/" + v, ec)) dir = cache + "/" + v;
    }
    if (dir.empty()) {
      auto near = nearest(spec.version, cached_versions(cache));
      return fail("kernel version " + spec.version + " is not in the cache (" + cache + ")", "",
                  near ? "did you mean " + *near + "?" : "run: ktest kernel fetch --version " + spec.version);
    }
  }
  if (dir.empty()) {
    KTEST_ASSIGN(auto kernels, list_kernels(cache));
    auto usable = std::find_if(kernels.begin(), kernels.end(),
                               [](const CachedKernel& k) { return k.has_vmlinux || k.has_vmlinuz; });
    if (usable == kernels.end()) {
      return fail("no kernel in the cache (" + cache + ")", "", "run: ktest kernel fetch");
    }
    dir = usable->dir;
  }
  std::string image = first_existing(dir, {"vmlinux", "vmlinuz", "bzImage"});
  if (image.empty()) {
    return fail("no vmlinux, vmlinuz or bzImage in " + dir, dir,
                "run: ktest kernel fetch --force, or pass --kernel PATH");
  }
  out.version = fs::path(dir).filename().string();
  if (auto st = resolve_image(image, out); !st) return std::move(st).context("kernel " + dir);
  return out;
}

Result<std::string> vmlinux_btf_path(const KernelImage& image) {
  if (image.btf_vmlinux.empty()) {
    return fail("kernel " + image.version + " has no BTF (.BTF section)", image.boot_image,
                "use a kernel built with CONFIG_DEBUG_INFO_BTF=y, e.g. ktest kernel fetch");
  }
  return image.btf_vmlinux;
}

}  // namespace ktest::kvm
