// LoadBpf's end-to-end fixture: `fill` (SEC("syscall"), run by the step)
// writes known values into an array map that bpftool then dumps in the
// guest; `count_exec` is auto-attached to a tracepoint and counts execs;
// `fail_with_3` returns 3 so a step that runs it must fail.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define LOAD_BPF_FILL_VALUE 0x4b54455354ULL  // "KTEST"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __type(key, u32);
  __type(value, u64);
} load_bpf_array SEC(".maps");

u64 exec_count = 0;
u64 fill_runs = 0;

SEC("syscall")
int fill(void *ctx)
{
  // The index stays in a register: a key on the stack, passed to the
  // helper, would lose its bounds and the loop its end for the verifier.
  for (u32 i = 0; i < 4; i++) {
    u32 key = i;
    u64 value = LOAD_BPF_FILL_VALUE + i;
    bpf_map_update_elem(&load_bpf_array, &key, &value, BPF_ANY);
  }
  fill_runs++;
  return 0;
}

SEC("syscall")
int fail_with_3(void *ctx)
{
  return 3;
}

SEC("tp/sched/sched_process_exec")
int count_exec(void *ctx)
{
  __sync_fetch_and_add(&exec_count, 1);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
