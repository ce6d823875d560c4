// Small blocking-socket helpers shared by the engine's files (engine-internal).
//
// Contract: every helper reports failures as values naming the call and
// errno; read_line() never blocks past its deadline.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "kvm/qemu/unique_fd.h"
#include "util/result.h"

namespace ktest::kvm {

Unexpected errno_fail(const std::string& what);
// send() until done, without SIGPIPE.
Status write_all(int fd, std::string_view data);
Result<UniqueFd> connect_unix(const std::string& path);
// One '\n'-terminated line (without it); bytes after it stay in `buffer`.
Result<std::string> read_line(int fd, std::string& buffer,
                              std::chrono::steady_clock::time_point deadline);

}  // namespace ktest::kvm
