// Atomic file writes: reports and results are never seen half-written.
//
// Contract: write_file_atomic() writes `content` to a temporary file in
// the same directory, fsyncs it, and renames it over `path`. On failure
// the old file (if any) is untouched and the temporary is removed.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace ktest {

Status write_file_atomic(const std::string& path, std::string_view content);
Result<std::string> read_file(const std::string& path);

}  // namespace ktest
