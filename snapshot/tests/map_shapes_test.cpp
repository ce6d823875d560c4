// The report shapes of the queue/stack, map-of-maps, struct_ops and
// cgroup-storage readers: JSON round trip (type_name included), the
// accessors assertions use, and the dump text's map header.
#include <doctest/doctest.h>

#include "snapshot/dump.h"
#include "snapshot/snapshot.h"

using namespace ktest;

namespace {

RenderedValue text_array(const std::string& s) {
  std::vector<RenderedValue> chars;
  for (char c : s) chars.push_back(make_char(static_cast<uint8_t>(c)));
  uint64_t len = chars.size();
  RenderedValue v = make_array(len, std::move(chars));
  v.text = s;
  return v;
}

RenderedValue ref(const char* type, uint32_t id, const std::string& name, uint64_t kva) {
  return make_struct(type, {{"id", make_uint(32, id)}, {"name", text_array(name)}, {"kva", make_uint(64, kva)}});
}

MapEntry entry(RenderedValue key, std::string key_hex, RenderedValue value) {
  return MapEntry{std::move(key), std::move(key_hex), std::move(value), "", std::nullopt};
}

Report shapes_report() {
  Report r;
  r.snapshot_name = "shapes";
  MapDump q;
  q.name = "ktest_queue";
  q.map_type = kMapTypeQueue;
  q.type_name = "BPF_MAP_TYPE_QUEUE";
  q.value_size = 8;
  q.max_entries = 8;
  for (uint32_t pos = 0; pos < 3; ++pos) {
    q.entries.push_back(entry(make_uint(32, pos), "", make_struct("flow_key", {{"port", make_uint(16, 9000 + pos)}})));
  }
  r.maps.push_back(q);
  MapDump aom;
  aom.name = "ktest_aom";
  aom.map_type = kMapTypeArrayOfMaps;
  aom.type_name = "BPF_MAP_TYPE_ARRAY_OF_MAPS";
  aom.entries.push_back(entry(make_uint(32, 0), "00 00 00 00", ref("bpf_map", 7, "ktest_inner_b", 0xffff1000)));
  aom.entries.push_back(entry(make_uint(32, 2), "02 00 00 00", ref("bpf_map", 6, "ktest_inner_a", 0xffff2000)));
  r.maps.push_back(aom);
  MapDump ops;
  ops.name = "ktest_ops";
  ops.map_type = kMapTypeStructOps;
  ops.type_name = "BPF_MAP_TYPE_STRUCT_OPS";
  ops.value = make_struct("bpf_struct_ops_sched_ext_ops",
                          {{"data", make_struct("sched_ext_ops", {{"enqueue", ref("bpf_prog", 41, "ktest_enqueue", 0xffff3000)},
                                                                  {"dispatch", make_ptr(0)},
                                                                  {"name", text_array("ktest")},
                                                                  {"timeout_ms", make_uint(32, 3000)}})}});
  r.maps.push_back(ops);
  MapDump cg;
  cg.name = "ktest_cgrp";
  cg.map_type = kMapTypeCgrpStorage;
  cg.type_name = "BPF_MAP_TYPE_CGRP_STORAGE";
  RenderedValue key = ref("cgroup", 0, "/ktest", 0xffff4000);
  key.members[0].value = make_uint(64, 1234);
  key.members[1].name = "path";
  cg.entries.push_back(entry(key, "d2 04 00 00 00 00 00 00", make_struct("stats", {{"packets", make_uint(64, 12727)}})));
  r.maps.push_back(cg);
  MapDump perf;
  perf.name = "events";
  perf.map_type = 4;
  perf.type_name = "BPF_MAP_TYPE_PERF_EVENT_ARRAY";
  perf.error = "BPF_MAP_TYPE_PERF_EVENT_ARRAY is not read: ktest has no reader for this map type";
  r.maps.push_back(perf);
  return r;
}

}  // namespace

TEST_CASE("new map shapes round-trip through the report JSON, type_name included") {
  Report r = shapes_report();
  auto j = report_to_json(r);
  CHECK(j["maps"][0]["type_name"] == "BPF_MAP_TYPE_QUEUE");
  auto back = report_from_json(j);
  REQUIRE_MESSAGE(back.ok(), back.error().to_string());
  CHECK(back->maps[0].type_name == "BPF_MAP_TYPE_QUEUE");
  CHECK(report_to_json(*back) == j);
  CHECK_FALSE(back->maps[0].extra.contains("type_name"));
  Report old;  // reports without type_name (older ktest, ktstr) load with ""
  old.maps.push_back(MapDump{});
  old.maps[0].name = "m";
  auto plain = report_from_json(report_to_json(old));
  REQUIRE(plain.ok());
  CHECK(plain->maps[0].type_name.empty());
}

TEST_CASE("assertions reach queue order, inner-map links, struct_ops callbacks and cgroup keys") {
  Snapshot s(shapes_report());
  auto q = s.map("ktest_queue");
  REQUIRE(q.ok());
  CHECK(q->size() == 3);
  CHECK(q->at(0)->get("port").as_u64().value() == 9000);  // pop order: the oldest first
  CHECK(q->at(2)->key().as_u64().value() == 2);
  auto found = q->find([](const SnapshotEntry& e) -> Result<bool> {
    KTEST_ASSIGN(uint64_t port, e.get("port").as_u64());
    return port == 9001;
  });
  REQUIRE(found.ok());
  CHECK(found->index() == 1);

  auto aom = s.map("ktest_aom");
  REQUIRE(aom.ok());
  CHECK(aom->at(1)->get("name").as_str().value() == "ktest_inner_a");
  CHECK(aom->at(1)->key().as_u64().value() == 2);
  // The link is navigable: the inner map is a map of the same snapshot by that name.
  CHECK(aom->at(0)->get("id").as_u64().value() == 7);

  auto ops = s.map("ktest_ops");
  REQUIRE(ops.ok());
  CHECK(ops->get("data.name").as_str().value() == "ktest");
  CHECK(ops->get("data.timeout_ms").as_u64().value() == 3000);
  CHECK(ops->get("data.enqueue.name").as_str().value() == "ktest_enqueue");
  CHECK(ops->get("data.enqueue.id").as_u64().value() == 41);
  CHECK(ops->get("data.dispatch").as_u64().value() == 0);  // unset callback: a null pointer

  auto cg = s.map("ktest_cgrp");
  REQUIRE(cg.ok());
  CHECK(cg->at(0)->key().get("path").as_str().value() == "/ktest");
  CHECK(cg->at(0)->key().get("id").as_u64().value() == 1234);
  CHECK(cg->at(0)->get("packets").as_u64().value() == 12727);

  auto perf = s.map("events");
  REQUIRE(perf.ok());
  auto unread = perf->at(0);
  REQUIRE_FALSE(unread.ok());
  CHECK(unread.error().message.find("BPF_MAP_TYPE_PERF_EVENT_ARRAY is not read") != std::string::npos);
}

TEST_CASE("the dump's map header names the kernel's map type") {
  std::string text = render_report_text({"shapes", shapes_report()});
  CHECK(text.find("map ktest_queue (BPF_MAP_TYPE_QUEUE, 3 entries, value_size 8, max_entries 8)") !=
        std::string::npos);
  CHECK(text.find("map ktest_ops (BPF_MAP_TYPE_STRUCT_OPS, value,") != std::string::npos);
  CHECK(text.find("error: BPF_MAP_TYPE_PERF_EVENT_ARRAY is not read") != std::string::npos);
  MapDump untyped;
  untyped.name = "h";
  untyped.map_type = kMapTypeHash;
  CHECK(render_map_text(untyped).rfind("map h (hash, 0 entries,", 0) == 0);
}
