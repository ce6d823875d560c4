// The content-addressed initramfs cache.

#include <algorithm>
#include <filesystem>
#include <memory>
#include <vector>

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
    // Marks it recently used for prune_initramfs_cache(); a read-only cache still serves.
    fs::last_write_time(result.path, fs::file_time_type::clock::now(), ec);
    return result;
  }
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir + ": " + ec.message(), "", "check that the cache is writable");
  KTEST_ASSIGN(std::string archive, initramfs.archive());
  KTEST_ASSIGN(std::string compressed, zstd_compress(archive, kInitramfsZstdLevel));
  archive = std::string();  // the largest buffer here; not needed any more
  compressed.resize(compressed.size() + (4096 + kInitrdSizeResidue - compressed.size() % 4096) % 4096, '\0');
  KTEST_TRY(write_file_atomic(result.path, compressed));
  prune_initramfs_cache(dir, kInitramfsCacheBytes, kInitramfsCacheGrace);
  return result;
}

std::size_t prune_initramfs_cache(const std::string& dir, uint64_t max_bytes, std::chrono::seconds grace) {
  namespace fs = std::filesystem;
  struct Image {
    fs::path path;
    fs::file_time_type used;
    uint64_t bytes;
  };
  std::vector<Image> images;
  uint64_t total = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code stat_ec;  // set when another run's pruning removed the file meanwhile
    if (it->path().extension() != ".initrd" || !it->is_regular_file(stat_ec)) continue;
    auto used = it->last_write_time(stat_ec);
    if (stat_ec) continue;
    auto bytes = it->file_size(stat_ec);
    if (stat_ec) continue;
    images.push_back({it->path(), used, bytes});
    total += bytes;
  }
  std::sort(images.begin(), images.end(), [](const Image& a, const Image& b) { return a.used < b.used; });
  const auto recent = fs::file_time_type::clock::now() - grace;
  std::size_t removed = 0;
  for (const Image& image : images) {
    if (total <= max_bytes || image.used >= recent) break;
    if (fs::remove(image.path, ec)) ++removed;
    total -= image.bytes;
  }
  return removed;
}

}  // namespace ktest::kvm
