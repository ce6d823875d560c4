// Bridges the dsl's evaluated assertions into the reporters' model.
//
// Contract: from_dsl() maps one dsl::AssertionResult to a cli::AssertionResult:
// verdict Pass/Fail/Error -> Passed/Failed/Error; for a failed comparison
// `actual` is the left side's value and `expected` the right side's (with
// the operator unless it is ==); several failed terms are joined by "; ";
// an evaluation error becomes `error` (message, hint, available names).
#pragma once

#include <vector>

#include "cli/report/results.h"
#include "dsl/scenario.h"

namespace ktest::cli {

AssertionResult from_dsl(const dsl::AssertionResult& result);
std::vector<AssertionResult> from_dsl(const std::vector<dsl::AssertionResult>& results);

}  // namespace ktest::cli
