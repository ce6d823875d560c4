// Internals of the snapshot diff (snapshot/diff.h), shared by diff.cpp
// (maps and entries) and diff_value.cpp (value trees). Not a public contract.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "snapshot/diff.h"

namespace ktest::diff_detail {

// Which fields a comparison keeps: `keep` prefixes (none = all) and
// `ignore` prefixes, all canonical paths.
class PathFilter {
 public:
  enum class Verdict {
    Keep,     // compare it
    Descend,  // above a kept path: compare only what leads there
    Skip,     // not selected
    Ignored,  // at or below an ignored path
  };
  PathFilter(std::vector<std::string> keep, const std::vector<std::string>& ignore);
  Verdict at(std::string_view path) const;

 private:
  std::vector<std::string> keep_;
  std::vector<std::string> ignore_;
};

// Collects FieldDiffs of one value tree.
struct FieldSink {
  const PathFilter& filter;
  std::vector<FieldDiff>& out;
  std::size_t& ignored;                // differing fields dropped by `ignore`
  std::optional<std::size_t> cpu = {};  // the CPU slot being compared
};

// Compares two values at `path`; either may be null (absent on that side).
void diff_values(const RenderedValue* before, const RenderedValue* after, const std::string& path,
                 FieldSink& sink);
// The whole per-CPU slot vectors (an unreadable slot differs from a readable one).
void diff_per_cpu(const std::vector<std::optional<RenderedValue>>* before,
                  const std::vector<std::optional<RenderedValue>>* after, FieldSink& sink);

// A string as a value (char-array text), for map state such as "error".
RenderedValue text_value(const std::string& text);
// What an unreadable per-CPU slot compares as.
RenderedValue unreadable_slot();

}  // namespace ktest::diff_detail
