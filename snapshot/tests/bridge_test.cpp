#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <doctest/doctest.h>

#include "snapshot/bridge.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using namespace ktest::testing;

TEST_CASE("insert/get/names/drain keep insertion order and set the snapshot name") {
  SnapshotBridge bridge{64};
  CHECK(bridge.cap() == 64);
  bridge.insert("a", fixture_report("scx_basic.json"));
  Report unnamed = fixture_report("scx_basic.json");
  unnamed.snapshot_name.clear();
  bridge.insert("b", unnamed);
  CHECK(bridge.names() == std::vector<std::string>{"a", "b"});
  CHECK(bridge.contains("b"));
  auto b = bridge.get("b");
  REQUIRE(b.ok());
  CHECK(b->name() == "b");
  CHECK(b->var("nr_cpus_onln").as_u64().value() == 4);
  bridge.insert("a", Report{});  // replacing makes it the newest
  CHECK(bridge.names() == std::vector<std::string>{"b", "a"});
  auto copied = bridge.copy_all();  // copies leave the bridge as it was
  REQUIRE(copied.size() == 2);
  CHECK(copied[0].name == "b");
  REQUIRE(bridge.copy("b"));
  CHECK(bridge.copy("b")->report.snapshot_name == "b");
  CHECK_FALSE(bridge.copy("c"));
  CHECK(bridge.size() == 2);
  auto drained = bridge.drain();
  REQUIRE(drained.size() == 2);
  CHECK(drained[0].name == "b");
  CHECK(drained[1].report.maps.empty());
  CHECK(bridge.size() == 0);
  CHECK_FALSE(bridge.get("a").ok());
}

TEST_CASE("the cap evicts oldest first and tells every observer") {
  SnapshotBridge bridge(2);
  std::vector<std::string> seen_a, seen_b;
  bridge.add_eviction_observer([&](const std::string& n) { seen_a.push_back(n); });
  bridge.add_eviction_observer([&](const std::string& n) { seen_b.push_back(n); });
  for (const char* n : {"s1", "s2", "s3", "s4"}) bridge.insert(n, Report{});
  CHECK(seen_a == std::vector<std::string>{"s1", "s2"});
  CHECK(seen_b == seen_a);
  CHECK(bridge.names() == std::vector<std::string>{"s3", "s4"});
  CHECK(bridge.evicted_count() == 2);
  SnapshotBridge tiny(0);
  CHECK(tiny.cap() == 1);
}

TEST_CASE("an observer may call back into the bridge") {
  SnapshotBridge bridge(1);
  std::size_t size_seen = 99;
  bridge.add_eviction_observer([&](const std::string&) { size_seen = bridge.size(); });
  bridge.insert("x", Report{});
  bridge.insert("y", Report{});
  CHECK(size_seen == 1);
}

TEST_CASE("capture runs the callback and stores its report; errors propagate") {
  SnapshotBridge bridge{64};
  CHECK(bridge.capture("nocb").error().message ==
        "cannot capture snapshot 'nocb': the bridge has no capture callback");
  int calls = 0;
  bridge.set_capture([&](const std::string& name) -> Result<Report> {
    ++calls;
    if (name == "bad") return fail("freeze rendezvous timed out");
    return fixture_report("scx_basic.json");
  });
  REQUIRE(bridge.capture("ok").ok());
  CHECK(bridge.get("ok")->name() == "after_spawn");  // the report's own name is kept
  auto bad = bridge.capture("bad");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().to_string() == "capturing snapshot 'bad': freeze rendezvous timed out");
  CHECK(calls == 2);
  CHECK(bridge.names() == std::vector<std::string>{"ok"});
}

TEST_CASE("concurrent inserts respect the cap") {
  SnapshotBridge bridge(8);
  std::size_t evictions = 0;
  std::mutex mu;
  bridge.add_eviction_observer([&](const std::string&) {
    std::lock_guard<std::mutex> lock(mu);
    ++evictions;
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&bridge, t] {
      for (int k = 0; k < 50; ++k) bridge.insert(fmt::format("t{}-{}", t, k), Report{});
    });
  }
  for (auto& th : threads) th.join();
  CHECK(bridge.size() == 8);
  CHECK(evictions == 192);
  CHECK(bridge.evicted_count() == 192);
}
