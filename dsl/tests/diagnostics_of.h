// Test helper: a scenario text's diagnostics as "line:col: message | hint".
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "dsl/scenario.h"

namespace ktest::dsl::test {

using Lines = std::vector<std::string>;

inline Lines errors_of(const std::string& yaml) {
  auto load = load_scenario_text(yaml, "t.yaml");
  Lines out;
  for (const auto& d : load.diagnostics)
    out.push_back(std::to_string(d.line) + ":" + std::to_string(d.col) + ": " + d.message + " | " + d.hint);
  CHECK(load.ok() == out.empty());
  return out;
}

}  // namespace ktest::dsl::test
