// The kernel the capture-path targets (bpf_maps, scx, ringbuf, page_table's
// arena) read their image guest as: a small vmlinux BTF built with libbpf,
// holding every struct and enum the freeze layouts take from vmlinux
// (KernelLayout, ArenaLayout and RingbufLayout come from it through their
// real from_btf()), with compact offsets so a guest fits kImageBytes; and
// a hand-made compact ScxLayout (sched_ext's structs are too many to
// model: ScxLayout::from_btf is the unit tests' business).
//
// Also the BTF of "the BPF object" whose maps a seed lays out
// (program_btf(): a struct value type, a .bss DATASEC, a ringbuf record
// type and an .addr_space.1 section for arena globals).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "freeze/vmlinux.h"

namespace ktest::fuzz {

// Parsed once; layouts included. Aborts (fuzz_check) if it cannot be built.
std::shared_ptr<const freeze::Vmlinux> mini_vmlinux();

// The BTF of a BPF object, and the ids of the types its maps use.
struct ProgramBtf {
  std::vector<uint8_t> bytes;
  uint32_t point = 0;          // struct pt {int x, y}: the hash/array/queue values
  uint32_t event_record = 0;   // struct events_record: a ringbuf named "events"
  uint32_t bss = 0;            // DATASEC .bss {nr_events, last, where (a pointer)}
  uint32_t arena_section = 0;  // DATASEC .addr_space.1 {arena_counter}
};
ProgramBtf program_btf();

// The vmlinux id of bpf_struct_ops_sched_ext_ops (a STRUCT_OPS map's
// btf_vmlinux_value_type_id) and the size of that value.
uint32_t sched_ext_ops_value_type();
uint32_t sched_ext_ops_value_size();

}  // namespace ktest::fuzz
