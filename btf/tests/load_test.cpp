// Loading BTF from every source the loader accepts, and its errors.
#include <bpf/btf.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "btf/btf.h"
#include "btf/render.h"
#include "btf/tests/fixture_bytes.h"

namespace ktest::btf {
namespace {

std::string kernel_vmlinux() {
  const std::string dir = KTEST_KERNEL_DIR;
  return dir.empty() ? "" : dir + "/vmlinux";
}

bool have_file(const std::string& path) { return !path.empty() && std::filesystem::exists(path); }

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string("ktest-btf-") + std::to_string(getpid()) + "-" + name)).string();
}

void write_bytes(const std::string& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

TEST_CASE("BPF object: types and fixed-up DATASEC sizes") {
  auto btf = Btf::load(KTEST_BTF_FIXTURE);
  REQUIRE_MESSAGE(btf.ok(), (btf.ok() ? "" : btf.error().to_string()));
  CHECK(btf->type_count() > 50);
  auto sched = btf->find_type("sched_ctx");
  REQUIRE(sched.ok());
  CHECK(btf->type_name(*sched) == "sched_ctx");
  CHECK(btf->find_type("struct sched_ctx").value_or(0) == *sched);
  CHECK(btf->find_type(std::to_string(*sched)).value_or(0) == *sched);
  // libbpf fixes .bss/.data sizes on open; raw .BTF from clang has size 0.
  auto bss = btf->find_type(".bss");
  REQUIRE(bss.ok());
  CHECK(btf__type_by_id(btf->get(), *bss)->size == 8 + testing::size_of(*btf, *sched));
}

TEST_CASE("find_type errors name the file and suggest a close name") {
  const Btf& btf = testing::fixture();
  auto missing = btf.find_type("sched_ctz");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("sched_ctz") != std::string::npos);
  CHECK(missing.error().location == KTEST_BTF_FIXTURE);
  CHECK(missing.error().hint.find("sched_ctx") != std::string::npos);
  auto out_of_range = btf.find_type("999999");
  REQUIRE_FALSE(out_of_range.ok());
  CHECK(out_of_range.error().message.find("out of range") != std::string::npos);
  CHECK_FALSE(btf.find_type("0").ok());
}

TEST_CASE("raw BTF blobs, in memory and in a file") {
  const Btf& obj = testing::fixture();
  auto raw = obj.raw_data();
  REQUIRE(raw.size() > 0);
  auto mem = Btf::from_bytes(raw, "memory");
  REQUIRE(mem.ok());
  CHECK(mem->type_count() == obj.type_count());
  const std::string path = temp_path("raw.btf");
  write_bytes(path, raw);
  auto file = Btf::load(path);
  REQUIRE(file.ok());
  CHECK(file->find_type("all_ints").ok());
  std::filesystem::remove(path);
}

TEST_CASE("errors: missing file, not BTF, truncated blob") {
  auto missing = Btf::load("/nonexistent/ktest.btf");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().location == "/nonexistent/ktest.btf");
  const std::string path = temp_path("junk");
  write_bytes(path, std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'});
  auto junk = Btf::load(path);
  REQUIRE_FALSE(junk.ok());
  CHECK(junk.error().message.find("not a BTF file") != std::string::npos);
  std::filesystem::remove(path);
  auto raw = testing::fixture().raw_data();
  auto cut = Btf::from_bytes(raw.first(raw.size() / 2), "half");
  CHECK_FALSE(cut.ok());
}

TEST_CASE("split BTF on a base") {
  const Btf& base = testing::fixture();
  struct ::btf* split = btf__new_empty_split(const_cast<struct ::btf*>(base.get()));
  REQUIRE(split != nullptr);
  const uint32_t u64 = *base.find_type("u64");
  const int s = btf__add_struct(split, "split_only", 16);
  REQUIRE(s > 0);
  REQUIRE(btf__add_field(split, "base_typed", u64, 0, 0) == 0);
  REQUIRE(btf__add_field(split, "second", u64, 64, 0) == 0);
  uint32_t size = 0;
  const auto* data = static_cast<const uint8_t*>(btf__raw_data(split, &size));
  std::vector<uint8_t> blob(data, data + size);
  btf__free(split);
  const std::string path = temp_path("split.btf");
  write_bytes(path, blob);
  auto from_file = Btf::split_file(path, base);
  std::filesystem::remove(path);
  REQUIRE_MESSAGE(from_file.ok(), (from_file.ok() ? "" : from_file.error().to_string()));
  auto id = from_file->find_type("split_only");
  REQUIRE(id.ok());
  CHECK(*id >= base.type_count());
  std::vector<uint8_t> bytes(16, 0);
  bytes[8] = 9;
  auto v = render(*from_file, *id, bytes);
  REQUIRE(v.kind == ValueKind::Struct);
  CHECK(v.members.at(1).value.uint_value == 9);
  auto from_mem = Btf::split_bytes(blob, base, "split blob");
  REQUIRE(from_mem.ok());
  CHECK(from_mem->type_count() == from_file->type_count());
}

TEST_CASE("fetched kernel's vmlinux ELF" *
          doctest::skip(!have_file(kernel_vmlinux()))) {
  auto btf = Btf::load(kernel_vmlinux());
  REQUIRE_MESSAGE(btf.ok(), (btf.ok() ? "" : btf.error().to_string()));
  auto task = btf->find_type("task_struct");
  REQUIRE(task.ok());
  CHECK(type_size(btf->get(), *task).value_or(0) > 1000);
  CHECK(btf->find_type("sched_ext_entity").ok());
}

TEST_CASE("running kernel's /sys/kernel/btf/vmlinux" *
          doctest::skip(!have_file("/sys/kernel/btf/vmlinux"))) {
  auto btf = Btf::running_kernel();
  REQUIRE_MESSAGE(btf.ok(), (btf.ok() ? "" : btf.error().to_string()));
  CHECK(btf->find_type("task_struct").ok());
  auto loaded = Btf::load("/sys/kernel/btf/vmlinux");
  REQUIRE(loaded.ok());
  CHECK(loaded->type_count() == btf->type_count());
}

}  // namespace
}  // namespace ktest::btf
