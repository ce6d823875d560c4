#include <doctest/doctest.h>

#include "cli/run/json_output.h"

using namespace ktest::cli;

TEST_CASE("the last JSON line of a stats stream is the document") {
  auto doc = parse_json_output("starting\n{\"n\": 1}\nlog line\n{\"n\": 2, \"cpus\": [1, 2]}\n\nbye\n");
  REQUIRE(doc.ok());
  CHECK((**doc)["n"] == 2);
}

TEST_CASE("pretty-printed output is one document") {
  auto doc = parse_json_output("{\n  \"a\": {\n    \"b\": [1, 2]\n  }\n}\n");
  REQUIRE(doc.ok());
  CHECK((**doc)["a"]["b"][1] == 2);
  auto arr = parse_json_output("[\n 1,\n 2\n]");
  REQUIRE(arr.ok());
  CHECK(arr->get()->size() == 2);
}

TEST_CASE("output without JSON is an error that quotes it") {
  auto none = parse_json_output("Segmentation fault\n");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message == "the output holds no JSON object or array: it starts \"Segmentation fault \"");
  auto scalar = parse_json_output("42\n");
  CHECK_FALSE(scalar.ok());
  auto empty = parse_json_output(" \n");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message == "the output is empty, not a JSON document");
  auto broken = parse_json_output("{\"a\": [1, 2\n");
  CHECK_FALSE(broken.ok());
  // Deep nesting is refused before parsing; brackets inside strings do not count.
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto refused = parse_json_output(deep);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == "the output's JSON nests deeper than 128 levels");
  CHECK(parse_json_output(R"({"s": ")" + std::string(1000, '[') + R"("})").ok());
  // At the cap and one past it.
  CHECK(parse_json_output(std::string(ktest::kMaxJsonDepth, '[') + std::string(ktest::kMaxJsonDepth, ']')).ok());
  CHECK_FALSE(parse_json_output(std::string(ktest::kMaxJsonDepth + 1, '[') + std::string(ktest::kMaxJsonDepth + 1, ']')).ok());
}
