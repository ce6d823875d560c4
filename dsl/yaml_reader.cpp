#include "dsl/yaml_reader.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>

#include "util/edit_distance.h"

namespace ktest::dsl {
namespace {

const char* type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "a value";
}

std::string object_stem(const std::string& object) {
  std::string stem = std::filesystem::path(object).filename().string();
  for (const char* suffix : {".bpf.o", ".o"}) {
    const std::string s = suffix;
    if (stem.size() > s.size() && stem.compare(stem.size() - s.size(), s.size(), s) == 0)
      return stem.substr(0, stem.size() - s.size());
  }
  return stem;
}

}  // namespace

Location FieldReader::loc(const YAML::Node& node) const {
  const YAML::Mark mark = node.Mark();
  if (mark.pos < 0) return {};
  return state_.at_offset(static_cast<std::size_t>(mark.pos));
}

int FieldReader::width(const YAML::Node& node) const {
  if (!node.IsScalar()) return 1;
  const auto pos = node.Mark().pos;
  const auto& text = state_.text();
  const bool quoted = pos >= 0 && static_cast<std::size_t>(pos) < text.size() &&
                      (text[static_cast<std::size_t>(pos)] == '"' || text[static_cast<std::size_t>(pos)] == '\'');
  return static_cast<int>(node.Scalar().size()) + (quoted ? 2 : 0);
}

void FieldReader::error(const YAML::Node& at, std::string message, std::string hint) {
  state_.error(loc(at), width(at), std::move(message), std::move(hint));
}

FieldReader::Fields FieldReader::fields(const YAML::Node& map, const std::vector<std::string>& allowed,
                                        const std::string& what, const std::string& example) {
  Fields out;
  if (!map.IsMap()) {
    error(map, fmt::format("{} must be a mapping, found {}", what, type_name(map)), "write " + example);
    return out;
  }
  for (const auto& pair : map) {
    const YAML::Node key = pair.first;  // a copy: iterator proxies are temporaries
    if (!key.IsScalar()) {
      error(key, fmt::format("keys of {} must be plain names", what));
      continue;
    }
    const std::string name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      auto guess = nearest(name, allowed);
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      error(key, fmt::format("unknown key '{}' in {}", name, what),
            guess ? fmt::format("did you mean '{}'?", *guess) : fmt::format("valid keys: {}", list));
      continue;
    }
    if (const YAML::Node* first = find(out, name)) {
      error(key, fmt::format("duplicate key '{}' in {} (first set at line {})", name, what,
                             loc(*first).line),
            "YAML keeps only one value; delete one of them");
      continue;
    }
    out.emplace_back(name, pair.second);
  }
  return out;
}

const YAML::Node* FieldReader::find(const Fields& fields, const std::string& key) {
  for (const auto& [name, node] : fields)
    if (name == key) return &node;
  return nullptr;
}

const YAML::Node* FieldReader::require(const Fields& fields, const std::string& key,
                                       const YAML::Node& owner, const std::string& what,
                                       const std::string& example) {
  const YAML::Node* node = find(fields, key);
  if (!node && owner.IsMap()) error(owner, fmt::format("{} needs '{}'", what, key), "write " + example);
  return node;
}

std::optional<std::string> FieldReader::string(const YAML::Node& node, const std::string& field) {
  if (!node.IsScalar()) {
    error(node, fmt::format("'{}' must be a string, found {}", field, type_name(node)));
    return std::nullopt;
  }
  if (node.Scalar().empty()) {
    error(node, fmt::format("'{}' is empty", field));
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<int64_t> FieldReader::integer(const YAML::Node& node, const std::string& field,
                                            int64_t lo, int64_t hi) {
  if (!node.IsScalar()) {
    error(node, fmt::format("'{}' must be an integer, found {}", field, type_name(node)),
          fmt::format("use a number from {} to {}", lo, hi));
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    error(node, fmt::format("'{}' must be an integer, found '{}'", field, text),
          fmt::format("use a number from {} to {}", lo, hi));
    return std::nullopt;
  }
  if (value < lo || value > hi) {
    error(node, fmt::format("'{}' is {}, outside {}..{}", field, value, lo, hi),
          fmt::format("use a number from {} to {}", lo, hi));
    return std::nullopt;
  }
  return value;
}

std::optional<std::chrono::nanoseconds> FieldReader::duration(const YAML::Node& node,
                                                              const std::string& field) {
  auto text = string(node, field);
  if (!text) return std::nullopt;
  auto parsed = parse_duration(*text);
  if (!parsed) {
    error(node, fmt::format("'{}': {}", field, parsed.error().message), parsed.error().hint);
    return std::nullopt;
  }
  if (parsed->count() <= 0) {
    error(node, fmt::format("'{}' must be longer than 0", field), "e.g. 500ms");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<uint64_t> FieldReader::size(const YAML::Node& node, const std::string& field) {
  auto text = string(node, field);
  if (!text) return std::nullopt;
  auto parsed = parse_size(*text);
  if (!parsed) {
    error(node, fmt::format("'{}': {}", field, parsed.error().message), parsed.error().hint);
    return std::nullopt;
  }
  return *parsed;
}

std::optional<Command> FieldReader::command(const YAML::Node& node, const std::string& field) {
  Command cmd;
  if (node.IsScalar()) {
    auto text = string(node, field);
    if (!text) return std::nullopt;
    cmd.text = *text;
    cmd.argv = {"/bin/sh", "-c", *text};
    return cmd;
  }
  if (!node.IsSequence() || node.size() == 0) {
    error(node, fmt::format("'{}' must be a string or a non-empty list, found {}", field, type_name(node)),
            "write command: \"stress-ng --cpu 2\" or command: [stress-ng, --cpu, \"2\"]");
    return std::nullopt;
  }
  for (const auto& arg : node) {
    auto text = string(arg, field);
    if (!text) return std::nullopt;
    cmd.argv.push_back(*text);
    cmd.text += (cmd.text.empty() ? "" : " ") + *text;
  }
  return cmd;
}

std::optional<SchedulerRef> FieldReader::scheduler(const YAML::Node& node, const YAML::Node& owner,
                                                   const std::string& what, const std::string& dir) {
  const std::string example = "{object: scx_simple.bpf.o, ops: simple_ops} or {command: [scx_simple]}";
  std::string object, name;
  std::optional<std::string> ops;
  SchedulerRef ref;
  if (node.IsScalar()) {  // shorthand: just the object
    object = node.Scalar();
  } else {
    auto fs = fields(node, {"object", "command", "ops", "name", "timeout"}, what, example);
    if (!node.IsMap()) return std::nullopt;
    const YAML::Node* object_node = find(fs, "object");
    const YAML::Node* command_node = find(fs, "command");
    if (object_node && command_node) {
      error(*command_node, fmt::format("{} has both 'object' and 'command'", what),
            "a scheduler is a BPF object the guest loads (object:) or a program that loads it (command:); "
            "keep one");
      return std::nullopt;
    }
    if (!object_node && !command_node) {
      error(owner, fmt::format("{} needs 'object' or 'command'", what), "write " + example);
      return std::nullopt;
    }
    bool ok = true;
    if (object_node) {
      auto obj = string(*object_node, "object");
      if (!obj) return std::nullopt;
      object = *obj;
    } else {
      auto argv = loader_command(*command_node);
      ok = argv.has_value();
      if (argv) {
        ref.command = std::move(*argv);
        ref.command_loc = loc(command_node->IsSequence() ? (*command_node)[0] : *command_node);
      }
    }
    if (const YAML::Node* o = find(fs, "ops")) ops = string(*o, "ops");
    if (const YAML::Node* n = find(fs, "name"))
      if (auto v = string(*n, "name")) name = *v;
    if (const YAML::Node* t = find(fs, "timeout")) {
      if (object_node) {
        error(*t, fmt::format("{}: 'timeout' is for the loader form (command:)", what),
              "delete it: attaching an object is bounded by vm.timeout");
        ok = false;
      } else if (auto d = duration(*t, "timeout")) {
        ref.timeout = *d;
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
  }
  if (ref.loader()) {
    ref.name = name.empty() ? std::filesystem::path(ref.command[0]).filename().string() : name;
    ref.loc = loc(owner);
    ref.ops = std::move(ops);
    return ref;
  }
  if (object.empty()) {
    error(node, fmt::format("{} needs an object file", what), "write " + example);
    return std::nullopt;
  }
  static_cast<BpfObjectRef&>(ref) = resolve_object(object, name, loc(owner), dir);
  ref.ops = std::move(ops);
  return ref;
}

std::optional<std::vector<std::string>> FieldReader::loader_command(const YAML::Node& node) {
  const std::string example = "command: [scx_simple, --slice-us, \"500\"]";
  if (!node.IsSequence() || node.size() == 0) {
    error(node, "a scheduler's 'command' must be a non-empty list (argv)",
          "write " + example + "; its first word is a program found like a vm.tools entry");
    return std::nullopt;
  }
  auto argv = string_list(node, "command", example);
  if (!argv) return std::nullopt;
  const std::string& program = argv->front();
  if (program.empty() || (program.find('/') != std::string::npos && program.front() != '/')) {
    error(node[0], fmt::format("scheduler program '{}' is not a bare name or an absolute path", program),
          "write a bare name looked up on the host's $PATH (scx_simple) or an absolute path: the guest "
          "gets it at the same path, like a vm.tools entry");
    return std::nullopt;
  }
  return argv;
}

std::optional<std::vector<std::string>> FieldReader::string_list(const YAML::Node& node,
                                                                 const std::string& field,
                                                                 const std::string& example) {
  if (!node.IsSequence()) {
    error(node, fmt::format("'{}' must be a list, found {}", field, type_name(node)), "write " + example);
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const auto& item : node) {
    auto text = string(item, field);
    ok = ok && text;
    if (text) out.push_back(*text);
  }
  if (!ok) return std::nullopt;
  return out;
}

BpfObjectRef resolve_object(const std::string& object, const std::string& name, Location loc,
                            const std::string& dir) {
  BpfObjectRef ref;
  ref.object = object;
  std::filesystem::path path(object);
  ref.object_path = path.is_absolute() ? path.string() : (std::filesystem::path(dir) / path).lexically_normal().string();
  ref.name = name.empty() ? object_stem(object) : name;
  ref.loc = loc;
  return ref;
}

}  // namespace ktest::dsl
