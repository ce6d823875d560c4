// EntryReader against entry_from_json, the reader whose reading is the one
// truth: for an entry it reads, the same MapEntry; any other it leaves.
#include <doctest/doctest.h>

#include "snapshot/entry_tokens.h"
#include "snapshot/report_stream.h"
#include "snapshot/tests/fixtures.h"

using namespace ktest;
using namespace ktest::testing;
using nlohmann::json;

namespace {

void tokenize(const json& j, EntryTokens& t) {
  switch (j.type()) {
    case json::value_t::object:
      t.open(EntryTokens::Type::ObjectStart);
      for (const auto& [k, v] : j.items()) {
        t.add_key(k);
        tokenize(v, t);
      }
      t.close();
      break;
    case json::value_t::array:
      t.open(EntryTokens::Type::ArrayStart);
      for (const auto& v : j) tokenize(v, t);
      t.close();
      break;
    case json::value_t::null: t.add_null(); break;
    case json::value_t::boolean: t.add_bool(j.get<bool>()); break;
    case json::value_t::number_integer:  // as the parser: a number without a minus sign is unsigned
      if (j.get<int64_t>() < 0) t.add_int(j.get<int64_t>());
      else t.add_uint(j.get<uint64_t>());
      break;
    case json::value_t::number_unsigned: t.add_uint(j.get<uint64_t>()); break;
    case json::value_t::number_float: t.add_float(j.get<double>()); break;
    default: t.add_string(j.get<std::string>()); break;
  }
}

bool same(const std::optional<RenderedValue>& a, const std::optional<RenderedValue>& b) {
  return a.has_value() == b.has_value() && (!a || *a == *b);
}

// Reads `entry` both ways; true when the token reader read it (and then
// it must agree with entry_from_json).
bool read_alike(const json& entry) {
  EntryTokens t;
  tokenize(entry, t);
  REQUIRE(t.complete());
  CHECK(t.to_json() == entry);
  EntryReader reader;
  auto fast = reader.read(t);
  auto plain = entry_from_json(entry, "e");
  if (!fast) return false;
  REQUIRE_MESSAGE(plain.ok(), entry.dump());
  CHECK(same(fast->key, plain->key));
  CHECK(same(fast->value, plain->value));
  CHECK(same(fast->payload, plain->payload));
  CHECK(fast->key_hex == plain->key_hex);
  CHECK(fast->value_hex == plain->value_hex);
  return true;
}

json scalar(const char* kind, json value, json bits = nullptr) {
  json j = {{"kind", kind}, {"value", value}};
  if (!bits.is_null()) j["bits"] = bits;
  return j;
}

json entry_with(json value) { return {{"key", scalar("uint", 1, 32)}, {"key_hex", "01"}, {"value", value}}; }

}  // namespace

TEST_CASE("the token reader reads what ktest writes as the plain reader does") {
  json text = {{"kind", "array"}, {"len", 4}, {"text", "ab"},
               {"elements", {scalar("char", 97), scalar("char", 98), scalar("char", 0), scalar("char", 7)}}};
  json ptr = {{"kind", "ptr"}, {"value", 18446612682147718400ULL}, {"cast_annotation", "cast→arena"},
              {"deref", {{"kind", "struct"}, {"type_name", "t"}, {"members", json::array()}}}};
  json value = {{"kind", "struct"},
                {"type_name", "v"},
                {"members",
                 {{{"name", "i"}, {"value", scalar("int", -5, 32)}},
                  {{"name", "u"}, {"value", scalar("uint", 18446744073709551615ULL, 64)}},
                  {{"name", "b"}, {"value", scalar("bool", true)}},
                  {{"name", "f"}, {"value", scalar("float", 1.5, 64)}},
                  {{"name", "nan"}, {"value", scalar("float", nullptr, 32)}},
                  {{"name", "e"},
                   {"value", {{"kind", "enum"}, {"bits", 32}, {"value", -3}, {"variant", "BLUE"}, {"is_signed", true}}}},
                  {{"name", "e2"}, {"value", {{"kind", "enum"}, {"bits", 8}, {"value", 9}, {"variant", nullptr}}}},
                  {{"name", ""}, {"value", text}},
                  {{"name", "p"}, {"value", ptr}},
                  {{"name", "skipped"}, {"value", {{"kind", "ptr"}, {"value", 16}, {"deref_skipped_reason", "null"}}}},
                  {{"value", {{"kind", "array"}, {"len", 4096}, {"elements", json::array()}}}},
                  {{"name", "cpus"}, {"value", {{"kind", "cpu_list"}, {"cpus", "0-3"}, {"hex", "ignored"}}}},
                  {{"name", "raw"}, {"value", {{"kind", "bytes"}, {"hex", "00 ff"}}}},
                  {{"name", "why"}, {"value", {{"kind", "unsupported"}, {"reason", "BTF kind 99"}}}},
                  {{"name", "why_not"}, {"value", {{"kind", "unsupported"}}}},
                  {{"name", "cut"},
                   {"value", {{"kind", "truncated"}, {"needed", 8}, {"had", 4}, {"partial", scalar("uint", 1, 32)}}}},
                  {{"name", "cut_bare"}, {"value", {{"kind", "truncated"}}}}}}};
  CHECK(read_alike(entry_with(value)));
  CHECK(read_alike({{"key_hex", "01"}, {"value_hex", "02"}}));                      // no BTF
  CHECK(read_alike({{"key", nullptr}, {"value", scalar("uint", 3, 8)}, {"payload", value}}));

  // Every report fixture's entries.
  int entries = 0;
  for (const char* name : {"scx_basic.json", "scx_later.json", "two_schedulers.json"}) {
    json j = json::parse(fixture_text(name));
    for (const auto& m : j["maps"])
      for (const auto& e : m.value("entries", json::array())) entries += read_alike(e) ? 1 : 0;
  }
  CHECK(entries >= 6);
}

TEST_CASE("the token reader leaves any other shape to the plain reader") {
  // Forms the plain reader accepts or words an error for: each read (or
  // refused) there alone.
  for (json value : {scalar("uint", "18446744073709551616", 128),  // wider than 64 bits: a string
                     scalar("uint", 5.0, 32), scalar("int", 1, "32"), scalar("uint", 1, 129),
                     scalar("uint", -1, 32), scalar("char", 256), scalar("bool", 2.0), scalar("float", "x"),
                     json{{"kind", "uint"}, {"bits", 32}}, json{{"kind", "nope"}, {"value", 1}},
                     json{{"value", 1}}, json{{"kind", "uint"}, {"value", 1}, {"extra", 1}},
                     json{{"kind", "cpu_list"}}, json{{"kind", "bytes"}, {"hex", 0}},
                     json{{"kind", "unsupported"}, {"reason", 1}}, json{{"kind", "truncated"}, {"needed", -1}},
                     json{{"kind", "struct"}, {"members", {{{"name", "a"}}}}},
                     json{{"kind", "struct"}, {"members", {{{"name", 1}, {"value", scalar("bool", false)}}}}},
                     json{{"kind", "array"}, {"elements", {1}}}, json(7)}) {
    CAPTURE(value.dump());
    CHECK_FALSE(read_alike(entry_with(value)));
  }
  CHECK_FALSE(read_alike({{"key_hex", 1}}));
  CHECK_FALSE(read_alike({{"key_hex", "01"}, {"note", "x"}}));

  // Nested deeper than a report may be: the plain reader's error.
  json deep = scalar("uint", 1, 8);
  for (std::size_t i = 0; i <= kMaxJsonDepth; ++i)
    deep = {{"kind", "struct"}, {"members", {{{"name", "m"}, {"value", deep}}}}};
  CHECK_FALSE(read_alike(entry_with(deep)));
  CHECK_FALSE(entry_from_json(entry_with(deep), "e").ok());
}

TEST_CASE("a key given twice is the last one, as the plain parse has it") {
  std::string text = R"({"maps":[{"name":"m","map_type":"hash","entries":[
      {"key_hex":"01","value":{"kind":"uint","bits":8,"value":1,"value":2}},
      {"key_hex":"02","value":{"kind":"uint","bits":8,"value":3},"value":null}]}]})";
  auto streamed = parse_streaming(text);
  REQUIRE(streamed.ok());
  const auto& entries = streamed->entries.at({"", 0});
  REQUIRE(entries.size() == 2);
  REQUIRE(entries[0].value.has_value());
  CHECK(entries[0].value->uint_value == 2);
  CHECK_FALSE(entries[1].value.has_value());
  CHECK(streamed->rest["maps"][0]["entries"] == json::array());
  CHECK(streamed->rest["maps"][0]["name"] == "m");
}

TEST_CASE("equal names and texts read by one reader share their storage") {
  json comm = {{"kind", "array"}, {"len", 0}, {"text", "w"}};
  json value = {{"kind", "struct"}, {"type_name", "task_ctx"}, {"members", {{{"name", "comm"}, {"value", comm}}}}};
  EntryTokens t;
  tokenize(entry_with(value), t);
  EntryReader reader;
  auto a = reader.read(t);
  auto b = reader.read(t);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(&*a->value->type_name == &*b->value->type_name);
  CHECK(&*a->value->members[0].value.text == &*b->value->members[0].value.text);
}
