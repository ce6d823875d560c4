// Hex digit decoding shared by the wire parsers (gdb remote protocol,
// /dev/kmsg escapes). Header-only: the static guest agent uses it too.
#pragma once

namespace ktest {

// The value of one hex digit (either case), or -1 for any other character.
constexpr int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace ktest
