// compare_capture(): see capture_oracle.h.
#include "tests/maps_oracle/capture_oracle.h"

#include <fmt/format.h>

#include <optional>
#include <sstream>

#include "tests/maps_oracle/struct_ops_oracle.h"

namespace ktest::oracle_test {
namespace {

using btf::oracle::Node;

// bpftool's ["0x0a","0x00"] as the report writes bytes: "0a 00".
std::optional<std::string> hex_of(const Node* list) {
  if (list == nullptr || list->kind != Node::Kind::List) return std::nullopt;
  std::string out;
  for (const auto& byte : list->elements) {
    if (byte.kind != Node::Kind::String || byte.text.size() != 4 || byte.text.compare(0, 2, "0x") != 0)
      return std::nullopt;
    if (!out.empty()) out += ' ';
    out += byte.text.substr(2);
  }
  return out;
}

// The little-endian u32 an array key's bytes spell.
std::optional<uint32_t> array_index(const std::string& key_hex) {
  std::istringstream in(key_hex);
  uint32_t index = 0;
  std::string byte;
  for (int shift = 0; in >> byte; shift += 8) {
    if (shift >= 32) return std::nullopt;
    index |= static_cast<uint32_t>(std::stoul(byte, nullptr, 16)) << shift;
  }
  return index;
}

class MapComparison {
 public:
  MapComparison(const MapDump& ours, const BpftoolDump& theirs, OracleResult& out)
      : ours_(ours), theirs_(theirs), out_(out) {}

  void run() {
    if (ours_.error) mismatch("the capture has an error: " + *ours_.error);
    if (ours_.map_type == kMapTypeQueue || ours_.map_type == kMapTypeStack) return compare_peek();
    if (ours_.map_type == kMapTypeStructOps) return compare_struct_ops(ours_, theirs_.entries, out_);
    if (theirs_.entries.kind != Node::Kind::List) return mismatch("bpftool printed no entry list");
    std::size_t our_count = ours_.entries.size() + ours_.percpu_entries.size() +
                            ours_.percpu_hash_entries.size();
    bool single = ours_.map_type == kMapTypeArray && ours_.max_entries == 1;
    if (single) our_count = ours_.value ? 1 : 0;
    std::vector<const Node*> listed;
    for (const Node& entry : theirs_.entries.elements) {
      // bpftool lists an empty slot of a map of maps as a lookup error.
      const Node* value = btf::oracle::find(entry, "value");
      if (of_maps() && value && value->kind == Node::Kind::Aggregate) continue;
      listed.push_back(&entry);
    }
    if (our_count != listed.size()) {
      mismatch(fmt::format("{} entries captured, bpftool dumped {}", our_count, listed.size()));
    }
    for (const Node* entry : listed) {
      if (of_maps()) compare_inner_map(*entry);
      else compare_entry(*entry, single);
    }
  }

 private:
  bool of_maps() const {
    return ours_.map_type == kMapTypeArrayOfMaps || ours_.map_type == kMapTypeHashOfMaps;
  }

  // `bpftool map peek`: the element the next pop returns, i.e. entry 0.
  void compare_peek() {
    const Node* formatted = btf::oracle::find(theirs_.entries, "formatted");
    const Node* their_value = formatted ? btf::oracle::find(*formatted, "value") : nullptr;
    auto value_hex = hex_of(btf::oracle::find(theirs_.entries, "value"));
    std::string where = ours_.name + "[peek]";
    if (ours_.entries.empty()) return mismatch(where + ": the capture has no element, bpftool peeked one");
    const MapEntry& top = ours_.entries.front();
    if (!value_hex) return mismatch(where + ": bpftool printed no value");
    if (top.value_hex != *value_hex) return mismatch(where + ": value bytes " + top.value_hex + " vs bpftool " + *value_hex);
    // libbpf creates queues and stacks without BTF, so bpftool shows bytes
    // only; ktest renders them through the object's BTF (checked by the
    // scenario's assertions).
    if (their_value == nullptr) {
      ++out_.compared[ours_.map_type];
      return;
    }
    if (!top.value) return mismatch(where + ": the capture has no rendered value");
    agree(*top.value, *their_value, where, true);
  }

  // A map-of-maps slot: the key as usual, the value as the inner map's id.
  void compare_inner_map(const Node& entry) {
    auto key_hex = hex_of(btf::oracle::find(entry, "key"));
    auto value_hex = hex_of(btf::oracle::find(entry, "value"));
    // inner_map_id where bpftool prints it, else the id's bytes it looked up.
    const Node* id_node = btf::oracle::find(entry, "inner_map_id");
    std::optional<std::string> their_id;
    if (id_node != nullptr) {
      their_id = id_node->text;
    } else if (auto id = value_hex ? array_index(*value_hex) : std::nullopt) {
      their_id = std::to_string(*id);
    }
    if (!key_hex || !their_id) return mismatch("bpftool entry without key or inner map id");
    std::string where = ours_.name + "[" + *key_hex + "]";
    const MapEntry* mine = nullptr;
    for (const auto& e : ours_.entries) {
      if (e.key_hex == *key_hex) mine = &e;
    }
    if (mine == nullptr) return mismatch(where + ": bpftool has this key, the capture does not");
    if (value_hex && mine->value_hex != *value_hex) {
      mismatch(where + ": value bytes " + mine->value_hex + " vs bpftool " + *value_hex);
    }
    std::string ours_id;
    if (mine->value) {
      for (const auto& m : mine->value->members) {
        if (m.name == "id") ours_id = std::to_string(static_cast<uint64_t>(m.value.uint_value));
      }
    }
    if (ours_id != *their_id) return mismatch(where + ": inner map id " + ours_id + " vs bpftool " + *their_id);
    ++out_.compared[ours_.map_type];
  }

  void mismatch(const std::string& what) { out_.mismatches.push_back(ours_.name + ": " + what); }

  void compare_entry(const Node& entry, bool single) {
    const Node* formatted = btf::oracle::find(entry, "formatted");
    auto key_hex = hex_of(btf::oracle::find(entry, "key"));
    if (formatted == nullptr || !key_hex) return mismatch("bpftool entry without key or BTF formatting");
    const Node* their_key = btf::oracle::find(*formatted, "key");
    std::string where = ours_.name + "[" + *key_hex + "]";
    if (btf::oracle::find(entry, "values") != nullptr) return compare_percpu(*formatted, *key_hex, where);

    const Node* their_value = btf::oracle::find(*formatted, "value");
    auto value_hex = hex_of(btf::oracle::find(entry, "value"));
    if (single) {
      if (!ours_.value || their_value == nullptr) return mismatch(where + ": no value to compare");
      agree(*ours_.value, *their_value, where, true);
      return;
    }
    const MapEntry* mine = nullptr;
    for (const auto& e : ours_.entries) {
      if (e.key_hex == *key_hex) mine = &e;
    }
    if (mine == nullptr) return mismatch(where + ": bpftool has this key, the capture does not");
    if (value_hex && mine->value_hex != *value_hex) {
      mismatch(where + ": value bytes " + mine->value_hex + " vs bpftool " + *value_hex);
    }
    if (!mine->key || !mine->value || their_key == nullptr || their_value == nullptr) {
      return mismatch(where + ": a side has no rendered key or value");
    }
    btf::oracle::Comparison cmp;
    btf::oracle::compare_bpftool(*mine->key, *their_key, where + ".key", cmp);
    record(cmp, false);
    agree(*mine->value, *their_value, where, true);
  }

  void compare_percpu(const Node& formatted, const std::string& key_hex, const std::string& where) {
    const Node* their_values = btf::oracle::find(formatted, "values");
    const std::vector<std::optional<RenderedValue>>* per_cpu = nullptr;
    if (ours_.map_type == kMapTypePercpuArray) {
      auto index = array_index(key_hex);
      for (const auto& e : ours_.percpu_entries) {
        if (index && e.key == *index) per_cpu = &e.per_cpu;
      }
    } else {
      for (const auto& e : ours_.percpu_hash_entries) {
        if (e.key_hex != key_hex) continue;
        per_cpu = &e.per_cpu;
        const Node* their_key = btf::oracle::find(formatted, "key");
        if (!e.key || their_key == nullptr) return mismatch(where + ": a side has no rendered key");
        btf::oracle::Comparison cmp;
        btf::oracle::compare_bpftool(*e.key, *their_key, where + ".key", cmp);
        record(cmp, false);
      }
    }
    if (per_cpu == nullptr) return mismatch(where + ": bpftool has this key, the capture does not");
    if (their_values == nullptr || their_values->elements.size() != per_cpu->size()) {
      return mismatch(fmt::format("{}: {} CPUs captured, bpftool printed {}", where, per_cpu->size(),
                                  their_values ? their_values->elements.size() : 0));
    }
    bool all_agree = true;
    for (std::size_t cpu = 0; cpu < per_cpu->size(); ++cpu) {
      const Node* value = btf::oracle::find(their_values->elements[cpu], "value");
      std::string at = fmt::format("{}.cpu{}", where, cpu);
      if (!(*per_cpu)[cpu] || value == nullptr) {
        mismatch(at + ": a side has no value");
        all_agree = false;
        continue;
      }
      all_agree = agree(*(*per_cpu)[cpu], *value, at, false) && all_agree;
    }
    if (all_agree) ++out_.compared[ours_.map_type];
  }

  bool agree(const RenderedValue& mine, const Node& theirs, const std::string& where, bool count) {
    btf::oracle::Comparison cmp;
    btf::oracle::compare_bpftool(mine, theirs, where, cmp);
    return record(cmp, count);
  }

  bool record(btf::oracle::Comparison& cmp, bool count) {
    bool ok = cmp.mismatches.empty();
    for (auto& m : cmp.mismatches) out_.mismatches.push_back(std::move(m));
    for (auto& q : cmp.quirks) out_.quirks.push_back(std::move(q));
    if (ok && count) ++out_.compared[ours_.map_type];
    return ok;
  }

  const MapDump& ours_;
  const BpftoolDump& theirs_;
  OracleResult& out_;
};

bool is_global_section(const MapDump& map) {
  return map.value && map.value->kind == ValueKind::Struct && map.value->type_name &&
         !map.value->type_name->empty() && (*map.value->type_name)[0] == '.';
}

}  // namespace

Result<std::vector<BpftoolDump>> parse_dump_listing(const std::string& text) {
  std::vector<BpftoolDump> out;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto tab = line.find('\t');
    if (tab == std::string::npos || tab == 0) {
      return fail(fmt::format("line {}: expected '<map name>\\t<json>', got: {}", number, line));
    }
    auto tree = btf::oracle::parse_json(line.substr(tab + 1));
    if (!tree) return fail(tree.error().with_context(fmt::format("line {} ({})", number, line.substr(0, tab))));
    out.push_back({line.substr(0, tab), std::move(*tree)});
  }
  return out;
}

OracleResult compare_capture(const Report& report, const std::vector<BpftoolDump>& dumps) {
  OracleResult out;
  for (const auto& dump : dumps) {
    const MapDump* ours = report.find_map(dump.map_name);
    if (ours == nullptr) {
      out.mismatches.push_back(dump.map_name + ": bpftool dumped it, the capture does not list it");
      continue;
    }
    MapComparison(*ours, dump, out).run();
    if (is_global_section(*ours)) out.datasec_maps.push_back(ours->name);
  }
  return out;
}

}  // namespace ktest::oracle_test
