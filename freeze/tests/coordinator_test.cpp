#include <doctest/doctest.h>

#include "freeze/coordinator.h"

using namespace ktest;
using namespace ktest::freeze;

TEST_CASE("guest-supplied snapshot names are validated") {
  CHECK(validate_snapshot_name("early").value() == "early");
  CHECK(validate_snapshot_name("phase-2.after:attach_1").ok());
  CHECK_FALSE(validate_snapshot_name("").ok());
  CHECK_FALSE(validate_snapshot_name(std::string(kMaxSnapshotNameBytes + 1, 'a')).ok());
  auto bad = validate_snapshot_name(std::string("a/../b"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().to_string() ==
        "snapshot name contains byte 0x2f (hint: names use letters, digits, '_', '.', ':' and '-')");
  CHECK_FALSE(validate_snapshot_name(std::string("nul\0byte", 8)).ok());
}
