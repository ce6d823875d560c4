// A captured STRUCT_OPS map checked against `bpftool struct_ops dump -j`
// (used by compare_capture(); see capture_oracle.h).
//
// bpftool prints [{"bpf_map_info":{...}},{"bpf_struct_ops_<ops>":
// {"common":{...},"data":{...}}}]: the kernel's lookup of the map, i.e.
// the user's copy of the value (uvalue) with common.state taken from the
// kernel's copy, and each callback as "<proto> <prog name>/prog_id:<id>"
// ("<proto> 0" when unset). The capture shows the kernel's copy (kvalue),
// each set callback as {id, name, kva} of its program. Compared:
// - bpf_map_info's type and name, and the value's type name;
// - common.state; not common.refcnt (bpftool's is map refcnt − usercnt,
//   worked out by the lookup, not the stored count);
// - every callback slot: set or not, the program id, and the name (ours
//   is the kernel's bpf_prog name, cut at 15 characters; bpftool's the
//   program's BTF function name);
// - every other member as bpftool renders it, except: pointers that are no
//   callbacks (the kernel's own, e.g. sched_ext's priv; the user's copy
//   holds 0) are skipped, and a member the kernel fills in with a default
//   when the user leaves it 0 (kKernelDefaulted) may be 0 on bpftool's
//   side only.
#pragma once

#include "btf/tests/oracle.h"
#include "snapshot/report.h"
#include "tests/maps_oracle/capture_oracle.h"

namespace ktest::oracle_test {

// Appends mismatches to out (prefixed with the map's name) and counts the
// map in out.compared[kMapTypeStructOps] when everything agreed.
void compare_struct_ops(const MapDump& ours, const btf::oracle::Node& theirs, OracleResult& out);

}  // namespace ktest::oracle_test
