#include "snapshot/report_stream.h"

#include <limits>

#include <fmt/format.h>

#include "snapshot/entry_tokens.h"

namespace ktest {
namespace {

using json = nlohmann::json;

// nlohmann's SAX interface: builds the report's JSON, except for each map
// entry, which it records as tokens and reads into a MapEntry when the
// entry ends. No entry is ever a JSON document unless EntryReader leaves it
// to entry_from_json(): a document's nodes and maps cost more to build and
// free than the entry they hold.
class EntrySax {
 public:
  explicit EntrySax(StreamedReport& out) : out_(out) {}

  bool null() { return scalar([](EntryTokens& t) { t.add_null(); }, nullptr); }
  bool boolean(bool v) { return scalar([v](EntryTokens& t) { t.add_bool(v); }, v); }
  bool number_integer(json::number_integer_t v) {
    return scalar([v](EntryTokens& t) { t.add_int(v); }, v);
  }
  bool number_unsigned(json::number_unsigned_t v) { return scalar([v](EntryTokens& t) { t.add_uint(v); }, v); }
  bool number_float(json::number_float_t v, const json::string_t&) {
    return scalar([v](EntryTokens& t) { t.add_float(v); }, v);
  }
  bool string(json::string_t& v) {
    if (recording_) {
      tokens_.add_string(v);
      return true;
    }
    return scalar([](EntryTokens&) {}, std::move(v));
  }
  bool binary(json::binary_t&) { return false; }  // not in JSON text
  bool key(json::string_t& k) {
    if (recording_) tokens_.add_key(k);
    else frames_.back().key = std::move(k);
    return true;
  }
  bool start_object(std::size_t) { return start(EntryTokens::Type::ObjectStart, json::value_t::object); }
  bool start_array(std::size_t) {
    if (!recording_ && at_entry()) return false;  // an entry is an object
    return start(EntryTokens::Type::ArrayStart, json::value_t::array);
  }
  bool end_object() { return end(); }
  bool end_array() { return end(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

  json& root() { return root_; }

 private:
  struct Frame {
    json* node;
    std::string key;        // object: the last key read
    std::size_t count = 0;  // array: elements started
  };

  template <typename Record>
  bool scalar(Record record, json value) {
    if (recording_) {
      record(tokens_);
      return true;
    }
    if (at_entry()) return false;  // an entry is an object
    return place(std::move(value)) != nullptr;
  }

  // `empty` is made only outside an entry: an entry's containers are tokens.
  bool start(EntryTokens::Type type, json::value_t empty) {
    if (!recording_ && at_entry()) {
      recording_ = true;
      tokens_.clear();
    }
    if (recording_) {
      tokens_.open(type);
      return true;
    }
    json* node = place(json(empty));
    if (node == nullptr) return false;
    frames_.push_back(Frame{node, {}, 0});
    return true;
  }

  bool end() {
    if (!recording_) {
      frames_.pop_back();
      return true;
    }
    tokens_.close();
    if (!tokens_.complete()) return true;
    recording_ = false;
    return take_entry();
  }

  // Where the next value goes in the JSON; returns it there. Null on a key
  // given twice: entries taken out under the first would land in the
  // second's maps, so the plain parse (the last one wins) reads such a text.
  json* place(json value) {
    if (frames_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Frame& top = frames_.back();
    if (top.node->is_array()) {
      ++top.count;
      top.node->push_back(std::move(value));
      return &top.node->back();
    }
    auto [slot, added] = top.node->get_ref<json::object_t&>().try_emplace(top.key, std::move(value));
    return added ? &slot->second : nullptr;
  }

  // The report ("" single, "early", "late") and map index whose entries[]
  // the next value would go in, if it would.
  std::optional<std::pair<std::string, std::size_t>> entries_here() const {
    const std::size_t n = frames_.size();
    if (n < 4 || !frames_[n - 1].node->is_array() || frames_[n - 2].key != "entries") return std::nullopt;
    const Frame& maps = frames_[n - 3];
    if (!maps.node->is_array() || frames_[n - 4].key != "maps") return std::nullopt;
    if (n == 4) return std::pair<std::string, std::size_t>{"", maps.count - 1};
    if (n == 5 && (frames_[0].key == "early" || frames_[0].key == "late"))
      return std::pair<std::string, std::size_t>{frames_[0].key, maps.count - 1};
    return std::nullopt;
  }
  bool at_entry() const { return entries_here().has_value(); }

  bool take_entry() {
    auto where = entries_here();
    std::vector<MapEntry>& entries = out_.entries[*where];
    if (auto entry = reader_.read(tokens_)) {
      entries.push_back(std::move(*entry));
      return true;
    }
    auto entry = entry_from_json(tokens_.to_json(), fmt::format("maps[{}].entries[{}]", where->second, entries.size()));
    if (!entry) return false;
    entries.push_back(std::move(*entry));
    return true;
  }

  StreamedReport& out_;
  json root_;
  std::vector<Frame> frames_;
  bool recording_ = false;
  EntryTokens tokens_;
  EntryReader reader_;
};

}  // namespace

Result<StreamedReport> parse_streaming(std::string_view text) {
  // EntryTokens counts an entry's tokens and text bytes in 32 bits.
  if (text.size() > std::numeric_limits<uint32_t>::max()) return fail("too big for the streaming parse");
  StreamedReport out;
  EntrySax sax(out);
  try {
    if (!json::sax_parse(text.begin(), text.end(), &sax)) return fail("not a report the streaming parse reads");
  } catch (const json::exception& e) {
    return fail(e.what());
  }
  out.rest = std::move(sax.root());
  return out;
}

}  // namespace ktest
