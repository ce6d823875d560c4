/*
 * The types ktest_loader's BPF side and its userspace loader share: the
 * skeleton's .bss names them, so both compile them from here.
 */
#ifndef KTEST_LOADER_H
#define KTEST_LOADER_H

#define LOADER_MAX_TASKS 1024 /* 1024 * 48 bytes fit in 12 of the arena's pages */

enum loader_event_kind {
	LOADER_EVENT_ENABLE = 1,
	LOADER_EVENT_EXIT = 2,
};

/* 48 bytes. */
struct loader_task {
	__s32 pid;
	__u32 slot;
	__u64 nr_runs;   /* ops.running calls */
	__u64 weight;    /* p->scx.weight, 100 for nice 0 */
	char comm[16];
	__u64 nr_enqueued;
};

/* 24 bytes. */
struct loader_event {
	__s32 pid;
	__u32 kind; /* enum loader_event_kind */
	char comm[16];
};

/*
 * ktest renders ring buffer samples as the object's type named
 * <map>_record (ktest-snapshot(1)); clang keeps a type in BTF only when a
 * global uses it, hence last_event (the latest event emitted).
 */
typedef struct loader_event loader_events_record;

#endif
