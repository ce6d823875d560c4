#include "util/result.h"

namespace ktest {

std::string Error::to_string() const {
  std::string out;
  if (!location.empty()) out += location + ": ";
  for (const auto& frame : context) out += frame + ": ";
  out += message;
  if (!hint.empty()) out += " (hint: " + hint + ")";
  return out;
}

}  // namespace ktest
