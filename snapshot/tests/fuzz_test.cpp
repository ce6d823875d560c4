// Hostile-input checks: truncated and mutated reports never crash, hang or
// throw; whatever parses can be traversed and dumped.
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "snapshot/dump.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using namespace ktest::testing;
using nlohmann::json;

namespace {

const char* const kFixtures[] = {"scx_basic.json", "degraded.json", "two_schedulers.json",
                                 "ktstr_single.failure-dump.json", "ktstr_dual.failure-dump.json"};

// Touches every accessor family on a parsed report.
void exercise(const Report& r) {
  Snapshot s(r);
  for (const auto& name : s.var_names()) {
    (void)s.var(name).as_u64();
    (void)s.var(name).as_str();
    (void)s.live_var(name).as_i64();
  }
  (void)s.active();
  for (const auto& m : s.maps()) {
    (void)m.sum_u64("nr_dispatched");
    (void)m.max_by("ctx.weight.value");
    (void)m.find([](const SnapshotEntry& e) -> Result<bool> {
      KTEST_ASSIGN(int64_t tid, e.get("tid").as_i64());
      return tid == 101;
    });
    if (m.is_per_cpu()) (void)m.cpu(0);
    for (const auto& e : m.entries()) {
      (void)e.key_text();
      (void)e.get("ctx.weight.value").as_u64();
      (void)e.get("comm").as_str();
      (void)e.sum_u64("nr_dispatched");
      (void)e.value().as_u64_array();
    }
  }
  NamedReport nr{"fuzz", r};
  (void)render_report_text(nr);
  DumpOptions o;
  o.json = true;
  (void)dump_reports({nr}, o);
}

std::size_t check_text(const std::string& text) {
  auto reports = parse_any_report(text, "fuzz");
  if (!reports) {
    CHECK_FALSE(reports.error().message.empty());
    return 0;
  }
  for (const auto& nr : *reports) exercise(nr.report);
  return 1;
}

json random_scalar(std::mt19937& rng) {
  switch (rng() % 9) {
    case 0: return nullptr;
    case 1: return -1;
    case 2: return "x";
    case 3: return json::array();
    case 4: return json::object();
    case 5: return "340282366920938463463374607431768211456";
    case 6: return 1e300;
    case 7: return true;
    default: return json{{"kind", "ptr"}, {"value", 0}};
  }
}

// Replaces one randomly chosen node of `j` (walks at most 64 levels).
void mutate(json& j, std::mt19937& rng) {
  json* cur = &j;
  for (int depth = 0; depth < 64; ++depth) {
    if (!(cur->is_object() || cur->is_array()) || cur->empty() || rng() % 6 == 0) break;
    std::size_t pick = rng() % cur->size();
    auto it = cur->begin();
    std::advance(it, static_cast<long>(pick));
    cur = &*it;
  }
  *cur = random_scalar(rng);
}

}  // namespace

TEST_CASE("every prefix-truncated fixture fails cleanly or parses") {
  std::size_t parsed = 0, tried = 0;
  for (const char* name : kFixtures) {
    std::string text = fixture_text(name);
    for (std::size_t len = 0; len < text.size(); len += 1 + len / 40) {
      parsed += check_text(text.substr(0, len));
      ++tried;
    }
    parsed += check_text(text);
  }
  MESSAGE("truncation: " << tried << " prefixes tried");
  CHECK(parsed == std::size(kFixtures));  // only the complete texts parse
}

TEST_CASE("byte-level mutations never crash") {
  std::mt19937 rng(12345);
  std::size_t parsed = 0;
  const int rounds = 300;
  for (const char* name : kFixtures) {
    std::string original = fixture_text(name);
    std::vector<std::size_t> digits;
    for (std::size_t p = 0; p < original.size(); ++p) {
      if (original[p] >= '0' && original[p] <= '9') digits.push_back(p);
    }
    for (int k = 0; k < rounds; ++k) {
      std::string text = original;
      for (int flips = 0; flips < 3; ++flips) {
        // Mostly flip digits, so many mutants still parse as JSON and reach
        // the report reader with odd numbers (widths, counts, keys, CPUs).
        if (!digits.empty() && rng() % 5 != 0) {
          text[digits[rng() % digits.size()]] = static_cast<char>("0123456789-"[rng() % 11]);
        } else {
          text[rng() % text.size()] = static_cast<char>("{}[]\",:0-9ex\\ \xff"[rng() % 16]);
        }
      }
      parsed += check_text(text);
    }
  }
  MESSAGE("byte mutations: " << parsed << " of " << rounds * std::size(kFixtures) << " parsed");
  CHECK(parsed > 0);
}

TEST_CASE("structural mutations give path-named errors or traversable reports") {
  std::mt19937 rng(777);
  std::size_t parsed = 0, failed = 0;
  for (const char* name : kFixtures) {
    json original = json::parse(fixture_text(name));
    for (int k = 0; k < 300; ++k) {
      json j = original;
      mutate(j, rng);
      if (rng() % 2) mutate(j, rng);
      auto reports = parse_any_report(j.dump(), "fuzz");
      if (!reports) {
        ++failed;
        CHECK(reports.error().message.find(':') != std::string::npos);
        continue;
      }
      ++parsed;
      for (const auto& nr : *reports) exercise(nr.report);
    }
  }
  MESSAGE("structural mutations: " << parsed << " parsed, " << failed << " rejected");
  CHECK(parsed > 0);
  CHECK(failed > 0);
}

TEST_CASE("deep, wide and odd shapes stay bounded") {
  // A pointer chain as deep as the reader allows still walks and renders.
  json v = {{"kind", "uint"}, {"bits", 8}, {"value", 1}};
  for (std::size_t d = 0; d < kMaxJsonDepth - 2; ++d) {
    v = json{{"kind", "struct"}, {"type_name", nullptr},
             {"members", json::array({json{{"name", "n"}, {"value", v}}})}};
  }
  json report = {{"maps", json::array({json{{"name", "x.bss"}, {"map_type", 2},
                                               {"value", json{{"kind", "struct"},
                                                              {"members", json::array({json{{"name", "deep"}, {"value", v}}})}}}}})}};
  auto r = report_from_json(report);
  REQUIRE(r.ok());
  exercise(*r);
  std::string path = "deep";
  for (std::size_t d = 0; d < kMaxJsonDepth - 2; ++d) path += ".n";
  CHECK(Snapshot(*r).var(path).as_u64().value() == 1);

  // Invalid UTF-8 in guest-provided names does not break JSON output.
  Report bad;
  MapDump m;
  m.name = std::string("bad\xff\xfe name");
  m.value = make_struct(".bss", {{std::string("v\xc3"), make_uint(8, 1)}});
  bad.maps.push_back(m);
  CHECK_FALSE(report_to_text(bad).empty());
  DumpOptions o;
  o.json = true;
  CHECK(dump_reports({{"b", bad}}, o).ok());
}
