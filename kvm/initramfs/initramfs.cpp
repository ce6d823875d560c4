// The initramfs as a cpio "newc" archive built in memory.
//
// Hand-written because no library in Debian writes newc archives from
// memory: libarchive could, but is not a dependency here and would be the
// only user; GNU cpio is a program, not a library. The format is small:
// a 110-byte ASCII-hex header, the NUL-terminated name padded to 4 bytes,
// the data padded to 4 bytes, and a TRAILER!!! entry at the end.
#include <sys/stat.h>

#include <cstdio>

#include "kvm/initramfs/initramfs.h"
#include "util/atomic_file.h"

namespace ktest::kvm {

namespace {

__extension__ typedef unsigned __int128 Uint128;  // __extension__: no -Wpedantic noise

// "/a//b/" -> "a/b"; rejects "", "..", and names the kernel would refuse.
Result<std::string> normalize(std::string_view guest_path) {
  std::string out;
  std::size_t i = 0;
  while (i < guest_path.size()) {
    while (i < guest_path.size() && guest_path[i] == '/') ++i;
    std::size_t end = guest_path.find('/', i);
    if (end == std::string_view::npos) end = guest_path.size();
    std::string_view part = guest_path.substr(i, end - i);
    if (part == "..") return fail("guest path '" + std::string(guest_path) + "' contains '..'", "", "use an absolute path inside the guest");
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + std::string(part);
    i = end;
  }
  if (out.empty()) return fail("empty guest path", "", "name a file inside the guest, like /bin/tool");
  if (out.find('\0') != std::string::npos) return fail("guest path contains a NUL byte");
  return out;
}

void append_hex8(std::string& out, std::uint64_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(v));
  out.append(buf, 8);
}

void pad4(std::string& out) { out.append((4 - out.size() % 4) % 4, '\0'); }

void append_entry(std::string& out, std::string_view name, std::uint32_t ino, std::uint32_t mode,
                  std::uint32_t nlink, std::string_view data, std::uint32_t rdev_major,
                  std::uint32_t rdev_minor) {
  out += "070701";
  const std::uint64_t fields[] = {ino, mode, 0 /*uid*/, 0 /*gid*/, nlink, 0 /*mtime*/, data.size(),
                                  0 /*devmajor*/, 0 /*devminor*/, rdev_major, rdev_minor,
                                  name.size() + 1, 0 /*check*/};
  for (std::uint64_t f : fields) append_hex8(out, f);
  out += name;
  out += '\0';
  pad4(out);
  out += data;
  pad4(out);
}

std::string describe(std::uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symlink";
    case S_IFCHR: return "a device node";
    default: return "a file";
  }
}

}  // namespace

Status Initramfs::add_entry(std::string path, Entry entry) {
  KTEST_TRY(add_parents(path));
  auto [it, inserted] = entries_.try_emplace(path, entry);
  if (inserted) return {};
  const Entry& old = it->second;
  if (old == entry) return {};
  return fail("/" + path + " is added twice with different content (" + describe(old.mode) + ", then " +
                  describe(entry.mode) + ")",
              "", "give each guest path one source");
}

Status Initramfs::add_parents(const std::string& path) {
  for (std::size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    auto [it, inserted] = entries_.try_emplace(path.substr(0, slash), Entry{S_IFDIR | 0755, {}, 0, 0, {}});
    if (!inserted && (it->second.mode & S_IFMT) != S_IFDIR) {
      return fail("/" + it->first + " is " + describe(it->second.mode) + ", so /" + path + " cannot go under it");
    }
  }
  return {};
}

Status Initramfs::add_directory(std::string_view guest_path, std::uint32_t mode) {
  KTEST_ASSIGN(std::string path, normalize(guest_path));
  auto it = entries_.find(path);
  if (it != entries_.end() && (it->second.mode & S_IFMT) == S_IFDIR) {
    it->second.mode = S_IFDIR | (mode & 07777);  // an implicit parent gets its explicit mode
    return {};
  }
  return add_entry(std::move(path), Entry{S_IFDIR | (mode & 07777), {}, 0, 0, {}});
}

Status Initramfs::add_file(std::string_view guest_path, std::string content, std::uint32_t mode) {
  KTEST_ASSIGN(std::string path, normalize(guest_path));
  if (content.size() > 0xffffffffu) return fail("/" + path + " is larger than 4 GiB, which newc cannot hold");
  return add_entry(std::move(path), Entry{S_IFREG | (mode & 07777), std::move(content), 0, 0, {}});
}

Result<Initramfs::HostFile> Initramfs::identify(const std::string& host_path) {
  struct stat st{};
  if (::stat(host_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return fail("cannot add " + host_path + " to the initramfs: not a readable regular file", "",
                "check the path");
  }
  if (static_cast<std::uint64_t>(st.st_size) > 0xffffffffu)
    return fail(host_path + " is larger than 4 GiB, which newc cannot hold");
  return HostFile{host_path, static_cast<std::uint64_t>(st.st_size),
                  static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000ULL +
                      static_cast<std::uint64_t>(st.st_mtim.tv_nsec),
                  static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_dev),
                  static_cast<std::uint32_t>(st.st_mode & 07777)};
}

Result<std::string> Initramfs::read_unchanged(const HostFile& host) {
  KTEST_ASSIGN(std::string bytes, read_file(host.path));
  if (bytes.size() != host.size || identify(host.path).value_or(HostFile{}) != host)
    return fail(host.path + " changed while the initramfs was being built", "", "run again once it is written");
  return bytes;
}

Status Initramfs::add_host_entry(std::string_view guest_path, HostFile host, std::uint32_t mode) {
  KTEST_ASSIGN(std::string path, normalize(guest_path));
  return add_entry(std::move(path), Entry{S_IFREG | (mode & 07777), {}, 0, 0, std::move(host)});
}

Status Initramfs::add_host_file(std::string_view guest_path, const std::string& host_path, int mode) {
  KTEST_ASSIGN(HostFile host, identify(host_path));
  const std::uint32_t bits = mode >= 0 ? static_cast<std::uint32_t>(mode) : host.permissions;
  return add_host_entry(guest_path, std::move(host), bits);
}

Status Initramfs::add_symlink(std::string_view guest_path, std::string_view target) {
  KTEST_ASSIGN(std::string path, normalize(guest_path));
  if (target.empty()) return fail("symlink /" + path + " has an empty target");
  return add_entry(std::move(path), Entry{S_IFLNK | 0777, std::string(target), 0, 0, {}});
}

Status Initramfs::add_char_device(std::string_view guest_path, std::uint32_t major, std::uint32_t minor,
                                  std::uint32_t mode) {
  KTEST_ASSIGN(std::string path, normalize(guest_path));
  return add_entry(std::move(path), Entry{S_IFCHR | (mode & 07777), {}, major, minor, {}});
}

Status Initramfs::add_base_layout() {
  for (const char* dir : {"/dev", "/proc", "/sys", "/tmp", "/run", "/root"}) {
    KTEST_TRY(add_directory(dir, std::string_view(dir) == "/tmp" ? 01777 : 0755));
  }
  // The kernel opens /dev/console for init's stdio before anything mounts devtmpfs.
  return add_char_device("/dev/console", 5, 1, 0600);
}

bool Initramfs::contains(std::string_view guest_path) const {
  auto path = normalize(guest_path);
  return path.ok() && entries_.count(*path) > 0;
}

Result<std::string> Initramfs::archive() const {
  std::size_t total = 512;
  for (const auto& [path, e] : entries_) total += 120 + path.size() + (e.host ? e.host->size : e.data.size());
  std::string out;
  out.reserve(total);
  std::uint32_t ino = 1;
  for (const auto& [path, e] : entries_) {
    bool dir = (e.mode & S_IFMT) == S_IFDIR;
    std::string host_bytes;
    if (e.host) {
      KTEST_ASSIGN(host_bytes, read_unchanged(*e.host));
    }
    append_entry(out, path, ino++, e.mode, dir ? 2 : 1, e.host ? host_bytes : e.data, e.rdev_major, e.rdev_minor);
  }
  append_entry(out, "TRAILER!!!", 0, 0, 1, {}, 0, 0);
  return out;
}

std::string Initramfs::content_key() const {
  // Length-prefixed fields: no two different entry lists read the same.
  std::string manifest;
  auto field = [&](std::string_view text) {
    manifest += std::to_string(text.size()) + ':';
    manifest += text;
    manifest += ' ';
  };
  auto number = [&](std::uint64_t n) { manifest += std::to_string(n) + ' '; };
  for (const auto& [path, e] : entries_) {
    field(path);
    for (std::uint64_t n : {std::uint64_t{e.mode}, std::uint64_t{e.rdev_major}, std::uint64_t{e.rdev_minor}})
      number(n);
    if (e.host) {
      field("host");
      field(e.host->path);
      for (std::uint64_t n : {e.host->size, e.host->mtime_ns, e.host->inode, e.host->device}) number(n);
    } else {
      field("data");
      field(e.data);
    }
  }
  return fnv1a128_hex(manifest);
}

std::string fnv1a128_hex(std::string_view bytes) {
  // FNV-1a, 128-bit (offset basis and prime from the FNV specification).
  // Enough for a cache key over archives we build ourselves: no adversary
  // picks the inputs, and 128 bits make accidental collisions negligible.
  Uint128 hash = (static_cast<Uint128>(0x6c62272e07bb0142ULL) << 64) | 0x62b821756295c58dULL;
  const Uint128 prime = (static_cast<Uint128>(0x0000000001000000ULL) << 64) | 0x000000000000013bULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= prime;
  }
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hash >> 64),
                static_cast<unsigned long long>(hash));
  return buf;
}

}  // namespace ktest::kvm
