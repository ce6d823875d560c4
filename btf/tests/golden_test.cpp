// Golden renders: a fixed set of (type, bytes) inputs rendered to JSON and
// compared with files in btf/tests/golden/ made by an earlier renderer, so
// a change in how rendering is done (caching, fewer copies) cannot change
// what is rendered. KTEST_UPDATE_GOLDEN=1 rewrites the files instead.
//   render_fixture.jsonl: every type of the fixture over pseudo-random
//     bytes (whole, one byte short, half), the fixture images, pointers
//     followed through a pseudo-random reader, tight bounds, per-CPU blobs.
//   render_vmlinux.jsonl: task_struct and other kernel types from the
//     fetched kernel (-Dkernel_dir); its first line names the kernel BTF it
//     was made from, and another kernel skips (loudly) rather than fails.
#include <bpf/btf.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "btf/render.h"
#include "btf/tests/fixture_bytes.h"
#include "snapshot/report.h"
#include "util/atomic_file.h"

namespace ktest::btf {
namespace {

using nlohmann::json;

// splitmix64: the same bytes on every host and run.
struct Random {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::vector<uint8_t> bytes(std::size_t n) {
    std::vector<uint8_t> out(n);
    for (auto& b : out) b = static_cast<uint8_t>(next() >> 24);
    return out;
  }
};

// Pseudo-random memory: a read succeeds (with bytes seeded by the address)
// unless the address is a multiple of 3, so both outcomes show up.
class RandomMemory : public MemoryReader {
 public:
  Result<std::vector<uint8_t>> read(uint64_t address, std::size_t len) override {
    if (address % 3 == 0) return fail("unmapped address");
    return Random{address}.bytes(len);
  }
};

struct Golden {
  std::string text;
  void add(const std::string& label, const RenderedValue& v) {
    text += json{{"case", label}, {"value", value_to_json(v)}}.dump() + "\n";
  }
  void add(const std::string& label, const std::vector<RenderedValue>& cpus) {
    json values = json::array();
    for (const auto& v : cpus) values.push_back(value_to_json(v));
    text += json{{"case", label}, {"cpus", std::move(values)}}.dump() + "\n";
  }
};

std::string golden_path(const std::string& name) {
  return std::string(KTEST_SOURCE_ROOT) + "/btf/tests/golden/" + name;
}

bool updating() {
  const char* update = std::getenv("KTEST_UPDATE_GOLDEN");
  return update != nullptr && *update == '1';
}

// Compares line by line so a mismatch names its case.
void check_golden(const std::string& name, const std::string& actual) {
  const std::string path = golden_path(name);
  if (updating()) {
    REQUIRE(write_file_atomic(path, actual).ok());
    MESSAGE("updated " << path);
    return;
  }
  auto expected = read_file(path);
  REQUIRE_MESSAGE(expected.ok(), "missing golden " << path << " (KTEST_UPDATE_GOLDEN=1 writes it)");
  std::size_t a = 0, e = 0, line = 1;
  while (a < actual.size() && e < expected->size()) {
    const std::size_t an = actual.find('\n', a), en = expected->find('\n', e);
    const std::string got = actual.substr(a, an - a), want = expected->substr(e, en - e);
    if (got != want) {
      FAIL_CHECK(path << ":" << line << " differs\n got: " << got.substr(0, 400)
                      << "\nwant: " << want.substr(0, 400));
      return;
    }
    a = an == std::string::npos ? actual.size() : an + 1;
    e = en == std::string::npos ? expected->size() : en + 1;
    ++line;
  }
  CHECK_MESSAGE(actual.size() == expected->size(), path << ": line count differs at line " << line);
}

// Every type id (and two past the end) over the same kind of bytes:
// whole, one byte short and half, with the given options.
void all_types(Golden& out, const Btf& btf, const std::string& tag, const RenderOptions& options,
               uint64_t seed) {
  for (uint32_t id = 0; id < btf.type_count() + 2; ++id) {
    auto size = type_size(btf.get(), id);
    const std::size_t n = size ? std::min<uint64_t>(*size, 4096) : 16;
    const auto bytes = Random{seed + id}.bytes(n);
    const std::string label = tag + " #" + std::to_string(id) + " " + btf.type_name(id);
    const std::span<const uint8_t> all(bytes);
    out.add(label, render(btf, id, all, options));
    if (n > 0) out.add(label + " short", render(btf, id, all.first(n - 1), options));
    if (n > 1) out.add(label + " half", render(btf, id, all.first(n / 2), options));
  }
}

TEST_CASE("golden: the fixture's types, images, pointers, bounds and per-CPU values") {
  const Btf& btf = testing::fixture();
  Golden out;
  for (const auto& image : testing::fixture_images()) {
    const auto img = image.make(btf);
    const uint32_t id = testing::type_id(btf, image.type);
    const std::span<const uint8_t> bytes(img.bytes);
    out.add(std::string("image ") + image.type, render(btf, id, bytes));
    for (std::size_t cut : {std::size_t{0}, std::size_t{1}, bytes.size() / 3, bytes.size() - 1}) {
      out.add(std::string("image ") + image.type + " cut " + std::to_string(cut),
              render(btf, id, bytes.first(cut)));
    }
  }
  all_types(out, btf, "random", {}, 1);
  RandomMemory memory;
  RenderOptions chase;
  chase.reader = &memory;
  all_types(out, btf, "reader", chase, 2);
  chase.max_deref_depth = 1;
  chase.max_deref_bytes = 24;
  for (const auto& image : testing::fixture_images()) {
    const auto img = image.make(btf);
    out.add(std::string("image ") + image.type + " reader depth 1, 24 bytes",
            render(btf, testing::type_id(btf, image.type), img.bytes, chase));
  }
  RenderOptions tight;
  tight.max_depth = 2;
  tight.max_array_elements = 3;
  all_types(out, btf, "depth 2, 3 elements", tight, 4);

  for (const char* type : {"pcpu_stat", "sched_ctx", "all_ints"}) {
    const uint32_t id = testing::type_id(btf, type);
    const uint64_t stride = percpu_stride(testing::size_of(btf, id));
    const auto blob = Random{stride}.bytes(stride * 3);
    const std::span<const uint8_t> all(blob);
    const std::string label = std::string("percpu ") + type;
    out.add(label + " 3 of 3", render_percpu(btf.get(), id, all, 3));
    out.add(label + " 4, blob for 2.5", render_percpu(btf.get(), id, all.first(stride * 5 / 2), 4));
    out.add(label + " 2, empty blob", render_percpu(btf.get(), id, {}, 2));
  }
  check_golden("render_fixture.jsonl", out.text);
}

// Kernel types a capture renders most (task_struct first: the benchmark's),
// each whole, and where asked also cut at 2/3 and with pointers followed.
struct KernelCase {
  const char* type;
  bool cut;
  bool reader;
};
constexpr KernelCase kKernelCases[] = {
    {"task_struct", true, true},  {"sched_ext_entity", true, true}, {"rq", true, false},
    {"cfs_rq", false, true},      {"mm_struct", false, false},      {"file", true, true},
    {"sk_buff", true, false},     {"bpf_map", false, true},         {"cpumask", true, true},
    {"scx_dispatch_q", true, true}, {"list_head", true, true},      {"rb_node", false, true},
};

// The kernel BTF's identity: its size, type count and a FNV-1a of its bytes.
std::string btf_identity(const Btf& btf) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (uint8_t b : btf.raw_data()) hash = (hash ^ b) * 0x100000001b3ULL;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%zu bytes, %u types, fnv1a %016llx", btf.raw_data().size(),
                btf.type_count(), static_cast<unsigned long long>(hash));
  return buf;
}

TEST_CASE("golden: kernel types from vmlinux BTF over pseudo-random bytes") {
  const std::string kernel_dir = KTEST_KERNEL_DIR;
  if (kernel_dir.empty()) {
    MESSAGE("SKIPPED: no -Dkernel_dir (fetch a kernel with `ktest kernel fetch`)");
    return;
  }
  auto vmlinux = Btf::load(kernel_dir + "/vmlinux");
  if (!vmlinux) {
    MESSAGE("SKIPPED: " << vmlinux.error().to_string());
    return;
  }
  Golden out;
  const std::string identity = btf_identity(*vmlinux);
  out.text = json{{"kernel_btf", identity}}.dump() + "\n";
  if (!updating()) {
    auto expected = read_file(golden_path("render_vmlinux.jsonl"));
    if (expected && expected->substr(0, expected->find('\n') + 1) != out.text) {
      MESSAGE("SKIPPED: render_vmlinux.jsonl was made from another kernel's BTF ("
              << expected->substr(0, expected->find('\n')) << "; this one: " << identity
              << "); KTEST_UPDATE_GOLDEN=1 remakes it");
      return;
    }
  }
  RandomMemory memory;
  RenderOptions chase;
  chase.reader = &memory;
  chase.max_deref_depth = 1;
  chase.max_deref_bytes = 512;
  uint64_t seed = 100;
  for (const auto& [type, cut, follow] : kKernelCases) {
    auto id = vmlinux->find_type(type);
    if (!id) {
      out.text += json{{"case", type}, {"missing", true}}.dump() + "\n";
      continue;
    }
    auto size = type_size(vmlinux->get(), *id);
    REQUIRE(size.ok());
    const auto bytes = Random{++seed}.bytes(*size);
    const std::span<const uint8_t> all(bytes);
    out.add(type, render(*vmlinux, *id, all));
    if (cut) out.add(std::string(type) + " cut at 2/3", render(*vmlinux, *id, all.first(*size * 2 / 3)));
    if (follow) out.add(std::string(type) + " reader", render(*vmlinux, *id, all, chase));
  }
  auto scx = vmlinux->find_type("sched_ext_entity");
  REQUIRE(scx.ok());
  const uint64_t scx_size = *type_size(vmlinux->get(), *scx);
  const auto blob = Random{7}.bytes(percpu_stride(scx_size) * 2 - 100);
  out.add("percpu sched_ext_entity, 3 CPUs, blob for 1.x", render_percpu(vmlinux->get(), *scx, blob, 3));
  check_golden("render_vmlinux.jsonl", out.text);
}

}  // namespace
}  // namespace ktest::btf
