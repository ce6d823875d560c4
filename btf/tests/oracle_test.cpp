// Oracle tests: our rendering of known bytes against libbpf's btf_dump
// (text) and against bpftool's JSON dump of real maps created from the
// fixture object and filled with the same bytes.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <bpf/libbpf_version.h>
#include <doctest/doctest.h>

#include <cstring>

#include <cerrno>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "btf/render.h"
#include "btf/tests/fixture_bytes.h"
#include "btf/tests/oracle.h"

namespace ktest::btf {
namespace {

using testing::fixture;
using testing::type_id;

constexpr bool kLibbpfBefore15 = LIBBPF_MAJOR_VERSION == 1 && LIBBPF_MINOR_VERSION < 5;

bool has(const std::vector<std::string>& quirks, const std::string& needle) {
  for (const auto& q : quirks) {
    if (q.find(needle) != std::string::npos) return true;
  }
  return false;
}

// Every quirk must be one we understand (see oracle_compare.cpp).
void check_quirks_known(const oracle::Comparison& cmp) {
  for (const auto& q : cmp.quirks) {
    const bool known = q.find("empty array after a NUL-terminated") != std::string::npos ||
                       q.find("unsign-extended") != std::string::npos ||
                       q.find("no ',' after") != std::string::npos;
    CHECK_MESSAGE(known, "unexplained oracle difference: " << q);
  }
}

oracle::Comparison against_btf_dump(const struct ::btf* btf, uint32_t id,
                                     const std::vector<uint8_t>& bytes) {
  oracle::Comparison cmp;
  auto text = oracle::btf_dump_text(btf, id, bytes);
  REQUIRE_MESSAGE(text.ok(), (text.ok() ? std::string() : text.error().to_string()));
  auto tree = oracle::parse_btf_dump(*text);
  REQUIRE_MESSAGE(tree.ok(), (tree.ok() ? std::string() : tree.error().to_string()));
  oracle::compare_btf_dump(render(btf, id, bytes), *tree, "", cmp);
  if (!cmp.mismatches.empty()) MESSAGE("libbpf says: " << *text);
  return cmp;
}

TEST_CASE("libbpf btf_dump agrees on every fixture value") {
  const Btf& btf = fixture();
  std::vector<std::string> quirks;
  for (const auto& image : testing::fixture_images()) {
    for (uint8_t fill : {uint8_t{0}, uint8_t{0x41}, uint8_t{0xff}}) {
      // The known image, and the same size filled with a pattern (unnamed
      // enum values, all-ones bitfields, non-terminated char arrays).
      auto bytes = image.make(btf).bytes;
      if (fill != 0) bytes.assign(bytes.size(), fill);
      auto cmp = against_btf_dump(btf.get(), type_id(btf, image.type), bytes);
      CHECK_MESSAGE(cmp.mismatches.empty(), image.type << " fill " << int(fill) << ": "
                                                       << (cmp.mismatches.empty() ? "" : cmp.mismatches[0]));
      check_quirks_known(cmp);
      quirks.insert(quirks.end(), cmp.quirks.begin(), cmp.quirks.end());
    }
  }
  // The oracle's own bugs show up where expected (proves the checks bite).
  CHECK(has(quirks, ".t: signed enum bitfield printed unsign-extended"));
  if (kLibbpfBefore15) {
    CHECK(has(quirks, ".octets: empty array after a NUL-terminated char array"));
    CHECK(has(quirks, ".temp: no ',' after this value"));
  }
}

TEST_CASE("the comparisons catch a wrong rendering") {
  const Btf& btf = fixture();
  const uint32_t id = type_id(btf, "sched_ctx");
  const auto bytes = testing::sched_ctx_image(btf).bytes;
  auto text = oracle::btf_dump_text(btf.get(), id, bytes);
  REQUIRE(text.ok());
  auto tree = oracle::parse_btf_dump(*text);
  REQUIRE(tree.ok());
  RenderedValue ours = render(btf, id, bytes);
  oracle::Comparison good;
  oracle::compare_btf_dump(ours, *tree, "", good);
  CHECK(good.mismatches.empty());
  ours.members.at(2).value.uint_value = 101;  // weight
  ours.members.at(4).value.variant = "TASK_IDLE";
  oracle::Comparison bad;
  oracle::compare_btf_dump(ours, *tree, "", bad);
  CHECK(bad.mismatches.size() == 2);
  auto json = oracle::parse_json(R"({"vtime":1,"":2,"":{"x":[1,2]}})");
  REQUIRE(json.ok());
  CHECK(json->members.size() == 3);  // duplicate "" keys kept
  CHECK(json->members[2].second.members[0].second.elements.size() == 2);
}

TEST_CASE("libbpf btf_dump agrees on DATASECs") {
  const Btf& btf = fixture();
  for (const char* sec : {".data", ".rodata", ".bss"}) {
    const uint32_t id = type_id(btf, sec);
    std::vector<uint8_t> bytes(testing::size_of(btf, id), 0);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    auto cmp = against_btf_dump(btf.get(), id, bytes);
    CHECK_MESSAGE(cmp.mismatches.empty(), sec << ": " << (cmp.mismatches.empty() ? "" : cmp.mismatches[0]));
    check_quirks_known(cmp);
  }
}

// ---- bpftool over real maps ---------------------------------------------

// Says on stderr why the bpftool oracle tests will be skipped.
bool bpf_maps_available() {
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, nullptr, 4, 4, 1, nullptr);
  if (fd < 0) {
    std::fprintf(stderr, "SKIP bpftool oracle tests: cannot create a BPF map (%s); run as root\n",
                 std::strerror(errno));
    return false;
  }
  close(fd);
  if (access(KTEST_BPFTOOL, X_OK) != 0) {
    std::fprintf(stderr, "SKIP bpftool oracle tests: %s is not executable\n", KTEST_BPFTOOL);
    return false;
  }
  return true;
}
const bool kHaveBpf = bpf_maps_available();

struct ObjectCloser {
  void operator()(struct bpf_object* obj) const { bpf_object__close(obj); }
};

Result<std::string> run_bpftool_dump(int map_fd) {
  struct bpf_map_info info = {};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(map_fd, &info, &len) != 0) return fail("bpf_obj_get_info_by_fd failed");
  const std::string cmd = std::string(KTEST_BPFTOOL) + " map dump id " + std::to_string(info.id) + " -j";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return fail("cannot run " + cmd);
  std::string out;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  if (pclose(pipe) != 0) return fail(cmd + " failed: " + out);
  return out;
}

// formatted.value (or formatted.values for per-CPU maps) of entry 0.
const oracle::Node* formatted(const oracle::Node& dump, const char* field) {
  if (dump.kind != oracle::Node::Kind::List || dump.elements.empty()) return nullptr;
  const oracle::Node* f = oracle::find(dump.elements[0], "formatted");
  return f != nullptr ? oracle::find(*f, field) : nullptr;
}

TEST_CASE("bpftool map dump agrees on real maps filled with the same bytes" *
          doctest::skip(!kHaveBpf)) {
  std::unique_ptr<struct bpf_object, ObjectCloser> obj(bpf_object__open_file(KTEST_BTF_FIXTURE, nullptr));
  REQUIRE(obj != nullptr);
  REQUIRE_MESSAGE(bpf_object__load(obj.get()) == 0, "loading the fixture's maps failed");
  const struct ::btf* btf = bpf_object__btf(obj.get());
  const uint32_t key = 0;
  for (const auto& image : testing::fixture_images()) {
    const std::string map_name = image.map;
    CAPTURE(map_name);
    const int fd = bpf_object__find_map_fd_by_name(obj.get(), image.map);
    REQUIRE(fd >= 0);
    const auto bytes = image.make(fixture()).bytes;
    REQUIRE(bpf_map_update_elem(fd, &key, bytes.data(), BPF_ANY) == 0);
    auto json = run_bpftool_dump(fd);
    REQUIRE_MESSAGE(json.ok(), (json.ok() ? std::string() : json.error().to_string()));
    auto tree = oracle::parse_json(*json);
    if (std::string(image.map) == "floats_map" && !tree.ok()) {
      // bpftool 7.5's JSON dumper has no BTF_KIND_FLOAT case and writes a
      // bare `(unsupported-kind` into the JSON: its bug, not ours (libbpf's
      // btf_dump above agrees with our floats).
      MESSAGE("bpftool cannot dump floats as JSON: " << tree.error().message);
      continue;
    }
    REQUIRE_MESSAGE(tree.ok(), (tree.ok() ? std::string() : tree.error().to_string()));
    const oracle::Node* value = formatted(*tree, "value");
    REQUIRE_MESSAGE(value != nullptr, *json);
    oracle::Comparison cmp;
    oracle::compare_bpftool(render(btf, bpf_map__btf_value_type_id(bpf_object__find_map_by_name(obj.get(), image.map)),
                                   bytes),
                            *value, image.type, cmp);
    CHECK_MESSAGE(cmp.mismatches.empty(), (cmp.mismatches.empty() ? "" : cmp.mismatches[0]) << "\n" << *json);
    check_quirks_known(cmp);
  }
}

TEST_CASE("bpftool agrees on .bss/.data/.rodata and per-CPU values" * doctest::skip(!kHaveBpf)) {
  std::unique_ptr<struct bpf_object, ObjectCloser> obj(bpf_object__open_file(KTEST_BTF_FIXTURE, nullptr));
  REQUIRE(obj != nullptr);
  REQUIRE(bpf_object__load(obj.get()) == 0);
  const struct ::btf* btf = bpf_object__btf(obj.get());
  const uint32_t key = 0;
  struct bpf_map* map = nullptr;
  int sections = 0;
  bpf_object__for_each_map(map, obj.get()) {
    if (!bpf_map__is_internal(map)) continue;
    const int fd = bpf_map__fd(map);
    std::vector<uint8_t> bytes(bpf_map__value_size(map));
    REQUIRE(bpf_map_lookup_elem(fd, &key, bytes.data()) == 0);
    if (std::string(bpf_map__name(map)).ends_with(".bss")) {
      for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i % 26 + 'a');
      REQUIRE(bpf_map_update_elem(fd, &key, bytes.data(), BPF_ANY) == 0);
    }
    auto json = run_bpftool_dump(fd);
    REQUIRE(json.ok());
    auto tree = oracle::parse_json(*json);
    REQUIRE_MESSAGE(tree.ok(), (tree.ok() ? std::string() : tree.error().to_string()));
    const oracle::Node* value = formatted(*tree, "value");
    REQUIRE(value != nullptr);
    auto ours = render(btf, bpf_map__btf_value_type_id(map), bytes);
    oracle::Comparison cmp;
    oracle::compare_bpftool(ours, *value, bpf_map__name(map), cmp);
    CHECK_MESSAGE(cmp.mismatches.empty(), (cmp.mismatches.empty() ? "" : cmp.mismatches[0]) << "\n" << *json);
    ++sections;
  }
  CHECK(sections == 3);

  const int ncpus = libbpf_num_possible_cpus();
  REQUIRE(ncpus > 0);
  struct bpf_map* pcpu = bpf_object__find_map_by_name(obj.get(), "pcpu_map");
  REQUIRE(pcpu != nullptr);
  const uint32_t value_size = bpf_map__value_size(pcpu);
  const uint64_t stride = percpu_stride(value_size);
  CHECK(stride == 16);
  std::vector<uint8_t> blob(stride * static_cast<uint64_t>(ncpus), 0);
  for (int cpu = 0; cpu < ncpus; ++cpu) {
    testing::Image v(value_size);
    v.put<uint32_t>(0, 1000 + cpu).put<int32_t>(4, -cpu).put<uint32_t>(8, 7);
    std::copy(v.bytes.begin(), v.bytes.end(), blob.begin() + static_cast<long>(stride * cpu));
  }
  REQUIRE(bpf_map_update_elem(bpf_map__fd(pcpu), &key, blob.data(), BPF_ANY) == 0);
  std::vector<uint8_t> back(blob.size(), 0);
  REQUIRE(bpf_map_lookup_elem(bpf_map__fd(pcpu), &key, back.data()) == 0);
  auto values = render_percpu(btf, bpf_map__btf_value_type_id(pcpu), back, static_cast<uint32_t>(ncpus));
  auto json = run_bpftool_dump(bpf_map__fd(pcpu));
  REQUIRE(json.ok());
  auto tree = oracle::parse_json(*json);
  REQUIRE(tree.ok());
  const oracle::Node* per_cpu = formatted(*tree, "values");
  REQUIRE(per_cpu != nullptr);
  REQUIRE(per_cpu->elements.size() == values.size());
  for (std::size_t cpu = 0; cpu < values.size(); ++cpu) {
    oracle::Comparison cmp;
    const oracle::Node* v = oracle::find(per_cpu->elements[cpu], "value");
    REQUIRE(v != nullptr);
    oracle::compare_bpftool(values[cpu], *v, "cpu" + std::to_string(cpu), cmp);
    CHECK_MESSAGE(cmp.mismatches.empty(), (cmp.mismatches.empty() ? "" : cmp.mismatches[0]));
  }
}

}  // namespace
}  // namespace ktest::btf

namespace ktest::btf {
namespace {

std::string fetched_vmlinux() {
  const std::string dir = KTEST_KERNEL_DIR;
  return dir.empty() ? "" : dir + "/vmlinux";
}
const bool kHaveVmlinux = !fetched_vmlinux().empty() && access(fetched_vmlinux().c_str(), R_OK) == 0;

TEST_CASE("libbpf btf_dump agrees on kernel structs of the fetched vmlinux" *
          doctest::skip(!kHaveVmlinux)) {
  auto btf = Btf::load(fetched_vmlinux());
  REQUIRE(btf.ok());
  for (const char* name : {"task_struct", "sched_ext_entity", "rq", "cpumask", "scx_dispatch_q"}) {
    CAPTURE(std::string(name));
    auto id = btf->find_type(name);
    REQUIRE(id.ok());
    std::vector<uint8_t> bytes(testing::size_of(*btf, *id));
    uint32_t state = 7;
    for (auto& b : bytes) b = static_cast<uint8_t>((state = state * 1103515245u + 12345u) >> 16);
    auto cmp = against_btf_dump(btf->get(), *id, bytes);
    MESSAGE(std::string(name) << ": " << bytes.size() << " bytes, " << cmp.quirks.size() << " oracle quirks");
    CHECK_MESSAGE(cmp.mismatches.size() == 0, (cmp.mismatches.empty() ? "" : cmp.mismatches[0]));
    check_quirks_known(cmp);
  }
}

}  // namespace
}  // namespace ktest::btf
