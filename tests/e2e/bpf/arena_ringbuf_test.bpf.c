// The arena / ring buffer capture fixture: `fill` (SEC("syscall"), run by
// a LoadBpf step) allocates an arena page, writes a struct arena_point into
// it and points the `__arena` global `head` and the .bss global `bss_ptr`
// at it; then it submits three events_record samples to the ring buffer
// `events` and discards a fourth. Nothing consumes the ring, so a capture
// sees all four records. `events_record` follows ktest's convention: the
// samples of ring buffer <map> render as the object's type <map>_record
// (which a global must use, or clang leaves it out of the BTF).
// vmlinux.h's kfunc prototypes spell __arena as a type tag; ours uses the
// address space clang needs to emit arena accesses.
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define __arena __attribute__((address_space(1)))
#define NUMA_NO_NODE (-1)

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_ARENA);
  __uint(map_flags, BPF_F_MMAPABLE);
  __uint(max_entries, 16);  // pages
} arena SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4096);
} events SEC(".maps");

struct arena_point {
  s32 x;
  s32 y;
  u64 tag;
};

struct events_record {
  u32 seq;
  u32 flags;
  u64 value;
};

void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, u32 page_cnt, int node_id,
                                    u64 flags) __ksym __weak;

// In the arena's own section (.addr_space.1).
struct arena_point __arena *__arena head;
u64 __arena counter = 5;
// In .bss, pointing into the arena.
struct arena_point __arena *bss_ptr;
// The last sample submitted; it also puts events_record into the object's
// BTF (clang keeps no types that only locals use).
struct events_record last_event;

SEC("syscall")
int fill(void *ctx)
{
  struct arena_point __arena *p = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);

  if (!p)
    return 1;
  p->x = 11;
  p->y = 22;
  p->tag = 0xa7e4a;
  head = p;
  bss_ptr = p;
  counter += 1;
  for (u32 i = 1; i <= 3; i++) {
    struct events_record *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

    if (!e)
      return 2;
    e->seq = i;
    e->flags = 0;
    e->value = i * 100;
    last_event = *e;
    bpf_ringbuf_submit(e, 0);
  }
  struct events_record *dropped = bpf_ringbuf_reserve(&events, sizeof(*dropped), 0);

  if (!dropped)
    return 3;
  bpf_ringbuf_discard(dropped, 0);
  return 0;
}
