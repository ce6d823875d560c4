// Test helpers over the compiled fixture (see fixture_bytes.h).
#include "btf/tests/fixture_bytes.h"

#include <bpf/btf.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>

#include "btf/render.h"

namespace ktest::btf::testing {

const Btf& fixture() {
  static const Btf btf = [] {
    auto loaded = Btf::load(KTEST_BTF_FIXTURE);
    if (!loaded) {
      std::fprintf(stderr, "cannot load fixture: %s\n", loaded.error().to_string().c_str());
      std::abort();
    }
    return std::move(loaded.value());
  }();
  return btf;
}

uint32_t type_id(const Btf& btf, const std::string& name) {
  auto id = btf.find_type(name);
  REQUIRE_MESSAGE(id.ok(), name);
  return *id;
}

std::size_t offset_of(const Btf& btf, const std::string& type, const std::string& member) {
  const struct btf_type* t = btf__type_by_id(btf.get(), type_id(btf, type));
  REQUIRE(btf_is_composite(t));
  const struct btf_member* m = btf_members(t);
  for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
    if (member == btf__name_by_offset(btf.get(), m->name_off)) return btf_member_bit_offset(t, i) / 8;
  }
  FAIL("no member " << member << " in " << type);
  return 0;
}

uint64_t size_of(const Btf& btf, uint32_t id) {
  const int64_t size = btf__resolve_size(btf.get(), id);
  REQUIRE(size >= 0);
  return static_cast<uint64_t>(size);
}

namespace {
Image blank(const Btf& btf, const char* type) { return Image(size_of(btf, type_id(btf, type))); }
}  // namespace

Image all_ints_image(const Btf& btf) {
  auto off = [&](const char* m) { return offset_of(btf, "all_ints", m); };
  Image img = blank(btf, "all_ints");
  __extension__ const __int128 i128 = -(static_cast<__int128>(0x0123456789abcdefLL) << 64) - 5;
  __extension__ const unsigned __int128 u128 =
      (static_cast<unsigned __int128>(0xfedcba9876543210ULL) << 64) | 0x1122334455667788ULL;
  img.put<char>(off("c"), 'K')
      .put<int8_t>(off("sc"), -100)
      .put<uint8_t>(off("uc"), 200)
      .put<uint8_t>(off("b"), 1)
      .put<int16_t>(off("s"), -12345)
      .put<uint16_t>(off("us"), 54321)
      .put<int32_t>(off("i"), -2000000000)
      .put<uint32_t>(off("ui"), 4000000000U)
      .put<int64_t>(off("l"), -9000000000000000000LL)
      .put<uint64_t>(off("ul"), 18000000000000000000ULL)
      .put<int64_t>(off("ll"), -42)
      .put<uint64_t>(off("ull"), 0xffffffffffffffffULL)
      .put(off("i128"), i128)
      .put(off("u128"), u128);
  return img;
}

Image enums_image(const Btf& btf) {
  auto off = [&](const char* m) { return offset_of(btf, "enums", m); };
  Image img = blank(btf, "enums");
  img.put<uint32_t>(off("color"), 5)                    // GREEN
      .put<int32_t>(off("temp"), -40)                   // COLD
      .put<uint64_t>(off("wu"), 0xfffffffff0ULL)        // WIDE_BIG
      .put<int64_t>(off("ws"), -0x100000000LL)          // WIDE_NEG
      .put<uint32_t>(off("unnamed_color"), 3);          // no name
  return img;
}

Image bitfields_image(const Btf& btf) {
  Image img = blank(btf, "bitfields");
  uint64_t word = 0;
  auto set = [&word](unsigned at, unsigned width, uint64_t v) {
    word |= (v & ((width == 64 ? 0 : (uint64_t{1} << width)) - 1)) << at;
  };
  set(0, 3, 5);                  // a = 5
  set(3, 5, uint64_t(-7));       // b = -7
  set(8, 7, uint64_t(-40));      // t = COLD
  set(15, 4, 5);                 // c = GREEN
  set(19, 40, 0x123456789aULL);  // d
  set(59, 1, 1);                 // e = -1
  set(60, 1, 1);                 // f = true
  img.put<uint64_t>(0, word).put<uint32_t>(offset_of(btf, "bitfields", "tail"), 0xdeadbeef);
  return img;
}

Image anon_image(const Btf& btf) {
  Image img = blank(btf, "with_anon");
  img.put<int32_t>(0, 7).put<uint16_t>(4, 0x4241).put<uint16_t>(6, 0xfffe).put<int32_t>(8, -9);
  return img;
}

Image arrays_image(const Btf& btf) {
  auto off = [&](const char* m) { return offset_of(btf, "arrays", m); };
  Image img = blank(btf, "arrays");
  for (int i = 0; i < 6; ++i) img.put<int32_t>(off("grid") + 4 * i, (i - 2) * 10);
  img.put_text(off("name"), "scx_simple");
  img.put<uint32_t>(off("octets"), 0x0403020aU);
  for (int i = 0; i < 8; ++i) img.put<int16_t>(off("matrix") + 2 * i, static_cast<int16_t>(100 * i - 300));
  return img;
}

Image list_node_image(const Btf& btf) {
  auto off = [&](const char* m) { return offset_of(btf, "list_node", m); };
  Image img = blank(btf, "list_node");
  img.put<uint64_t>(off("next"), 0xffff888012345000ULL)
      .put<uint64_t>(off("ip"), 0)
      .put<uint64_t>(off("vp"), 0xdead0000ULL)
      .put<uint64_t>(off("fn"), 0xffffffff81000000ULL)
      .put<uint64_t>(off("opaque"), 0x1000)
      .put<uint64_t>(off("payload"), 77);
  return img;
}

Image floats_image(const Btf& btf) {
  Image img = blank(btf, "floats");
  img.put<float>(offset_of(btf, "floats", "f"), 1.5f).put<double>(offset_of(btf, "floats", "d"), -2.25e10);
  return img;
}

Image chain_image(const Btf& btf) {
  Image img = blank(btf, "typedef_chain");
  img.put<int32_t>(offset_of(btf, "typedef_chain", "v"), -17)
      .put<uint64_t>(offset_of(btf, "typedef_chain", "rp"), 0xffffc90000001000ULL);
  return img;
}

Image mask_holder_image(const Btf& btf) {
  Image img = blank(btf, "mask_holder");
  // CPUs 0-2, 5 and 64 (second word, bit 0).
  img.put<uint64_t>(0, 0x27).put<uint64_t>(8, 1).put<int32_t>(16, 1);
  img.put<uint32_t>(offset_of(btf, "mask_holder", "nr"), 5);
  // scx_bitmap: tid, then CPUs 3 and 127.
  const std::size_t arena = offset_of(btf, "mask_holder", "arena_mask");
  img.put<int64_t>(arena, -1).put<uint64_t>(arena + 8, 0x8).put<uint64_t>(arena + 16, 1ULL << 63);
  return img;
}

Image sched_ctx_image(const Btf& btf) {
  auto off = [&](const char* m) { return offset_of(btf, "sched_ctx", m); };
  Image img = blank(btf, "sched_ctx");
  img.put<uint64_t>(off("vtime"), 123456789012ULL)
      .put<uint64_t>(off("slice_ns"), 20000000)
      .put<uint32_t>(off("weight"), 100)
      .put<int32_t>(off("last_cpu"), 3)
      .put<uint32_t>(off("state"), 2)                    // TASK_RUNNING
      .put<uint32_t>(off("state") + 4, 0x1f | (9u << 8))  // flags=0x1f, nr_migrations=9
      .put_text(off("comm"), "worker-1")
      .put<uint64_t>(off("enq_at"), 999);
  return img;
}

const std::vector<NamedImage>& fixture_images() {
  static const std::vector<NamedImage> images = {
      {"all_ints", "ints_map", all_ints_image},     {"enums", "enums_map", enums_image},
      {"bitfields", "bitfields_map", bitfields_image}, {"with_anon", "anon_map", anon_image},
      {"arrays", "arrays_map", arrays_image},       {"list_node", "ptrs_map", list_node_image},
      {"floats", "floats_map", floats_image},       {"typedef_chain", "chain_map", chain_image},
      {"mask_holder", "mask_map", mask_holder_image}, {"sched_ctx", "sched_map", sched_ctx_image},
  };
  return images;
}

}  // namespace ktest::btf::testing
