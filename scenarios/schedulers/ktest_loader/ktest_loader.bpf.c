/* ktest_loader: the BPF half of a sched_ext scheduler run the way upstream
 * schedulers are, by its own userspace loader (ktest_loader.c, which opens
 * the bpftool-generated skeleton, sets the .rodata, attaches the struct_ops
 * map itself and serves stats).
 *
 * A global vtime-free FIFO on its own DSQ (LOADER_DSQ), slice `slice_ns`
 * (.rodata, set by the loader's --slice-us). What a snapshot finds:
 *   .bss        nr_enqueued, nr_dispatched, nr_running, nr_tasks (slots
 *               handed out), nr_events, nr_events_dropped, exit_kind,
 *               exit_reason, exit_msg (the loader watches exit_kind)
 *   .rodata     slice_ns
 *   loader_arena       BPF_MAP_TYPE_ARENA of LOADER_ARENA_PAGES pages, all
 *                      allocated by ops.init; `tasks` (.bss, an __arena
 *                      pointer) points at its first page: an array of
 *                      LOADER_MAX_TASKS struct loader_task, slot i at
 *                      tasks + i * sizeof(struct loader_task).
 *   loader_task_slot   BPF_MAP_TYPE_TASK_STORAGE: struct loader_slot
 *                      {u32 slot} per task, the task's index in the arena
 *                      array (given out in ops.init_task, never reused).
 *   loader_events      BPF_MAP_TYPE_RINGBUF (LOADER_RINGBUF_BYTES): one
 *                      struct loader_event per task entering the scheduler
 *                      (ops.enable, kind LOADER_EVENT_ENABLE) and leaving it
 *                      (ops.exit_task, LOADER_EVENT_EXIT). Nobody consumes
 *                      it: the records stay pending for captures; once it is
 *                      full, nr_events_dropped counts the rest.
 * The struct_ops map is `ktest_loader_ops`, its .name "ktest_loader".
 */
#include "ktest_compat.bpf.h"

char _license[] SEC("license") = "GPL";

#define LOADER_DSQ 0x4c44 /* "LD" */
#define LOADER_ARENA_PAGES 16
#define LOADER_RINGBUF_BYTES (16 * 1024)
#define NUMA_NO_NODE (-1)

#define __arena __attribute__((address_space(1)))

#include "ktest_loader.h"

loader_events_record last_event;

struct loader_slot {
	u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, LOADER_ARENA_PAGES);
} loader_arena SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct loader_slot);
} loader_task_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LOADER_RINGBUF_BYTES);
} loader_events SEC(".maps");

const volatile u64 slice_ns = 20000000; /* SCX_SLICE_DFL */

struct loader_task __arena (*tasks)[LOADER_MAX_TASKS];
u64 nr_tasks;
u64 nr_enqueued;
u64 nr_dispatched;
u64 nr_running;
u64 nr_events;
u64 nr_events_dropped;
s32 exit_kind;
char exit_reason[128];
char exit_msg[256];

/* Every program that touches the arena must name its map: the verifier
 * ties a program to an arena through a map reference it contains. */
static __always_inline void use_arena(void)
{
	asm volatile("" ::"r"(&loader_arena));
}

static __always_inline struct loader_task __arena *task_of(struct task_struct *p)
{
	struct loader_slot *s = bpf_task_storage_get(&loader_task_slot, p, 0, 0);

	use_arena();
	if (!s || !tasks || s->slot >= LOADER_MAX_TASKS)
		return NULL;
	return &(*tasks)[s->slot];
}

/* Helpers cannot write arena memory: copy the comm by hand. */
static __always_inline void copy_comm(char __arena *dst, const struct task_struct *p)
{
	for (int i = 0; i < 16; i++)
		dst[i] = p->comm[i];
}

static __always_inline void emit(struct task_struct *p, u32 kind)
{
	struct loader_event *e = bpf_ringbuf_reserve(&loader_events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&nr_events_dropped, 1);
		return;
	}
	e->pid = p->pid;
	e->kind = kind;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), p->comm);
	last_event = *e;
	/* No wakeup: nobody waits, the records stay for captures. */
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	__sync_fetch_and_add(&nr_events, 1);
}

s32 BPF_STRUCT_OPS(loader_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

	if (is_idle) {
		__sync_fetch_and_add(&nr_dispatched, 1);
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, 0);
	}
	return cpu;
}

void BPF_STRUCT_OPS(loader_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct loader_task __arena *t = task_of(p);

	__sync_fetch_and_add(&nr_enqueued, 1);
	if (t)
		t->nr_enqueued++;
	scx_bpf_dsq_insert(p, LOADER_DSQ, slice_ns, enq_flags);
}

void BPF_STRUCT_OPS(loader_dispatch, s32 cpu, struct task_struct *prev)
{
	if (scx_bpf_dsq_move_to_local(LOADER_DSQ))
		__sync_fetch_and_add(&nr_dispatched, 1);
}

void BPF_STRUCT_OPS(loader_running, struct task_struct *p)
{
	struct loader_task __arena *t = task_of(p);

	__sync_fetch_and_add(&nr_running, 1);
	if (t)
		t->nr_runs++;
}

s32 BPF_STRUCT_OPS(loader_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct loader_slot *s;
	struct loader_task __arena *t;
	u64 slot;

	use_arena();
	s = bpf_task_storage_get(&loader_task_slot, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s || !tasks)
		return 0; /* the task just goes untracked */
	slot = __sync_fetch_and_add(&nr_tasks, 1);
	if (slot >= LOADER_MAX_TASKS) {
		s->slot = LOADER_MAX_TASKS;
		return 0;
	}
	s->slot = slot;
	t = &(*tasks)[slot];
	t->pid = p->pid;
	t->slot = slot;
	t->weight = p->scx.weight;
	copy_comm(t->comm, p);
	return 0;
}

void BPF_STRUCT_OPS(loader_enable, struct task_struct *p)
{
	struct loader_task __arena *t = task_of(p);

	if (t) {
		t->weight = p->scx.weight;
		/* The comm as it is now: a forked child exec'd since init_task. */
		copy_comm(t->comm, p);
	}
	emit(p, LOADER_EVENT_ENABLE);
}

void BPF_STRUCT_OPS(loader_exit_task, struct task_struct *p, struct scx_exit_task_args *args)
{
	emit(p, LOADER_EVENT_EXIT);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(loader_init)
{
	use_arena();
	tasks = (struct loader_task __arena (*)[LOADER_MAX_TASKS])bpf_arena_alloc_pages(&loader_arena, NULL, LOADER_ARENA_PAGES, NUMA_NO_NODE, 0);
	if (!tasks) {
		scx_bpf_error("cannot allocate %d arena pages", LOADER_ARENA_PAGES);
		return -12; /* -ENOMEM */
	}
	return scx_bpf_create_dsq(LOADER_DSQ, -1);
}

void BPF_STRUCT_OPS(loader_exit, struct scx_exit_info *ei)
{
	bpf_probe_read_kernel_str(exit_reason, sizeof(exit_reason), ei->reason);
	bpf_probe_read_kernel_str(exit_msg, sizeof(exit_msg), ei->msg);
	/* Last: the loader polls it, then reads the texts. */
	exit_kind = ei->kind;
}

KTEST_SCX_OPS_DEFINE(ktest_loader_ops,
	.select_cpu = (void *)loader_select_cpu,
	.enqueue = (void *)loader_enqueue,
	.dispatch = (void *)loader_dispatch,
	.running = (void *)loader_running,
	.init_task = (void *)loader_init_task,
	.enable = (void *)loader_enable,
	.exit_task = (void *)loader_exit_task,
	.init = (void *)loader_init,
	.exit = (void *)loader_exit,
	.name = "ktest_loader");
