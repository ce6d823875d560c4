// Guest initramfs: a cpio "newc" archive, zstd-compressed and cached by the
// identity of its inputs.
//
// Contract:
// - Initramfs collects entries by guest path ("/bin/sh" or "bin/sh");
//   parent directories are added automatically (mode 0755). Adding the same
//   path twice with identical content is a no-op, with different content an
//   error naming the path.
// - A host file (add_host_file, and the ELF files of add_elf_with_libraries
//   and add_busybox) is recorded by path and identity (size, mtime, inode,
//   device) and read only by archive(), which fails naming the file when
//   it changed since it was added.
// - archive() is deterministic: entries in path order (parents first),
//   uid/gid 0, mtime 0, inode numbers by position. So identical inputs
//   give identical bytes.
// - content_key() hashes every entry's path, mode and content, a host
//   file's identity standing in for its bytes (as make and ccache's direct
//   mode do): a cache hit reads no host file and builds no archive.
// - write_cached() stores <cache>/initramfs/<key>.initrd (atomic rename)
//   only when absent and returns its path; a second call with identical
//   inputs does not build or compress again (CachedInitramfs::reused). The file is
//   the zstd frame padded with NUL bytes (the kernel skips them between
//   archives) to kInitrdSizeResidue modulo 4096: see there.
// - The cache stays bounded: a reuse sets the file's mtime to now, and a
//   new file makes write_cached() remove the least recently used ones
//   beyond kInitramfsCacheBytes, never one used within kInitramfsCacheGrace.
// - add_elf_with_libraries() adds an executable plus its ELF interpreter and
//   the DT_NEEDED closure resolved the way ld.so does for a Debian host
//   (RUNPATH/RPATH, then the standard multiarch dirs).
// - add_busybox() adds /bin/busybox (static) with /bin/<applet> symlinks.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace ktest::kvm {

class Initramfs {
 public:
  Status add_directory(std::string_view guest_path, std::uint32_t mode = 0755);
  Status add_file(std::string_view guest_path, std::string content, std::uint32_t mode = 0644);
  // A host file's bytes (read by archive()); mode defaults to the host file's permission bits.
  Status add_host_file(std::string_view guest_path, const std::string& host_path,
                       int mode = -1);
  Status add_symlink(std::string_view guest_path, std::string_view target);
  Status add_char_device(std::string_view guest_path, std::uint32_t major, std::uint32_t minor,
                         std::uint32_t mode = 0600);
  // /dev, /dev/console (char 5:1) so init has a console before devtmpfs,
  // and empty /proc /sys /tmp mount points.
  Status add_base_layout();
  // The executable at `guest_path` plus every shared library it needs, each
  // at its host path. Returns the host paths that were added (for messages).
  Result<std::vector<std::string>> add_elf_with_libraries(std::string_view guest_path,
                                                          const std::string& host_path);
  // Static busybox at /bin/busybox and /bin/<applet> -> busybox for
  // common_busybox_applets() that are not already present.
  Status add_busybox(const std::string& host_busybox = "/bin/busybox");

  bool contains(std::string_view guest_path) const;
  std::size_t entry_count() const { return entries_.size(); }

  // Uncompressed newc archive, including the TRAILER!!! entry.
  Result<std::string> archive() const;
  // Cache key: hex FNV-1a 128 over the entries (see the contract).
  std::string content_key() const;

 private:
  struct HostFile {
    std::string path;
    std::uint64_t size = 0, mtime_ns = 0, inode = 0, device = 0;
    std::uint32_t permissions = 0;  // the file's mode bits (07777)
    bool operator==(const HostFile&) const = default;
  };
  struct Entry {
    std::uint32_t mode = 0;  // including the S_IF* type bits
    std::string data;        // file content or symlink target, when not from the host
    std::uint32_t rdev_major = 0, rdev_minor = 0;
    std::optional<HostFile> host;  // set: the content is this host file's
    bool operator==(const Entry&) const = default;
  };
  static Result<HostFile> identify(const std::string& host_path);
  // The bytes of `host`, provided the file is still what was identified.
  static Result<std::string> read_unchanged(const HostFile& host);
  Status add_host_entry(std::string_view guest_path, HostFile host, std::uint32_t mode);
  Status add_entry(std::string path, Entry entry);
  Status add_parents(const std::string& path);
  std::map<std::string, Entry> entries_;  // key: path without leading '/'
};

// Applets linked by add_busybox(): what scenario commands typically use.
const std::vector<std::string>& common_busybox_applets();

// 32 lowercase hex digits: FNV-1a 128 of `bytes`.
std::string fnv1a128_hex(std::string_view bytes);


// Level used by write_cached(). Measured on a 12.4 MB archive (busybox,
// python3 and their libraries; 2 shared cores): level 1 6.15 MB in 0.31 s,
// 3: 5.54 MB in 0.59 s, 6: 5.24 MB in 1.5 s, 19: 4.10 MB in 43 s, while
// decompression took ~0.13 s at every level. The file never leaves the
// host, so size buys nothing and level 1 halves the build.
inline constexpr int kInitramfsZstdLevel = 1;

// QEMU's microvm loads the initrd at the very top of RAM, page-aligned
// down, and under KVM its SeaBIOS keeps the ACPI tables in the top page
// too (under TCG they sit below 1 MiB): an initrd that reaches far into
// that page overwrote the DSDT, whose garbage length then kept the kernel
// reading unbacked memory byte by byte in acpi_ut_verify_checksum (seen
// in the nested-KVM lane). A size of 1 modulo 4096 ends the initrd one
// byte into the top page, below the tables (they fill it from the top).
inline constexpr std::size_t kInitrdSizeResidue = 1;

// Each scenario's own files and plan make its own image (3-5 MB), so a
// developer rebuilding a scheduler, or a CI machine keeping its cache, adds
// one per build: unbounded, this project's test runs filled 3.3 GB in a
// day and a half. 512 MiB keeps a hundred or more, more than one project
// switches between.
inline constexpr uint64_t kInitramfsCacheBytes = 512ull << 20;
// A run hands the image's path to QEMU, which reads it at start: an image
// used this recently may be a run's between the two, so it is never removed.
inline constexpr std::chrono::seconds kInitramfsCacheGrace{600};

struct CachedInitramfs {
  std::string path;     // <cache>/initramfs/<key>.initrd
  std::string key;
  bool reused = false;  // the file was already there
};
// cache_dir "" = ktest_cache_dir() (kvm/kernel/kernel.h).
Result<CachedInitramfs> write_cached(const Initramfs& initramfs, const std::string& cache_dir = {});
// Removes <dir>'s least recently used *.initrd files (by mtime) while they
// total over max_bytes, sparing those used within `grace`; returns how many.
// Best effort: a file it cannot stat or remove is left (another run's
// pruning may have taken it).
std::size_t prune_initramfs_cache(const std::string& dir, uint64_t max_bytes, std::chrono::seconds grace);

}  // namespace ktest::kvm
