// The capture-vs-bpftool comparison must see every kind of disagreement;
// otherwise the end-to-end oracle test could pass without checking.
#include <doctest/doctest.h>

#include "tests/maps_oracle/capture_oracle.h"

namespace ktest::oracle_test {
namespace {

RenderedValue u32_value(uint32_t v) {
  RenderedValue r;
  r.kind = ValueKind::Uint;
  r.bits = 32;
  r.uint_value = v;
  return r;
}

MapDump hash_map(uint32_t value) {
  MapDump m;
  m.name = "h";
  m.map_type = kMapTypeHash;
  m.max_entries = 4;
  m.entries.push_back({u32_value(1), "01 00 00 00", u32_value(value),
                       hex_bytes(reinterpret_cast<const uint8_t*>(&value), 4), std::nullopt});
  return m;
}

std::vector<BpftoolDump> listing(const std::string& text) {
  auto dumps = parse_dump_listing(text);
  REQUIRE_MESSAGE(dumps.ok(), (dumps.ok() ? "" : dumps.error().to_string()));
  return *dumps;
}

const char* kHashDump =
    "h\t[{\"key\":[\"0x01\",\"0x00\",\"0x00\",\"0x00\"],\"value\":[\"0x05\",\"0x00\",\"0x00\",\"0x00\"],"
    "\"formatted\":{\"key\":1,\"value\":5}}]\n";

TEST_CASE("a capture that matches bpftool has no mismatch and counts the entry") {
  Report report;
  report.maps.push_back(hash_map(5));
  auto result = compare_capture(report, listing(kHashDump));
  CHECK(result.mismatches.empty());
  CHECK(result.compared[kMapTypeHash] == 1);
}

TEST_CASE("a different value is caught in the bytes and in the rendering") {
  Report report;
  report.maps.push_back(hash_map(6));
  auto result = compare_capture(report, listing(kHashDump));
  REQUIRE(result.mismatches.size() == 2);
  CHECK(result.mismatches[0].find("value bytes 06 00 00 00 vs bpftool 05 00 00 00") != std::string::npos);
  CHECK(result.compared[kMapTypeHash] == 0);
}

TEST_CASE("entries or maps missing on either side are mismatches") {
  Report report;
  report.maps.push_back(hash_map(5));
  auto extra = listing(
      "h\t[{\"key\":[\"0x01\",\"0x00\",\"0x00\",\"0x00\"],\"value\":[\"0x05\",\"0x00\",\"0x00\",\"0x00\"],"
      "\"formatted\":{\"key\":1,\"value\":5}},"
      "{\"key\":[\"0x02\",\"0x00\",\"0x00\",\"0x00\"],\"value\":[\"0x05\",\"0x00\",\"0x00\",\"0x00\"],"
      "\"formatted\":{\"key\":2,\"value\":5}}]\n"
      "gone\t[]\n");
  auto result = compare_capture(report, extra);
  REQUIRE(result.mismatches.size() == 3);
  CHECK(result.mismatches[0] == "h: 1 entries captured, bpftool dumped 2");
  CHECK(result.mismatches[1] == "h: h[02 00 00 00]: bpftool has this key, the capture does not");
  CHECK(result.mismatches[2] == "gone: bpftool dumped it, the capture does not list it");
}

TEST_CASE("a map the capture could not read is a mismatch") {
  Report report;
  report.maps.push_back(hash_map(5));
  report.maps[0].error = "bucket 3: pointer 0x4242424242424242 is not mapped";
  auto result = compare_capture(report, listing(kHashDump));
  REQUIRE_FALSE(result.mismatches.empty());
  CHECK(result.mismatches[0].find("the capture has an error") != std::string::npos);
}

TEST_CASE("per-CPU values are compared CPU by CPU") {
  Report report;
  MapDump m;
  m.name = "p";
  m.map_type = kMapTypePercpuHash;
  m.percpu_hash_entries.push_back({u32_value(7), "07 00 00 00", {u32_value(70), u32_value(71)}});
  report.maps.push_back(m);
  const std::string head =
      "p\t[{\"key\":[\"0x07\",\"0x00\",\"0x00\",\"0x00\"],\"values\":[],\"formatted\":{\"key\":7,\"values\":[";
  auto agree = compare_capture(report, listing(head + "{\"cpu\":0,\"value\":70},{\"cpu\":1,\"value\":71}]}}]"));
  CHECK(agree.mismatches.empty());
  CHECK(agree.compared[kMapTypePercpuHash] == 1);
  auto wrong_cpu = compare_capture(report, listing(head + "{\"cpu\":0,\"value\":70},{\"cpu\":1,\"value\":72}]}}]"));
  REQUIRE(wrong_cpu.mismatches.size() == 1);
  CHECK(wrong_cpu.mismatches[0].find("cpu1") != std::string::npos);
  auto more_cpus = compare_capture(
      report, listing(head + "{\"cpu\":0,\"value\":70},{\"cpu\":1,\"value\":71},{\"cpu\":2,\"value\":0}]}}]"));
  REQUIRE(more_cpus.mismatches.size() == 1);
  CHECK(more_cpus.mismatches[0].find("2 CPUs captured, bpftool printed 3") != std::string::npos);
}

TEST_CASE("a one-element array compares the map's value") {
  Report report;
  MapDump m;
  m.name = "one";
  m.map_type = kMapTypeArray;
  m.max_entries = 1;
  m.value = u32_value(9);
  report.maps.push_back(m);
  const std::string dump =
      "one\t[{\"key\":[\"0x00\",\"0x00\",\"0x00\",\"0x00\"],\"value\":[\"0x09\",\"0x00\",\"0x00\",\"0x00\"],"
      "\"formatted\":{\"key\":0,\"value\":";
  CHECK(compare_capture(report, listing(dump + "9}}]")).mismatches.empty());
  CHECK(compare_capture(report, listing(dump + "8}}]")).mismatches.size() == 1);
}

TEST_CASE("a malformed listing line is an error naming the line") {
  auto bad = parse_dump_listing("h\t[{\"key\":\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().to_string().find("line 1 (h)") != std::string::npos);
  CHECK_FALSE(parse_dump_listing("no tab here\n").ok());
}

TEST_CASE("queues and stacks compare their next pop with bpftool's peek") {
  Report report;
  MapDump q;
  q.name = "q";
  q.map_type = kMapTypeQueue;
  uint32_t first = 5, second = 6;
  q.entries.push_back({u32_value(0), "00 00 00 00", u32_value(first),
                       hex_bytes(reinterpret_cast<const uint8_t*>(&first), 4), std::nullopt});
  q.entries.push_back({u32_value(1), "01 00 00 00", u32_value(second),
                       hex_bytes(reinterpret_cast<const uint8_t*>(&second), 4), std::nullopt});
  report.maps.push_back(q);
  const char* peek = "q\t{\"key\":[],\"value\":[\"0x05\",\"0x00\",\"0x00\",\"0x00\"],\"formatted\":{\"value\":5}}\n";
  auto agree = compare_capture(report, listing(peek));
  CHECK(agree.mismatches.empty());
  CHECK(agree.compared[kMapTypeQueue] == 1);
  std::swap(report.maps[0].entries[0], report.maps[0].entries[1]);  // the wrong end
  auto wrong = compare_capture(report, listing(peek));
  REQUIRE_FALSE(wrong.mismatches.empty());
  CHECK(wrong.mismatches[0].find("q[peek]: value bytes 06 00 00 00 vs bpftool 05 00 00 00") != std::string::npos);
}

TEST_CASE("maps of maps compare inner map ids; empty-slot lookup errors are not entries") {
  Report report;
  MapDump m;
  m.name = "aom";
  m.map_type = kMapTypeArrayOfMaps;
  RenderedValue ref = make_struct("bpf_map", {{"id", make_uint(32, 12)}});
  m.entries.push_back({u32_value(2), "02 00 00 00", ref, "0c 00 00 00", std::nullopt});
  report.maps.push_back(m);
  std::string dump =
      "aom\t[{\"key\":[\"0x00\",\"0x00\",\"0x00\",\"0x00\"],\"value\":{\"error\":\"No such file or directory\"}},"
      "{\"key\":[\"0x02\",\"0x00\",\"0x00\",\"0x00\"],\"value\":[\"0x0c\",\"0x00\",\"0x00\",\"0x00\"],"
      "\"inner_map_id\":12}]\n";
  auto agree = compare_capture(report, listing(dump));
  CHECK(agree.mismatches.empty());
  CHECK(agree.compared[kMapTypeArrayOfMaps] == 1);
  report.maps[0].entries[0].value = make_struct("bpf_map", {{"id", make_uint(32, 13)}});
  auto wrong = compare_capture(report, listing(dump));
  REQUIRE(wrong.mismatches.size() == 1);
  CHECK(wrong.mismatches[0].find("inner map id 13 vs bpftool 12") != std::string::npos);
}

RenderedValue char_array(const std::string& text, std::size_t len) {
  std::vector<RenderedValue> chars;
  for (std::size_t i = 0; i < len; ++i) chars.push_back(make_char(i < text.size() ? text[i] : 0));
  RenderedValue a = make_array(len, std::move(chars));
  a.text = text;
  return a;
}

// The capture of a sched_ext struct_ops map as freeze/ renders it: the
// kernel's copy, a set callback as its program, the kernel's own priv and
// its default exit_dump_len.
MapDump struct_ops_map() {
  MapDump m;
  m.name = "ktest_ops";
  m.map_type = kMapTypeStructOps;
  m.max_entries = 1;
  RenderedValue prog = make_struct("bpf_prog", {{"id", make_uint(32, 7)},
                                                {"name", char_array("ktest_select_cp", 15)},
                                                {"kva", make_uint(64, 0xffffc90000123000)}});
  RenderedValue data = make_struct("sched_ext_ops", {{"select_cpu", prog},
                                                     {"dequeue", make_ptr(0)},
                                                     {"timeout_ms", make_uint(32, 20000)},
                                                     {"exit_dump_len", make_uint(32, 32768)},
                                                     {"name", char_array("ktest_sched", 128)},
                                                     {"priv", make_ptr(0xffff888003a1c000)}});
  RenderedValue refcnt = make_struct("refcount_struct", {{"refs", make_struct(std::nullopt, {{"counter", make_int(32, 0)}})}});
  RenderedValue common = make_struct("bpf_struct_ops_common_value",
                                     {{"refcnt", refcnt}, {"state", make_enum(32, 3, "BPF_STRUCT_OPS_STATE_READY", false)}});
  m.value = make_struct("bpf_struct_ops_sched_ext_ops", {{"common", common}, {"data", data}});
  return m;
}

// `bpftool struct_ops dump -j` of that map, as the guest printed it.
const std::string kStructOpsDump =
    "ktest_ops\t[{\"bpf_map_info\":{\"type\":26,\"id\":6,\"name\":\"ktest_ops\"}},"
    "{\"bpf_struct_ops_sched_ext_ops\":{\"common\":{\"refcnt\":{\"refs\":{\"counter\":1}},"
    "\"state\":\"BPF_STRUCT_OPS_STATE_READY\"},\"data\":{"
    "\"select_cpu\":\"s32 (struct task_struct *, s32, u64) ktest_select_cpu/prog_id:7\","
    "\"dequeue\":\"void (struct task_struct *, u64) 0\",\"timeout_ms\":20000,\"exit_dump_len\":0,"
    "\"name\":\"ktest_sched\",\"priv\":0}}}]\n";

std::vector<std::string> struct_ops_mismatches(const std::string& from, const std::string& to) {
  std::string dump = kStructOpsDump;
  auto at = dump.find(from);
  REQUIRE(at != std::string::npos);
  dump.replace(at, from.size(), to);
  Report report;
  report.maps.push_back(struct_ops_map());
  auto result = compare_capture(report, listing(dump));
  CHECK(result.compared[kMapTypeStructOps] == 0);
  return result.mismatches;
}

TEST_CASE("a struct_ops map agrees with bpftool's struct_ops dump") {
  Report report;
  report.maps.push_back(struct_ops_map());
  auto result = compare_capture(report, listing(kStructOpsDump));
  CHECK(result.mismatches.empty());
  CHECK(result.compared[kMapTypeStructOps] == 1);
  CHECK(result.callbacks == 1);
}

TEST_CASE("struct_ops: a callback's program, an ops field or the state that differs is caught") {
  auto id = struct_ops_mismatches("prog_id:7", "prog_id:8");
  REQUIRE(id.size() == 1);
  CHECK(id[0] == "ktest_ops: data.select_cpu: program ktest_select_cp/7 vs bpftool ktest_select_cpu/prog_id:8");
  auto name = struct_ops_mismatches("ktest_select_cpu/", "ktest_enqueue/");
  REQUIRE(name.size() == 1);
  CHECK(name[0].find("data.select_cpu: program ktest_select_cp/7") != std::string::npos);
  auto unset = struct_ops_mismatches("u64) 0", "u64) ktest_dequeue/prog_id:9");
  REQUIRE(unset.size() == 1);
  CHECK(unset[0].find("data.dequeue: bpftool has program ktest_dequeue/prog_id:9, the capture none") !=
        std::string::npos);
  auto gone = struct_ops_mismatches("ktest_select_cpu/prog_id:7", "0");
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].find("data.select_cpu: the capture has a callback, bpftool has none") != std::string::npos);
  auto timeout = struct_ops_mismatches("20000", "3000");
  REQUIRE(timeout.size() == 1);
  CHECK(timeout[0] == "ktest_ops.data.timeout_ms: 0x00000000000004e20 vs 3000");
  auto ops_name = struct_ops_mismatches("\"ktest_sched\"", "\"other\"");
  REQUIRE(ops_name.size() == 1);
  CHECK(ops_name[0].find("data.name") != std::string::npos);
  // exit_dump_len may be 0 on bpftool's side only (the kernel's default).
  auto dump_len = struct_ops_mismatches("\"exit_dump_len\":0", "\"exit_dump_len\":4096");
  REQUIRE(dump_len.size() == 1);
  CHECK(dump_len[0].find("data.exit_dump_len") != std::string::npos);
  auto state = struct_ops_mismatches("STATE_READY", "STATE_TOBEFREE");
  REQUIRE(state.size() == 1);
  CHECK(state[0].find("common.state") != std::string::npos);
  auto type = struct_ops_mismatches("\"type\":26", "\"type\":2");
  REQUIRE(type.size() == 1);
  CHECK(type[0] == "ktest_ops: bpftool's map is not of type 26");
}

}  // namespace
}  // namespace ktest::oracle_test
