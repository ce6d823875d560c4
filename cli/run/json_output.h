// A step's output read as a JSON document (a Run step's `json: name`), for
// stats("name") in assertions.
//
// Contract: parse_json_output() takes the last line that is a JSON object
// or array (a JSON Lines stream, like a stats loop printing one record per
// interval, gives its latest record); when no single line is one, the
// whole output must be one JSON document (pretty-printed output). Anything
// else is an Error quoting the start of the output. Documents nested
// deeper than kMaxJsonDepth (snapshot/report.h: one JSON depth cap for
// every document ktest reads) are refused before parsing: printing and
// walking a document recurse, and the guest's output is hostile input.
#pragma once

#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "snapshot/report.h"
#include "util/result.h"

namespace ktest::cli {

Result<std::shared_ptr<const nlohmann::json>> parse_json_output(std::string_view output);

}  // namespace ktest::cli
