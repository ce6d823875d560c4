#include <doctest/doctest.h>

#include "cli/term.h"

using namespace ktest;
using namespace ktest::cli;

TEST_CASE("colour resolution: flags win, then NO_COLOR, TERM=dumb, tty") {
  ColorEnv tty{true, nullptr, "xterm"};
  ColorEnv pipe{false, nullptr, "xterm"};
  CHECK(resolve_color(ColorMode::Auto, tty));
  CHECK_FALSE(resolve_color(ColorMode::Auto, pipe));
  CHECK(resolve_color(ColorMode::Always, pipe));
  CHECK_FALSE(resolve_color(ColorMode::Never, tty));

  ColorEnv no_color{true, "1", "xterm"};
  CHECK_FALSE(resolve_color(ColorMode::Auto, no_color));
  CHECK(resolve_color(ColorMode::Always, no_color));
  // NO_COLOR set but empty does not disable colour (no-color.org).
  ColorEnv empty_no_color{true, "", "xterm"};
  CHECK(resolve_color(ColorMode::Auto, empty_no_color));
  ColorEnv dumb{true, nullptr, "dumb"};
  CHECK_FALSE(resolve_color(ColorMode::Auto, dumb));
}

TEST_CASE("colour modes parse") {
  CHECK(parse_color_mode("always").value() == ColorMode::Always);
  CHECK(parse_color_mode("never").value() == ColorMode::Never);
  CHECK(parse_color_mode("auto").value() == ColorMode::Auto);
  CHECK_FALSE(parse_color_mode("yes").ok());
}

TEST_CASE("errors print what, where and how to fix") {
  Error e("unknown key 'cpu' in [vm]", "ktest.toml:2:1", "did you mean 'cpus'?");
  e.with_context("loading configuration");
  CHECK(format_error(e, Style{false}) ==
        "ktest: error: ktest.toml:2:1: loading configuration: unknown key 'cpu' in [vm]\n"
        "  hint: did you mean 'cpus'?\n");
  CHECK(format_error(Error("boom"), Style{false}) == "ktest: error: boom\n");
  CHECK(format_error(Error("boom", "", "fix it"), Style{true}) ==
        "\x1b[1mktest: \x1b[0m\x1b[1;31merror:\x1b[0m boom\n  \x1b[36mhint:\x1b[0m fix it\n");
}
