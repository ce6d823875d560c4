// Test helpers: loading the report fixtures in tests/fixtures/reports.
#pragma once

#include <string>

#include <doctest/doctest.h>

#include "snapshot/report.h"
#include "snapshot/snapshot.h"
#include "util/atomic_file.h"

namespace ktest::testing {

inline std::string fixture_path(const std::string& name) {
  return std::string(KTEST_FIXTURE_DIR) + "/" + name;
}

inline std::string fixture_text(const std::string& name) {
  auto text = read_file(fixture_path(name));
  REQUIRE_MESSAGE(text.ok(), (text.ok() ? "" : text.error().to_string()));
  return *text;
}

inline Report fixture_report(const std::string& name) {
  auto r = parse_report(fixture_text(name));
  REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
  return *r;
}

inline Snapshot fixture_snapshot(const std::string& name) {
  return Snapshot(fixture_report(name));
}

// The error text of a failed Result (empty when it succeeded).
template <typename T>
std::string error_text(const Result<T>& r) {
  return r.ok() ? std::string() : r.error().message;
}

}  // namespace ktest::testing
