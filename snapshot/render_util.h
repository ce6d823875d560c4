// Internal rendering helpers shared by render_inline.cpp and dump.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "snapshot/rendered_value.h"

namespace ktest {

// Text of a char array (up to the first NUL), nullopt when not one.
std::optional<std::string> char_array_text(const RenderedValue& v);
std::string quote_text(std::string_view s);  // "..." with \" \\ \xNN escapes
std::string scalar_text(const RenderedValue& v);  // one node, no children
// Whole subtree is zero (enums never count as zero: they name a state).
bool is_zero_value(const RenderedValue& v, std::size_t depth = 0);

}  // namespace ktest
