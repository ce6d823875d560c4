// BTF: Btf::from_bytes / split_bytes on a mutated blob, then every
// type's name and size, find_type, and render() / render_percpu() of a
// mutated value, its pointers followed into the value itself. A rendered
// value must survive its JSON round trip (value_to_json → value_from_json).
// Input: flags (u8), type id (u32), blob length (u16), blob, value bytes.
//   flags bit 0  the blob is split BTF over the mini vmlinux
//   flags 1-3    CPUs for render_percpu (0: not called)
#include <cstdio>
#include <cstring>

#include <bpf/btf.h>

#include "btf/btf.h"
#include "btf/render.h"
#include "fuzz/btf_writer.h"
#include "fuzz/mini_kernel.h"
#include "snapshot/json_read.h"
#include "snapshot/report.h"

namespace ktest::fuzz {
namespace {

constexpr std::size_t kHeader = 7;
constexpr uint64_t kValueAddress = 0xffff888000010000ULL;  // where pointers into the value point
constexpr uint32_t kMaxTypesVisited = 256;

// The value bytes as memory at kValueAddress: pointers into it are followed.
class ValueMemory final : public btf::MemoryReader {
 public:
  explicit ValueMemory(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  Result<std::vector<uint8_t>> read(uint64_t address, std::size_t len) override {
    if (address < kValueAddress || address - kValueAddress > bytes_.size() ||
        len > bytes_.size() - (address - kValueAddress)) {
      return fail("outside the value");
    }
    auto first = bytes_.begin() + static_cast<std::ptrdiff_t>(address - kValueAddress);
    return std::vector<uint8_t>(first, first + static_cast<std::ptrdiff_t>(len));
  }

 private:
  std::span<const uint8_t> bytes_;
};

void check_json_round_trip(const RenderedValue& v) {
  nlohmann::json j = value_to_json(v);
  auto back = value_from_json(j);
  if (!back) std::fprintf(stderr, "%s\nin %s\n", back.error().to_string().c_str(), json_read::safe_dump(j).c_str());
  fuzz_check(back.ok(), "a rendered value's JSON reads back");
  fuzz_check(value_to_json(*back) == j, "reading a rendered value's JSON back changes nothing");
}

Seed input(std::string label, uint8_t flags, uint32_t type, const std::vector<uint8_t>& blob,
           const std::vector<uint8_t>& value) {
  Bytes out{flags};
  out.resize(kHeader);
  std::memcpy(out.data() + 1, &type, 4);
  uint16_t len = static_cast<uint16_t>(blob.size());
  std::memcpy(out.data() + 5, &len, 2);
  out.insert(out.end(), blob.begin(), blob.end());
  out.insert(out.end(), value.begin(), value.end());
  return Seed{std::move(label), std::move(out)};
}

// One of every kind render() handles: bitfields (signed, enum), enum64,
// float, typedef/const/volatile/restrict/type_tag chains, a union, a fwd,
// a func, decl tags, a 2-D array, a char array, a cpumask and a
// self-referencing list node.
std::vector<uint8_t> every_kind_blob(uint32_t* top) {
  BtfWriter w;
  struct ::btf* b = w.get();
  int s32 = w.integer("int", 4, BTF_INT_SIGNED), u64 = w.integer("u64", 8);
  int chr = w.integer("char", 1, BTF_INT_CHAR), boolean = w.integer("_Bool", 1, BTF_INT_BOOL);
  int u128 = w.integer("__int128 unsigned", 16);
  int e32 = w.enumeration("color", {{"RED", 0}, {"GREEN", 1}, {"BLUE", -1}});
  int e64 = w.check(btf__add_enum64(b, "big", 8, false));
  w.check(btf__add_enum64_value(b, "HUGE", 0xffffffff00000000ULL));
  int flt = w.check(btf__add_float(b, "double", 8));
  int td = w.check(btf__add_typedef(b, "u64_t", u64));
  int cv = w.check(btf__add_const(b, w.check(btf__add_volatile(b, td))));
  int tagged = w.check(btf__add_type_tag(b, "user", cv));
  int fwd = w.check(btf__add_fwd(b, "opaque", BTF_FWD_STRUCT));
  int proto = w.check(btf__add_func_proto(b, s32));
  w.check(btf__add_func_param(b, "x", s32));
  w.check(btf__add_func(b, "fn", BTF_FUNC_GLOBAL, proto));
  int grid = w.array(w.array(s32, 3), 2);
  int name = w.array(chr, 8);
  int bits = w.array(w.integer("unsigned long", 8), 1);
  int mask = w.composite("cpumask", 8, {{"bits", bits, 0}});
  // Fields must follow their struct: the pointer to `node` comes first.
  int node_ptr = w.pointer(static_cast<int>(btf__type_cnt(b)) + 1);
  w.check(btf__add_struct(b, "node", 16));
  w.check(btf__add_field(b, "next", node_ptr, 0, 0));
  w.check(btf__add_field(b, "val", s32, 64, 0));
  int opaque_ptr = w.pointer(fwd);
  int u = w.composite("either", 8, {{"as_int", s32, 0}, {"as_u64", u64, 0}}, true);
  int top_id = w.check(btf__add_struct(b, "everything", 120));
  auto field = [&](const char* n, int type, uint32_t bit_off, uint32_t bit_size = 0) {
    w.check(btf__add_field(b, n, type, bit_off, bit_size));
  };
  field("small", s32, 0, 3);
  field("hue", e32, 3, 2);
  field("flag", boolean, 8);
  field("wide", e64, 64);
  field("ratio", flt, 128);
  field("chain", tagged, 192);
  field("grid", grid, 256);
  field("name", name, 448);
  field("mask", mask, 512);
  field("list", node_ptr, 576);
  field("blob", opaque_ptr, 640);
  field("either", u, 704);
  field("huge", u128, 768);
  w.check(btf__add_decl_tag(b, "kptr", top_id, 9));
  *top = static_cast<uint32_t>(top_id);
  return w.raw();
}

std::vector<Seed> btf_seeds() {
  std::vector<Seed> out;
  uint32_t top = 0;
  auto every = every_kind_blob(&top);
  std::vector<uint8_t> value(136);
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<uint8_t>(i * 37);
  // `list` points at a node inside the value whose next points back at it.
  uint64_t node_at = kValueAddress + 120;
  std::memcpy(value.data() + 72, &node_at, 8);
  std::memcpy(value.data() + 120, &node_at, 8);
  out.push_back(input("every_kind", 0, top, every, value));
  out.push_back(input("every_kind_percpu", 2 << 1, top, every, value));
  ProgramBtf prog = program_btf();
  std::vector<uint8_t> bss(24, 0);
  uint64_t where = kValueAddress + 8;
  std::memcpy(bss.data() + 16, &where, 8);
  out.push_back(input("datasec", 0, prog.bss, prog.bytes, bss));
  // Split BTF over the mini vmlinux: a struct holding a vmlinux struct.
  auto base = mini_vmlinux();
  struct ::btf* split = btf__new_empty_split(const_cast<struct ::btf*>(base->btf.get()));
  fuzz_check(split != nullptr, "btf__new_empty_split");
  int map_id = btf__find_by_name_kind(split, "bpf_map", BTF_KIND_STRUCT);
  int wrapper = btf__add_struct(split, "wrapper", 72);
  fuzz_check(map_id > 0 && wrapper > 0 && btf__add_field(split, "map", map_id, 0, 0) == 0,
             "building the split seed");
  uint32_t size = 0;
  const auto* raw = static_cast<const uint8_t*>(btf__raw_data(split, &size));
  std::vector<uint8_t> split_blob(raw, raw + size);
  btf__free(split);
  out.push_back(input("split", 1, static_cast<uint32_t>(wrapper), split_blob, std::vector<uint8_t>(72, 0x41)));
  return out;
}

void run(std::span<const uint8_t> data) {
  if (data.size() < kHeader) return;
  uint8_t flags = data[0];
  uint32_t type = 0;
  uint16_t blob_len = 0;
  std::memcpy(&type, data.data() + 1, 4);
  std::memcpy(&blob_len, data.data() + 5, 2);
  auto rest = data.subspan(kHeader);
  auto blob = rest.first(std::min<std::size_t>(blob_len, rest.size()));
  auto value = rest.subspan(blob.size());
  auto loaded = (flags & 1) != 0 ? btf::Btf::split_bytes(blob, mini_vmlinux()->btf, "fuzz blob")
                                 : btf::Btf::from_bytes(blob, "fuzz blob");
  if (!loaded) {
    fuzz_check(!loaded.error().message.empty(), "a refused blob says why");
    return;
  }
  const btf::Btf& b = *loaded;
  uint32_t count = b.type_count();
  for (uint32_t id = 0; id < count && id < kMaxTypesVisited; ++id) {
    std::string name = b.type_name(id);
    (void)btf::type_size(b.get(), id);
    // A name of digits only is taken as an id (btf/btf.h), so it may miss.
    bool digits = name.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) fuzz_check(b.find_type(name).ok(), "a type's name finds a type");
  }
  fuzz_check(!b.find_type(std::to_string(count)).ok(), "an id past the last type is refused");
  ValueMemory memory(value);
  btf::RenderOptions options;
  options.reader = &memory;
  RenderedValue rendered = btf::render(b, type, value, options);
  check_json_round_trip(rendered);
  if (uint32_t cpus = (flags >> 1) & 7; cpus != 0) {
    auto per_cpu = btf::render_percpu(b.get(), type, value, cpus, options);
    fuzz_check(per_cpu.size() == cpus, "one value per CPU");
    for (const auto& v : per_cpu) check_json_round_trip(v);
  }
}

}  // namespace
}  // namespace ktest::fuzz

KTEST_FUZZ_TARGET(btf, ktest::fuzz::btf_seeds) { ktest::fuzz::run(data); }
