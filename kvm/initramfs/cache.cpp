// The content-addressed initramfs cache.

#include <filesystem>
#include <memory>

#include "kvm/initramfs/initramfs.h"
#include "kvm/kernel/kernel.h"
#include "util/atomic_file.h"
#include "util/zstd_frame.h"

namespace ktest::kvm {

Result<CachedInitramfs> write_cached(const Initramfs& initramfs, const std::string& cache_dir) {
  namespace fs = std::filesystem;
  CachedInitramfs result;
  result.key = initramfs.content_key();
  std::string dir = (cache_dir.empty() ? ktest_cache_dir() : cache_dir) + "/initramfs";
  result.path = dir + "/" + result.key + ".initrd";
  std::error_code ec;
  if (fs::is_regular_file(result.path, ec)) {
    result.reused = true;
    return result;
  }
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir + ": " + ec.message(), "", "check that the cache is writable");
  KTEST_ASSIGN(std::string archive, initramfs.archive());
  KTEST_ASSIGN(std::string compressed, zstd_compress(archive, kInitramfsZstdLevel));
  archive = std::string();  // the largest buffer here; not needed any more
  compressed.resize(compressed.size() + (4096 + kInitrdSizeResidue - compressed.size() % 4096) % 4096, '\0');
  KTEST_TRY(write_file_atomic(result.path, compressed));
  return result;
}

}  // namespace ktest::kvm
