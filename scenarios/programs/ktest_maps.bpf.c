/* ktest_maps: one map of every type ktest captures, filled with known data.
 *
 * Load it with a LoadBpf step and run `fill` once:
 *
 *   - LoadBpf: {object: ../programs/ktest_maps.bpf.o, run: [fill]}
 *
 * Every value is a function of its key (and CPU, for per-CPU maps), so a
 * test can recompute what a capture must contain; the types are chosen to
 * exercise the renderer (nested structs, unions, enums, signed and char
 * array members, bitfields, pointers). It is also the fixture of ktest's
 * oracle test (host capture vs `bpftool map dump -j` in the same guest).
 * Built with -DKTEST_MAPS_BENCH=1 into ktest_maps_bench.bpf.o, it instead
 * fills KTEST_BENCH_MAPS hash maps with KTEST_BENCH_ENTRIES entries each
 * (bench/capture).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

#define NR_CPUS_MAX 64

enum ktest_color { KTEST_RED = 1, KTEST_GREEN = 2, KTEST_BLUE = -3 };

#ifndef KTEST_MAPS_BENCH

struct ktest_point {
	s32 x;
	s32 y;
	char label[8];
	enum ktest_color color;
	union {
		u32 raw;
		struct {
			u16 lo;
			u16 hi;
		};
	} tag;
	u8 flags : 3;
	u8 level : 5;
	struct ktest_point *next; /* a pointer member renders as an address */
};

struct ktest_flow_key {
	u32 addr;
	u16 port;
	u8 proto;
	u8 pad;
};

struct ktest_flow_stats {
	u64 packets;
	u64 bytes;
	s16 delta[3];
	bool active;
};

struct ktest_cpu_counter {
	u64 hits;
	u32 cpu;
	s32 balance;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 6);
	__type(key, u32);
	__type(value, struct ktest_point);
} ktest_array SEC(".maps");

/* One element: a capture shows it as the map's `value`, not as entries. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct ktest_flow_stats);
} ktest_single SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, struct ktest_cpu_counter);
} ktest_pcpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct ktest_flow_key);
	__type(value, struct ktest_flow_stats);
} ktest_hash SEC(".maps");

/* Elements allocated at update time instead of from a preallocated pool. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, u32);
	__type(value, struct ktest_point);
} ktest_hash_dyn SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, struct ktest_cpu_counter);
} ktest_pcpu_hash SEC(".maps");

/* Well above the entries filled, so the LRU never evicts one. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 512);
	__type(key, u64);
	__type(value, struct ktest_flow_stats);
} ktest_lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 512);
	__type(key, u32);
	__type(value, u64);
} ktest_lru_pcpu_hash SEC(".maps");

/* Queue and stack: a capture lists their elements in pop order. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, struct ktest_flow_key);
} ktest_queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, u64);
} ktest_stack SEC(".maps");

/* Inner maps of the maps of maps below (captured as maps of their own);
 * libbpf puts them into their slots at load time. */
struct ktest_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} ktest_inner_a SEC(".maps"), ktest_inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, u32);
	__array(values, struct ktest_inner);
} ktest_aom SEC(".maps") = {
	.values = {[0] = &ktest_inner_b, [2] = &ktest_inner_a},
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, u32);
	__array(values, struct ktest_inner);
} ktest_hom SEC(".maps") = {
	.values = {[5] = &ktest_inner_a},
};

/* Storage of the cgroup `fill` runs in (bpftool cannot dump it). */
struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ktest_flow_stats);
} ktest_cgrp_ls SEC(".maps");

/* Globals: .bss, .data and .rodata become one array map each. */
u64 fill_runs;
struct ktest_point last_point;
s32 data_answer = -42;
char data_name[12] = "ktest-data";
const volatile u32 rodata_magic = 0x6b746573;
const volatile enum ktest_color rodata_color = KTEST_GREEN;

static __always_inline void make_point(struct ktest_point *p, u32 i)
{
	p->x = (s32)i * 10 - 25;
	p->y = -(s32)i;
	__builtin_memcpy(p->label, "pt-0000", 8);
	p->label[5] = '0' + (char)(i / 10 % 10);
	p->label[6] = '0' + (char)(i % 10);
	p->color = i % 3 == 0 ? KTEST_RED : i % 3 == 1 ? KTEST_GREEN : KTEST_BLUE;
	p->tag.raw = 0x10001u * (i + 1);
	p->flags = i & 7;
	p->level = (i * 3) & 31;
	p->next = 0;
}

static __always_inline void make_stats(struct ktest_flow_stats *s, u64 seed)
{
	s->packets = seed * 3 + 1;
	s->bytes = seed * 1500 + 64;
	s->delta[0] = (s16)(seed - 7);
	s->delta[1] = (s16)(-(s64)seed * 100);
	s->delta[2] = 0x7fff;
	s->active = seed & 1;
}

/* Writes `value(key, cpu)` into every CPU's slot of a per-CPU element. */
static __always_inline void fill_percpu_counter(void *map, u32 index)
{
	u32 key = index;

	for (u32 cpu = 0; cpu < NR_CPUS_MAX; cpu++) {
		struct ktest_cpu_counter *c = bpf_map_lookup_percpu_elem(map, &key, cpu);

		if (!c)
			break;
		c->hits = (u64)key * 1000 + cpu;
		c->cpu = cpu;
		c->balance = (s32)cpu - (s32)key;
	}
}

/* Keys live in their own stack slots: a loop counter whose address is
 * passed to a helper is no longer a tracked scalar, and the verifier then
 * rejects the loop as possibly infinite. */
SEC("syscall")
int fill(void *ctx)
{
	struct ktest_point p = {};
	struct ktest_flow_stats s = {};
	struct ktest_cpu_counter zero = {};
	u64 zero64 = 0;

	for (u32 i = 0; i < 6; i++) {
		u32 key = i;

		make_point(&p, i);
		if (bpf_map_update_elem(&ktest_array, &key, &p, BPF_ANY))
			return 1;
	}
	u32 single_key = 0;

	make_stats(&s, 99);
	if (bpf_map_update_elem(&ktest_single, &single_key, &s, BPF_ANY))
		return 2;
	for (u32 i = 0; i < 4; i++)
		fill_percpu_counter(&ktest_pcpu_array, i);
	for (u32 i = 0; i < 10; i++) {
		struct ktest_flow_key k = {.addr = 0x0a000001 + i, .port = (u16)(8000 + i), .proto = i % 2 ? 6 : 17};

		make_stats(&s, i);
		if (bpf_map_update_elem(&ktest_hash, &k, &s, BPF_NOEXIST))
			return 3;
	}
	for (u32 i = 100; i < 105; i++) {
		u32 key = i;

		make_point(&p, i);
		if (bpf_map_update_elem(&ktest_hash_dyn, &key, &p, BPF_NOEXIST))
			return 4;
	}
	for (u32 i = 1; i <= 5; i++) {
		u32 key = i;

		if (bpf_map_update_elem(&ktest_pcpu_hash, &key, &zero, BPF_NOEXIST))
			return 5;
		fill_percpu_counter(&ktest_pcpu_hash, i);
	}
	for (u32 i = 0; i < 7; i++) {
		u64 key = 0xfeed000000000000ull | i;

		make_stats(&s, 1000 + i);
		if (bpf_map_update_elem(&ktest_lru_hash, &key, &s, BPF_NOEXIST))
			return 6;
	}
	for (u32 i = 0; i < 3; i++) {
		u32 key = i;

		if (bpf_map_update_elem(&ktest_lru_pcpu_hash, &key, &zero64, BPF_NOEXIST))
			return 7;
		for (u32 cpu = 0; cpu < NR_CPUS_MAX; cpu++) {
			u64 *v = bpf_map_lookup_percpu_elem(&ktest_lru_pcpu_hash, &key, cpu);

			if (!v)
				break;
			*v = ((u64)i << 32) | cpu;
		}
	}
	/* Pushed 0..4: the queue pops port 9000 first, the stack
	 * 0x5700000000000004. */
	for (u32 i = 0; i < 5; i++) {
		struct ktest_flow_key k = {.addr = 0xc0a80000 + i, .port = (u16)(9000 + i), .proto = 6};
		u64 v = 0x5700000000000000ull | i;

		if (bpf_map_push_elem(&ktest_queue, &k, 0) || bpf_map_push_elem(&ktest_stack, &v, 0))
			return 8;
	}
	for (u32 i = 0; i < 2; i++) {
		u32 key = i;
		u64 a = 0xa0 + i, b = 0xb0 + i;

		if (bpf_map_update_elem(&ktest_inner_a, &key, &a, BPF_ANY) ||
		    bpf_map_update_elem(&ktest_inner_b, &key, &b, BPF_ANY))
			return 9;
	}
	/* A syscall program is sleepable: outside an RCU read section
	 * task->cgroups is untrusted, which the storage helper refuses. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct ktest_flow_stats *cs;

	bpf_rcu_read_lock();
	cs = bpf_cgrp_storage_get(&ktest_cgrp_ls, task->cgroups->dfl_cgrp, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (cs)
		make_stats(cs, 4242);
	bpf_rcu_read_unlock();
	if (!cs)
		return 10;
	make_point(&last_point, 7);
	fill_runs++;
	return 0;
}

#else /* KTEST_MAPS_BENCH */

#ifndef KTEST_BENCH_ENTRIES
#define KTEST_BENCH_ENTRIES 1000
#endif

struct ktest_bench_value {
	u64 seq;
	u64 stamp;
	s32 cpu;
	u32 weight;
	char comm[16];
	u64 history[4];
};

#define BENCH_MAP(n)                                    \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_HASH);        \
		__uint(max_entries, KTEST_BENCH_ENTRIES); \
		__type(key, u32);                       \
		__type(value, struct ktest_bench_value);      \
	} bench_map_##n SEC(".maps")

BENCH_MAP(0);
BENCH_MAP(1);
BENCH_MAP(2);
BENCH_MAP(3);
BENCH_MAP(4);
BENCH_MAP(5);
BENCH_MAP(6);
BENCH_MAP(7);

u64 bench_filled;

static __always_inline void make_bench_value(struct ktest_bench_value *v, u32 i)
{
	*v = (struct ktest_bench_value){.seq = i, .stamp = (u64)i * 7919, .cpu = (s32)(i % 4), .weight = 100};
	__builtin_memcpy(v->comm, "bench-worker", 13);
	v->history[i % 4] = i;
}

/* bpf_loop callbacks need the map as a constant: one callback per map. */
#define BENCH_FILL(n)                                                   \
	static long fill_##n(u32 i, void *ctx)                          \
	{                                                               \
		struct ktest_bench_value v;                                   \
									\
		make_bench_value(&v, i);                                \
		if (bpf_map_update_elem(&bench_map_##n, &i, &v, BPF_ANY) == 0) \
			__sync_fetch_and_add(&bench_filled, 1);         \
		return 0;                                               \
	}

BENCH_FILL(0)
BENCH_FILL(1)
BENCH_FILL(2)
BENCH_FILL(3)
BENCH_FILL(4)
BENCH_FILL(5)
BENCH_FILL(6)
BENCH_FILL(7)

SEC("syscall")
int fill(void *ctx)
{
	bpf_loop(KTEST_BENCH_ENTRIES, fill_0, 0, 0);
	bpf_loop(KTEST_BENCH_ENTRIES, fill_1, 0, 0);
	bpf_loop(KTEST_BENCH_ENTRIES, fill_2, 0, 0);
	bpf_loop(KTEST_BENCH_ENTRIES, fill_3, 0, 0);
	bpf_loop(KTEST_BENCH_ENTRIES, fill_4, 0, 0);
	bpf_loop(KTEST_BENCH_ENTRIES, fill_5, 0, 0);
	bpf_loop(KTEST_BENCH_ENTRIES, fill_6, 0, 0);
	bpf_loop(KTEST_BENCH_ENTRIES, fill_7, 0, 0);
	return bench_filled == 8ull * KTEST_BENCH_ENTRIES ? 0 : 1;
}

#endif /* KTEST_MAPS_BENCH */
