#include "cli/term.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace ktest::cli {

Result<ColorMode> parse_color_mode(std::string_view text) {
  if (text == "auto") return ColorMode::Auto;
  if (text == "always") return ColorMode::Always;
  if (text == "never") return ColorMode::Never;
  return fail("unknown colour mode '" + std::string(text) + "'", "--color",
              "use --color=auto, --color=always or --color=never");
}

ColorEnv ColorEnv::from_process() {
  ColorEnv env;
  env.stdout_is_tty = isatty(STDOUT_FILENO) == 1;
  env.no_color = std::getenv("NO_COLOR");
  env.term = std::getenv("TERM");
  return env;
}

bool resolve_color(ColorMode mode, const ColorEnv& env) {
  switch (mode) {
    case ColorMode::Always: return true;
    case ColorMode::Never: return false;
    case ColorMode::Auto: break;
  }
  if (env.no_color && env.no_color[0] != '\0') return false;
  if (env.term && std::strcmp(env.term, "dumb") == 0) return false;
  return env.stdout_is_tty;
}

std::string Style::wrap(const char* sgr, std::string_view s) const {
  if (!enabled) return std::string(s);
  return std::string("\x1b[") + sgr + "m" + std::string(s) + "\x1b[0m";
}

std::string format_error(const Error& error, const Style& style) {
  std::string out = style.bold("ktest: ") + style.red("error:") + " ";
  if (!error.location.empty()) out += style.bold(error.location) + ": ";
  for (const auto& frame : error.context) out += frame + ": ";
  out += error.message + "\n";
  if (!error.hint.empty()) out += "  " + style.cyan("hint:") + " " + error.hint + "\n";
  return out;
}

}  // namespace ktest::cli
