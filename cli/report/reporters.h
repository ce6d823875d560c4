// Internal to cli/report/: the per-format factories behind make_reporter().
#pragma once

#include <memory>

#include "cli/report/report.h"

namespace ktest::cli::report_detail {

std::unique_ptr<Reporter> make_text_reporter(bool color);
std::unique_ptr<Reporter> make_json_reporter();
std::unique_ptr<Reporter> make_junit_reporter();
std::unique_ptr<Reporter> make_tap_reporter();

}  // namespace ktest::cli::report_detail
