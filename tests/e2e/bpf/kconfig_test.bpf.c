// A non-weak __kconfig extern, as upstream BPF code uses them: libbpf must
// find the kernel's config in the guest (/boot/config-$(uname -r), which the
// agent provides) or the load fails. `read_config` (SEC("syscall"), run by
// the step) copies the values into globals a snapshot reads.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern unsigned long CONFIG_NR_CPUS __kconfig;
extern int CONFIG_HZ __kconfig;

u64 config_nr_cpus = 0;
u64 config_hz = 0;

SEC("syscall")
int read_config(void *ctx)
{
  config_nr_cpus = CONFIG_NR_CPUS;
  config_hz = CONFIG_HZ;
  return 0;
}

char _license[] SEC("license") = "GPL";
