// kvm/kernel: extraction, inspection, config checks, cache listing, resolution.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "kvm/kernel/kernel.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;
using namespace ktest::kvm;

namespace {

const std::string kKernelDir = KTEST_KERNEL_DIR[0] ? KTEST_KERNEL_DIR
                                                   : kernel_cache_dir() + "/7.2.13+deb14-amd64";
bool have_kernel() {
  return fs::exists(kKernelDir + "/vmlinuz") && fs::exists(kKernelDir + "/vmlinux") &&
         fs::exists(kKernelDir + "/config");
}

KernelSpec spec_image(std::string image) {
  KernelSpec s;
  s.image = std::move(image);
  return s;
}
KernelSpec spec_dir(std::string dir) {
  KernelSpec s;
  s.dir = std::move(dir);
  return s;
}
KernelSpec spec_version(std::string version, std::string cache) {
  KernelSpec s;
  s.version = std::move(version);
  s.cache_dir = std::move(cache);
  return s;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/ktest-kernel-test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const std::string& path) { return ktest::read_file(path).value(); }

int dpkg_compare(const std::string& a, const std::string& b) {
  std::string cmd = "dpkg --compare-versions '" + a + "' lt '" + b + "'";
  if (std::system(cmd.c_str()) == 0) return -1;
  cmd = "dpkg --compare-versions '" + a + "' eq '" + b + "'";
  return std::system(cmd.c_str()) == 0 ? 0 : 1;
}
int sign(int v) { return (v > 0) - (v < 0); }

// A bzImage-shaped blob: boot header naming the payload, then trailing size bytes.
std::string fake_bzimage(const std::string& payload, bool with_header) {
  std::string image(5 * 512, '\0');
  if (with_header) {
    image[0x1f1] = 4;  // setup_sects: protected-mode code at (4+1)*512
    image.replace(0x202, 4, "HdrS");
    std::uint32_t offset = 100;
    for (int i = 0; i < 4; ++i) image[0x248 + i] = static_cast<char>(offset >> (8 * i));
    image += std::string(offset, '\x90');
  } else {
    image += std::string(333, '\x1f');  // decoy bytes that look like a gzip magic start
  }
  image += payload;
  image += std::string("\x10\x20\x30\x40garbage-after-the-frame", 27);
  return image;
}

std::string zstd_bytes(const std::string& in) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

std::string gzip_bytes(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const std::string kGoodConfig =
    "CONFIG_64BIT=y\nCONFIG_SMP=y\nCONFIG_BPF_SYSCALL=y\nCONFIG_BPF_JIT=y\nCONFIG_DEBUG_INFO_BTF=y\n"
    "CONFIG_SCHED_CLASS_EXT=y\nCONFIG_KALLSYMS=y\nCONFIG_KALLSYMS_ALL=y\nCONFIG_PVH=y\n"
    "CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_ZSTD=y\nCONFIG_DEVTMPFS=y\nCONFIG_BINFMT_ELF=y\n"
    "CONFIG_BINFMT_SCRIPT=y\nCONFIG_PROC_FS=y\nCONFIG_SYSFS=y\nCONFIG_TTY=y\nCONFIG_SERIAL_8250=y\n"
    "CONFIG_SERIAL_8250_CONSOLE=y\nCONFIG_PCI=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_CONSOLE=y\n"
    "CONFIG_DEVMEM=y\n";

std::string replace_line(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

}  // namespace

TEST_CASE("tests that need a fetched kernel say so when it is absent") {
  if (!have_kernel()) MESSAGE("SKIPPED (several tests): no fetched kernel in " << kKernelDir << "; run: ktest kernel fetch");
  CHECK(kKernelDir.size() > 0);
}

TEST_CASE("Debian version ordering agrees with dpkg --compare-versions") {
  const char* versions[] = {"7.2.13+deb14", "7.2.9+deb14", "7.10.1+deb14", "7.2.13~rc1+deb14",
                            "7.2.13+deb14a", "7.2.13", "7.2.13+deb13", "6.12.0", "7.2.013+deb14"};
  for (const char* a : versions) {
    for (const char* b : versions) {
      CAPTURE(a);
      CAPTURE(b);
      CHECK(sign(compare_debian_versions(a, b)) == dpkg_compare(a, b));
    }
  }
}

TEST_CASE("the newest plain amd64 flavour is chosen from apt's package names") {
  std::vector<std::string> names = {
      "linux-binary-7.2.9+deb14-amd64", "linux-binary-7.10.1+deb14-cloud-amd64",
      "linux-binary-7.10.1+deb14-rt-amd64", "linux-binary-unsigned-7.10.1+deb14-amd64",
      "linux-binary-7.2.13+deb14-amd64", "linux-base-7.10.1+deb14-amd64", "linux-binary-amd64"};
  CHECK(newest_kernel_abi(names) == "7.2.13+deb14-amd64");
  CHECK(newest_kernel_abi({"linux-binary-7.2.13+deb14-cloud-amd64"}).empty());
}

TEST_CASE("vmlinux comes out of a synthetic zstd or gzip bzImage, with or without a boot header") {
  std::string elf = slurp("/bin/true");
  REQUIRE(elf.starts_with("\x7f" "ELF"));
  for (bool header : {true, false}) {
    CAPTURE(header);
    auto from_zstd = extract_vmlinux(fake_bzimage(zstd_bytes(elf), header));
    REQUIRE_MESSAGE(from_zstd.ok(), (from_zstd.ok() ? "" : from_zstd.error().to_string()));
    CHECK(*from_zstd == elf);
    auto from_gzip = extract_vmlinux(fake_bzimage(gzip_bytes(elf), header));
    REQUIRE_MESSAGE(from_gzip.ok(), (from_gzip.ok() ? "" : from_gzip.error().to_string()));
    CHECK(*from_gzip == elf);
  }
}

TEST_CASE("a truncated, non-ELF or absent payload is an error, not a crash") {
  std::string elf = slurp("/bin/true");
  std::string z = zstd_bytes(elf);
  auto truncated = extract_vmlinux(fake_bzimage(z.substr(0, z.size() / 2), true).substr(0, 2560 + 100 + z.size() / 2));
  CHECK_FALSE(truncated.ok());
  auto not_elf = extract_vmlinux(fake_bzimage(zstd_bytes(std::string(5000, 'x')), true));
  REQUIRE_FALSE(not_elf.ok());
  CHECK(not_elf.error().message.find("cannot find the kernel inside the image") != std::string::npos);
  CHECK_FALSE(extract_vmlinux("").ok());
  auto already = extract_vmlinux(elf);
  REQUIRE_FALSE(already.ok());
  CHECK(already.error().message.find("already an uncompressed ELF") != std::string::npos);
}

TEST_CASE("the real Debian vmlinuz yields the vmlinux with BTF and a PVH note" *
          doctest::skip(!have_kernel())) {
  auto extracted = extract_vmlinux(slurp(kKernelDir + "/vmlinuz"));
  REQUIRE_MESSAGE(extracted.ok(), (extracted.ok() ? "" : extracted.error().to_string()));
  CHECK(extracted->size() == fs::file_size(kKernelDir + "/vmlinux"));
  CHECK(*extracted == slurp(kKernelDir + "/vmlinux"));
  auto facts = inspect_vmlinux_bytes(*extracted);
  REQUIRE(facts.ok());
  CHECK(facts->has_btf);
  CHECK(facts->has_pvh_note);
  CHECK_FALSE(facts->has_symbols);  // Debian strips vmlinux; symbols come from kallsyms
  CHECK(facts->btf_size > 1'000'000);
  CHECK(extracted->substr(facts->btf_offset, 2) == "\x9f\xeb");  // BTF magic 0xeB9F, little endian
  auto from_file = inspect_vmlinux(kKernelDir + "/vmlinux");
  REQUIRE(from_file.ok());
  CHECK(from_file->btf_offset == facts->btf_offset);
}

TEST_CASE("a non-kernel ELF has no BTF and no PVH note; a non-ELF is an error") {
  auto facts = inspect_vmlinux("/bin/true");
  REQUIRE(facts.ok());
  CHECK_FALSE(facts->has_btf);
  CHECK_FALSE(facts->has_pvh_note);
  auto bad = inspect_vmlinux("/etc/hostname");
  CHECK_FALSE(bad.ok());
  auto missing = inspect_vmlinux("/nonexistent/vmlinux");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().to_string().find("/nonexistent/vmlinux") != std::string::npos);
}

TEST_CASE("config check: a complete config passes, each gap is named with its reason") {
  CHECK(check_config_text(kGoodConfig).empty());
  std::string config = replace_line(kGoodConfig, "CONFIG_RD_ZSTD=y\n", "# CONFIG_RD_ZSTD is not set\n");
  config = replace_line(config, "CONFIG_VIRTIO_CONSOLE=y\n", "CONFIG_VIRTIO_CONSOLE=m\n");
  config = replace_line(config, "CONFIG_SCHED_CLASS_EXT=y\n", "");
  auto problems = check_config_text(config);
  REQUIRE(problems.size() == 3);
  CHECK(problems[0].to_string() ==
        "CONFIG_SCHED_CLASS_EXT is absent, ktest needs =y: sched_ext schedulers attach to this "
        "scheduling class");
  CHECK(problems[1].to_string() ==
        "CONFIG_RD_ZSTD is not set, ktest needs =y: ktest's initramfs is zstd-compressed");
  CHECK(problems[2].to_string() ==
        "CONFIG_VIRTIO_CONSOLE is =m, ktest needs =y: the host talks to the guest agent over "
        "virtio-serial");
}

TEST_CASE("config check finds the config from a directory, a config or an image beside it") {
  TempDir t;
  REQUIRE(ktest::write_file_atomic(t.path + "/config", replace_line(kGoodConfig, "CONFIG_PVH=y\n", "")).ok());
  REQUIRE(ktest::write_file_atomic(t.path + "/bzImage", std::string(0x202, '\0') + "HdrS" + std::string(64, '\0')).ok());
  for (const std::string& p : {t.path, t.path + "/config", t.path + "/bzImage"}) {
    CAPTURE(p);
    auto report = check_kernel_config(p);
    REQUIRE(report.ok());
    CHECK(report->config_path == t.path + "/config");
    REQUIRE(report->problems.size() == 1);
    CHECK(report->problems[0].option == "CONFIG_PVH");
  }
  CHECK_FALSE(check_kernel_config(t.path + "/nope").ok());
  REQUIRE(ktest::write_file_atomic(t.path + "/notes.txt", "hello\n").ok());
  auto not_config = check_kernel_config(t.path + "/notes.txt");
  REQUIRE_FALSE(not_config.ok());
  CHECK(not_config.error().message.find("does not look like a kernel config") != std::string::npos);
}

TEST_CASE("the real Debian config has everything ktest needs" * doctest::skip(!have_kernel())) {
  auto report = check_kernel_config(kKernelDir);
  REQUIRE(report.ok());
  for (const auto& p : report->problems) MESSAGE(p.to_string());
  CHECK(report->ok());
}

TEST_CASE("Debian's System.map stub is not a real System.map") {
  TempDir t;
  REQUIRE(ktest::write_file_atomic(t.path + "/System.map",
      "ffffffffffffffff B The real System.map is in the linux-image-7.2.13+deb14-amd64-dbg package\n").ok());
  CHECK_FALSE(is_real_system_map(t.path + "/System.map"));
  REQUIRE(ktest::write_file_atomic(t.path + "/System.map",
      "0000000000000000 D __per_cpu_start\nffffffff81000000 T _stext\nffffffff81000000 T _text\n").ok());
  CHECK(is_real_system_map(t.path + "/System.map"));
}

TEST_CASE("the cache lists versions newest first and skips ktest's own dot directories") {
  TempDir t;
  for (const char* v : {"7.2.9+deb14-amd64", "7.10.1+deb14-amd64", ".apt", ".fetch-x.1"}) {
    fs::create_directories(t.path + "/" + v);
  }
  REQUIRE(ktest::write_file_atomic(t.path + "/7.2.9+deb14-amd64/config", kGoodConfig).ok());
  auto list = list_kernels(t.path);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].version == "7.10.1+deb14-amd64");
  CHECK((*list)[1].has_config);
  CHECK_FALSE((*list)[1].has_vmlinux);
  CHECK(list_kernels(t.path + "/absent")->empty());
}

TEST_CASE("resolution errors say what to do") {
  TempDir t;
  fs::create_directories(t.path + "/7.2.13+deb14-amd64");
  auto typo = resolve_kernel(spec_version("7.2.31+deb14-amd64", t.path));
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.error().hint == "did you mean 7.2.13+deb14-amd64?");
  auto empty = resolve_kernel(spec_version("", t.path + "/none"));
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().hint == "run: ktest kernel fetch");
  auto no_image = resolve_kernel(spec_image(t.path + "/bzImage"));
  REQUIRE_FALSE(no_image.ok());
  CHECK(no_image.error().to_string().find("kernel image not found") != std::string::npos);
  auto not_pvh = resolve_kernel(spec_image("/bin/true"));
  REQUIRE_FALSE(not_pvh.ok());
  CHECK(not_pvh.error().message.find("no PVH entry note") != std::string::npos);
}

TEST_CASE("resolving the cached kernel boots its PVH vmlinux and finds BTF and config" *
          doctest::skip(!have_kernel())) {
  auto by_dir = resolve_kernel(spec_dir(kKernelDir));
  REQUIRE_MESSAGE(by_dir.ok(), (by_dir.ok() ? "" : by_dir.error().to_string()));
  CHECK(by_dir->boot_image == kKernelDir + "/vmlinux");
  CHECK(by_dir->boot_is_elf);
  CHECK(by_dir->btf_vmlinux == kKernelDir + "/vmlinux");
  CHECK(by_dir->config == kKernelDir + "/config");
  CHECK(by_dir->system_map.empty());
  CHECK(by_dir->version == fs::path(kKernelDir).filename().string());
  CHECK(vmlinux_btf_path(*by_dir).value() == kKernelDir + "/vmlinux");
  auto by_version = resolve_kernel(spec_version(by_dir->version, fs::path(kKernelDir).parent_path().string()));
  REQUIRE(by_version.ok());
  CHECK(by_version->boot_image == by_dir->boot_image);
}

TEST_CASE("a user's bzImage alone is extracted once into the cache and booted as vmlinux" *
          doctest::skip(!have_kernel())) {
  TempDir t;
  fs::create_directories(t.path + "/k");
  fs::copy_file(kKernelDir + "/vmlinuz", t.path + "/k/bzImage");
  fs::copy_file(kKernelDir + "/config", t.path + "/k/config");
  REQUIRE(ktest::write_file_atomic(t.path + "/k/System.map", "ffffffff81000000 T _text\n").ok());
  setenv("XDG_CACHE_HOME", (t.path + "/cache").c_str(), 1);
  auto image = resolve_kernel(spec_image(t.path + "/k/bzImage"));
  unsetenv("XDG_CACHE_HOME");
  REQUIRE_MESSAGE(image.ok(), (image.ok() ? "" : image.error().to_string()));
  CHECK(image->boot_is_elf);
  CHECK(image->boot_image.starts_with(t.path + "/cache/ktest/extracted/bzImage-"));
  CHECK(image->btf_vmlinux == image->boot_image);
  CHECK(image->system_map == t.path + "/k/System.map");
  CHECK(image->config == t.path + "/k/config");
  CHECK(fs::file_size(image->boot_image) == fs::file_size(kKernelDir + "/vmlinux"));
}

TEST_CASE("config_value: a set option, a number, one not set, one absent") {
  const std::string config = "CONFIG_HZ_250=y\nCONFIG_HZ=250\n# CONFIG_HZ_1000 is not set\n";
  CHECK(config_value(config, "CONFIG_HZ") == "250");
  CHECK(config_value(config, "CONFIG_HZ_250") == "y");
  CHECK(config_value(config, "CONFIG_HZ_1000") == "not set");
  CHECK_FALSE(config_value(config, "CONFIG_HZ_300").has_value());
  CHECK_FALSE(config_value("", "CONFIG_HZ").has_value());
}
