// kvm/initramfs: newc output checked by GNU cpio, zstd, caching, ELF closure, busybox.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

#include "kvm/initramfs/initramfs.h"
#include "util/zstd_frame.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;
using namespace ktest;
using namespace ktest::kvm;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ktest-initramfs-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string run(const std::string& cmd) {
  std::unique_ptr<FILE, decltype(&pclose)> p(popen(cmd.c_str(), "r"), pclose);
  REQUIRE(p);
  std::string out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p.get())) out.append(buf, n);
  return out;
}

bool have_cpio() { return std::system("cpio --version >/dev/null 2>&1") == 0; }

// Evaluated once, before the test cases register; says on stderr why a test will be skipped.
bool available(bool present, const char* skip_reason) {
  if (!present) std::fprintf(stderr, "SKIP: %s\n", skip_reason);
  return present;
}
const bool kHaveCpio = available(have_cpio(), "GNU cpio is not installed (apt-get install cpio): "
                                              "the newc archive is not checked by cpio");
const bool kHaveBusybox = available(fs::exists("/bin/busybox"), "/bin/busybox is missing (apt-get install "
                                                                 "busybox-static): busybox applet links not checked");

Initramfs sample() {
  Initramfs fs;
  REQUIRE(fs.add_base_layout().ok());
  REQUIRE(fs.add_file("/etc/motd", "hello\n", 0644).ok());
  REQUIRE(fs.add_file("/init", "#!/bin/sh\necho hi\n", 0755).ok());
  REQUIRE(fs.add_file("/odd/size", std::string(5, 'x')).ok());  // exercises data padding
  REQUIRE(fs.add_symlink("/etc/link", "motd").ok());
  REQUIRE(fs.add_host_file("/bin/true", "/bin/true").ok());
  return fs;
}

}  // namespace

TEST_CASE("GNU cpio lists and extracts our newc archive exactly" * doctest::skip(!kHaveCpio)) {
  TempDir t;
  std::string archive = sample().archive().value();
  CHECK(archive.size() % 4 == 0);
  CHECK(archive.find("TRAILER!!!") == archive.size() - 124 + 110);
  REQUIRE(ktest::write_file_atomic(t.path + "/a.cpio", archive).ok());
  std::string listing = run("cpio -it --quiet < " + t.path + "/a.cpio");
  CHECK(listing ==
        "bin\nbin/true\ndev\ndev/console\netc\netc/link\netc/motd\ninit\nodd\nodd/size\nproc\nroot\nrun\nsys\ntmp\n");
  fs::create_directories(t.path + "/x");
  std::string err = run("cd " + t.path + "/x && cpio -idm --quiet < ../a.cpio 2>&1");
  CHECK(err.empty());
  CHECK(ktest::read_file(t.path + "/x/etc/motd").value() == "hello\n");
  CHECK(ktest::read_file(t.path + "/x/odd/size").value() == "xxxxx");
  CHECK(ktest::read_file(t.path + "/x/bin/true").value() == ktest::read_file("/bin/true").value());
  CHECK(fs::read_symlink(t.path + "/x/etc/link") == "motd");
  struct stat st{};
  REQUIRE(::lstat((t.path + "/x/init").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(::lstat((t.path + "/x/tmp").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 01777);
  if (geteuid() == 0) {  // only root can create device nodes
    REQUIRE(::lstat((t.path + "/x/dev/console").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(major(st.st_rdev) == 5);
    CHECK(minor(st.st_rdev) == 1);
  } else {
    MESSAGE("SKIP: /dev/console not checked: only root can create device nodes");
  }
}

TEST_CASE("paths are normalised, parents implied, conflicts named") {
  Initramfs fs;
  CHECK(fs.add_file("usr//lib/./x", "1").ok());
  CHECK(fs.contains("/usr/lib/x"));
  CHECK(fs.contains("/usr/lib"));
  CHECK(fs.add_file("/usr/lib/x", "1").ok());  // identical: fine
  auto clash = fs.add_file("/usr/lib/x", "2");
  REQUIRE_FALSE(clash.ok());
  CHECK(clash.error().message == "/usr/lib/x is added twice with different content (a file, then a file)");
  auto under_file = fs.add_file("/usr/lib/x/y", "3");
  REQUIRE_FALSE(under_file.ok());
  CHECK(under_file.error().message == "/usr/lib/x is a file, so /usr/lib/x/y cannot go under it");
  CHECK_FALSE(fs.add_file("/../etc/passwd", "").ok());
  CHECK_FALSE(fs.add_file("/", "").ok());
  CHECK_FALSE(fs.add_host_file("/missing", "/nonexistent/file").ok());
}

TEST_CASE("identical content gives identical bytes and key; any change changes the key") {
  CHECK(sample().archive().value() == sample().archive().value());
  Initramfs changed = sample();
  REQUIRE(changed.add_file("/etc/extra", "").ok());
  CHECK(changed.content_key() != sample().content_key());
  CHECK(sample().content_key().size() == 32);
}

TEST_CASE("a host file is keyed by its identity and read by archive(), which refuses one that changed") {
  TempDir t;
  const std::string host = t.path + "/tool";
  REQUIRE(ktest::write_file_atomic(host, "v1").ok());
  Initramfs first;
  REQUIRE(first.add_host_file("/bin/tool", host, 0755).ok());
  const std::string key = first.content_key();
  REQUIRE(first.archive().ok());
  CHECK(first.archive()->find("v1") != std::string::npos);
  Initramfs again;
  REQUIRE(again.add_host_file("/bin/tool", host, 0755).ok());
  CHECK(again.content_key() == key);
  // Rewritten (a new inode, as a build tool's atomic rename gives): a new key,
  // and what was added before no longer matches the file.
  REQUIRE(ktest::write_file_atomic(host, "v2").ok());
  Initramfs rebuilt;
  REQUIRE(rebuilt.add_host_file("/bin/tool", host, 0755).ok());
  CHECK(rebuilt.content_key() != key);
  auto stale = first.archive();
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().message == host + " changed while the initramfs was being built");
}

TEST_CASE("FNV-1a 128 matches the published test vectors") {
  CHECK(fnv1a128_hex("") == "6c62272e07bb014262b821756295c58d");
  CHECK(fnv1a128_hex("a") == "d228cb696f1a8caf78912b704e4a8964");
}

TEST_CASE("zstd round trip; the frame carries no checksum") {
  std::string archive = sample().archive().value();
  auto frame = zstd_compress(archive, kInitramfsZstdLevel);
  REQUIRE(frame.ok());
  CHECK(frame->size() < archive.size());
  CHECK(frame->substr(0, 4) == "\x28\xb5\x2f\xfd");
  CHECK((static_cast<unsigned char>((*frame)[4]) & 0x04) == 0);  // Content_Checksum_flag
  auto back = zstd_decompress(*frame, 1 << 30);
  REQUIRE(back.ok());
  CHECK(*back == archive);
  CHECK_FALSE(zstd_decompress("not zstd", 1 << 20).ok());
}

TEST_CASE("the cache builds once per content and reuses the file") {
  TempDir t;
  auto first = write_cached(sample(), t.path);
  REQUIRE(first.ok());
  CHECK_FALSE(first->reused);
  CHECK(first->path == t.path + "/initramfs/" + first->key + ".initrd");
  CHECK(std::filesystem::file_size(first->path) % 4096 == kInitrdSizeResidue);
  struct stat built {};
  REQUIRE(::stat(first->path.c_str(), &built) == 0);
  fs::last_write_time(first->path, fs::file_time_type::clock::now() - std::chrono::hours(5));
  auto second = write_cached(sample(), t.path);
  REQUIRE(second.ok());
  CHECK(second->reused);
  CHECK(second->path == first->path);
  struct stat reused {};
  REQUIRE(::stat(first->path.c_str(), &reused) == 0);
  CHECK(reused.st_ino == built.st_ino);  // not written again
  // ... but marked used now, for the cache's pruning.
  CHECK(fs::last_write_time(first->path) > fs::file_time_type::clock::now() - std::chrono::minutes(1));
  // The kernel skips the NUL padding after the frame; so does this check.
  std::string file = ktest::read_file(first->path).value();
  std::size_t frame_end = file.find_last_not_of('\0') + 1;
  CHECK(file.size() - frame_end < 4096);
  CHECK(zstd_decompress(file.substr(0, frame_end), 1 << 30).value() == sample().archive().value());
  Initramfs other = sample();
  REQUIRE(other.add_file("/etc/extra", "1").ok());
  auto third = write_cached(other, t.path);
  REQUIRE(third.ok());
  CHECK_FALSE(third->reused);
  CHECK(third->path != first->path);
}

TEST_CASE("the cache removes its least recently used images beyond its size, never a recent one") {
  TempDir t;
  const auto now = fs::file_time_type::clock::now();
  auto image = [&](const std::string& name, uint64_t mib, std::chrono::minutes age) {
    std::string path = t.path + "/" + name;
    REQUIRE(write_file_atomic(path, "").ok());
    fs::resize_file(path, mib << 20);  // sparse: sizes count, the disk does not
    fs::last_write_time(path, now - age);
  };
  using std::chrono::minutes;
  image("oldest.initrd", 300, minutes(300));
  image("old.initrd", 300, minutes(200));
  image("fresh.initrd", 300, minutes(100));
  image("notes.txt", 900, minutes(400));  // not an image: never counted nor removed
  CHECK(prune_initramfs_cache(t.path, 700ull << 20, minutes(10)) == 1);
  CHECK_FALSE(fs::exists(t.path + "/oldest.initrd"));
  CHECK(fs::exists(t.path + "/old.initrd"));
  CHECK(fs::exists(t.path + "/notes.txt"));
  // Over the size, but each remaining image was used within the grace.
  CHECK(prune_initramfs_cache(t.path, 100ull << 20, minutes(150)) == 1);
  CHECK_FALSE(fs::exists(t.path + "/old.initrd"));
  CHECK(fs::exists(t.path + "/fresh.initrd"));
  CHECK(prune_initramfs_cache(t.path + "/absent", 0, minutes(0)) == 0);
}

TEST_CASE("a dynamic executable comes with its interpreter and every library ldd names") {
  Initramfs fs;
  auto added = fs.add_elf_with_libraries("/usr/bin/ls", "/bin/ls");
  REQUIRE_MESSAGE(added.ok(), (added.ok() ? "" : added.error().to_string()));
  CHECK(fs.contains("/usr/bin/ls"));
  CHECK(fs.contains("/lib64/ld-linux-x86-64.so.2"));
  std::set<std::string> names;
  for (const auto& p : *added) names.insert(fs::path(p).filename().string());
  std::string ldd = run("ldd /bin/ls");
  std::size_t pos = 0;
  int libraries = 0;
  while ((pos = ldd.find("=> /", pos)) != std::string::npos) {
    std::size_t end = ldd.find(' ', pos + 3);
    std::string lib = fs::path(ldd.substr(pos + 3, end - pos - 3)).filename().string();
    CAPTURE(lib);
    CHECK(names.count(lib) == 1);
    ++libraries;
    pos = end;
  }
  CHECK(libraries >= 1);
  auto not_elf = fs.add_elf_with_libraries("/etc/hostname", "/etc/hostname");
  REQUIRE_FALSE(not_elf.ok());
  CHECK(not_elf.error().message == "/etc/hostname is not an ELF executable");
}

TEST_CASE("busybox-static comes with applet links that busybox really provides" *
          doctest::skip(!kHaveBusybox)) {
  Initramfs fs;
  REQUIRE(fs.add_symlink("/bin/sleep", "/custom/sleep").ok());  // users' entries win
  auto st = fs.add_busybox();
  REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().to_string()));
  CHECK(fs.contains("/bin/busybox"));
  std::string list = "\n" + run("/bin/busybox --list");
  for (const auto& applet : common_busybox_applets()) {
    CAPTURE(applet);
    CHECK(list.find("\n" + applet + "\n") != std::string::npos);
    CHECK(fs.contains("/bin/" + applet));
  }
  CHECK(fs.contains("/bin/nice"));  // a script over renice: Debian's busybox has no nice
  auto dynamic = Initramfs{}.add_busybox("/bin/ls");
  REQUIRE_FALSE(dynamic.ok());
  CHECK(dynamic.error().hint == "install busybox-static (apt-get install busybox-static)");
}
