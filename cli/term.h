// Terminal colour: when to use it, and the few styles ktest prints.
//
// Contract: resolve_color() decides once per process. --color=always and
// --color=never win; with auto, colour is on only when stdout is a terminal,
// NO_COLOR is unset or empty (https://no-color.org), and TERM is not "dumb".
// Style wraps text in ANSI SGR codes when enabled and returns it unchanged
// otherwise, so output with colour off is byte-identical to plain text.
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace ktest::cli {

enum class ColorMode { Auto, Always, Never };

Result<ColorMode> parse_color_mode(std::string_view text);

struct ColorEnv {
  bool stdout_is_tty = false;
  const char* no_color = nullptr;  // $NO_COLOR
  const char* term = nullptr;      // $TERM
  static ColorEnv from_process();
};

bool resolve_color(ColorMode mode, const ColorEnv& env);

struct Style {
  bool enabled = false;
  std::string bold(std::string_view s) const { return wrap("1", s); }
  std::string red(std::string_view s) const { return wrap("1;31", s); }
  std::string green(std::string_view s) const { return wrap("1;32", s); }
  std::string yellow(std::string_view s) const { return wrap("1;33", s); }
  std::string cyan(std::string_view s) const { return wrap("36", s); }
  std::string dim(std::string_view s) const { return wrap("2", s); }

 private:
  std::string wrap(const char* sgr, std::string_view s) const;
};

// "ktest: error: <location>: <context>: <message>" and, when there is one,
// "  hint: <hint>" on the next line; ends with a newline.
std::string format_error(const Error& error, const Style& style);

}  // namespace ktest::cli
