// zstd frames in memory: the initramfs and the kallsyms transfer use them.
//
// Contract: zstd_compress() writes one frame without a checksum (neither the
// kernel's unzstd nor the control channel needs one). zstd_decompress()
// accepts one frame from an untrusted source: it never produces more than
// max_bytes (an error says so), caps the window a frame may ask for, and
// rejects a truncated frame.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "util/result.h"

namespace ktest {

Result<std::string> zstd_compress(std::string_view bytes, int level);
Result<std::string> zstd_decompress(std::string_view frame, std::size_t max_bytes);

}  // namespace ktest
