#include "cli/config.h"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <sstream>
#include <toml.hpp>
#include <vector>

#include "kvm/machine.h"
#include "dsl/scenario.h"
#include "util/atomic_file.h"
#include "util/edit_distance.h"

namespace ktest::cli {
namespace fs = std::filesystem;

namespace {

using TomlValue = toml::value;

// A key's place: file:line:col of the key itself when it can be found on
// its line (toml11 locates values), else of the value.
std::string key_location(const TomlValue& value, const std::string& key) {
  const auto loc = value.location();
  auto column = loc.column();
  if (!key.empty()) {
    auto pos = loc.line_str().find(key);
    if (pos != std::string::npos && pos + 1 < column) column = static_cast<std::uint_least32_t>(pos + 1);
  }
  return loc.file_name() + ":" + std::to_string(loc.line()) + ":" + std::to_string(column);
}

std::string value_location(const TomlValue& value) {
  const auto loc = value.location();
  return loc.file_name() + ":" + std::to_string(loc.line()) + ":" + std::to_string(loc.column());
}

// "an integer", "a string", ...
std::string type_phrase(toml::value_t type) {
  std::ostringstream out;
  out << type;
  std::string name = out.str();
  bool vowel = !name.empty() && std::string("aeiou").find(name[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + name;
}

// One known key: its TOML type and how it lands in Config.
struct KeySpec {
  const char* name;
  toml::value_t type;
  const char* example;  // shown in the hint of a type error
  std::function<Status(const TomlValue&, Config&, const fs::path& base)> apply;
};

struct SectionSpec {
  const char* name;
  std::vector<KeySpec> keys;
};

Status from_text(Status status, const TomlValue& value) {
  if (status) return status;
  Error e = std::move(status.error());
  e.location = value_location(value);
  return fail(std::move(e));
}

template <typename T, typename Parse, typename Store>
Status parse_into(const TomlValue& value, Parse parse, Store store) {
  auto parsed = parse(value.as_string().str);
  if (!parsed) return from_text(fail(std::move(parsed.error())), value);
  store(*parsed);
  return {};
}

std::string resolve_path(const std::string& text, const fs::path& base) {
  fs::path p(text);
  if (p.is_absolute() || base.empty()) return text;
  return (base / p).lexically_normal().string();
}

const std::vector<SectionSpec>& schema() {
  using toml::value_t;
  static const std::vector<SectionSpec> sections{
      {"vm",
       {{"kernel", value_t::string, "kernel = \"7.2.13+deb14-amd64\" or kernel = \"./bzImage\"",
         [](const TomlValue& v, Config& c, const fs::path& base) -> Status {
           const std::string& text = v.as_string().str;
           if (text.empty()) return fail("kernel must not be empty", value_location(v),
                                         "name a kernel version or a path to a kernel image");
           // A version never contains '/'; anything that does is a path.
           c.kernel = text.find('/') == std::string::npos ? text : resolve_path(text, base);
           return {};
         }},
        {"cpus", value_t::integer, "cpus = 2",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           auto n = v.as_integer();
           if (n < kvm::kMinCpus || n > kvm::kMaxCpus)
             return fail(fmt::format("cpus must be between {} and {}, not {}", kvm::kMinCpus, kvm::kMaxCpus, n),
                         value_location(v), "write e.g. cpus = 2");
           c.cpus = static_cast<unsigned>(n);
           return {};
         }},
        {"memory", value_t::string, "memory = \"1G\"",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           KTEST_TRY(parse_into<std::uint64_t>(v, dsl::parse_size,
                                               [&](std::uint64_t b) { c.memory_bytes = b; }));
           if (Status s = kvm::check_guest_memory(c.memory_bytes); !s)
             return fail("memory " + v.as_string().str + " is " + s.error().message, value_location(v),
                         s.error().hint);
           return {};
         }},
        {"accel", value_t::string, "accel = \"auto\"",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           return parse_into<Accel>(v, parse_accel, [&](Accel a) { c.accel = a; });
         }},
        {"cpu_model", value_t::string, "cpu_model = \"qemu64\"",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           const std::string& text = v.as_string().str;
           if (!kvm::valid_cpu_model(text))
             return fail("cpu_model '" + text + "' is not a QEMU CPU model name", value_location(v),
                         "write a name as `qemu-system-x86_64 -cpu help` lists it, e.g. cpu_model = \"qemu64\"");
           c.cpu_model = text;
           return {};
         }}}},
      {"timeouts",
       {{"boot", value_t::string, "boot = \"2m\"",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           return parse_into<std::chrono::nanoseconds>(
               v, dsl::parse_duration, [&](auto d) { c.timeouts.boot = d; });
         }},
        {"step", value_t::string, "step = \"60s\"",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           return parse_into<std::chrono::nanoseconds>(
               v, dsl::parse_duration, [&](auto d) { c.timeouts.step = d; });
         }},
        {"capture", value_t::string, "capture = \"30s\"",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           return parse_into<std::chrono::nanoseconds>(
               v, dsl::parse_duration, [&](auto d) { c.timeouts.capture = d; });
         }},
        {"run", value_t::string, "run = \"30m\"",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           return parse_into<std::chrono::nanoseconds>(
               v, dsl::parse_duration, [&](auto d) { c.timeouts.run = d; });
         }}}},
      {"output",
       {{"format", value_t::string, "format = \"text\"",
         [](const TomlValue& v, Config& c, const fs::path&) -> Status {
           return parse_into<OutputFormat>(v, parse_output_format,
                                           [&](OutputFormat f) { c.format = f; });
         }},
        {"dir", value_t::string, "dir = \"ktest-runs\"",
         [](const TomlValue& v, Config& c, const fs::path& base) -> Status {
           if (v.as_string().str.empty())
             return fail("output dir must not be empty", value_location(v),
                         "write e.g. dir = \"ktest-runs\"");
           c.output_dir = resolve_path(v.as_string().str, base);
           return {};
         }}}},
  };
  return sections;
}

// For a misplaced key: the section that does define it.
const SectionSpec* section_defining(const std::string& key) {
  for (const auto& section : schema())
    for (const auto& spec : section.keys)
      if (key == spec.name) return &section;
  return nullptr;
}

Status apply_section(const SectionSpec& section, const TomlValue& table, Config& config,
                     const fs::path& base) {
  std::vector<std::string> names;
  for (const auto& spec : section.keys) names.emplace_back(spec.name);
  for (const auto& [key, value] : table.as_table()) {
    const KeySpec* spec = nullptr;
    for (const auto& candidate : section.keys)
      if (key == candidate.name) spec = &candidate;
    if (!spec) {
      auto near = nearest(key, names);
      std::string hint = near ? "did you mean '" + *near + "'?" : "";
      if (!near) {
        hint = "known keys in [" + std::string(section.name) + "]:";
        for (const auto& n : names) hint += " " + n;
      }
      return fail("unknown key '" + key + "' in [" + section.name + "]", key_location(value, key),
                  hint);
    }
    if (value.type() != spec->type) {
      return fail("[" + std::string(section.name) + "] " + key + " must be " +
                      type_phrase(spec->type) + ", not " + type_phrase(value.type()),
                  value_location(value), std::string("write e.g. ") + spec->example);
    }
    KTEST_TRY(spec->apply(value, config, base));
  }
  return {};
}

Status apply_document(const TomlValue& root, Config& config, const fs::path& base) {
  std::vector<std::string> section_names;
  for (const auto& section : schema()) section_names.emplace_back(section.name);
  for (const auto& [key, value] : root.as_table()) {
    const SectionSpec* section = nullptr;
    for (const auto& candidate : schema())
      if (key == candidate.name) section = &candidate;
    if (section && value.is_table()) {
      KTEST_TRY(apply_section(*section, value, config, base));
      continue;
    }
    if (section)
      return fail("'" + key + "' must be a table, not " + type_phrase(value.type()),
                  key_location(value, key), "write it as a section: [" + key + "]");
    if (const SectionSpec* home = section_defining(key))
      return fail("key '" + key + "' is outside any section", key_location(value, key),
                  "move it under [" + std::string(home->name) + "]");
    auto near = nearest(key, section_names);
    return fail("unknown section '" + key + "'", key_location(value, key),
                near ? "did you mean [" + *near + "]?"
                     : "the sections are [vm], [timeouts] and [output]");
  }
  return {};
}

// "toml::parse_xxx: message" (first line of toml11's report) -> "message".
std::string syntax_message(const char* what) {
  std::string text(what);
  text = text.substr(0, text.find('\n'));
  if (text.rfind("[error] ", 0) == 0) text.erase(0, 8);
  auto colon = text.find(": ");
  if (text.rfind("toml::", 0) == 0 && colon != std::string::npos) text.erase(0, colon + 2);
  return text;
}

}  // namespace

ConfigSearch ConfigSearch::from_process() {
  ConfigSearch search;
  std::error_code ec;
  search.cwd = fs::current_path(ec).string();
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME")) search.xdg_config_home = xdg;
  if (const char* home = std::getenv("HOME")) search.home = home;
  return search;
}

Result<std::string> discover_config_file(const ConfigSearch& search,
                                         const std::string& explicit_path) {
  std::error_code ec;
  if (!explicit_path.empty()) {
    if (!fs::is_regular_file(explicit_path, ec))
      return fail("config file '" + explicit_path + "' does not exist", {},
                  "check the path given to --config");
    return explicit_path;
  }
  if (!search.cwd.empty()) {
    for (fs::path dir = search.cwd;; dir = dir.parent_path()) {
      fs::path candidate = dir / "ktest.toml";
      if (fs::is_regular_file(candidate, ec)) return candidate.string();
      if (dir == dir.parent_path()) break;
    }
  }
  fs::path user_dir;
  // XDG: a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (!search.xdg_config_home.empty() && fs::path(search.xdg_config_home).is_absolute())
    user_dir = search.xdg_config_home;
  else if (!search.home.empty())
    user_dir = fs::path(search.home) / ".config";
  if (!user_dir.empty()) {
    fs::path candidate = user_dir / "ktest" / "config.toml";
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  if (!search.system_dir.empty()) {
    fs::path candidate = fs::path(search.system_dir) / "config.toml";
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  return std::string();
}

Result<Config> parse_config(std::string_view text, const std::string& name) {
  Config config;
  config.source = name;
  // Relative paths inside the file are relative to the file's directory.
  fs::path base = fs::path(name).parent_path();
  if (base.empty()) base = ".";
  base = fs::absolute(base).lexically_normal();
  try {
    std::istringstream in{std::string(text)};
    const TomlValue root = toml::parse(in, name);
    KTEST_TRY(apply_document(root, config, base));
  } catch (const toml::syntax_error& e) {
    const auto& loc = e.location();
    return fail("invalid TOML: " + syntax_message(e.what()),
                name + ":" + std::to_string(loc.line()) + ":" + std::to_string(loc.column()),
                "see ktest.toml(5) for the file format");
  } catch (const std::exception& e) {
    return fail(std::string("invalid TOML: ") + syntax_message(e.what()), name,
                "see ktest.toml(5) for the file format");
  }
  return config;
}

Result<Config> load_config_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::move(text).context("reading config file " + path);
  return parse_config(*text, path);
}

Result<Config> load_config(const ConfigSearch& search, const std::string& explicit_path) {
  KTEST_ASSIGN(std::string path, discover_config_file(search, explicit_path));
  if (path.empty()) return Config{};
  return load_config_file(path);
}

void add_config_flags(CLI::App& cmd, ConfigFlags& flags) {
  cmd.add_option("--kernel", flags.kernel, "Kernel: cached version, kernel directory or image path")
      ->option_text("KERNEL");
  cmd.add_option("--cpus", flags.cpus, fmt::format("vCPUs ({}-{})", kvm::kMinCpus, kvm::kMaxCpus))
      ->option_text("N")
      ->check(CLI::Range(kvm::kMinCpus, kvm::kMaxCpus));
  cmd.add_option("--memory", flags.memory, "Guest memory, e.g. 1G")->option_text("SIZE");
  cmd.add_option("--accel", flags.accel, "auto, kvm or tcg")->option_text("ACCEL");
  cmd.add_option("--cpu-model", flags.cpu_model, "QEMU CPU model, e.g. qemu64 or host,-xsaves")
      ->option_text("MODEL");
  cmd.add_option("-f,--format", flags.format, "Report format: text, json, junit or tap")
      ->option_text("FORMAT");
  cmd.add_option("--output-dir", flags.output_dir, "Directory that receives the runs")
      ->option_text("DIR");
  cmd.add_option("--boot-timeout", flags.boot_timeout, "Boot timeout, e.g. 2m")->option_text("DURATION");
  cmd.add_option("--step-timeout", flags.step_timeout, "Per-step timeout")->option_text("DURATION");
  cmd.add_option("--capture-timeout", flags.capture_timeout, "Per-capture timeout")
      ->option_text("DURATION");
  cmd.add_option("--run-timeout", flags.run_timeout, "Whole-scenario timeout")
      ->option_text("DURATION");
}

namespace {

template <typename T, typename Parse>
Status flag_into(const std::string& text, const char* flag, Parse parse, T& out) {
  if (text.empty()) return {};
  auto parsed = parse(text);
  if (!parsed) {
    Error e = std::move(parsed.error());
    e.location = flag;
    return fail(std::move(e));
  }
  out = *parsed;
  return {};
}

}  // namespace

Result<Config> apply_config_flags(Config config, const ConfigFlags& flags) {
  if (!flags.kernel.empty()) config.kernel = flags.kernel;
  if (flags.cpus != 0) config.cpus = flags.cpus;
  auto size = [](const std::string& t) { return dsl::parse_size(t); };
  auto duration = [](const std::string& t) { return dsl::parse_duration(t); };
  KTEST_TRY(flag_into(flags.memory, "--memory", size, config.memory_bytes));
  if (!flags.memory.empty()) {
    if (Status s = kvm::check_guest_memory(config.memory_bytes); !s)
      return fail("memory " + flags.memory + " is " + s.error().message, "--memory", s.error().hint);
  }
  KTEST_TRY(flag_into(flags.accel, "--accel", parse_accel, config.accel));
  if (!flags.cpu_model.empty()) {
    if (!kvm::valid_cpu_model(flags.cpu_model))
      return fail("'" + flags.cpu_model + "' is not a QEMU CPU model name", "--cpu-model",
                  "write a name as `qemu-system-x86_64 -cpu help` lists it, e.g. --cpu-model qemu64");
    config.cpu_model = flags.cpu_model;
  }
  KTEST_TRY(flag_into(flags.format, "--format", parse_output_format, config.format));
  if (!flags.output_dir.empty()) config.output_dir = flags.output_dir;
  KTEST_TRY(flag_into(flags.boot_timeout, "--boot-timeout", duration, config.timeouts.boot));
  KTEST_TRY(flag_into(flags.step_timeout, "--step-timeout", duration, config.timeouts.step));
  KTEST_TRY(flag_into(flags.capture_timeout, "--capture-timeout", duration, config.timeouts.capture));
  KTEST_TRY(flag_into(flags.run_timeout, "--run-timeout", duration, config.timeouts.run));
  return config;
}

Result<Accel> parse_accel(std::string_view text) {
  if (text == "auto") return Accel::Auto;
  if (text == "kvm") return Accel::Kvm;
  if (text == "tcg") return Accel::Tcg;
  auto near = nearest(text, {"auto", "kvm", "tcg"});
  return fail("unknown accel '" + std::string(text) + "'", {},
              near ? "did you mean \"" + *near + "\"? (auto, kvm or tcg)"
                   : "use auto, kvm or tcg");
}

Result<OutputFormat> parse_output_format(std::string_view text) {
  if (text == "text") return OutputFormat::Text;
  if (text == "json") return OutputFormat::Json;
  if (text == "junit") return OutputFormat::Junit;
  if (text == "tap") return OutputFormat::Tap;
  auto near = nearest(text, {"text", "json", "junit", "tap"});
  return fail("unknown output format '" + std::string(text) + "'", {},
              near ? "did you mean \"" + *near + "\"? (text, json, junit or tap)"
                   : "use text, json, junit or tap");
}

const char* accel_name(Accel accel) {
  switch (accel) {
    case Accel::Auto: return "auto";
    case Accel::Kvm: return "kvm";
    case Accel::Tcg: return "tcg";
  }
  return "auto";
}

const char* output_format_name(OutputFormat format) {
  switch (format) {
    case OutputFormat::Text: return "text";
    case OutputFormat::Json: return "json";
    case OutputFormat::Junit: return "junit";
    case OutputFormat::Tap: return "tap";
  }
  return "text";
}

}  // namespace ktest::cli
