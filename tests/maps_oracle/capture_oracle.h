// A capture checked against `bpftool map dump -j` run in the same guest.
//
// Contract: compare_capture() walks every map bpftool dumped beside the
// map of the same (kernel) name in ktest's report and returns every
// disagreement: a map or entry one side has and the other lacks, a key or
// value whose bytes differ (bpftool's "key"/"value" hex vs the report's
// key_hex/value_hex), or a rendered key/value that differs from bpftool's
// "formatted" BTF rendering (btf/tests/oracle.h does the field-by-field
// walk and knows bpftool's own bugs, which come back as quirks). Per-CPU
// maps are compared CPU by CPU. Queues and stacks come as `bpftool map
// peek -j` (the element the next pop returns: the capture's entry 0); maps
// of maps by key and inner_map_id (the capture's value.id; bpftool's
// lookup-error lines for empty slots are not entries). STRUCT_OPS maps
// come as `bpftool struct_ops dump -j` (struct_ops_oracle.h: the ops
// value, each callback's program id and name). A report map with an
// error is a mismatch.
// `compared` counts, per map type, the entries that agreed, so a caller
// can insist that every type it cares about was actually exercised.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "btf/tests/oracle.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest::oracle_test {

struct BpftoolDump {
  std::string map_name;
  btf::oracle::Node entries;  // the JSON list bpftool printed
};

// Lines of "<map name>\t<bpftool's JSON>" (map dump, map peek or
// struct_ops dump: which one follows from the captured map's type), as
// the oracle scenario's Run step prints them; blank lines are ignored.
Result<std::vector<BpftoolDump>> parse_dump_listing(const std::string& text);

struct OracleResult {
  std::vector<std::string> mismatches;
  std::vector<std::string> quirks;               // bpftool's known bugs met on the way
  std::map<uint32_t, std::size_t> compared;      // map type → entries that agreed
  std::vector<std::string> datasec_maps;         // global-section maps compared
  std::size_t callbacks = 0;                     // struct_ops callback programs that agreed
};

OracleResult compare_capture(const Report& report, const std::vector<BpftoolDump>& dumps);

}  // namespace ktest::oracle_test
