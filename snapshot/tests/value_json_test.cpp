#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include "snapshot/report.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using nlohmann::json;

namespace {

RenderedValue round_trip(const RenderedValue& v) {
  auto back = value_from_json(json::parse(value_to_json(v).dump()));
  REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error().to_string()));
  return *back;
}

uint128_t u128_max() { return ~static_cast<uint128_t>(0); }

}  // namespace

TEST_CASE("kind_name is the serde tag of every kind") {
  CHECK(std::string(kind_name(ValueKind::Int)) == "int");
  CHECK(std::string(kind_name(ValueKind::CpuList)) == "cpu_list");
  CHECK(std::string(kind_name(ValueKind::Truncated)) == "truncated");
  CHECK(std::string(kind_name(ValueKind::Unsupported)) == "unsupported");
}

TEST_CASE("hex_bytes is lowercase and space separated") {
  const uint8_t data[] = {0x0a, 0x1b, 0xff};
  CHECK(hex_bytes(data, 3) == "0a 1b ff");
  CHECK(hex_bytes(data, 0).empty());
  CHECK(hex_bytes(nullptr, 5).empty());
}

TEST_CASE("every kind round-trips through JSON") {
  auto inner = std::make_shared<RenderedValue>(make_struct("t", {{"x", make_uint(32, 7)}}));
  std::vector<RenderedValue> values = {
      make_int(32, -5),
      make_uint(16, 65535),
      make_bool(true),
      make_char('A'),
      make_float(64, 0.25),
      make_enum(32, 3, std::string("SCX_X"), false),
      make_enum(8, -1, std::nullopt, true),
      make_struct(std::nullopt, {{"a", make_int(8, 1)}, {"", make_uint(8, 2)}}),
      make_array(10, {make_uint(32, 1), make_uint(32, 2)}),
      make_cpu_list("0-2,5"),
      make_ptr(0x1000, inner),
      make_ptr(0, nullptr, std::string("null")),
      make_bytes("0a 0b"),
      make_truncated(8, 2, make_bytes("01 02")),
      make_unsupported("func proto"),
  };
  RenderedValue annotated = make_ptr(0x2000, inner);
  annotated.mutable_detail().cast_annotation = "cast→arena";
  values.push_back(annotated);
  RenderedValue text = make_array(4, {make_char('h'), make_char('i'), make_char(0), make_char(0)});
  text.text = "hi";
  values.push_back(text);
  for (const auto& v : values) {
    CAPTURE(value_to_json(v).dump());
    CHECK(round_trip(v) == v);
  }
}

TEST_CASE("equality compares kind-relevant fields") {
  CHECK(make_uint(32, 1) == make_uint(32, 1));
  CHECK_FALSE(make_uint(32, 1) == make_uint(64, 1));
  CHECK_FALSE(make_uint(32, 1) == make_int(32, 1));
  CHECK(make_float(64, std::nan("")) == make_float(64, std::nan("")));
  CHECK_FALSE(make_ptr(1, nullptr) == make_ptr(1, std::make_shared<RenderedValue>(make_bool(true))));
}

TEST_CASE("a copied node owns its own detail; a pointer left alone has none") {
  RenderedValue cut = make_truncated(16, 4, make_bytes("01 02 03 04"));
  RenderedValue copy = cut;
  CHECK(copy == cut);
  copy.mutable_detail().had = 5;
  CHECK(cut.detail().had == 4);
  CHECK_FALSE(copy == cut);
  // An absent detail reads as empty, and compares like one.
  CHECK(&make_ptr(7).detail() == &make_uint(8, 1).detail());
  CHECK(make_ptr(7) == make_ptr(7));
  CHECK_FALSE(make_ptr(7) == make_ptr(7, nullptr, "null pointer"));
}

TEST_CASE("128-bit integers: number when they fit 64 bits, else a decimal string") {
  CHECK(value_to_json(make_uint(64, std::numeric_limits<uint64_t>::max()))["value"].is_number());
  json big = value_to_json(make_uint(128, u128_max()));
  CHECK(big["value"] == "340282366920938463463374607431768211455");
  CHECK(round_trip(make_uint(128, u128_max())) == make_uint(128, u128_max()));
  int128_t min = -(static_cast<int128_t>(u128_max() >> 1)) - 1;
  CHECK(value_to_json(make_int(128, min))["value"] == "-170141183460469231731687303715884105728");
  CHECK(round_trip(make_int(128, min)) == make_int(128, min));
  CHECK(round_trip(make_int(64, std::numeric_limits<int64_t>::min())) ==
        make_int(64, std::numeric_limits<int64_t>::min()));
}

TEST_CASE("reading accepts decimal strings and integral floats") {
  auto a = value_from_json(json::parse(R"({"kind":"uint","bits":64,"value":"18"})"));
  REQUIRE(a.ok());
  CHECK(a->uint_value == 18);
  auto b = value_from_json(json::parse(R"({"kind":"int","bits":32,"value":-3.0})"));
  REQUIRE(b.ok());
  CHECK(b->int_value == -3);
  auto c = value_from_json(json::parse(R"({"kind":"float","bits":64,"value":null})"));
  REQUIRE(c.ok());
  CHECK(std::isnan(c->float_value));
}

TEST_CASE("reading errors name the JSON path and the problem") {
  using testing::error_text;
  CHECK(error_text(value_from_json(json::parse(R"({"bits":3})"), "maps[2].value")) ==
        "maps[2].value: \"kind\" missing");
  CHECK(error_text(value_from_json(json::parse(R"({"kind":"quux"})"))) ==
        "value.kind: unknown kind \"quux\"");
  CHECK(error_text(value_from_json(json::parse(R"({"kind":"uint","bits":8,"value":-1})"))) ==
        "value.value: expected an unsigned integer, got -1");
  CHECK(error_text(value_from_json(json::parse(R"({"kind":"uint","bits":8,"value":1.5})"))) ==
        "value.value: expected an integer, got 1.5");
  CHECK(error_text(value_from_json(json::parse(R"({"kind":"uint","bits":8,"value":"12x"})"))) ==
        "value.value: expected a decimal integer, got \"12x\"");
  CHECK(error_text(value_from_json(json::parse(
            R"({"kind":"uint","bits":8,"value":"340282366920938463463374607431768211456"})"))) ==
        "value.value: expected a decimal integer, got \"340282366920938463463374607431768211456\"");
  CHECK(error_text(value_from_json(json::parse(R"({"kind":"int","bits":999,"value":1})"))) ==
        "value.bits: 999 is wider than 128");
  CHECK(error_text(value_from_json(json::parse(R"({"kind":"char","value":300})"))) ==
        "value.value: 300 is not a byte");
  CHECK(error_text(value_from_json(json::parse(R"([1])"))) ==
        "value: expected an object with a \"kind\", got array");
  CHECK(error_text(value_from_json(json::parse(
            R"({"kind":"struct","members":[{"name":"a","value":{"kind":"bool"}}]})"))) ==
        "value.members[0].value: \"value\" missing");
  CHECK(error_text(value_from_json(json::parse(
            R"({"kind":"array","len":1,"elements":[{"kind":"cpu_list"}]})"))) ==
        "value.elements[0]: \"cpus\" missing");
}

TEST_CASE("nesting deeper than kMaxJsonDepth is rejected, not recursed into") {
  json j = {{"kind", "uint"}, {"bits", 8}, {"value", 1}};
  for (std::size_t d = 0; d < kMaxJsonDepth + 5; ++d) {
    j = json{{"kind", "ptr"}, {"value", 1}, {"deref", std::move(j)}};
  }
  auto r = value_from_json(j);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("nested deeper than 128 levels") != std::string::npos);
}

TEST_CASE("OptionalText reads like an optional string") {
  OptionalText none;
  CHECK_FALSE(none.has_value());
  CHECK(none == std::nullopt);
  CHECK_FALSE(none == "");  // absent is not the empty text
  CHECK(none.value_or("fallback") == "fallback");
  CHECK(static_cast<std::optional<std::string>>(none) == std::nullopt);

  OptionalText empty = std::string();
  CHECK(empty.has_value());
  CHECK(empty == "");
  CHECK_FALSE(empty == none);

  OptionalText name = "sched_ctx";
  CHECK(name == "sched_ctx");
  CHECK(name == std::string("sched_ctx"));
  CHECK(name == std::string_view("sched_ctx"));
  CHECK(name == std::optional<std::string>("sched_ctx"));
  CHECK_FALSE(name == std::optional<std::string>());
  CHECK(name->size() == 9);

  // Copies share the text; assigning one leaves the other.
  OptionalText copy = name;
  CHECK(copy == name);
  copy = "other";
  CHECK(name == "sched_ctx");
  copy.reset();
  CHECK(copy == std::nullopt);
  CHECK(OptionalText(std::optional<std::string>()) == none);
  CHECK(OptionalText(std::optional<std::string>("x")) == "x");
}

TEST_CASE("a rendered value keeps its optional texts through copies and JSON") {
  RenderedValue v = make_enum(32, 2, "TASK_RUNNING", false);
  RenderedValue copy = v;
  CHECK(copy.variant == "TASK_RUNNING");
  CHECK(round_trip(v) == v);
  RenderedValue unnamed = make_enum(32, 7, std::nullopt, false);
  CHECK(round_trip(unnamed).variant == std::nullopt);
  CHECK_FALSE(unnamed == v);
}
