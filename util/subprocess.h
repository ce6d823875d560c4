// Running a host program to completion and collecting what it printed.
//
// Contract: run_process() starts argv[0] (looked up on $PATH) with stdin on
// /dev/null, in `cwd` when given, and returns its exit status (128 + signal
// when killed) with stdout and stderr captured separately. A program that
// cannot be started is an Error naming it. With a timeout, a program still
// running when it passes is killed (SIGKILL) and reported as an Error; the
// output it printed so far is in the error's message tail.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "util/result.h"

namespace ktest {

struct ProcessResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

struct ProcessOptions {
  std::string cwd;                         // "" = the caller's
  std::chrono::milliseconds timeout{0};    // 0 = wait as long as it runs
};

Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  const ProcessOptions& options = {});

// run_process(), and a non-zero exit is an Error quoting the command and the
// tail of its stderr (its stdout when stderr is empty).
Result<ProcessResult> run_checked(const std::vector<std::string>& argv,
                                  const ProcessOptions& options = {});

}  // namespace ktest
