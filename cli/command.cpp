#include "cli/command.h"

#include <cstdio>

#include "cli/term.h"

namespace ktest::cli {

void CommandContext::print_error(const Error& error, ExitCode code) {
  std::string text = format_error(error, Style{color});
  std::fwrite(text.data(), 1, text.size(), stderr);
  exit_code = code;
}

}  // namespace ktest::cli
