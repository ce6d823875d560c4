// The guest kernel's /proc/kallsyms, kept once per kernel build.
//
// Contract: ktest boots every guest with nokaslr and reads kallsyms as the
// agent starts, before any module loads, so one kernel build gives the same
// text every time. The first run of a kernel has the agent send it
// (seconds of the guest formatting and compressing 9 MB under TCG); the
// host keeps the zstd frame under <ktest_cache_dir()>/kallsyms/<key>.zst,
// written atomically, key = the kernel's version and the boot image's
// path, size and mtime. Later runs load it instead and tell the agent not
// to send (PlanSettings::send_kallsyms). A cached table whose _text is not
// where nokaslr puts it, or that does not parse, is not used and is
// removed: that run has the agent send.
#pragma once

#include <string>
#include <string_view>

#include "kvm/control_protocol.h"
#include "kvm/kernel/kernel.h"
#include "util/result.h"

namespace ktest::cli {

// Where the kernel's kallsyms are kept; "" when its boot image cannot be
// stat()ed (nothing is cached then).
std::string kallsyms_cache_path(const kvm::KernelImage& kernel, const std::string& cache_dir = {});

// The cached table, checked: its _text must be `text_address`.
Result<kvm::control::SymbolTable> load_cached_kallsyms(const std::string& path, uint64_t text_address);

// Keeps the agent's zstd frame of kallsyms whose table was parsed.
Status store_kallsyms(const std::string& path, std::string_view zstd_frame);

}  // namespace ktest::cli
