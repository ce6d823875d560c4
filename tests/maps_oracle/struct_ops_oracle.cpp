// compare_struct_ops(): see struct_ops_oracle.h.
#include "tests/maps_oracle/struct_ops_oracle.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

namespace ktest::oracle_test {
namespace {

using btf::oracle::Node;

// Members the kernel writes into its own copy when the user left them 0:
// sched_ext puts its default dump length in exit_dump_len on enable.
constexpr std::array<std::string_view, 1> kKernelDefaulted = {"exit_dump_len"};
// The kernel keeps BPF_OBJ_NAME_LEN − 1 characters of a program's name.
constexpr std::size_t kProgNameMax = 15;

const RenderedValue* member_of(const RenderedValue& v, std::string_view name) {
  for (const auto& m : v.members) {
    if (m.name == name) return &m.value;
  }
  return nullptr;
}

class StructOpsComparison {
 public:
  StructOpsComparison(const MapDump& ours, OracleResult& out) : ours_(ours), out_(out) {}

  void run(const Node& theirs) {
    if (theirs.kind != Node::Kind::List || theirs.elements.size() != 2) {
      return mismatch("bpftool printed no [bpf_map_info, value] pair");
    }
    const Node* info = btf::oracle::find(theirs.elements[0], "bpf_map_info");
    const Node& value_object = theirs.elements[1];
    if (info == nullptr || value_object.kind != Node::Kind::Aggregate || value_object.members.size() != 1) {
      return mismatch("bpftool printed no bpf_map_info or no value");
    }
    const Node* type = btf::oracle::find(*info, "type");
    const Node* name = btf::oracle::find(*info, "name");
    if (type == nullptr || type->text != std::to_string(kMapTypeStructOps)) {
      mismatch("bpftool's map is not of type " + std::to_string(kMapTypeStructOps));
    }
    if (name == nullptr || name->text != ours_.name) {
      mismatch("bpftool dumped the map named " + (name ? name->text : std::string("<none>")));
    }
    const auto& [value_type, value] = value_object.members[0];
    if (!ours_.value) return mismatch("the capture has no value");
    if (ours_.value->type_name.value_or("") != value_type) {
      mismatch("value type " + ours_.value->type_name.value_or("<none>") + " vs bpftool " + value_type);
    }
    const RenderedValue* common = member_of(*ours_.value, "common");
    const RenderedValue* data = member_of(*ours_.value, "data");
    const Node* their_common = btf::oracle::find(value, "common");
    const Node* their_data = btf::oracle::find(value, "data");
    if (!common || !data || !their_common || !their_data) return mismatch("a side has no common or data");
    const RenderedValue* state = member_of(*common, "state");
    const Node* their_state = btf::oracle::find(*their_common, "state");
    if (!state || !their_state) return mismatch("a side has no common.state");
    agree(*state, *their_state, "common.state");
    compare_data(*data, *their_data);
    if (ok_) ++out_.compared[kMapTypeStructOps];
  }

 private:
  void mismatch(const std::string& what) {
    out_.mismatches.push_back(ours_.name + ": " + what);
    ok_ = false;
  }

  void agree(const RenderedValue& mine, const Node& theirs, const std::string& path) {
    btf::oracle::Comparison cmp;
    btf::oracle::compare_bpftool(mine, theirs, ours_.name + "." + path, cmp);
    if (!cmp.mismatches.empty()) ok_ = false;
    for (auto& m : cmp.mismatches) out_.mismatches.push_back(std::move(m));
    for (auto& q : cmp.quirks) out_.quirks.push_back(std::move(q));
  }

  void compare_data(const RenderedValue& mine, const Node& theirs) {
    if (theirs.kind != Node::Kind::Aggregate || theirs.members.size() != mine.members.size()) {
      return mismatch(fmt::format("data: {} members captured, bpftool printed {}", mine.members.size(),
                                  theirs.members.size()));
    }
    for (const auto& [name, value] : mine.members) {
      const Node* their = btf::oracle::find(theirs, name);
      std::string path = "data." + name;
      if (their == nullptr) {
        mismatch(path + ": bpftool printed no such member");
      } else if (value.kind == ValueKind::Struct && value.type_name == "bpf_prog") {
        compare_callback(&value, *their, path);
      } else if (value.kind == ValueKind::Ptr && their->kind == Node::Kind::String) {
        compare_callback(value.uint_value == 0 ? nullptr : &value, *their, path);
      } else if (value.kind == ValueKind::Ptr) {
        continue;  // the kernel's own pointer: its copy only
      } else if (std::find(kKernelDefaulted.begin(), kKernelDefaulted.end(), name) != kKernelDefaulted.end() &&
                 their->text == "0") {
        continue;  // left to the kernel's default
      } else {
        agree(value, *their, path);
      }
    }
  }

  // bpftool: "<proto> <name>/prog_id:<id>", or "<proto> 0" when unset.
  void compare_callback(const RenderedValue* mine, const Node& theirs, const std::string& path) {
    if (theirs.kind != Node::Kind::String) return mismatch(path + ": bpftool printed no callback");
    auto space = theirs.text.rfind(' ');
    std::string tail = space == std::string::npos ? theirs.text : theirs.text.substr(space + 1);
    if (tail == "0") {
      if (mine != nullptr) mismatch(path + ": the capture has a callback, bpftool has none");
      return;
    }
    constexpr std::string_view kIdTag = "/prog_id:";
    auto tag = tail.rfind(kIdTag);
    uint32_t their_id = 0;
    const char* id_end = tail.data() + tail.size();
    if (tag == std::string::npos ||
        std::from_chars(tail.data() + tag + kIdTag.size(), id_end, their_id).ptr != id_end) {
      return mismatch(path + ": unparsable bpftool callback " + theirs.text);
    }
    std::string their_name = tail.substr(0, tag);
    if (mine == nullptr) return mismatch(path + ": bpftool has program " + tail + ", the capture none");
    const RenderedValue* id = member_of(*mine, "id");
    const RenderedValue* name = member_of(*mine, "name");
    uint64_t our_id = id ? static_cast<uint64_t>(id->uint_value) : 0;
    std::string our_name = name && name->text ? *name->text : "";
    bool same = our_id == their_id && our_name == their_name.substr(0, kProgNameMax);
    if (!same) return mismatch(fmt::format("{}: program {}/{} vs bpftool {}", path, our_name, our_id, tail));
    ++out_.callbacks;
  }

  const MapDump& ours_;
  OracleResult& out_;
  bool ok_ = true;
};

}  // namespace

void compare_struct_ops(const MapDump& ours, const Node& theirs, OracleResult& out) {
  StructOpsComparison(ours, out).run(theirs);
}

}  // namespace ktest::oracle_test
