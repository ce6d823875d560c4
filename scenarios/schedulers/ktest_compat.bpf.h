/* Minimal sched_ext glue for ktest's fixture schedulers.
 *
 * Debian ships no scx headers, so this is the little the fixtures need on
 * top of a bpftool-generated vmlinux.h: the struct_ops section macros and
 * the ops definition macro. Kfunc prototypes come from vmlinux.h itself
 * (bpftool emits them); this targets the post-6.13 names
 * (scx_bpf_dsq_insert, scx_bpf_dsq_move_to_local) that the 7.x kernels use.
 */
#ifndef KTEST_COMPAT_BPF_H
#define KTEST_COMPAT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define BPF_STRUCT_OPS(name, args...) \
	SEC("struct_ops/" #name) BPF_PROG(name, ##args)

#define BPF_STRUCT_OPS_SLEEPABLE(name, args...) \
	SEC("struct_ops.s/" #name) BPF_PROG(name, ##args)

/* sched_ext only accepts struct_ops maps attached through a link. */
#define KTEST_SCX_OPS_DEFINE(var, ...) \
	SEC(".struct_ops.link") struct sched_ext_ops var = { __VA_ARGS__ }

#endif /* KTEST_COMPAT_BPF_H */
