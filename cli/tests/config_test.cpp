#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "cli/config.h"

using namespace ktest;
using namespace ktest::cli;
namespace fs = std::filesystem;

namespace {

// A fresh directory tree per test, removed afterwards.
struct TempTree {
  fs::path root;
  TempTree() {
    root = fs::temp_directory_path() / ("ktest_cli_config_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter()++));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~TempTree() { fs::remove_all(root); }
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::string write(const std::string& rel, const std::string& text) const {
    fs::path p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  ConfigSearch search(const std::string& cwd_rel) const {
    ConfigSearch s;
    s.cwd = (root / cwd_rel).string();
    fs::create_directories(s.cwd);
    s.xdg_config_home = (root / "xdg").string();
    s.home = (root / "home").string();
    s.system_dir = (root / "etc/ktest").string();
    return s;
  }
};

std::string error_of(const Result<Config>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error().to_string();
}

}  // namespace

TEST_CASE("discovery walks up from the current directory first") {
  TempTree t;
  std::string project = t.write("proj/ktest.toml", "");
  t.write("xdg/ktest/config.toml", "");
  t.write("etc/ktest/config.toml", "");
  CHECK(discover_config_file(t.search("proj/a/b")).value() == project);
  CHECK(discover_config_file(t.search("proj")).value() == project);
}

TEST_CASE("discovery falls back to XDG, then ~/.config, then /etc") {
  TempTree t;
  ConfigSearch s = t.search("elsewhere");
  CHECK(discover_config_file(s).value().empty());

  std::string system = t.write("etc/ktest/config.toml", "");
  CHECK(discover_config_file(s).value() == system);

  std::string home = t.write("home/.config/ktest/config.toml", "");
  s.xdg_config_home.clear();
  CHECK(discover_config_file(s).value() == home);

  std::string xdg = t.write("xdg/ktest/config.toml", "");
  s = t.search("elsewhere");
  CHECK(discover_config_file(s).value() == xdg);

  // A relative XDG_CONFIG_HOME is invalid per the spec: ignored.
  s.xdg_config_home = "relative/dir";
  CHECK(discover_config_file(s).value() == home);
}

TEST_CASE("--config wins over discovery and must exist") {
  TempTree t;
  t.write("proj/ktest.toml", "");
  std::string chosen = t.write("other.toml", "[vm]\ncpus = 3\n");
  ConfigSearch s = t.search("proj");
  CHECK(discover_config_file(s, chosen).value() == chosen);
  CHECK(load_config(s, chosen).value().cpus == 3);
  auto missing = discover_config_file(s, (t.root / "nope.toml").string());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().to_string() ==
        "config file '" + (t.root / "nope.toml").string() +
            "' does not exist (hint: check the path given to --config)");
}

TEST_CASE("no file: the defaults") {
  TempTree t;
  Config c = load_config(t.search("x")).value();
  CHECK(c.source.empty());
  CHECK(c.cpus == 0);  // unset: the scenario's, else the dsl's default
  CHECK(c.memory_bytes == 0);
  CHECK(c.accel == Accel::Auto);
  CHECK(c.format == OutputFormat::Text);
  CHECK(c.output_dir == "ktest-runs");
  CHECK(c.timeouts.boot == std::chrono::seconds(120));
}

TEST_CASE("every key is read") {
  TempTree t;
  std::string path = t.write("proj/ktest.toml", R"(# ktest settings
[vm]
kernel = "7.2.13+deb14-amd64"
cpus = 4
memory = "2G"
accel = "tcg"

[timeouts]
boot = "90s"
step = "1.5m"
capture = "500ms"
run = "1h"

[output]
format = "junit"
dir = "out/runs"
)");
  Config c = load_config_file(path).value();
  CHECK(c.source == path);
  CHECK(c.kernel == "7.2.13+deb14-amd64");
  CHECK(c.cpus == 4);
  CHECK(c.memory_bytes == (2ull << 30));
  CHECK(c.accel == Accel::Tcg);
  CHECK(c.timeouts.boot == std::chrono::seconds(90));
  CHECK(c.timeouts.step == std::chrono::seconds(90));
  CHECK(c.timeouts.capture == std::chrono::milliseconds(500));
  CHECK(c.timeouts.run == std::chrono::hours(1));
  CHECK(c.format == OutputFormat::Junit);
  // Relative paths are relative to the file, not to the current directory.
  CHECK(c.output_dir == (t.root / "proj/out/runs").string());
}

TEST_CASE("a kernel path resolves against the file; a version stays as written") {
  TempTree t;
  std::string path = t.write("p/ktest.toml", "[vm]\nkernel = \"../kernels/bzImage\"\n");
  CHECK(load_config_file(path).value().kernel == (t.root / "kernels/bzImage").string());
  CHECK(parse_config("[vm]\nkernel = \"/boot/vmlinuz\"\n", "k.toml").value().kernel == "/boot/vmlinuz");
}

TEST_CASE("config errors are located and suggest a fix") {
  CHECK(error_of(parse_config("[vm]\ncpu = 2\n", "k.toml")) ==
        "k.toml:2:1: unknown key 'cpu' in [vm] (hint: did you mean 'cpus'?)");
  CHECK(error_of(parse_config("[vm]\ncpus = \"2\"\n", "k.toml")) ==
        "k.toml:2:8: [vm] cpus must be an integer, not a string (hint: write e.g. cpus = 2)");
  CHECK(error_of(parse_config("[vm]\ncpus = 0\n", "k.toml")) ==
        "k.toml:2:8: cpus must be between 1 and 64, not 0 (hint: write e.g. cpus = 2)");
  CHECK(error_of(parse_config("[vm]\naccel = \"kvmm\"\n", "k.toml")) ==
        "k.toml:2:9: unknown accel 'kvmm' (hint: did you mean \"kvm\"? (auto, kvm or tcg))");
  CHECK(error_of(parse_config("[output]\nformat = \"xml\"\n", "k.toml")) ==
        "k.toml:2:10: unknown output format 'xml' (hint: use text, json, junit or tap)");
  CHECK(error_of(parse_config("cpus = 2\n", "k.toml")) ==
        "k.toml:1:1: key 'cpus' is outside any section (hint: move it under [vm])");
  CHECK(error_of(parse_config("[vmm]\ncpus = 2\n", "k.toml")).find(
            "unknown section 'vmm' (hint: did you mean [vm]?)") != std::string::npos);
  CHECK(error_of(parse_config("[output]\nzzz = 1\n", "k.toml")) ==
        "k.toml:2:1: unknown key 'zzz' in [output] (hint: known keys in [output]: format dir)");
  CHECK(error_of(parse_config("vm = 3\n", "k.toml")) ==
        "k.toml:1:1: 'vm' must be a table, not an integer (hint: write it as a section: [vm])");
  CHECK(error_of(parse_config("[vm]\nmemory = 1024\n", "k.toml")) ==
        "k.toml:2:10: [vm] memory must be a string, not an integer (hint: write e.g. memory = \"1G\")");
}

TEST_CASE("durations and sizes need units; the error points at the value") {
  std::string e = error_of(parse_config("[timeouts]\n\nboot = \"30\"\n", "k.toml"));
  CHECK(e.rfind("k.toml:3:8: ", 0) == 0);
  CHECK(e.find("30") != std::string::npos);
  CHECK(e.find("hint:") != std::string::npos);
  e = error_of(parse_config("[vm]\nmemory = \"lots\"\n", "k.toml"));
  CHECK(e.rfind("k.toml:2:10: ", 0) == 0);
  CHECK(error_of(parse_config("[vm]\nmemory = \"16M\"\n", "k.toml")) ==
        "k.toml:2:10: memory 16M is below the 64 MiB a guest needs (hint: use 64M to 2048M)");
  // The engine's limits (kvm/machine.h), refused here rather than at boot.
  CHECK(error_of(parse_config("[vm]\nmemory = \"4G\"\n", "k.toml")) ==
        "k.toml:2:10: memory 4G is above the 2048 MiB ktest gives a guest (RAM stays below the 32-bit PCI hole) "
        "(hint: use 64M to 2048M)");
  CHECK(error_of(parse_config("[vm]\ncpus = 65\n", "k.toml")) ==
        "k.toml:2:8: cpus must be between 1 and 64, not 65 (hint: write e.g. cpus = 2)");
}

TEST_CASE("TOML syntax errors carry a line") {
  std::string e = error_of(parse_config("[vm]\ncpus = 2\nmemory = \"1G\n", "k.toml"));
  CHECK(e.rfind("k.toml:3:", 0) == 0);
  CHECK(e.find("invalid TOML") != std::string::npos);
  CHECK(e.find("ktest.toml(5)") != std::string::npos);
}

TEST_CASE("accel and format spellings round-trip") {
  for (Accel a : {Accel::Auto, Accel::Kvm, Accel::Tcg}) CHECK(parse_accel(accel_name(a)).value() == a);
  for (OutputFormat f : {OutputFormat::Text, OutputFormat::Json, OutputFormat::Junit, OutputFormat::Tap})
    CHECK(parse_output_format(output_format_name(f)).value() == f);
}

TEST_CASE("command-line flags win over the file") {
  Config file = parse_config("[vm]\ncpus = 4\nmemory = \"2G\"\n[output]\nformat = \"tap\"\n", "k.toml").value();
  ConfigFlags flags;
  Config same = apply_config_flags(file, flags).value();
  CHECK(same.cpus == 4);
  CHECK(same.format == OutputFormat::Tap);

  CLI::App app;
  add_config_flags(app, flags);
  std::vector<std::string> args{"--cpus", "8", "--memory", "512M", "-f", "junit", "--run-timeout", "5m"};
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
  app.parse(args);
  Config merged = apply_config_flags(file, flags).value();
  CHECK(merged.cpus == 8);
  CHECK(merged.memory_bytes == (512ull << 20));
  CHECK(merged.format == OutputFormat::Junit);
  CHECK(merged.timeouts.run == std::chrono::minutes(5));
  CHECK(merged.accel == Accel::Auto);

  flags = ConfigFlags{};
  flags.memory = "12";
  auto bad = apply_config_flags(file, flags);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().location == "--memory");
  flags = ConfigFlags{};
  flags.accel = "kvn";
  CHECK(apply_config_flags(file, flags).error().to_string() ==
        "--accel: unknown accel 'kvn' (hint: did you mean \"kvm\"? (auto, kvm or tcg))");
}

TEST_CASE("[vm] cpu_model and --cpu-model: a QEMU model token; the flag wins") {
  Config file = parse_config("[vm]\ncpu_model = \"qemu64\"\n", "k.toml").value();
  CHECK(file.cpu_model == "qemu64");
  CHECK(Config{}.cpu_model.empty());
  auto bad = parse_config("[vm]\ncpu_model = \"qemu64 -smp 2\"\n", "k.toml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().location == "k.toml:2:13");
  CHECK(bad.error().message == "cpu_model 'qemu64 -smp 2' is not a QEMU CPU model name");
  ConfigFlags flags;
  flags.cpu_model = "host,-xsaves";
  CHECK(apply_config_flags(file, flags).value().cpu_model == "host,-xsaves");
  flags.cpu_model = "host;reboot";
  auto flag_bad = apply_config_flags(file, flags);
  REQUIRE_FALSE(flag_bad.ok());
  CHECK(flag_bad.error().location == "--cpu-model");
}
