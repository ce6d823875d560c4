/* ktest_sched: the fixture scheduler ktest's own tests snapshot.
 *
 * A global-FIFO sched_ext scheduler that records what a snapshot should
 * find: per-task state in the hash map `scx_per_task` (keyed by pid; the
 * value's ctx.weight.value is p->scx.weight, 100 for a nice-0 task) and
 * counters in .bss (nr_enqueued, nr_dispatched, nr_cpus_onln, ...); and
 * per-task state in task local storage `ktest_task_ctx` (created in
 * init_task: weight = p->scx.weight, nr_enqueued counts the task's
 * enqueues), which a snapshot keys by the owner's pid.
 * Built twice: KTEST_VARIANT 0 ("ktest_sched") queues on its own DSQ,
 * KTEST_VARIANT 1 ("ktest_sched_global") on SCX_DSQ_GLOBAL, so
 * ReplaceScheduler has something to switch to. KTEST_VARIANT 2
 * ("ktest_sched_bad") dereferences a map lookup without a NULL check, so
 * the verifier rejects it: the fixture for load-failure reporting. All
 * name their ops map `ktest_ops`.
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
#else
#define KTEST_OPS_NAME "ktest_sched_bad"
#endif

#define SHARED_DSQ 0x4b54 /* "KT" */
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

static __always_inline u64 target_dsq(void)
{
	return KTEST_VARIANT == 0 ? SHARED_DSQ : SCX_DSQ_GLOBAL;
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
	s32 cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);

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
	scx_bpf_dsq_insert(p, target_dsq(), SCX_SLICE_DFL, enq_flags);
}

void BPF_STRUCT_OPS(ktest_dispatch, s32 cpu, struct task_struct *prev)
{
	if (KTEST_VARIANT == 0 && scx_bpf_dsq_move_to_local(SHARED_DSQ))
		__sync_fetch_and_add(&nr_dispatched, 1);
}

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

	nr_cpus_onln = bpf_cpumask_weight(online);
	scx_bpf_put_cpumask(online);
	if (KTEST_VARIANT == 0)
		return scx_bpf_create_dsq(SHARED_DSQ, -1);
	return 0;
}

void BPF_STRUCT_OPS(ktest_exit, struct scx_exit_info *ei)
{
	exit_kind = ei->kind;
	bpf_probe_read_kernel_str(exit_reason, sizeof(exit_reason), ei->reason);
}

KTEST_SCX_OPS_DEFINE(ktest_ops,
	.select_cpu = (void *)ktest_select_cpu,
	.enqueue = (void *)ktest_enqueue,
	.dispatch = (void *)ktest_dispatch,
	.init_task = (void *)ktest_init_task,
	.enable = (void *)ktest_enable,
	.exit_task = (void *)ktest_exit_task,
	.init = (void *)ktest_init,
	.exit = (void *)ktest_exit,
	.timeout_ms = 20000,
	.name = KTEST_OPS_NAME);
