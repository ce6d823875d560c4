// Independent renderers as oracles for the btf/ renderer:
//  - libbpf's btf_dump__dump_type_data() compact text, parsed into a tree;
//  - bpftool's `map dump -j` "formatted" JSON, parsed keeping duplicate
//    keys (anonymous members all print as "").
// compare_*() walk a RenderedValue beside the oracle's tree and return the
// mismatches (empty = agree). Known oracle bugs are not mismatches: they
// are appended to `quirks` with what the oracle got wrong, and the test
// checks those are exactly the expected ones.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "snapshot/rendered_value.h"
#include "util/result.h"

struct btf;

namespace ktest::btf::oracle {

struct Member;

// One node of either oracle's output.
struct Node {
  enum class Kind { Scalar, Aggregate, List, Null, Bool, Number, String } kind = Kind::Null;
  std::string text;    // Scalar/String text; Number as printed
  bool flag = false;   // Bool
  bool missing_separator_after = false;  // libbpf text: no ',' followed this value
  std::vector<Member> members;  // Aggregate, in order ("" = anonymous)
  std::vector<Node> elements;   // List
};

struct Member {
  std::string first;  // key
  Node second;
};

// libbpf's compact data dump ("(struct x){.a = (int)1,...}"); DATASEC
// dumps ("SEC(".data") int a = (int)1;...") come back as an Aggregate.
Result<Node> parse_btf_dump(const std::string& text);
// libbpf's btf_dump__dump_type_data of `bytes` (compact, emit_zeroes).
Result<std::string> btf_dump_text(const struct ::btf* btf, uint32_t id,
                                  const std::vector<uint8_t>& bytes);
// JSON with duplicate keys kept, in order.
Result<Node> parse_json(const std::string& text);
// A member of an Aggregate by key (first match), or nullptr.
const Node* find(const Node& node, const std::string& key);

struct Comparison {
  std::vector<std::string> mismatches;
  std::vector<std::string> quirks;
  bool after_nul_char_array = false;  // libbpf < 1.5 state leak (see .cpp)
};
void compare_btf_dump(const RenderedValue& ours, const Node& theirs, const std::string& path,
                      Comparison& out);
void compare_bpftool(const RenderedValue& ours, const Node& theirs, const std::string& path,
                     Comparison& out);

}  // namespace ktest::btf::oracle
