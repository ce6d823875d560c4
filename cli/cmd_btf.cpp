// `ktest btf types|render`: look at BTF and render bytes through it, the
// same way snapshots render guest memory (no guest involved).
//   ktest btf types FILE [--base FILE] [--filter RE]
//   ktest btf render --btf FILE [--base FILE] --type NAME|ID
//                    (--hex BYTES | --data FILE) [--offset N] [--json] [--show-zero]
// FILE is a BPF object, a vmlinux (or any ELF with .BTF), or a raw BTF blob
// such as /sys/kernel/btf/vmlinux; --base loads FILE as split BTF on it.
#include <bpf/btf.h>

#include <cctype>
#include <iostream>
#include <memory>
#include <regex>

#include "btf/btf.h"
#include "btf/render.h"
#include "cli/command.h"
#include "snapshot/dump.h"
#include "snapshot/report.h"
#include "util/atomic_file.h"

namespace ktest::cli {
namespace {

struct BtfSource {
  std::string file;
  std::string base;
};

Result<btf::Btf> load_source(const BtfSource& source) {
  if (source.base.empty()) return btf::Btf::load(source.file);
  KTEST_ASSIGN(btf::Btf base, btf::Btf::load(source.base));
  return btf::Btf::split_file(source.file, base);
}

const char* kind_text(const struct btf_type* t) {
  static const char* const names[] = {
      "void",   "int",     "ptr",       "array", "struct",  "union",    "enum",
      "fwd",    "typedef", "volatile",  "const", "restrict", "func",    "func_proto",
      "var",    "datasec", "float",     "decl_tag", "type_tag", "enum64"};
  const unsigned kind = btf_kind(t);
  return kind < sizeof names / sizeof names[0] ? names[kind] : "unknown";
}

struct TypesArgs {
  BtfSource source;
  std::string filter;
};

void run_types(const TypesArgs& args, CommandContext& ctx) {
  auto loaded = load_source(args.source);
  if (!loaded) return ctx.print_error(loaded.error(), ExitCode::Usage);
  std::optional<std::regex> filter;
  if (!args.filter.empty()) {
    try {
      filter.emplace(args.filter, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return ctx.print_error(Error("invalid --filter regular expression: " + std::string(e.what()),
                                   args.filter, "use ECMAScript syntax, e.g. '^scx_'"),
                             ExitCode::Usage);
    }
  }
  const struct ::btf* b = loaded->get();
  // Split BTF: list only its own types, not the base's.
  const struct ::btf* base = btf__base_btf(b);
  const uint32_t first = base != nullptr ? btf__type_cnt(base) : 1;
  for (uint32_t id = first; id < loaded->type_count(); ++id) {
    const std::string name = loaded->type_name(id);
    if (filter && !std::regex_search(name, *filter)) continue;
    const struct btf_type* t = btf__type_by_id(b, id);
    std::cout << id << "\t" << kind_text(t) << "\t" << (name.empty() ? "(anon)" : name);
    if (auto size = btf::type_size(b, id); size && btf_kind(t) != BTF_KIND_TYPEDEF) {
      std::cout << "\t" << *size;
    }
    std::cout << "\n";
  }
  ctx.exit_code = ExitCode::Ok;
}

// "0a1b", "0a 1b", "0x0a,0x1b", "0a:1b": bytes in order.
Result<std::vector<uint8_t>> parse_hex(const std::string& text) {
  std::vector<uint8_t> out;
  std::string digits;
  std::size_t i = 0;
  auto flush = [&]() -> Status {
    if (digits.size() % 2 != 0) {
      return fail("odd number of hex digits in '" + digits + "'", "--hex",
                  "write every byte as two digits, e.g. 0a");
    }
    for (std::size_t k = 0; k < digits.size(); k += 2) {
      out.push_back(static_cast<uint8_t>(std::stoi(digits.substr(k, 2), nullptr, 16)));
    }
    digits.clear();
    return {};
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == ',' || c == ':' || c == '\t' || c == '\n') {
      KTEST_TRY(flush());
      ++i;
    } else if (c == '0' && i + 1 < text.size() && (text[i + 1] == 'x' || text[i + 1] == 'X') &&
               digits.empty()) {
      i += 2;
    } else if (std::isxdigit(static_cast<unsigned char>(c))) {
      digits += c;
      ++i;
    } else {
      return fail(std::string("not a hex digit: '") + c + "' at character " + std::to_string(i + 1),
                  "--hex", "bytes look like '0a 1b 2c' or '0a1b2c'");
    }
  }
  KTEST_TRY(flush());
  return out;
}

struct RenderArgs {
  BtfSource source;
  std::string type;
  std::string hex;
  std::string data_file;
  uint64_t offset = 0;
  bool json = false;
  bool show_zero = false;
};

void run_render(const RenderArgs& args, CommandContext& ctx) {
  auto loaded = load_source(args.source);
  if (!loaded) return ctx.print_error(loaded.error(), ExitCode::Usage);
  auto id = loaded->find_type(args.type);
  if (!id) return ctx.print_error(id.error(), ExitCode::Usage);
  std::vector<uint8_t> bytes;
  if (!args.hex.empty()) {
    auto parsed = parse_hex(args.hex);
    if (!parsed) return ctx.print_error(parsed.error(), ExitCode::Usage);
    bytes = std::move(*parsed);
  } else {
    auto content = read_file(args.data_file);
    if (!content) return ctx.print_error(content.error(), ExitCode::Usage);
    bytes.assign(content->begin(), content->end());
  }
  if (args.offset > bytes.size()) {
    return ctx.print_error(Error("--offset " + std::to_string(args.offset) + " is past the end of the " +
                                     std::to_string(bytes.size()) + " input bytes"),
                           ExitCode::Usage);
  }
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(args.offset));
  const RenderedValue value = btf::render(*loaded, *id, bytes);
  if (args.json) {
    std::cout << value_to_json(value).dump(2) << "\n";
  } else {
    DumpOptions options;
    options.show_zero = args.show_zero;
    std::cout << render_value_text(value, loaded->type_name(*id), options);
  }
  ctx.exit_code = ExitCode::Ok;
}

}  // namespace

void add_btf_command(CLI::App& app, CommandContext& ctx) {
  CLI::App* cmd = app.add_subcommand("btf", "List BTF types and render bytes through BTF");
  cmd->require_subcommand(1);
  const char* file_help =
      "BPF object (.bpf.o), vmlinux/ELF with .BTF, or raw BTF (/sys/kernel/btf/vmlinux)";

  auto types = std::make_shared<TypesArgs>();
  CLI::App* types_cmd = cmd->add_subcommand("types", "List the types in a BTF file: ID, kind, name, size");
  types_cmd->add_option("FILE", types->source.file, file_help)->required()->option_text("FILE");
  types_cmd->add_option("--base", types->source.base, "Load FILE as split BTF on this base (vmlinux)")
      ->option_text("FILE");
  types_cmd->add_option("--filter", types->filter, "Only names matching this regular expression")
      ->option_text("RE");
  types_cmd->callback([&ctx, types] { run_types(*types, ctx); });

  auto render = std::make_shared<RenderArgs>();
  CLI::App* render_cmd = cmd->add_subcommand("render", "Render bytes as a value of a BTF type");
  render_cmd->add_option("--btf", render->source.file, file_help)->required()->option_text("FILE");
  render_cmd->add_option("--base", render->source.base, "Load --btf as split BTF on this base")
      ->option_text("FILE");
  render_cmd->add_option("--type", render->type, "Type name (struct/union/enum prefix optional) or id")
      ->required()
      ->option_text("NAME|ID");
  auto* hex = render_cmd->add_option("--hex", render->hex, "The bytes in hex: '0a 1b', '0a1b', '0x0a,0x1b'")
                  ->option_text("BYTES");
  auto* data = render_cmd->add_option("--data", render->data_file, "Read the bytes from this file")
                   ->option_text("FILE");
  hex->excludes(data);
  data->excludes(hex);
  render_cmd->add_option("--offset", render->offset, "Skip this many input bytes first")
      ->option_text("N");
  render_cmd->add_flag("--json", render->json, "Print the RenderedValue as JSON");
  render_cmd->add_flag("--show-zero", render->show_zero, "Also print zero members (text output)");
  render_cmd->callback([&ctx, render, hex, data] {
    if (hex->count() == 0 && data->count() == 0) {
      return ctx.print_error(Error("no input bytes", {}, "give --hex BYTES or --data FILE"), ExitCode::Usage);
    }
    run_render(*render, ctx);
  });
}

}  // namespace ktest::cli
