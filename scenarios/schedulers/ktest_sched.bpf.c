/* ktest_sched: the fixture scheduler ktest's own tests snapshot.
 *
 * A global-FIFO sched_ext scheduler that records what a snapshot should
 * find: per-task state in the hash map `scx_per_task` (keyed by pid; the
 * value's ctx.weight.value is p->scx.weight, 100 for a nice-0 task) and
 * counters in .bss (nr_enqueued, nr_dispatched, nr_cpus_onln, ...); and
 * per-task state in task local storage `ktest_task_ctx` (created in
 * init_task: weight = p->scx.weight, nr_enqueued counts the task's
 * enqueues), which a snapshot keys by the owner's pid.
 * Built once per KTEST_VARIANT; every variant names its ops map
 * `ktest_ops` and its ops .name after itself:
 *   0 "ktest_sched"        queues on its own DSQ (SHARED_DSQ).
 *   1 "ktest_sched_global" queues on SCX_DSQ_GLOBAL, so ReplaceScheduler
 *                          has something to switch to.
 *   2 "ktest_sched_bad"    dereferences a map lookup without a NULL check,
 *                          so the verifier rejects it: the fixture for
 *                          load-failure reporting.
 * The scheduler-death fixtures (all queue like variant 0):
 *   3 "ktest_sched_error"  calls scx_bpf_error("boom was scheduled 20 times
 *                          (pid <pid>)") at the 20th scheduling event of
 *                          tasks whose comm is "boom" (Spawn name "boom"
 *                          with @spin/@yield/@sleep, or any command).
 *                          An event is ops.running (the task is put on a
 *                          CPU) or ops.tick (a timer tick while it runs):
 *                          ops.enqueue would miss a task select_cpu placed
 *                          on an idle CPU, and ops.running alone a spinner
 *                          that keeps its CPU, so every workload counts up,
 *                          20 events within ~100 ms of running. The count
 *                          is in boom_events; nothing happens without boom.
 *   4 "ktest_sched_stall"  never runs tasks whose comm is "stallme": their
 *                          enqueues go to STALL_DSQ, which ops.dispatch
 *                          never consumes, and select_cpu never dispatches
 *                          them directly. SCX_OPS_ENQ_LAST makes even a
 *                          lone spinner go through ops.enqueue when its
 *                          slice ends (other tasks enqueued as last go to
 *                          the local DSQ). With .timeout_ms = 3000 the
 *                          watchdog exits it with SCX_EXIT_ERROR_STALL
 *                          ("runnable task stall") 3-4.5 s after stallme
 *                          first waits. nr_parked counts the parkings.
 *   5 "ktest_sched_die"    ops.init creates its DSQ, then calls
 *                          scx_bpf_error("ops.init fails on purpose") and
 *                          returns -EINVAL: the kernel disables it while
 *                          enabling, so AttachScheduler fails.
 * The kernel logs an exit as `sched_ext: BPF scheduler "<name>" disabled
 * (<reason>)` and `sched_ext: <name>: <message>`, e.g. "sched_ext:
 * ktest_sched_error: boom was scheduled 20 times (pid 105)".
 */
#include "ktest_compat.bpf.h"

char _license[] SEC("license") = "GPL";

#ifndef KTEST_VARIANT
#define KTEST_VARIANT 0
#endif
#if KTEST_VARIANT == 0
#define KTEST_OPS_NAME "ktest_sched"
#elif KTEST_VARIANT == 1
#define KTEST_OPS_NAME "ktest_sched_global"
#elif KTEST_VARIANT == 2
#define KTEST_OPS_NAME "ktest_sched_bad"
#elif KTEST_VARIANT == 3
#define KTEST_OPS_NAME "ktest_sched_error"
#elif KTEST_VARIANT == 4
#define KTEST_OPS_NAME "ktest_sched_stall"
#elif KTEST_VARIANT == 5
#define KTEST_OPS_NAME "ktest_sched_die"
#else
#error "unknown KTEST_VARIANT"
#endif

/* Variants 1 and 2 queue on SCX_DSQ_GLOBAL, the others on SHARED_DSQ. */
#define KTEST_OWN_DSQ (KTEST_VARIANT == 0 || KTEST_VARIANT >= 3)
#define SHARED_DSQ 0x4b54 /* "KT" */
#define STALL_DSQ 0x5354  /* "ST": ktest_sched_stall parks stallme here */
#define BOOM_AFTER 20     /* ktest_sched_error: events of boom before the error */
#define MAX_TASKS 8192

struct task_weight {
	u64 value;
};

struct task_stats {
	struct task_weight weight;
	u64 enq_count;
	s32 last_cpu;
};

struct task_ctx {
	u32 tid;
	struct task_stats ctx;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TASKS);
	__type(key, u32);
	__type(value, struct task_ctx);
} scx_per_task SEC(".maps");

struct task_local_ctx {
	u64 weight;
	u64 nr_enqueued;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_local_ctx);
} ktest_task_ctx SEC(".maps");

/* Counters the snapshot tests read as globals. */
u64 nr_enqueued;
u64 nr_dispatched;
u64 nr_direct_dispatched;
u64 nr_init_task;
u64 nr_exit_task;
u32 nr_cpus_onln;
u32 variant = KTEST_VARIANT;
s32 exit_kind;
char exit_reason[128];

u64 boom_events; /* ktest_sched_error */
u64 nr_parked;   /* ktest_sched_stall */

static __always_inline u64 target_dsq(void)
{
	return KTEST_OWN_DSQ ? SHARED_DSQ : SCX_DSQ_GLOBAL;
}

/* p->comm == name, where len counts name's NUL. */
static __always_inline bool comm_is(const struct task_struct *p, const char *name, int len)
{
	for (int i = 0; i < len && i < 16; i++)
		if (p->comm[i] != name[i])
			return false;
	return true;
}

static __always_inline bool parked(const struct task_struct *p)
{
	return KTEST_VARIANT == 4 && comm_is(p, "stallme", 8);
}

static void track(struct task_struct *p, bool enqueued)
{
	u32 pid = p->pid;
	struct task_ctx *tctx = bpf_map_lookup_elem(&scx_per_task, &pid);

	if (!tctx) {
		struct task_ctx fresh = { .tid = pid };

		bpf_probe_read_kernel_str(fresh.comm, sizeof(fresh.comm), p->comm);
		fresh.ctx.weight.value = p->scx.weight;
		fresh.ctx.last_cpu = -1;
		/* Full map: the task just goes untracked. */
		bpf_map_update_elem(&scx_per_task, &pid, &fresh, BPF_NOEXIST);
		tctx = bpf_map_lookup_elem(&scx_per_task, &pid);
		if (!tctx)
			return;
	}
	tctx->ctx.weight.value = p->scx.weight;
	if (enqueued) {
		__sync_fetch_and_add(&tctx->ctx.enq_count, 1);
		tctx->ctx.last_cpu = bpf_get_smp_processor_id();
	}
}

static void track_local(struct task_struct *p, bool enqueued)
{
	struct task_local_ctx *lctx = bpf_task_storage_get(&ktest_task_ctx, p, 0, 0);

	if (!lctx)
		return;
	lctx->weight = p->scx.weight;
	if (enqueued)
		__sync_fetch_and_add(&lctx->nr_enqueued, 1);
}

s32 BPF_STRUCT_OPS(ktest_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	if (parked(p))
		return prev_cpu; /* never straight to a CPU: ops.enqueue parks it */
	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		__sync_fetch_and_add(&nr_direct_dispatched, 1);
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, 0);
	}
	return cpu;
}

void BPF_STRUCT_OPS(ktest_enqueue, struct task_struct *p, u64 enq_flags)
{
	__sync_fetch_and_add(&nr_enqueued, 1);
#if KTEST_VARIANT == 2
	{
		u32 pid = p->pid;
		struct task_ctx *unchecked = bpf_map_lookup_elem(&scx_per_task, &pid);

		unchecked->ctx.enq_count++; /* no NULL check: rejected on purpose */
	}
#endif
	track(p, true);
	track_local(p, true);
	if (parked(p)) {
		__sync_fetch_and_add(&nr_parked, 1);
		scx_bpf_dsq_insert(p, STALL_DSQ, SCX_SLICE_DFL, enq_flags);
		return;
	}
	/* SCX_OPS_ENQ_LAST (ktest_sched_stall): its CPU would idle, keep it there. */
	if (enq_flags & SCX_ENQ_LAST) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, SCX_SLICE_DFL, enq_flags);
		return;
	}
	scx_bpf_dsq_insert(p, target_dsq(), SCX_SLICE_DFL, enq_flags);
}

void BPF_STRUCT_OPS(ktest_dispatch, s32 cpu, struct task_struct *prev)
{
	if (KTEST_OWN_DSQ && scx_bpf_dsq_move_to_local(SHARED_DSQ))
		__sync_fetch_and_add(&nr_dispatched, 1);
}

#if KTEST_VARIANT == 3
/* A scheduling event of p (see the header): the 20th of boom is an error. */
static void boom_event(struct task_struct *p)
{
	u64 n;

	if (!comm_is(p, "boom", 5))
		return;
	n = ++boom_events; /* racy across CPUs, hence >=; only the first error counts */
	if (n >= BOOM_AFTER)
		scx_bpf_error("boom was scheduled %llu times (pid %d)", n, p->pid);
}

void BPF_STRUCT_OPS(ktest_running, struct task_struct *p)
{
	boom_event(p);
}

void BPF_STRUCT_OPS(ktest_tick, struct task_struct *p)
{
	boom_event(p);
}
#endif

s32 BPF_STRUCT_OPS(ktest_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct task_local_ctx *lctx;

	__sync_fetch_and_add(&nr_init_task, 1);
	track(p, false);
	lctx = bpf_task_storage_get(&ktest_task_ctx, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (lctx)
		lctx->weight = p->scx.weight;
	return 0;
}

void BPF_STRUCT_OPS(ktest_enable, struct task_struct *p)
{
	track(p, false);
	track_local(p, false);
}

void BPF_STRUCT_OPS(ktest_exit_task, struct task_struct *p, struct scx_exit_task_args *args)
{
	u32 pid = p->pid;

	__sync_fetch_and_add(&nr_exit_task, 1);
	bpf_map_delete_elem(&scx_per_task, &pid);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(ktest_init)
{
	const struct cpumask *online = scx_bpf_get_online_cpumask();
	s32 ret;

	nr_cpus_onln = bpf_cpumask_weight(online);
	scx_bpf_put_cpumask(online);
	if (!KTEST_OWN_DSQ)
		return 0;
	ret = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (ret == 0 && KTEST_VARIANT == 4)
		ret = scx_bpf_create_dsq(STALL_DSQ, -1);
	if (ret == 0 && KTEST_VARIANT == 5) {
		scx_bpf_error("ops.init fails on purpose");
		ret = -22; /* -EINVAL */
	}
	return ret;
}

void BPF_STRUCT_OPS(ktest_exit, struct scx_exit_info *ei)
{
	exit_kind = ei->kind;
	bpf_probe_read_kernel_str(exit_reason, sizeof(exit_reason), ei->reason);
}

#define KTEST_COMMON_OPS					\
	.select_cpu = (void *)ktest_select_cpu,			\
	.enqueue = (void *)ktest_enqueue,			\
	.dispatch = (void *)ktest_dispatch,			\
	.init_task = (void *)ktest_init_task,			\
	.enable = (void *)ktest_enable,				\
	.exit_task = (void *)ktest_exit_task,			\
	.init = (void *)ktest_init,				\
	.exit = (void *)ktest_exit,				\
	.name = KTEST_OPS_NAME

#if KTEST_VARIANT == 3
KTEST_SCX_OPS_DEFINE(ktest_ops, KTEST_COMMON_OPS,
	.running = (void *)ktest_running,
	.tick = (void *)ktest_tick,
	.timeout_ms = 20000);
#elif KTEST_VARIANT == 4
KTEST_SCX_OPS_DEFINE(ktest_ops, KTEST_COMMON_OPS,
	.flags = SCX_OPS_ENQ_LAST,
	.timeout_ms = 3000);
#else
KTEST_SCX_OPS_DEFINE(ktest_ops, KTEST_COMMON_OPS,
	.timeout_ms = 20000);
#endif
