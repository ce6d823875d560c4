// Nearest-name suggestions for "did you mean" hints.
//
// Contract: levenshtein() is the classic edit distance; nearest() returns
// the candidate closest to `word` when it is close enough to be a useful
// suggestion (distance <= max(2, len/3)), else nullopt. Ties keep the
// first candidate, so callers control preference by ordering.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ktest {

std::size_t levenshtein(std::string_view a, std::string_view b);
std::optional<std::string> nearest(std::string_view word,
                                   const std::vector<std::string>& candidates);

}  // namespace ktest
