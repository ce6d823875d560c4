// Hostile input: every prefix of every fixture value, corrupt BTF (loops,
// bad ids, huge arrays, mutated blobs), and pointer chasing through a
// reader over a fake address space with cycles and holes. Under ASan and
// UBSan none of these may report an error; all must render to a value.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "btf/render.h"
#include "btf/tests/fixture_bytes.h"

namespace ktest::btf {
namespace {

using testing::fixture;
using testing::type_id;

// Counts nodes so every result is walked (and ASan sees every byte).
std::size_t walk(const RenderedValue& v) {
  std::size_t n = 1;
  for (const auto& m : v.members) n += walk(m.value);
  for (const auto& e : v.elements) n += walk(e);
  if (v.detail().partial) n += walk(*v.detail().partial);
  if (v.detail().deref) n += walk(*v.detail().deref);
  return n;
}

bool mentions(const RenderedValue& v, const std::string& needle) {
  if (v.detail().reason.str().find(needle) != std::string::npos) return true;
  for (const auto& m : v.members) {
    if (mentions(m.value, needle)) return true;
  }
  for (const auto& e : v.elements) {
    if (mentions(e, needle)) return true;
  }
  return v.detail().partial && mentions(*v.detail().partial, needle);
}

TEST_CASE("every prefix of every fixture value renders to truncated") {
  const Btf& btf = fixture();
  for (const auto& image : testing::fixture_images()) {
    const auto img = image.make(btf);
    const uint32_t id = type_id(btf, image.type);
    for (std::size_t len = 0; len < img.bytes.size(); ++len) {
      // A heap copy of exactly `len` bytes: ASan flags any read past it.
      std::vector<uint8_t> prefix(img.bytes.begin(), img.bytes.begin() + static_cast<long>(len));
      auto v = render(btf, id, prefix);
      CHECK_MESSAGE(v.kind == ValueKind::Truncated, image.type << " prefix " << len);
      CHECK(v.detail().had == len);
      CHECK(v.detail().needed == img.bytes.size());
      CHECK(walk(v) >= 1);
    }
    CHECK(render(btf, id, img.bytes).kind != ValueKind::Truncated);
  }
}

TEST_CASE("every type of the fixture renders on zeros, ones and short data") {
  const Btf& btf = fixture();
  std::vector<uint8_t> big(1 << 16, 0xff);
  for (uint32_t id = 0; id < btf.type_count() + 2; ++id) {
    auto size = type_size(btf.get(), id);
    const std::size_t n = size ? std::min<uint64_t>(*size, big.size()) : 16;
    std::vector<uint8_t> exact(big.begin(), big.begin() + static_cast<long>(n));
    CHECK(walk(render(btf, id, exact)) >= 1);
    std::vector<uint8_t> zeros(n, 0);
    CHECK(walk(render(btf, id, zeros)) >= 1);
    if (n > 0) {
      std::vector<uint8_t> shorter(exact.begin(), exact.end() - 1);
      CHECK(walk(render(btf, id, shorter)) >= 1);
    }
  }
}

TEST_CASE("corrupt BTF: modifier loops, bad ids, giant arrays, deep nesting") {
  struct ::btf* b = btf__new_empty();
  const int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  // typedef loop: A -> B -> A (ids are known before they exist).
  const int a = btf__add_typedef(b, "A", i32 + 2);
  const int b2 = btf__add_typedef(b, "B", a);
  REQUIRE(b2 == i32 + 2);
  // Self-referencing const.
  const int self = btf__add_const(b, b2 + 1);
  // Array of 2^32-1 arrays of 2^32-1 ints: size overflows.
  const int inner = btf__add_array(b, i32, i32, 0xffffffffu);
  const int outer = btf__add_array(b, i32, inner, 0xffffffffu);
  // Struct with a member of a dangling type id and one far past its size.
  const int s = btf__add_struct(b, "bad", 8);
  btf__add_field(b, "dangling", 100000, 0, 0);
  btf__add_field(b, "far", i32, 8 * 4096, 0);
  btf__add_field(b, "wide_bits", i32, 0, 0);
  // A struct containing itself through an array of one (infinite size).
  const int rec = btf__add_struct(b, "rec", 4);
  btf__add_field(b, "me", rec + 1, 0, 0);
  btf__add_array(b, i32, rec, 1);
  // Pointer to itself.
  const int ptr = btf__add_ptr(b, btf__type_cnt(b));
  std::vector<uint8_t> bytes(64, 0xab);
  for (int id : {a, b2, self, inner, outer, s, rec, rec + 1, ptr, 0, 99999}) {
    auto v = render(b, static_cast<uint32_t>(id), bytes);
    CHECK(walk(v) >= 1);
  }
  CHECK(render(b, static_cast<uint32_t>(a), bytes).kind == ValueKind::Unsupported);
  CHECK(render(b, static_cast<uint32_t>(a), bytes).detail().reason.str().find("loop") != std::string::npos);
  CHECK(render(b, static_cast<uint32_t>(outer), bytes).kind == ValueKind::Unsupported);
  CHECK(render(b, 99999, bytes).kind == ValueKind::Unsupported);
  auto bad = render(b, static_cast<uint32_t>(s), bytes);
  REQUIRE(bad.kind == ValueKind::Struct);
  CHECK(bad.members.at(0).value.kind == ValueKind::Unsupported);
  CHECK_FALSE(type_size(b, static_cast<uint32_t>(outer)).ok());
  // rec holds itself through an array: recursion stops at the depth bound.
  CHECK(mentions(render(b, static_cast<uint32_t>(rec), bytes), "nesting deeper than"));
  btf__free(b);
}

TEST_CASE("mutated raw BTF blobs: either rejected or rendered safely") {
  auto raw = fixture().raw_data();
  std::vector<uint8_t> blob(raw.begin(), raw.end());
  uint32_t state = 12345;
  auto next = [&state] { return state = state * 1103515245u + 12345u; };
  std::vector<uint8_t> value(256, 0x5a);
  int loaded = 0;
  // libbpf explains every rejected blob on stderr; hundreds of lines of noise.
  auto previous = libbpf_set_print(nullptr);
  for (int round = 0; round < 300; ++round) {
    std::vector<uint8_t> mutated = blob;
    for (int k = 0; k < 4; ++k) {
      // Mutate the type section (header is 24 bytes) where it hurts most.
      const std::size_t at = 24 + next() % (mutated.size() - 24);
      mutated[at] = static_cast<uint8_t>(next() >> 7);
    }
    auto btf = Btf::from_bytes(mutated, "mutated");
    if (!btf) continue;
    ++loaded;
    for (uint32_t id = 0; id < btf->type_count(); ++id) {
      CHECK(walk(render(*btf, id, value)) >= 1);
    }
  }
  libbpf_set_print(previous);
  MESSAGE("mutated blobs libbpf accepted and we rendered: " << loaded << " of 300");
}

std::string fetched_vmlinux() {
  const std::string dir = KTEST_KERNEL_DIR;
  return dir.empty() ? "" : dir + "/vmlinux";
}

// Evaluated once, before the test cases register; says on stderr why the kernel test will be skipped.
bool have_fetched_vmlinux() {
  if (!fetched_vmlinux().empty() && std::filesystem::exists(fetched_vmlinux())) return true;
  std::fprintf(stderr, "SKIP: kernel BTF robustness test: no fetched kernel vmlinux ('%s'); "
                       "configure with -Dkernel_dir=<fetched kernel>\n", fetched_vmlinux().c_str());
  return false;
}
const bool kHaveFetchedVmlinux = have_fetched_vmlinux();

TEST_CASE("kernel BTF: task_struct prefixes and a sample of every kind of type" *
          doctest::skip(!kHaveFetchedVmlinux)) {
  auto btf = Btf::load(fetched_vmlinux());
  REQUIRE(btf.ok());
  const uint32_t task = *btf->find_type("task_struct");
  const std::size_t size = testing::size_of(*btf, task);
  std::vector<uint8_t> full(size);
  for (std::size_t i = 0; i < size; ++i) full[i] = static_cast<uint8_t>(i * 131 + 7);
  for (std::size_t len = 0; len < size; len += 61) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<long>(len));
    auto v = render(*btf, task, prefix);
    CHECK(v.kind == ValueKind::Truncated);
    CHECK(walk(v) >= 1);
  }
  std::vector<uint8_t> ones(4096, 0xff);
  for (uint32_t id = 1; id < btf->type_count(); id += 17) {
    CHECK(walk(render(*btf, id, ones)) >= 1);
  }
}

// An address space of a few objects; everything else is unmapped.
class FakeMemory : public MemoryReader {
 public:
  std::map<uint64_t, std::vector<uint8_t>> objects;
  int reads = 0;
  Result<std::vector<uint8_t>> read(uint64_t address, std::size_t len) override {
    ++reads;
    auto it = objects.find(address);
    if (it == objects.end() || it->second.size() < len) return fail("unmapped address");
    return std::vector<uint8_t>(it->second.begin(), it->second.begin() + static_cast<long>(len));
  }
};

// reads_memory() is what lets the freeze layer render after the guest
// resumed: where it says no, a reader must change nothing.
void check_reads_memory(const Btf& btf, uint32_t id, const std::vector<uint8_t>& bytes, int& without) {
  FakeMemory memory;  // every address unmapped: a read would show as a skipped deref
  RenderOptions with_reader;
  with_reader.reader = &memory;
  if (reads_memory(btf, id)) return;
  ++without;
  CHECK(render(btf, id, bytes, with_reader) == render(btf, id, bytes));
  CHECK(memory.reads == 0);
}

TEST_CASE("reads_memory: a type it calls pointer-free renders the same with a reader or without") {
  const Btf& btf = fixture();
  std::vector<uint8_t> bytes(512, 0x11);  // non-null everywhere: any pointer would be followed
  int without = 0;
  for (uint32_t id = 0; id < btf.type_count(); ++id) check_reads_memory(btf, id, bytes, without);
  CHECK(without > 10);
  CHECK(reads_memory(btf, type_id(btf, "list_node")));       // holds a pointer
  CHECK(reads_memory(btf, type_id(btf, "typedef_chain")));   // one behind typedefs
  CHECK_FALSE(reads_memory(btf, 0));                          // void: nothing to render
  CHECK_FALSE(reads_memory(btf, btf.type_count() + 5));      // out of range: unsupported

  auto raw = fixture().raw_data();
  std::vector<uint8_t> blob(raw.begin(), raw.end());
  uint32_t state = 777;
  auto next = [&state] { return state = state * 1103515245u + 12345u; };
  auto previous = libbpf_set_print(nullptr);
  for (int round = 0; round < 100; ++round) {
    std::vector<uint8_t> mutated = blob;
    for (int k = 0; k < 4; ++k) mutated[24 + next() % (mutated.size() - 24)] = static_cast<uint8_t>(next() >> 7);
    auto corrupt = Btf::from_bytes(mutated, "mutated");
    if (!corrupt) continue;
    for (uint32_t id = 0; id < corrupt->type_count(); ++id) check_reads_memory(*corrupt, id, bytes, without);
  }
  libbpf_set_print(previous);
}

TEST_CASE("pointer deref through a reader: chains, cycles, nulls, holes, depth") {
  const Btf& btf = fixture();
  const uint32_t id = type_id(btf, "list_node");
  const std::size_t size = testing::size_of(btf, id);
  const std::size_t next = testing::offset_of(btf, "list_node", "next");
  const std::size_t ip = testing::offset_of(btf, "list_node", "ip");
  const std::size_t payload = testing::offset_of(btf, "list_node", "payload");
  FakeMemory mem;
  // 0x1000 -> 0x2000 -> 0x1000 (cycle); ip of 0x1000 points at an int.
  testing::Image n1(size), n2(size);
  n1.put<uint64_t>(next, 0x2000).put<uint64_t>(ip, 0x3000).put<uint64_t>(payload, 1);
  n2.put<uint64_t>(next, 0x1000).put<uint64_t>(ip, 0xbad).put<uint64_t>(payload, 2);
  mem.objects[0x1000] = n1.bytes;
  mem.objects[0x2000] = n2.bytes;
  mem.objects[0x3000] = {42, 0, 0, 0};
  testing::Image root(size);
  root.put<uint64_t>(next, 0x1000).put<uint64_t>(testing::offset_of(btf, "list_node", "vp"), 0x5000);
  RenderOptions opts;
  opts.reader = &mem;
  opts.max_deref_depth = 8;
  auto v = render(btf, id, root.bytes, opts);
  REQUIRE(v.kind == ValueKind::Struct);
  const RenderedValue& p1 = v.members.at(0).value;
  REQUIRE(p1.detail().deref);
  CHECK(p1.detail().deref->members.back().value.uint_value == 1);
  CHECK(p1.detail().deref->members.at(1).value.detail().deref->int_value == 42);
  const RenderedValue& p2 = p1.detail().deref->members.at(0).value;
  REQUIRE(p2.detail().deref);
  const RenderedValue& p3 = p2.detail().deref->members.at(0).value;  // back to 0x1000: cycle
  CHECK(p3.detail().deref == nullptr);
  REQUIRE(p3.detail().deref_skipped_reason);
  CHECK(p3.detail().deref_skipped_reason->find("cycle") != std::string::npos);
  CHECK(p2.detail().deref->members.at(1).value.detail().deref_skipped_reason->find("read failed") != std::string::npos);
  CHECK(v.members.at(1).value.detail().deref_skipped_reason == "null pointer");
  CHECK(v.members.at(2).value.detail().deref_skipped_reason->find("void") != std::string::npos);
  opts.max_deref_depth = 1;
  auto shallow = render(btf, id, root.bytes, opts);
  CHECK(shallow.members.at(0).value.detail().deref->members.at(0).value.detail().deref_skipped_reason->find("depth") !=
        std::string::npos);
  CHECK(mem.reads < 20);
}

// Structs nested `levels` deep: s1 { int v; }, s<k> { s<k-1> in; }; returns s<levels>'s id.
int nested_structs(struct ::btf* b, uint32_t levels) {
  const int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  int inner = btf__add_struct(b, "s1", 4);
  btf__add_field(b, "v", i32, 0, 0);
  for (uint32_t k = 2; k <= levels; ++k) {
    const int outer = btf__add_struct(b, ("s" + std::to_string(k)).c_str(), 4);
    btf__add_field(b, "in", inner, 0, 0);
    inner = outer;
  }
  return inner;
}

// The value `levels` members down from `v`.
const RenderedValue& member_depth(const RenderedValue& v, uint32_t levels) {
  const RenderedValue* at = &v;
  for (uint32_t i = 0; i < levels; ++i) at = &at->members.at(0).value;
  return *at;
}

TEST_CASE("value depth: a value max_depth levels deep renders whole; one level more is cut there") {
  constexpr uint32_t kMaxDepth = RenderOptions{}.max_depth;
  const std::vector<uint8_t> bytes = {42, 0, 0, 0};
  // max_depth structs around the int: the int sits max_depth levels below the top.
  struct ::btf* at_limit = btf__new_empty();
  const int deepest = nested_structs(at_limit, kMaxDepth);
  auto whole = render(at_limit, static_cast<uint32_t>(deepest), bytes);
  const RenderedValue& leaf = member_depth(whole, kMaxDepth);
  CHECK(leaf.kind == ValueKind::Int);
  CHECK(leaf.int_value == 42);
  btf__free(at_limit);

  struct ::btf* past = btf__new_empty();
  const int too_deep = nested_structs(past, kMaxDepth + 1);
  auto cut = render(past, static_cast<uint32_t>(too_deep), bytes);
  CHECK(member_depth(cut, kMaxDepth).kind == ValueKind::Struct);  // kept down to the limit
  const RenderedValue& below = member_depth(cut, kMaxDepth + 1);
  CHECK(below.kind == ValueKind::Unsupported);
  CHECK(below.detail().reason == "nesting deeper than 64 levels");
  btf__free(past);
}

TEST_CASE("pointer depth: max_deref_depth pointers are followed; the next one is not, and says why") {
  // struct node { int v; struct node *next; }
  struct ::btf* b = btf__new_empty();
  const int i32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
  const int node = btf__add_struct(b, "node", 16);
  btf__add_field(b, "v", i32, 0, 0);
  btf__add_field(b, "next", node + 1, 64, 0);
  REQUIRE(btf__add_ptr(b, node) == node + 1);
  // 0 -> 0x1000 -> 0x2000 -> 0x3000 -> 0x4000, node k holding v = k.
  FakeMemory mem;
  auto node_at = [](int32_t v, uint64_t next) {
    std::vector<uint8_t> out(16);
    std::memcpy(out.data(), &v, 4);
    std::memcpy(out.data() + 8, &next, 8);
    return out;
  };
  for (uint64_t k = 1; k <= 4; ++k) mem.objects[k * 0x1000] = node_at(static_cast<int32_t>(k), (k + 1) * 0x1000);
  RenderOptions options;  // the default depth, as captures use it
  options.reader = &mem;
  REQUIRE(options.max_deref_depth == 2);
  auto v = render(b, static_cast<uint32_t>(node), node_at(0, 0x1000), options);
  const RenderedValue* at = &v;
  for (uint32_t followed = 1; followed <= options.max_deref_depth; ++followed) {
    const RenderedValue& next = at->members.at(1).value;
    REQUIRE(next.detail().deref);
    CHECK(next.detail().deref->members.at(0).value.int_value == followed);
    at = next.detail().deref.get();
  }
  const RenderedValue& not_followed = at->members.at(1).value;
  CHECK(not_followed.kind == ValueKind::Ptr);
  CHECK(not_followed.detail().deref == nullptr);
  CHECK(not_followed.detail().deref_skipped_reason == "pointer depth limit 2 reached");
  CHECK(mem.reads == 2);
  btf__free(b);
}

TEST_CASE("render plans built by several threads at once give the same values") {
  // A fresh Btf: its plans are built while the threads race for them.
  auto loaded = Btf::load(KTEST_BTF_FIXTURE);
  REQUIRE(loaded.ok());
  const Btf& btf = *loaded;
  std::vector<uint8_t> bytes(4096);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 131 + 7);
  std::vector<RenderedValue> expected;
  for (uint32_t id = 0; id < btf.type_count(); ++id) expected.push_back(render(btf.get(), id, bytes));
  std::vector<std::vector<RenderedValue>> got(4);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        got[t].clear();
        for (uint32_t id = 0; id < btf.type_count(); ++id) got[t].push_back(render(btf, id, bytes));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& values : got) CHECK(values == expected);
}

}  // namespace
}  // namespace ktest::btf
