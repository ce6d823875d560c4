/* Minimal sched_ext glue for ktest's fixture schedulers.
 *
 * Debian ships no scx headers, so this is the little the fixtures need on
 * top of a bpftool-generated vmlinux.h: the struct_ops section macros and
 * the ops definition macro. Kfunc prototypes come from vmlinux.h itself
 * (bpftool emits them); this targets the post-6.13 names
 * (scx_bpf_dsq_insert, scx_bpf_dsq_move_to_local) that the 7.x kernels use.
 * scx_bpf_error(fmt, args...) packs its arguments for the kernel's
 * scx_bpf_error_bstr() as bpf_helpers.h's BPF_SEQ_PRINTF does (at most 12
 * arguments, each widened to u64): the scheduler exits with
 * SCX_EXIT_ERROR_BPF and the formatted text as its message.
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

#define scx_bpf_error(fmt, args...)						\
	({									\
		static char ___fmt[] = fmt;					\
		unsigned long long ___param[___bpf_narg(args)];			\
		_Pragma("GCC diagnostic push")					\
		_Pragma("GCC diagnostic ignored \"-Wint-conversion\"")		\
		___bpf_fill(___param, args);					\
		_Pragma("GCC diagnostic pop")					\
		scx_bpf_error_bstr(___fmt, ___param, sizeof(___param));		\
	})

#endif /* KTEST_COMPAT_BPF_H */
