// The per-kernel kallsyms cache: cli/run/kallsyms_cache.h.
#include "cli/run/kallsyms_cache.h"

#include <sys/stat.h>

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "kvm/initramfs/initramfs.h"
#include "util/atomic_file.h"
#include "util/zstd_frame.h"

namespace ktest::cli {

std::string kallsyms_cache_path(const kvm::KernelImage& kernel, const std::string& cache_dir) {
  struct stat st{};
  if (kernel.boot_image.empty() || ::stat(kernel.boot_image.c_str(), &st) != 0) return {};
  const std::string identity = fmt::format("{}\n{}\n{}\n{}.{}", kernel.version, kernel.boot_image, st.st_size,
                                           st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  return (cache_dir.empty() ? kvm::ktest_cache_dir() : cache_dir) + "/kallsyms/" + kvm::fnv1a128_hex(identity) +
         ".zst";
}

Result<kvm::control::SymbolTable> load_cached_kallsyms(const std::string& path, uint64_t text_address) {
  auto checked = [&]() -> Result<kvm::control::SymbolTable> {
    KTEST_ASSIGN(std::string frame, read_file(path));
    KTEST_ASSIGN(std::string text, zstd_decompress(frame, kvm::control::kMaxKallsymsBytes));
    KTEST_ASSIGN(auto table, kvm::control::SymbolTable::parse(text));
    const auto* text_symbol = table.find("_text");
    if (text_symbol == nullptr || text_symbol->address != text_address)
      return fail(fmt::format("its _text is not at {:#x}", text_address));
    return table;
  };
  auto table = checked();
  if (!table) {
    std::error_code ec;
    std::filesystem::remove(path, ec);  // the agent sends anew, and the next run keeps that
    return fail(table.error().with_context("cached kallsyms " + path));
  }
  return table;
}

Status store_kallsyms(const std::string& path, std::string_view zstd_frame) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return fail("cannot create " + std::filesystem::path(path).parent_path().string() + ": " + ec.message());
  return write_file_atomic(path, zstd_frame);
}

}  // namespace ktest::cli
