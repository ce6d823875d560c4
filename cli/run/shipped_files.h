// The files ktest ships beside its binary, found the same way by every
// command: in the build tree (only for that build tree's own ktest), then
// installed beside the running ktest (<bin>/../libexec, <bin>/../share: a
// moved or DESTDIR-staged install finds its own), then under the prefix
// configured at build time. ktest-run(1), FILES.
#pragma once

#include <string>

namespace ktest::cli {

// The guest agent binary: $KTEST_AGENT, else the build tree's (only for the
// build tree's own ktest), else the installed libexec copy beside the running
// ktest, else the configured prefix's; "" when none exists.
std::string default_agent_binary();

// The bundled BPF objects' directory, found like the agent (without an
// environment variable); the configured install directory when none exists.
std::string default_object_dir();

}  // namespace ktest::cli
