/* The corrupted-map test's guest program (see corrupt_map_test.py).
 *
 * `fill` puts one element into the hash map ktest_victim whose 16-byte key
 * spells "KTEST-VICTIM-KEY", and "KTEST-HOST-WAIT" into ktest_handshake.
 * The host test finds the key in guest RAM, scribbles over the element's
 * hash-chain pointer, and flips the handshake to "KTEST-HOST-DONE" so the
 * guest knows it may capture. The magic bytes are stored straight into
 * map values (never built on the BPF stack, never a string constant in
 * .rodata), so the element is the only place guest RAM holds the key and
 * the host cannot hit a stale copy.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct victim_key {
	u64 lo; /* "KTEST-VI" little-endian */
	u64 hi; /* "CTIM-KEY" */
};

struct scratch {
	struct victim_key key;
	char state[24];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, struct victim_key);
	__type(value, u64);
} ktest_victim SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct scratch);
} ktest_handshake SEC(".maps");

/* Runtime zero: keeps the compiler from folding the magic into constants
 * it would place in .rodata. */
u64 seed;
u64 corrupt_filled;

SEC("syscall")
int fill(void *ctx)
{
	u32 zero = 0;
	u64 value = 0x600dc0de;
	struct scratch *s = bpf_map_lookup_elem(&ktest_handshake, &zero);

	if (!s)
		return 1;
	s->key.lo = 0x49562d545345544bull + seed; /* "KTEST-VI" */
	s->key.hi = 0x59454b2d4d495443ull + seed; /* "CTIM-KEY" */
	if (bpf_map_update_elem(&ktest_victim, &s->key, &value, BPF_NOEXIST))
		return 2;
	s->key.lo = 0;
	s->key.hi = 0;
	/* "KTEST-HOST-WAIT" and its NUL, in three stores. */
	*(u64 *)&s->state[0] = 0x4f482d545345544bull + seed; /* "KTEST-HO" */
	*(u64 *)&s->state[8] = 0x00544941572d5453ull + seed; /* "ST-WAIT\0" */
	corrupt_filled = 1;
	return 0;
}
