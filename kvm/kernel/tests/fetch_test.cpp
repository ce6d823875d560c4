// `ktest kernel fetch` against the real Debian mirror, in a private cache.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "kvm/kernel/kernel.h"

namespace fs = std::filesystem;
using namespace ktest::kvm;
using std::chrono::hours;
using std::chrono::minutes;

namespace {

void touch(const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  std::FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f);
  std::fclose(f);
}

}  // namespace

TEST_CASE("sid's package index is refreshed only when asked, absent, or 6 hours old") {
  const auto now = fs::file_time_type::clock::now();
  AptIndexState index;
  CHECK(apt_index_needs_refresh(index, now, false));  // never refreshed
  index.has_index = true;
  index.refreshed_at = now - minutes(1);
  CHECK_FALSE(apt_index_needs_refresh(index, now, false));
  CHECK(apt_index_needs_refresh(index, now, true));  // --refresh
  index.refreshed_at = now - hours(6) + minutes(1);
  CHECK_FALSE(apt_index_needs_refresh(index, now, false));
  index.refreshed_at = now - hours(6);
  CHECK(apt_index_needs_refresh(index, now, false));
  index.refreshed_at = now - hours(24 * 30);
  CHECK(apt_index_needs_refresh(index, now, false));
  index.refreshed_at = now + minutes(1);  // a file server's clock slightly ahead
  CHECK_FALSE(apt_index_needs_refresh(index, now, false));
  index.refreshed_at = now + hours(2);  // our clock moved back
  CHECK(apt_index_needs_refresh(index, now, false));
}

TEST_CASE("a fresh index answers without the network; a stale one falls back to the newest cached kernel") {
  char tmpl[] = "/tmp/ktest-fetch-test.XXXXXX";
  const std::string root = mkdtemp(tmpl);
  const std::string cache = root + "/kernels", apt_dir = cache + "/.apt";
  // The index names 7.2.9; the cache also holds a newer 7.10.1 that a fallback would pick.
  for (const char* v : {"7.2.9+deb14-amd64", "7.10.1+deb14-amd64"}) {
    touch(cache + "/" + v + "/vmlinux");
    touch(cache + "/" + v + "/config");
  }
  CHECK_FALSE(read_apt_index_state(apt_dir).has_index);
  fs::create_directories(apt_dir + "/lists");
  REQUIRE(record_apt_index_refresh(apt_dir, "7.2.9+deb14-amd64").ok());
  CHECK_FALSE(read_apt_index_state(apt_dir).has_index);  // a stamp without a Packages index
  touch(apt_dir + "/lists/deb.debian.org_debian_dists_sid_main_binary-amd64_Packages.lz4");
  const AptIndexState index = read_apt_index_state(apt_dir);
  CHECK(index.has_index);
  CHECK(index.newest == "7.2.9+deb14-amd64");
  const auto age = fs::file_time_type::clock::now() - index.refreshed_at;
  CHECK(age >= -minutes(1));
  CHECK(age < minutes(1));

  setenv("http_proxy", "http://127.0.0.1:9", 1);  // apt honours it; port 9 refuses
  FetchOptions options;
  options.quiet = true;
  options.cache_dir = cache;
  auto fresh = fetch_kernel(options);
  options.refresh = true;
  auto refreshed = fetch_kernel(options);
  options.refresh = false;
  fs::last_write_time(apt_dir + "/index-refreshed", fs::file_time_type::clock::now() - hours(7));
  auto stale = fetch_kernel(options);
  unsetenv("http_proxy");
  REQUIRE_MESSAGE(fresh.ok(), (fresh.ok() ? "" : fresh.error().to_string()));
  CHECK(*fresh == cache + "/7.2.9+deb14-amd64");
  REQUIRE_MESSAGE(refreshed.ok(), (refreshed.ok() ? "" : refreshed.error().to_string()));
  CHECK(*refreshed == cache + "/7.10.1+deb14-amd64");
  REQUIRE_MESSAGE(stale.ok(), (stale.ok() ? "" : stale.error().to_string()));
  CHECK(*stale == cache + "/7.10.1+deb14-amd64");
  fs::remove_all(root);
}

TEST_CASE("fetch downloads sid's newest kernel into the cache layout, then reuses it") {
  char tmpl[] = "/tmp/ktest-fetch-test.XXXXXX";
  std::string root = mkdtemp(tmpl);
  FetchOptions options;
  options.quiet = true;
  options.cache_dir = root + "/kernels";
  auto start = std::chrono::steady_clock::now();
  auto dir = fetch_kernel(options);
  auto first = std::chrono::steady_clock::now() - start;
  if (!dir.ok() && dir.error().to_string().find("updating Debian sid's package list") != std::string::npos) {
    MESSAGE("SKIPPED: the Debian mirror is unreachable: " << dir.error().to_string());
    fs::remove_all(root);
    return;
  }
  REQUIRE_MESSAGE(dir.ok(), (dir.ok() ? "" : dir.error().to_string()));
  MESSAGE("first fetch took " << std::chrono::duration<double>(first).count() << " s: " << *dir);
  for (const char* f : {"vmlinuz", "vmlinux", "config"}) CHECK(fs::is_regular_file(*dir + "/" + f));
  auto facts = inspect_vmlinux(*dir + "/vmlinux");
  REQUIRE(facts.ok());
  CHECK(facts->has_btf);
  CHECK(facts->has_pvh_note);
  auto report = check_kernel_config(*dir);
  REQUIRE(report.ok());
  CHECK(report->ok());
  auto list = list_kernels(options.cache_dir);
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);  // the private apt state does not show up as a version
  CHECK((*list)[0].dir == *dir);

  auto mtime = fs::last_write_time(*dir + "/vmlinux");
  options.version = (*list)[0].version;
  start = std::chrono::steady_clock::now();
  auto again = fetch_kernel(options);
  REQUIRE(again.ok());
  CHECK(*again == *dir);
  CHECK(fs::last_write_time(*dir + "/vmlinux") == mtime);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));

  // The index was just refreshed: the newest is found without the network.
  options.version.clear();
  setenv("http_proxy", "http://127.0.0.1:9", 1);  // apt honours it; port 9 refuses
  start = std::chrono::steady_clock::now();
  auto offline = fetch_kernel(options);
  unsetenv("http_proxy");
  REQUIRE_MESSAGE(offline.ok(), (offline.ok() ? "" : offline.error().to_string()));
  CHECK(*offline == *dir);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  fs::remove_all(root);
}

TEST_CASE("fetching a version sid does not have names it") {
  char tmpl[] = "/tmp/ktest-fetch-test.XXXXXX";
  std::string root = mkdtemp(tmpl);
  FetchOptions options;
  options.version = "1.0.0+nope";
  options.quiet = true;
  options.cache_dir = root + "/kernels";
  auto dir = fetch_kernel(options);
  REQUIRE_FALSE(dir.ok());
  std::string text = dir.error().to_string();
  if (text.find("updating Debian sid's package list") != std::string::npos) {
    MESSAGE("SKIPPED: the Debian mirror is unreachable: " << text);
  } else {
    CHECK(text.find("linux-binary-1.0.0+nope-amd64") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(root + "/kernels/1.0.0+nope-amd64"));
  fs::remove_all(root);
}

TEST_CASE("without network, fetch falls back to the newest cached kernel; --force does not") {
  char tmpl[] = "/tmp/ktest-fetch-test.XXXXXX";
  std::string root = mkdtemp(tmpl);
  for (const char* v : {"7.2.9+deb14-amd64", "7.10.1+deb14-amd64"}) touch(root + "/kernels/" + v + "/vmlinux");
  setenv("http_proxy", "http://127.0.0.1:9", 1);  // apt honours it; port 9 refuses
  FetchOptions options;
  options.quiet = true;
  options.cache_dir = root + "/kernels";
  auto dir = fetch_kernel(options);
  options.force = true;
  auto forced = fetch_kernel(options);
  unsetenv("http_proxy");
  REQUIRE_MESSAGE(dir.ok(), (dir.ok() ? "" : dir.error().to_string()));
  CHECK(*dir == root + "/kernels/7.10.1+deb14-amd64");
  REQUIRE_FALSE(forced.ok());
  CHECK(forced.error().to_string().find("updating Debian sid's package list") != std::string::npos);
  fs::remove_all(root);
}
