// WatchSnapshot on BPF globals over a synthetic guest: the global-section
// maps' DATASECs give each variable's address; `var` and `obj.var` resolve,
// kernel symbols keep their precedence, and every refusal says why and how
// to fix it. With a fetched kernel (KTEST_KERNEL_DIR) the struct offsets
// come from its vmlinux BTF and the maps' BTF is split over it (the path a
// struct btf with a base takes); the small_layout() case, run always, has
// standalone BTF as libbpf loads it.
#include <doctest/doctest.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <tuple>

#include "freeze/bpf_globals.h"
#include "freeze/coordinator.h"
#include "freeze/vmlinux.h"
#include "freeze/tests/fake_machine.h"
#include "freeze/tests/synthetic_guest.h"

namespace ktest::freeze {
namespace {

using namespace testing;

// Guest-physical places (the direct map is kPob + gpa).
constexpr uint64_t kIdrNode = 0x3000;
constexpr uint64_t kBtfA = 0x6000, kBtfB = 0x6800, kBtfEvil = 0x7000;
constexpr uint64_t kBlobA = 0x40000, kBlobB = 0x48000, kBlobEvil = 0x50000;
constexpr uint64_t kBssA = 0x10000, kDataA = 0x14000, kCustomA = 0x18000, kBssB = 0x1c000,
                   kEvil = 0x20000, kStats = 0x24000;

std::string kernel_dir() { return KTEST_KERNEL_DIR; }

// The fetched kernel's vmlinux BTF, or nullopt (then small_layout());
// parsed once (copies share the handle).
std::optional<btf::Btf> real_vmlinux() {
  static const std::optional<btf::Btf> loaded = []() -> std::optional<btf::Btf> {
    std::string path = kernel_dir() + "/vmlinux";
    if (kernel_dir().empty() || !std::filesystem::exists(path)) return std::nullopt;
    auto btf = btf::Btf::from_elf(path);
    REQUIRE(btf);
    return std::move(*btf);
  }();
  return loaded;
}

// A BPF object's BTF as the guest kernel holds it: two ints, then whatever
// `build` adds (given the ids of "int" and "u64").
template <typename Build>
std::vector<uint8_t> object_blob(const std::optional<btf::Btf>& base, Build build) {
  struct ::btf* raw = base ? btf__new_empty_split(const_cast<struct ::btf*>(base->get()))
                           : btf__new_empty();
  REQUIRE(raw);
  int i32 = btf__add_int(raw, "int", 4, BTF_INT_SIGNED);
  int u64 = btf__add_int(raw, "unsigned long long", 8, 0);
  REQUIRE(i32 > 0);
  REQUIRE(u64 > 0);
  build(raw, i32, u64);
  uint32_t size = 0;
  const auto* data = static_cast<const uint8_t*>(btf__raw_data(raw, &size));
  REQUIRE(data);
  std::vector<uint8_t> out(data, data + size);
  btf__free(raw);
  return out;
}

struct Var {
  const char* name;
  int type;
  uint32_t offset, size;
};
// A DATASEC named `section` holding `vars`; returns its id.
int add_section(struct ::btf* b, const char* section, uint32_t size, std::initializer_list<Var> vars) {
  std::vector<int> ids;
  for (const auto& v : vars) {
    int id = btf__add_var(b, v.name, BTF_VAR_GLOBAL_ALLOCATED, v.type);
    REQUIRE(id > 0);
    ids.push_back(id);
  }
  int sec = btf__add_datasec(b, section, size);
  REQUIRE(sec > 0);
  std::size_t i = 0;
  for (const auto& v : vars) REQUIRE(btf__add_datasec_var_info(b, ids[i++], v.offset, v.size) == 0);
  return sec;
}

struct GlobalsGuest {
  std::optional<btf::Btf> real;
  Ram ram;
  KernelLayout layout;
  std::optional<btf::Btf> vmlinux;
  kvm::control::SymbolTable symbols = guest_symbols(
      ram,
      "ffffffff80002000 d map_idr\nffffffff80005000 D jiffies\nffffffff80005008 D shared_name\n"
      "ffffffff8000500c d foo.isra.0\nffffffff80005010 D nr_enqueued_total\n");
  // DATASEC ids in each object's BTF.
  std::map<std::string, int> sections;

  // `use_real`: the fetched kernel's layout and split BTF when there is one.
  explicit GlobalsGuest(bool use_real = true) {
    if (use_real) real = real_vmlinux();
    if (real) {
      auto l = KernelLayout::from_btf(*real);
      REQUIRE(l);
      layout = *l;
      vmlinux = *real;
    } else {
      layout = small_layout();
      layout.xarray.slot_count = 8;  // one node holds all six maps
      vmlinux = *btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty vmlinux");
    }
    // Object "ktest_sc": .bss, .data and a custom .data.knobs section.
    auto a = object_blob(real, [&](struct ::btf* b, int i32, int u64) {
      sections["ktest_sc.bss"] = add_section(b, ".bss", 32,
                                             {{"nr_enqueued", u64, 0, 8},
                                              {"nr_dispatched", u64, 8, 8},
                                              {"flag", i32, 16, 4},
                                              {"shifted", u64, 20, 8},
                                              {"shared_name", i32, 28, 4}});
      sections["ktest_sc.data"] = add_section(b, ".data", 8, {{"slice_ns", u64, 0, 8}});
      sections[".data.knobs"] = add_section(b, ".data.knobs", 4, {{"knob", i32, 0, 4}});
    });
    // Object "other": its own nr_enqueued.
    auto bo = object_blob(real, [&](struct ::btf* b, int i32, int u64) {
      sections["other.bss"] = add_section(b, ".bss", 16, {{"nr_enqueued", u64, 0, 8}, {"other_only", i32, 8, 4}});
    });
    // Object "evil": a variable far past its 16-byte value.
    auto evil = object_blob(real, [&](struct ::btf* b, int, int u64) {
      sections["evil.bss"] = add_section(b, ".bss", 16, {{"sneaky", u64, 4096, 8}});
    });
    put_btf_at(kBtfA, kBlobA, a);
    put_btf_at(kBtfB, kBlobB, bo);
    put_btf_at(kBtfEvil, kBlobEvil, evil);
    put_array(kBssA, "ktest_sc.bss", 32, kBtfA, sections["ktest_sc.bss"]);
    put_array(kDataA, "ktest_sc.data", 8, kBtfA, sections["ktest_sc.data"]);
    put_array(kCustomA, ".data.knobs", 4, kBtfA, sections[".data.knobs"]);
    put_array(kBssB, "other.bss", 16, kBtfB, sections["other.bss"]);
    put_array(kEvil, "evil.bss", 16, kBtfEvil, sections["evil.bss"]);
    // Not a global section: never read, so its bogus BTF pointer is harmless.
    put_array(kStats, "stats", 8, 0x4000, 1);
    std::vector<uint64_t> maps = {kBssA, kDataA, kCustomA, kBssB, kEvil, kStats};
    REQUIRE(maps.size() <= layout.xarray.slot_count);
    ram.put64(0x2000 + layout.idr_xarray + layout.xarray.head, (kPob + kIdrNode) | 2);
    ram.bytes[kIdrNode + layout.xarray.node_shift] = 0;
    for (std::size_t i = 0; i < maps.size(); ++i) {
      ram.put64(kIdrNode + layout.xarray.node_slots + 8 * i, kPob + maps[i]);
    }
  }

  void put_btf_at(uint64_t gpa, uint64_t blob_gpa, const std::vector<uint8_t>& blob) {
    ram.put64(gpa + layout.btf_data, kPob + blob_gpa);
    ram.put32(gpa + layout.btf_data_size, static_cast<uint32_t>(blob.size()));
    // Split BTF has a base (its kva is not read, only whether it is set).
    ram.put64(gpa + layout.btf_base, real ? kPob + 0x5000 : 0);
    std::memcpy(ram.bytes.data() + blob_gpa, blob.data(), blob.size());
  }

  void put_array(uint64_t gpa, const char* name, uint32_t value_size, uint64_t btf_gpa, int value_type) {
    std::strncpy(reinterpret_cast<char*>(ram.bytes.data() + gpa + layout.map_name), name, 15);
    ram.put32(gpa + layout.map_type, kMapTypeArray);
    ram.put32(gpa + layout.map_key_size, 4);
    ram.put32(gpa + layout.map_value_size, value_size);
    ram.put32(gpa + layout.map_max_entries, 1);
    ram.put64(gpa + layout.map_btf, kPob + btf_gpa);
    ram.put32(gpa + layout.map_btf_key_type, 1);
    ram.put32(gpa + layout.map_btf_value_type, static_cast<uint32_t>(value_type));
  }

  uint64_t value_kva(uint64_t map_gpa) const { return kPob + map_gpa + layout.array_value; }

  // What the session hands BpfGlobalResolver (no ScxLayout: not needed).
  std::shared_ptr<const Vmlinux> shared_vmlinux() const {
    return std::make_shared<const Vmlinux>(Vmlinux{*vmlinux, layout, std::nullopt, "not needed here"});
  }

  Result<BpfGlobals> collect() {
    auto kernel = GuestKernel::open(ram, symbols, 0, 0);
    REQUIRE(kernel);
    return collect_bpf_globals(**kernel, layout, *vmlinux);
  }

  // resolve_watch_symbol reading the globals from this guest; counts reads.
  int reads = 0;
  Result<WatchTarget> resolve(std::string_view symbol, uint32_t len = 8) {
    return resolve_watch_symbol(symbol, len, symbols, [&] {
      ++reads;
      return collect();
    });
  }
};

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

const BpfGlobal* find(const BpfGlobals& g, std::string_view qualified) {
  for (const auto& v : g.vars) {
    if (v.qualified() == qualified) return &v;
  }
  return nullptr;
}

// What both layouts must list: 9 variables with their addresses; the
// hostile map refused whole; the non-section map never read.
void check_collected(GlobalsGuest& guest) {
  auto globals = guest.collect();
  REQUIRE(globals);
  CHECK(globals->vars.size() == 9);
  const BpfGlobal* nr = find(*globals, "ktest_sc.nr_dispatched");
  REQUIRE(nr);
  CHECK(nr->map == "ktest_sc.bss");
  CHECK(nr->map_kva == kPob + kBssA);
  CHECK(nr->offset == 8);
  CHECK(nr->size == 8);
  CHECK(nr->address == guest.value_kva(kBssA) + 8);
  const BpfGlobal* slice = find(*globals, "ktest_sc.slice_ns");
  REQUIRE(slice);
  CHECK(slice->address == guest.value_kva(kDataA));
  // An unprefixed custom-section map takes its object from a sibling map.
  const BpfGlobal* knob = find(*globals, "ktest_sc.knob");
  REQUIRE(knob);
  CHECK(knob->map == ".data.knobs");
  CHECK(find(*globals, "other.nr_enqueued"));
  CHECK_FALSE(find(*globals, "evil.sneaky"));
  REQUIRE(globals->problems.size() == 1);
  CHECK(contains(globals->problems[0], "evil.bss"));
  CHECK(contains(globals->problems[0], "'sneaky' at offset 4096 (8 bytes) lies past the map's 16-byte value"));
}

TEST_CASE("collect_bpf_globals: with a small synthetic layout and unsplit BTF") {
  GlobalsGuest guest(false);
  check_collected(guest);
}

TEST_CASE("collect_bpf_globals: variables of every global-section map, with their addresses") {
  GlobalsGuest guest;
  if (!guest.real) MESSAGE("no fetched kernel: small_layout() again (configure -Dkernel_dir=DIR)");
  check_collected(guest);

  SUBCASE("a value type that is not a DATASEC is refused") {
    guest.ram.put32(kBssB + guest.layout.map_btf_value_type, 1);  // "int"
    auto again = guest.collect();
    REQUIRE(again);
    CHECK_FALSE(find(*again, "other.nr_enqueued"));
    REQUIRE(again->problems.size() == 2);
    CHECK(contains(again->problems[0], "is not a DATASEC"));
  }
  SUBCASE("a value type id past the BTF is refused") {
    guest.ram.put32(kBssB + guest.layout.map_btf_value_type, 100000000);
    auto again = guest.collect();
    REQUIRE(again);
    CHECK(contains(again->problems[0], "is not in the map's BTF"));
  }
  SUBCASE("unreadable BTF is that map's problem only") {
    guest.ram.put32(kBtfB + guest.layout.btf_data_size, 0xffffffffU);
    auto again = guest.collect();
    REQUIRE(again);
    CHECK(find(*again, "ktest_sc.nr_enqueued"));
    CHECK(contains(again->problems[0], "other.bss"));
    CHECK(contains(again->problems[0], "implausible"));
  }
  SUBCASE("without map_idr nothing can be collected") {
    guest.symbols = *kvm::control::SymbolTable::parse(
        "ffffffff81000000 T _text\nffffffff80001000 D phys_base\nffffffff80001008 D page_offset_base\n");
    CHECK_FALSE(guest.collect());
  }
}

TEST_CASE("collect_bpf_globals: kMaxBpfGlobals variables are listed; a map past them is left out, and said") {
  // Object "big": .bss holds kMaxBpfGlobals - 1 one-byte variables (a
  // DATASEC's vlen is 16 bits), .data one more, .rodata one past the cap.
  constexpr uint32_t kBssVars = kMaxBpfGlobals - 1;
  int bss = 0, data = 0, rodata = 0;
  auto blob = btf_blob([&](struct ::btf* b) {
    int chr = btf__add_int(b, "char", 1, BTF_INT_CHAR);
    REQUIRE(chr > 0);
    std::vector<int> vars;
    for (uint32_t i = 0; i < kBssVars; ++i) {
      vars.push_back(btf__add_var(b, ("v" + std::to_string(i)).c_str(), BTF_VAR_GLOBAL_ALLOCATED, chr));
    }
    bss = btf__add_datasec(b, ".bss", kBssVars);
    REQUIRE(bss > 0);
    for (uint32_t i = 0; i < kBssVars; ++i) REQUIRE(btf__add_datasec_var_info(b, vars[i], i, 1) == 0);
    const std::tuple<const char*, const char*, int*> one_var_sections[] = {{".data", "last", &data},
                                                                           {".rodata", "one_more", &rodata}};
    for (auto [section, name, id] : one_var_sections) {
      int var = btf__add_var(b, name, BTF_VAR_GLOBAL_ALLOCATED, chr);
      *id = btf__add_datasec(b, section, 1);
      REQUIRE(*id > 0);
      REQUIRE(btf__add_datasec_var_info(b, var, 0, 1) == 0);
    }
  });
  constexpr uint64_t kBss = 0x10000, kData = 0x11000, kRodata = 0x12000, kBtf = 0x13000, kBlob = 0x100000;
  Ram ram(4 << 20);
  auto symbols = guest_symbols(ram, "ffffffff80002000 d map_idr\n");
  REQUIRE(blob.size() < ram.bytes.size() - kBlob);
  put_btf(ram, kBtf, kBlob, blob);
  put_map(ram, kBss, "big.bss", kMapTypeArray, 4, kBssVars, 1, kPob + kBtf);
  ram.put32(kBss + 44, static_cast<uint32_t>(bss));
  put_map(ram, kData, "big.data", kMapTypeArray, 4, 1, 1, kPob + kBtf);
  ram.put32(kData + 44, static_cast<uint32_t>(data));
  put_map(ram, kRodata, "big.rodata", kMapTypeArray, 4, 1, 1, kPob + kBtf);
  ram.put32(kRodata + 44, static_cast<uint32_t>(rodata));
  KernelLayout layout = small_layout();
  auto vmlinux = btf::Btf::from_bytes(btf_blob([](struct ::btf*) {}), "empty vmlinux");
  REQUIRE(vmlinux);
  auto kernel = GuestKernel::open(ram, symbols, 0, 0);
  REQUIRE(kernel);
  // map_idr: a node holding big.bss and big.data.
  ram.put64(0x2008, (kPob + 0x3000) | 2);
  ram.put64(0x3008, kPob + kBss);
  ram.put64(0x3010, kPob + kData);

  auto at_limit = collect_bpf_globals(**kernel, layout, *vmlinux);
  REQUIRE(at_limit);
  CHECK(at_limit->problems.empty());
  REQUIRE(at_limit->vars.size() == kMaxBpfGlobals);
  CHECK(at_limit->vars[kBssVars - 1].qualified() == "big.v" + std::to_string(kBssVars - 1));
  CHECK(at_limit->vars[kBssVars - 1].address == kPob + kBss + layout.array_value + kBssVars - 1);
  CHECK(at_limit->vars.back().qualified() == "big.last");

  ram.put64(0x3018, kPob + kRodata);  // and big.rodata
  auto past = collect_bpf_globals(**kernel, layout, *vmlinux);
  REQUIRE(past);
  CHECK(past->vars.size() == kMaxBpfGlobals);  // the first maps' are kept
  CHECK(past->vars.back().qualified() == "big.last");
  REQUIRE(past->problems.size() == 1);
  CHECK(past->problems[0] == fmt::format("map big.rodata at {:#x}: more than 65536 BPF globals in all; "
                                         "this map's are not listed",
                                         kPob + kRodata));
}

TEST_CASE("resolve_watch_symbol: var, obj.var, and kernel symbols' precedence") {
  GlobalsGuest guest;
  SUBCASE("a variable only one object has resolves by its plain name") {
    auto t = guest.resolve("nr_dispatched");
    REQUIRE_MESSAGE(t, t.error().to_string());
    CHECK(t->address == guest.value_kva(kBssA) + 8);
    REQUIRE(t->global);
    CHECK(t->global->qualified() == "ktest_sc.nr_dispatched");
    CHECK(t->description == "BPF global ktest_sc.nr_dispatched (ktest_sc.bss+0x8, 8 bytes)");
  }
  SUBCASE("obj.var picks one of two objects' variables") {
    auto a = guest.resolve("ktest_sc.nr_enqueued");
    REQUIRE(a);
    CHECK(a->address == guest.value_kva(kBssA));
    auto b = guest.resolve("other.nr_enqueued", 4);
    REQUIRE(b);
    CHECK(b->address == guest.value_kva(kBssB));
  }
  SUBCASE("a custom section's variable by obj.var") {
    auto t = guest.resolve("ktest_sc.knob", 4);
    REQUIRE(t);
    CHECK(t->address == guest.value_kva(kCustomA));
  }
  SUBCASE("an undotted kallsyms name is the kernel's, without reading BPF maps") {
    auto t = guest.resolve("shared_name", 4);  // also a ktest_sc global
    REQUIRE(t);
    CHECK(t->address == 0xffffffff80005008ULL);
    CHECK_FALSE(t->global);
    CHECK(t->description == "kernel symbol shared_name");
    CHECK(guest.reads == 0);
    CHECK(guest.resolve("jiffies"));
    CHECK(guest.reads == 0);
  }
  SUBCASE("obj.var reaches a global a kernel symbol shadows") {
    auto t = guest.resolve("ktest_sc.shared_name", 4);
    REQUIRE(t);
    CHECK(t->address == guest.value_kva(kBssA) + 28);
  }
  SUBCASE("a dotted kernel name not among the BPF globals is the kernel's") {
    auto t = guest.resolve("foo.isra.0", 4);
    REQUIRE(t);
    CHECK(t->address == 0xffffffff8000500cULL);
    CHECK(guest.reads == 1);
  }
  SUBCASE("a dotted kernel name also resolves when the BPF maps cannot be read") {
    auto t = resolve_watch_symbol("foo.isra.0", 4, guest.symbols,
                                  []() -> Result<BpfGlobals> { return fail("no map_idr"); });
    REQUIRE(t);
    CHECK(t->address == 0xffffffff8000500cULL);
  }
  SUBCASE("without a globals source only kallsyms resolve") {
    CHECK(resolve_watch_symbol("jiffies", 8, guest.symbols, {}));
    auto t = resolve_watch_symbol("nr_dispatched", 8, guest.symbols, {});
    REQUIRE_FALSE(t);
    CHECK(contains(t.error().to_string(), "not looked up in this run"));
  }
}

TEST_CASE("resolve_watch_symbol: each refusal says what, why and how to fix it") {
  GlobalsGuest guest;
  SUBCASE("ambiguous: the obj.var candidates are listed") {
    auto t = guest.resolve("nr_enqueued");
    REQUIRE_FALSE(t);
    CHECK(t.error().message ==
          "symbol 'nr_enqueued' is ambiguous: 2 loaded BPF objects have a global of that name: "
          "ktest_sc.nr_enqueued, other.nr_enqueued");
    CHECK(t.error().hint == "name the object as obj.var, e.g. symbol: ktest_sc.nr_enqueued");
  }
  SUBCASE("the same object loaded twice cannot be told apart by obj.var") {
    std::strncpy(reinterpret_cast<char*>(guest.ram.bytes.data() + kBssB + guest.layout.map_name),
                 "ktest_sc.bss", 15);
    guest.ram.put64(kBssB + guest.layout.map_btf, kPob + kBtfA);
    guest.ram.put32(kBssB + guest.layout.map_btf_value_type,
                    static_cast<uint32_t>(guest.sections["ktest_sc.bss"]));
    guest.ram.put32(kBssB + guest.layout.map_value_size, 32);
    auto t = guest.resolve("ktest_sc.nr_dispatched");
    REQUIRE_FALSE(t);
    CHECK(contains(t.error().message, "objects ktest cannot tell apart"));
    CHECK(contains(t.error().message, fmt::format("map ktest_sc.bss at {:#x}", kPob + kBssB)));
    CHECK(contains(t.error().hint, "loaded more than once"));
  }
  SUBCASE("unknown: not in kallsyms either, with the nearest BPF global") {
    auto t = guest.resolve("nr_dispatchd");
    REQUIRE_FALSE(t);
    CHECK(t.error().message ==
          "symbol 'nr_dispatchd' is neither in the guest's /proc/kallsyms nor a global variable of a "
          "loaded BPF object (1 BPF map(s) could not be read: " + guest.collect()->problems[0] + ")");
    CHECK(contains(t.error().hint, "did you mean 'nr_dispatched'?"));
    auto dotted = guest.resolve("ktest_sc.nr_dispatchd");
    REQUIRE_FALSE(dotted);
    CHECK(contains(dotted.error().hint, "did you mean 'ktest_sc.nr_dispatched'?"));
    auto far = guest.resolve("completely_different");
    REQUIRE_FALSE(far);
    CHECK_FALSE(contains(far.error().hint, "did you mean"));
    CHECK(contains(far.error().hint, "`obj.var`"));
  }
  SUBCASE("the hostile DATASEC's variable is not watchable; the problem is named") {
    auto t = guest.resolve("evil.sneaky");
    REQUIRE_FALSE(t);
    CHECK(contains(t.error().message, "lies past the map's 16-byte value"));
  }
  SUBCASE("unknown with no BPF globals at all: load the object first") {
    guest.ram.put64(0x2000 + guest.layout.idr_xarray + guest.layout.xarray.head, 0);
    auto t = guest.resolve("nr_dispatched");
    REQUIRE_FALSE(t);
    CHECK(contains(t.error().hint, "must come after the step that loads the object"));
  }
  SUBCASE("the BPF maps cannot be read: said, with the cause") {
    auto t = resolve_watch_symbol("nr_dispatched", 8, guest.symbols,
                                  []() -> Result<BpfGlobals> { return fail("vCPUs did not stop"); });
    REQUIRE_FALSE(t);
    CHECK(contains(t.error().message, "could not be read: vCPUs did not stop"));
  }
  SUBCASE("len larger than the variable: its size and offset, and the len that fits") {
    auto t = guest.resolve("ktest_sc.flag", 8);
    REQUIRE_FALSE(t);
    CHECK(t.error().message ==
          "a 8-byte watch does not fit BPF global 'ktest_sc.flag': it is 4 bytes (at offset 16 of "
          "ktest_sc.bss)");
    CHECK(t.error().hint == "use len: 4");
    CHECK(guest.resolve("ktest_sc.flag", 4));
    CHECK(guest.resolve("ktest_sc.flag", 2));
  }
  SUBCASE("an unaligned variable: its offset, and the len that is aligned") {
    auto t = guest.resolve("shifted", 8);
    REQUIRE_FALSE(t);
    CHECK(t.error().message ==
          "BPF global 'ktest_sc.shifted' (8 bytes at offset 20 of ktest_sc.bss) is not 8-byte aligned, "
          "so a 8-byte watch cannot start there (x86 watches only naturally aligned ranges)");
    CHECK(t.error().hint == "use len: 4");
    CHECK(guest.resolve("shifted", 4));
  }
  SUBCASE("len other than 1, 2, 4, 8 is refused before anything is read") {
    auto t = guest.resolve("jiffies", 3);
    REQUIRE_FALSE(t);
    CHECK(t.error().message == "watch len 3 is not 1, 2, 4 or 8");
    CHECK(guest.reads == 0);
  }
  SUBCASE("an unaligned kernel symbol") {
    auto t = guest.resolve("foo.isra.0", 8);
    REQUIRE_FALSE(t);
    CHECK(contains(t.error().message, "kernel symbol 'foo.isra.0' at 0xffffffff8000500c is not 8-byte aligned"));
    CHECK(t.error().hint == "use len: 4");
  }
}

TEST_CASE("BpfGlobalResolver: without a Vmlinux the globals fail with the reason given, unpaused") {
  GlobalsGuest guest;
  FakeMachine machine(guest.ram);
  BpfGlobalResolver resolver(nullptr, kNoVmlinuxBtf);
  auto globals = resolver.collect(machine, guest.symbols);
  REQUIRE_FALSE(globals);
  CHECK(globals.error().message == "no vmlinux BTF for the guest kernel");
  auto t = resolver.resolve(machine, "nr_dispatched", 8, guest.symbols);
  REQUIRE_FALSE(t);
  CHECK(contains(t.error().message, "the BPF global variables could not be read: no vmlinux BTF for "
                                    "the guest kernel"));
  auto kernel = resolver.resolve(machine, "jiffies", 8, guest.symbols);
  REQUIRE(kernel);
  CHECK(kernel->description == "kernel symbol jiffies");
  CHECK(machine.pauses == 0);
}

TEST_CASE("FreezeCoordinator: RegisterWatch on BPF globals pauses to resolve, replies with the error") {
  GlobalsGuest guest;
  FakeMachine machine(guest.ram);
  SnapshotBridge bridge{64};
  FreezeCoordinator coordinator(machine, bridge, {});
  coordinator.set_symbols(std::make_shared<kvm::control::SymbolTable>(guest.symbols));
  auto watch = [&](const std::string& symbol, int len) {
    nlohmann::json request = {{"name", "w"}, {"symbol", symbol}, {"access", "w"}, {"len", len}};
    std::string text = request.dump();
    kvm::DoorbellEvent bell{1, static_cast<uint32_t>(doorbell::RequestKind::RegisterWatch),
                            std::vector<uint8_t>(text.begin(), text.end())};
    REQUIRE(coordinator.on_doorbell(bell));
  };

  SUBCASE("without a resolver: kernel symbols only, as before") {
    watch("jiffies", 8);
    CHECK(machine.last_status == doorbell::ReplyStatus::Ok);
    CHECK(machine.last_reply == "jiffies at 0xffffffff80005000");
    watch("nr_dispatched", 8);
    CHECK(machine.last_status == doorbell::ReplyStatus::Error);
    CHECK(contains(machine.last_reply, "not looked up in this run"));
    CHECK(machine.pauses == 0);
  }
  coordinator.set_bpf_globals(std::make_unique<BpfGlobalResolver>(guest.shared_vmlinux(), ""));
  SUBCASE("obj.var is armed at the variable, read with the guest paused and resumed after") {
    watch("ktest_sc.nr_enqueued", 8);
    CHECK(machine.last_status == doorbell::ReplyStatus::Ok);
    CHECK(machine.last_reply ==
          fmt::format("ktest_sc.nr_enqueued at {:#x}: BPF global ktest_sc.nr_enqueued "
                      "(ktest_sc.bss+0x0, 8 bytes)",
                      guest.value_kva(kBssA)));
    REQUIRE(machine.armed.size() == 1);
    CHECK(machine.armed[0].gva == guest.value_kva(kBssA));
    CHECK(machine.armed[0].len == 8);
    CHECK(machine.pauses == 1);
    CHECK(machine.resumes == 1);
    CHECK_FALSE(machine.paused);
  }
  SUBCASE("kernel symbols still win without pausing") {
    watch("jiffies", 8);
    CHECK(machine.last_status == doorbell::ReplyStatus::Ok);
    CHECK(machine.pauses == 0);
  }
  SUBCASE("a resolution error is the reply, and the guest runs on") {
    watch("nr_enqueued", 8);
    CHECK(machine.last_status == doorbell::ReplyStatus::Error);
    CHECK(contains(machine.last_reply, "ambiguous"));
    CHECK(contains(machine.last_reply, "ktest_sc.nr_enqueued, other.nr_enqueued"));
    CHECK(machine.armed.empty());
    CHECK_FALSE(machine.paused);
  }
  SUBCASE("no free slot: the engine's refusal with how many there are") {
    machine.slots = 1;
    watch("ktest_sc.nr_enqueued", 8);
    watch("nr_dispatched", 8);
    CHECK(machine.last_status == doorbell::ReplyStatus::Error);
    CHECK(contains(machine.last_reply, "cannot arm the watchpoint on BPF global ktest_sc.nr_dispatched"));
    CHECK(contains(machine.last_reply, "gdbstub refused"));
    CHECK(contains(machine.last_reply, "1 WatchSnapshot watchpoint(s) are armed now"));
    CHECK(contains(machine.last_reply, "under KVM has 4 in all (the x86 debug registers), under TCG"));
  }
  SUBCASE("an absurd len from the guest is refused") {
    watch("jiffies", 3);
    CHECK(machine.last_status == doorbell::ReplyStatus::Error);
    CHECK(contains(machine.last_reply, "watch len 3 is not 1, 2, 4 or 8"));
  }
}

}  // namespace
}  // namespace ktest::freeze
