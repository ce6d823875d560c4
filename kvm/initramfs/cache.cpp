// zstd compression and the content-addressed initramfs cache.
#include <zstd.h>

#include <filesystem>
#include <memory>

#include "kvm/initramfs/initramfs.h"
#include "kvm/kernel/kernel.h"
#include "util/atomic_file.h"

namespace ktest::kvm {

Result<std::string> zstd_compress(std::string_view bytes, int level) {
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) return fail("zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 0);  // the kernel does not need it
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  std::size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), bytes.data(), bytes.size());
  if (ZSTD_isError(n)) return fail(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

Result<std::string> zstd_decompress(std::string_view frame) {
  unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (1ULL << 32)) {
    return fail("zstd: not a single frame with a known size");
  }
  std::string out(size, '\0');
  std::size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) return fail(std::string("zstd: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

Result<CachedInitramfs> write_cached(const Initramfs& initramfs, const std::string& cache_dir) {
  namespace fs = std::filesystem;
  std::string archive = initramfs.archive();
  CachedInitramfs result;
  result.key = fnv1a128_hex(archive);
  std::string dir = (cache_dir.empty() ? ktest_cache_dir() : cache_dir) + "/initramfs";
  result.path = dir + "/" + result.key + ".cpio.zst";
  std::error_code ec;
  if (fs::is_regular_file(result.path, ec)) {
    result.reused = true;
    return result;
  }
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir + ": " + ec.message(), "", "check that the cache is writable");
  KTEST_ASSIGN(std::string compressed, zstd_compress(archive, kInitramfsZstdLevel));
  KTEST_TRY(write_file_atomic(result.path, compressed));
  return result;
}

}  // namespace ktest::kvm
