// `ktest kernel fetch` against the real Debian mirror, in a private cache.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "kvm/kernel/kernel.h"

namespace fs = std::filesystem;
using namespace ktest::kvm;

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
  for (const char* v : {"7.2.9+deb14-amd64", "7.10.1+deb14-amd64"}) {
    fs::create_directories(root + "/kernels/" + v);
    std::FILE* f = std::fopen((root + "/kernels/" + v + "/vmlinux").c_str(), "w");
    REQUIRE(f);
    std::fclose(f);
  }
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
