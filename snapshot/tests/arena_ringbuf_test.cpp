// ARENA / RINGBUF maps in the report model: JSON round trip, ktstr's own
// "ringbuf" kept verbatim, and the accessors assertions use.
#include <doctest/doctest.h>

#include "snapshot/report.h"
#include "snapshot/snapshot.h"

using namespace ktest;
using nlohmann::json;

namespace {

Report arena_ringbuf_report() {
  Report r;
  r.snapshot_name = "filled";
  MapDump arena;
  arena.name = "arena";
  arena.map_type = kMapTypeArena;
  arena.arena = ArenaDump{0x7f0012340000ULL, 0x7f0012350000ULL, 0xffffc90012348000ULL, 2,
                          0x7f0012340000ULL, 16};
  auto point = std::make_shared<RenderedValue>(
      make_struct("arena_point", {{"x", make_int(32, 11)}, {"y", make_int(32, 22)}}));
  RenderedValue globals = make_struct(
      ".addr_space.1", {{"counter", make_uint(64, 6)}, {"head", make_ptr(0x7f0012341000ULL, point)}});
  arena.value = make_struct("arena", {{"globals", globals}});
  r.maps.push_back(arena);

  MapDump events;
  events.name = "events";
  events.map_type = kMapTypeRingbuf;
  RingbufDump ring;
  ring.capacity = 4096;
  ring.producer_pos = 72;
  ring.pending_pos = 72;
  ring.pending_bytes = 72;
  ring.records = {{0, 16, false, false}, {24, 16, false, true}, {48, 16, true, false}};
  ring.record_type = "events_record";
  events.ringbuf = ring;
  events.entries.push_back({make_uint(64, 0), "00 00 00 00 00 00 00 00",
                            make_struct("events_record", {{"seq", make_uint(32, 1)}}), "01 00 00 00",
                            std::nullopt});
  r.maps.push_back(events);
  return r;
}

}  // namespace

TEST_CASE("arena and ringbuf round-trip through the report JSON") {
  Report r = arena_ringbuf_report();
  json j = report_to_json(r);
  CHECK(j["maps"][0]["arena"]["pages_present"] == 2);
  CHECK(j["maps"][0]["arena"]["kern_vm_start"] == 0xffffc90012348000ULL);
  CHECK(j["maps"][1]["ringbuf"]["records"][1]["discarded"] == true);
  CHECK(j["maps"][1]["ringbuf"]["record_type"] == "events_record");
  auto back = report_from_json(j);
  REQUIRE(back);
  REQUIRE(back->maps[0].arena);
  CHECK(back->maps[0].arena->globals_size == 16);
  REQUIRE(back->maps[1].ringbuf);
  CHECK(back->maps[1].ringbuf->records.size() == 3);
  CHECK(back->maps[1].ringbuf->records[2].busy);
  CHECK(back->maps[1].extra.empty());
  CHECK(report_to_json(*back) == j);
}

TEST_CASE("a ringbuf or arena of another shape (ktstr's) stays verbatim in extra") {
  json ktstr = {{"name", "events"}, {"map_type", 27}, {"value_size", 0}, {"max_entries", 4096},
                {"ringbuf", {{"capacity", 4096}, {"consumer_pos", 128}, {"producer_pos", 256},
                             {"pending_pos", 256}, {"pending_bytes", 128}}},
                {"arena", {{"pages", "not ktest's"}}}};
  json report = {{"schema", "single"}, {"maps", json::array({ktstr})}};
  auto r = report_from_json(report);
  REQUIRE(r);
  CHECK_FALSE(r->maps[0].ringbuf);
  CHECK_FALSE(r->maps[0].arena);
  CHECK(r->maps[0].extra["ringbuf"]["pending_bytes"] == 128);
  CHECK(report_to_json(*r)["maps"][0] == ktstr);
}

TEST_CASE("assertion access: map(\"events\") lists committed samples, map(\"arena\") its globals") {
  Snapshot s(arena_ringbuf_report());
  auto events = s.map("events");
  REQUIRE(events);
  CHECK(events->size() == 1);
  CHECK(events->at(0)->get("seq").as_u64().value() == 1);
  CHECK(events->at(0)->key().as_u64().value() == 0);
  auto arena = s.map("arena");
  REQUIRE(arena);
  CHECK(arena->get("globals.counter").as_u64().value() == 6);
  CHECK(arena->get("globals.head.y").as_i64().value() == 22);  // the pointer is followed
  CHECK_FALSE(arena->get("globals.nope").ok());
}
