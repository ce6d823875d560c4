// Renderer: every fixture case rendered from known bytes, checked value by value.
#include <bpf/btf.h>
#include <doctest/doctest.h>

#include "btf/render.h"
#include "btf/tests/fixture_bytes.h"

namespace ktest::btf {
namespace {

using testing::fixture;
using testing::type_id;

const RenderedValue& member(const RenderedValue& v, const std::string& name) {
  REQUIRE(v.kind == ValueKind::Struct);
  for (const auto& m : v.members) {
    if (m.name == name) return m.value;
  }
  FAIL("no member " << name);
  return v;
}

RenderedValue render_image(const char* type, const testing::Image& img,
                           const RenderOptions& options = {}) {
  return render(fixture(), type_id(fixture(), type), img.bytes, options);
}

TEST_CASE("ints of every width, bool and char") {
  auto v = render_image("all_ints", testing::all_ints_image(fixture()));
  REQUIRE(v.kind == ValueKind::Struct);
  CHECK(v.type_name == "all_ints");
  CHECK(member(v, "c").kind == ValueKind::Char);
  CHECK(member(v, "c").uint_value == 'K');
  CHECK(member(v, "sc").kind == ValueKind::Int);
  CHECK(member(v, "sc").int_value == -100);
  CHECK(member(v, "uc").kind == ValueKind::Uint);
  CHECK(member(v, "uc").uint_value == 200);
  CHECK(member(v, "b").kind == ValueKind::Bool);
  CHECK(member(v, "b").uint_value == 1);
  CHECK(member(v, "s").int_value == -12345);
  CHECK(member(v, "s").bits == 16);
  CHECK(member(v, "us").uint_value == 54321);
  CHECK(member(v, "i").int_value == -2000000000);
  CHECK(member(v, "ui").uint_value == 4000000000U);
  CHECK(member(v, "l").int_value == -9000000000000000000LL);
  CHECK(member(v, "ul").uint_value == 18000000000000000000ULL);
  CHECK(member(v, "ll").int_value == -42);
  CHECK(member(v, "ull").uint_value == 0xffffffffffffffffULL);
  const auto& i128 = member(v, "i128");
  CHECK(i128.bits == 128);
  CHECK(i128.int_value == -(static_cast<int128_t>(0x0123456789abcdefLL) << 64) - 5);
  CHECK(member(v, "u128").uint_value ==
        ((static_cast<uint128_t>(0xfedcba9876543210ULL) << 64) | 0x1122334455667788ULL));
}

TEST_CASE("enums and enum64, signed and unsigned, unnamed values") {
  auto v = render_image("enums", testing::enums_image(fixture()));
  CHECK(member(v, "color").kind == ValueKind::Enum);
  CHECK(member(v, "color").variant == "GREEN");
  CHECK_FALSE(member(v, "color").is_signed);
  CHECK(member(v, "temp").variant == "COLD");
  CHECK(member(v, "temp").int_value == -40);
  CHECK(member(v, "temp").is_signed);
  CHECK(member(v, "wu").variant == "WIDE_BIG");
  CHECK(member(v, "wu").bits == 64);
  CHECK(member(v, "wu").int_value == 0xfffffffff0LL);
  CHECK(member(v, "ws").variant == "WIDE_NEG");
  CHECK(member(v, "ws").int_value == -0x100000000LL);
  CHECK_FALSE(member(v, "unnamed_color").variant.has_value());
  CHECK(member(v, "unnamed_color").int_value == 3);
}

TEST_CASE("bitfields: unsigned, signed, enum, bool, wide") {
  auto v = render_image("bitfields", testing::bitfields_image(fixture()));
  CHECK(member(v, "a").uint_value == 5);
  CHECK(member(v, "a").bits == 3);
  CHECK(member(v, "b").int_value == -7);
  CHECK(member(v, "t").variant == "COLD");
  CHECK(member(v, "t").int_value == -40);
  CHECK(member(v, "c").variant == "GREEN");
  CHECK(member(v, "d").uint_value == 0x123456789aULL);
  CHECK(member(v, "d").bits == 40);
  CHECK(member(v, "e").int_value == -1);
  CHECK(member(v, "f").kind == ValueKind::Bool);
  CHECK(member(v, "f").uint_value == 1);
  CHECK(member(v, "tail").uint_value == 0xdeadbeef);
}

TEST_CASE("anonymous members and nested anonymous unions") {
  auto v = render_image("with_anon", testing::anon_image(fixture()));
  REQUIRE(v.members.size() == 3);
  CHECK(v.members[1].name.empty());
  const auto& anon = v.members[1].value;
  CHECK_FALSE(anon.type_name.has_value());
  CHECK(member(anon, "as_int").int_value == static_cast<int32_t>(0xfffe4241u));
  // The anonymous struct inside the anonymous union.
  REQUIRE(anon.members.size() == 3);
  CHECK(member(anon.members[1].value, "lo").int_value == 0x4241);
  CHECK(member(anon.members[1].value, "hi").int_value == -2);
  CHECK(member(anon.members[2].value, "tag").uint_value == 0x41);
  CHECK(member(anon.members[2].value, "raw").elements.at(3).uint_value == 0xff);
  CHECK(member(v, "y").int_value == -9);
}

TEST_CASE("arrays: multi-dimensional, char arrays as text, u8 arrays as numbers") {
  auto v = render_image("arrays", testing::arrays_image(fixture()));
  const auto& grid = member(v, "grid");
  REQUIRE(grid.kind == ValueKind::Array);
  CHECK(grid.len == 2);
  CHECK(grid.elements.at(1).len == 3);
  CHECK(grid.elements.at(1).elements.at(2).int_value == 30);
  const auto& name = member(v, "name");
  CHECK(name.text == "scx_simple");
  CHECK(name.len == 16);
  CHECK(name.elements.size() == 16);
  CHECK(name.elements.at(0).kind == ValueKind::Char);
  CHECK_FALSE(member(v, "octets").text.has_value());
  CHECK(member(v, "octets").elements.at(0).uint_value == 0x0a);
  CHECK(member(v, "matrix").elements.at(1).elements.at(1).elements.at(1).int_value == 400);
}

TEST_CASE("pointers keep the address; floats; typedef chains with const/volatile") {
  auto p = render_image("list_node", testing::list_node_image(fixture()));
  CHECK(member(p, "next").kind == ValueKind::Ptr);
  CHECK(member(p, "next").uint_value == 0xffff888012345000ULL);
  CHECK(member(p, "next").detail().deref == nullptr);
  CHECK_FALSE(member(p, "next").detail().deref_skipped_reason.has_value());
  auto f = render_image("floats", testing::floats_image(fixture()));
  CHECK(member(f, "f").float_value == 1.5);
  CHECK(member(f, "f").bits == 32);
  CHECK(member(f, "d").float_value == -2.25e10);
  auto c = render_image("typedef_chain", testing::chain_image(fixture()));
  CHECK(member(c, "v").int_value == -17);
  CHECK(member(c, "rp").uint_value == 0xffffc90000001000ULL);
}

TEST_CASE("cpumask-like structs render as cpu lists") {
  auto v = render_image("mask_holder", testing::mask_holder_image(fixture()));
  CHECK(member(v, "mask").kind == ValueKind::CpuList);
  CHECK(member(v, "mask").detail().cpus == "0-2,5,64");
  CHECK(member(v, "nr").uint_value == 5);
  CHECK(member(v, "arena_mask").kind == ValueKind::CpuList);
  CHECK(member(v, "arena_mask").detail().cpus == "3,127");
  CHECK(cpu_list_from_bitmap(std::vector<uint8_t>{}) == "");
  CHECK(cpu_list_from_bitmap(std::vector<uint8_t>{0xff, 0x01}) == "0-8");
}

// The list read one bit at a time: the oracle for the word-wise scan.
std::string cpu_list_bit_by_bit(const std::vector<uint8_t>& bitmap) {
  std::string out;
  const std::size_t nbits = bitmap.size() * 8;
  auto bit = [&](std::size_t i) { return i < nbits && ((bitmap[i / 8] >> (i % 8)) & 1) != 0; };
  for (std::size_t i = 0; i < nbits; ++i) {
    if (!bit(i)) continue;
    std::size_t j = i;
    while (bit(j + 1)) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(i) + (j > i ? "-" + std::to_string(j) : "");
    i = j;
  }
  return out;
}

TEST_CASE("cpu lists match a bit-by-bit reading across word edges and lengths") {
  uint64_t state = 12345;
  auto next = [&] { return static_cast<uint8_t>((state = state * 6364136223846793005ULL + 1) >> 56); };
  for (std::size_t len = 0; len <= 40; ++len) {
    for (int round = 0; round < 50; ++round) {
      std::vector<uint8_t> bitmap(len);
      for (auto& b : bitmap) {
        const uint8_t r = next();
        b = round % 3 == 0 ? next() : r < 80 ? 0x00 : r < 160 ? 0xff : next();  // long runs too
      }
      REQUIRE_MESSAGE(cpu_list_from_bitmap(bitmap) == cpu_list_bit_by_bit(bitmap), "length " << len);
    }
  }
  // Long lists: written out in several pieces.
  std::vector<uint8_t> alternate(3000, 0x55), scattered(5000);
  for (auto& b : scattered) b = next();
  CHECK(cpu_list_from_bitmap(alternate) == cpu_list_bit_by_bit(alternate));
  CHECK(cpu_list_from_bitmap(scattered) == cpu_list_bit_by_bit(scattered));
  CHECK(cpu_list_from_bitmap(std::vector<uint8_t>(16, 0xff)) == "0-127");
  CHECK(cpu_list_from_bitmap(std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0x80, 0x01}) == "63-64");
}

TEST_CASE("DATASEC renders as a struct named after the section") {
  const Btf& btf = fixture();
  const uint32_t data = type_id(btf, ".data");
  std::vector<uint8_t> bytes(testing::size_of(btf, data), 0);
  REQUIRE(bytes.size() >= 12);
  bytes[0] = 4;  // nr_cpus (first variable: offsets checked below)
  auto v = render(btf, data, bytes);
  REQUIRE(v.kind == ValueKind::Struct);
  CHECK(v.type_name == ".data");
  REQUIRE(v.members.size() == 2);
  CHECK(v.members[0].name == "nr_cpus");
  CHECK(v.members[1].name == "greeting");
  auto rodata = render(btf, type_id(btf, ".rodata"), std::vector<uint8_t>(8, 0x61));
  CHECK(member(rodata, "tag").text == "aaaa");
}

TEST_CASE("per-CPU values use a stride of round_up(size, 8)") {
  const Btf& btf = fixture();
  const uint32_t id = type_id(btf, "pcpu_stat");
  CHECK(percpu_stride(12) == 16);
  CHECK(percpu_stride(16) == 16);
  CHECK(percpu_stride(0) == 0);
  std::vector<uint8_t> blob(16 * 3 - 6, 0);
  for (int cpu = 0; cpu < 3; ++cpu) blob[16 * cpu] = static_cast<uint8_t>(10 + cpu);
  auto values = render_percpu(btf.get(), id, blob, 4);
  REQUIRE(values.size() == 4);
  CHECK(member(values[1], "events").uint_value == 11);
  CHECK(values[2].kind == ValueKind::Truncated);   // 10 of 12 bytes
  CHECK(values[2].detail().had == 10);
  CHECK(values[3].kind == ValueKind::Truncated);   // nothing left
  CHECK(values[3].detail().had == 0);
}

TEST_CASE("short input is truncated with what did decode") {
  const Btf& btf = fixture();
  auto img = testing::sched_ctx_image(btf);
  const uint32_t id = type_id(btf, "sched_ctx");
  auto v = render(btf, id, std::span(img.bytes).first(20));
  REQUIRE(v.kind == ValueKind::Truncated);
  CHECK(v.detail().needed == img.bytes.size());
  CHECK(v.detail().had == 20);
  REQUIRE(v.detail().partial);
  CHECK(member(*v.detail().partial, "vtime").uint_value == 123456789012ULL);
  CHECK(member(*v.detail().partial, "weight").uint_value == 100);
  CHECK(v.detail().partial->members.size() == 3);  // last_cpu (20..24) does not fit
  const auto arrays = testing::arrays_image(btf);
  auto arr = render(btf, type_id(btf, "arrays"), std::span(arrays.bytes).first(10));
  REQUIRE(arr.kind == ValueKind::Truncated);
  const auto& grid = member(*arr.detail().partial, "grid");
  REQUIRE(grid.kind == ValueKind::Truncated);
  CHECK(grid.detail().partial->elements.size() == 0);  // no whole int[3] row fits in 10 bytes
  auto scalar = render(btf, type_id(btf, "u64"), std::vector<uint8_t>{1, 2, 3});
  REQUIRE(scalar.kind == ValueKind::Truncated);
  CHECK(scalar.detail().partial->kind == ValueKind::Bytes);
  CHECK(scalar.detail().partial->detail().hex == "01 02 03");
}

TEST_CASE("floats of 2, 4, 8 and 16 bytes") {
  struct ::btf* b = btf__new_empty();
  const int half = btf__add_float(b, "_Float16", 2);
  const int ld = btf__add_float(b, "long double", 16);
  auto h = render(b, static_cast<uint32_t>(half), std::vector<uint8_t>{0x00, 0x3e});  // 1.5
  CHECK(h.kind == ValueKind::Float);
  CHECK(h.float_value == 1.5);
  std::vector<uint8_t> sixteen(16, 0);
  sixteen[15] = 0x3f;
  auto l = render(b, static_cast<uint32_t>(ld), sixteen);
  CHECK(l.kind == ValueKind::Bytes);
  CHECK(l.detail().hex.str().substr(l.detail().hex.size() - 2) == "3f");
  btf__free(b);
}

TEST_CASE("type_tag and decl_tag are peeled") {
  const Btf& btf = fixture();
  auto img = testing::chain_image(btf);
  img.put<int32_t>(testing::offset_of(btf, "typedef_chain", "hot"), 99);
  img.put<uint64_t>(testing::offset_of(btf, "typedef_chain", "user_ptr"), 0x10);
  struct OneInt : MemoryReader {
    Result<std::vector<uint8_t>> read(uint64_t address, std::size_t len) override {
      if (address != 0x10 || len != 4) return fail("unexpected read");
      return std::vector<uint8_t>{5, 0, 0, 0};
    }
  } reader;
  RenderOptions opts;
  opts.reader = &reader;
  auto v = render_image("typedef_chain", img, opts);
  CHECK(member(v, "hot").int_value == 99);
  REQUIRE(member(v, "user_ptr").detail().deref);
  CHECK(member(v, "user_ptr").detail().deref->int_value == 5);
  bool saw_type_tag = false;
  for (uint32_t id = 1; id < btf.type_count(); ++id) {
    const struct btf_type* t = btf__type_by_id(btf.get(), id);
    if (btf_kind(t) == BTF_KIND_TYPE_TAG || btf_kind(t) == BTF_KIND_DECL_TAG) {
      saw_type_tag = true;
      CHECK(render(btf, id, std::vector<uint8_t>(8, 1)).kind != ValueKind::Unsupported);
    }
  }
  CHECK(saw_type_tag);
}

TEST_CASE("arrays longer than the cap keep their true length") {
  struct ::btf* b = btf__new_empty();
  const int u8 = btf__add_int(b, "u8", 1, 0);
  const int idx = btf__add_int(b, "idx", 4, 0);
  const int big = btf__add_array(b, idx, u8, 10000);
  std::vector<uint8_t> bytes(10000, 7);
  auto v = render(b, static_cast<uint32_t>(big), bytes);
  CHECK(v.len == 10000);
  CHECK(v.elements.size() == 4096);
  RenderOptions small;
  small.max_array_elements = 3;
  CHECK(render(b, static_cast<uint32_t>(big), bytes, small).elements.size() == 3);
  btf__free(b);
}

}  // namespace
}  // namespace ktest::btf
