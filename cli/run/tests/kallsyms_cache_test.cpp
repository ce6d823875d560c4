// The per-kernel kallsyms cache over real files and real zstd frames.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>

#include "cli/run/kallsyms_cache.h"
#include "util/atomic_file.h"
#include "util/zstd_frame.h"

using namespace ktest;
using namespace ktest::cli;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kText = 0xffffffff81000000ull;

std::string frame_of(const std::string& text) {
  auto frame = zstd_compress(text, 1);
  REQUIRE(frame.ok());
  return *frame;
}

struct CacheDir {
  std::string path = std::string(KTEST_TEST_TMP) + "/kallsyms-cache-test";
  CacheDir() { fs::remove_all(path); }
  ~CacheDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("kallsyms cache: one file per kernel build, checked before use") {
  CacheDir dir;
  const std::string image = dir.path + "/vmlinux";
  fs::create_directories(dir.path);
  REQUIRE(write_file_atomic(image, "not a kernel").ok());
  kvm::KernelImage kernel;
  kernel.boot_image = image;
  kernel.version = "7.2.13+deb14-amd64";
  const std::string path = kallsyms_cache_path(kernel, dir.path);
  REQUIRE(!path.empty());
  CHECK(path.rfind(dir.path + "/kallsyms/", 0) == 0);
  CHECK(kallsyms_cache_path(kernel, dir.path) == path);

  const std::string text = "ffffffff81000000 T _text\nffffffff81001000 T start_kernel\nffffffff82000000 D jiffies_64\n";
  REQUIRE(store_kallsyms(path, frame_of(text)).ok());
  auto table = load_cached_kallsyms(path, kText);
  REQUIRE_MESSAGE(table.ok(), table.error().to_string());
  CHECK(table->find("start_kernel")->address == 0xffffffff81001000ull);

  SUBCASE("another build of the kernel has another file") {
    kvm::KernelImage other = kernel;
    other.version = "7.2.14+deb14-amd64";
    CHECK(kallsyms_cache_path(other, dir.path) != path);
    REQUIRE(write_file_atomic(image, "rebuilt kernel").ok());  // new size and mtime
    CHECK(kallsyms_cache_path(kernel, dir.path) != path);
    kernel.boot_image = dir.path + "/missing";
    CHECK(kallsyms_cache_path(kernel, dir.path).empty());
  }
  SUBCASE("a table from a KASLR boot is not used, and is removed") {
    auto wrong = load_cached_kallsyms(path, kText + 0x200000);
    REQUIRE(!wrong.ok());
    CHECK(wrong.error().to_string().find("_text is not at 0xffffffff81200000") != std::string::npos);
    CHECK(!fs::exists(path));
  }
  SUBCASE("a corrupt file is not used, and is removed") {
    REQUIRE(write_file_atomic(path, "garbage").ok());
    CHECK(!load_cached_kallsyms(path, kText).ok());
    CHECK(!fs::exists(path));
    REQUIRE(store_kallsyms(path, frame_of("zz not kallsyms\n")).ok());
    CHECK(!load_cached_kallsyms(path, kText).ok());
    CHECK(!fs::exists(path));
  }
}
