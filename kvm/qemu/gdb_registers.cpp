#include "kvm/qemu/gdb_registers.h"

#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "kvm/qemu/gdb_remote.h"
#include "util/hex.h"

namespace ktest::kvm::gdb {

namespace {

// The value of attribute `key` in one tag's text ("<reg name=\"rip\" ...>").
// Target descriptions are flat lists of simple tags, so a scanner does what
// an XML library would, without one more dependency.
std::optional<std::string_view> attribute(std::string_view tag, std::string_view key) {
  for (std::size_t at = tag.find(key); at != std::string_view::npos; at = tag.find(key, at + 1)) {
    bool starts_word = at > 0 && (tag[at - 1] == ' ' || tag[at - 1] == '\t' || tag[at - 1] == '\n');
    std::size_t eq = at + key.size();
    if (!starts_word || eq + 1 >= tag.size() || tag[eq] != '=') continue;
    char quote = tag[eq + 1];
    if (quote != '"' && quote != '\'') continue;
    std::size_t end = tag.find(quote, eq + 2);
    if (end == std::string_view::npos) return std::nullopt;
    return tag.substr(eq + 2, end - eq - 2);
  }
  return std::nullopt;
}

std::optional<std::size_t> decimal(std::string_view text) {
  std::size_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// Calls `on_tag(name, text)` for each element start tag, in order.
template <typename OnTag>
Status scan_tags(std::string_view xml, OnTag&& on_tag) {
  for (std::size_t open = xml.find('<'); open != std::string_view::npos; open = xml.find('<', open + 1)) {
    std::size_t close = xml.find('>', open);
    if (close == std::string_view::npos) return fail("the target description ends inside a tag");
    std::string_view tag = xml.substr(open + 1, close - open - 1);
    std::size_t name_end = tag.find_first_of(" \t\n/");
    KTEST_TRY(on_tag(tag.substr(0, name_end), tag));
    open = close;
  }
  return {};
}

Status add_registers(std::string_view xml, int depth, RegisterLayout& layout,
                     const std::function<Result<std::string>(std::string_view)>& include) {
  return scan_tags(xml, [&](std::string_view name, std::string_view tag) -> Status {
    if (name == "xi:include") {
      auto href = attribute(tag, "href");
      if (!href) return fail("an <xi:include> without href in the target description");
      if (depth > 0) return fail(fmt::format("'{}' is included more than one level deep", *href));
      KTEST_ASSIGN(std::string included, include(*href));
      Status added = add_registers(included, depth + 1, layout, include);
      if (!added) return std::move(added).context(std::string(*href));
      return {};
    }
    if (name != "reg") return {};
    auto reg = attribute(tag, "name");
    auto bits = attribute(tag, "bitsize");
    if (!reg || !bits) return fail(fmt::format("a <reg> without name or bitsize: <{}>", tag.substr(0, 80)));
    auto bitsize = decimal(*bits);
    if (!bitsize || *bitsize == 0 || *bitsize % 8 != 0 || *bitsize > 1024)
      return fail(fmt::format("register '{}' has bitsize '{}' (a multiple of 8 up to 1024)", *reg, *bits));
    if (auto regnum = attribute(tag, "regnum"); regnum && decimal(*regnum) != layout.slots.size())
      return fail(fmt::format("register '{}' has regnum {} where {} comes next", *reg, *regnum,
                              layout.slots.size()));
    layout.slots.push_back({std::string(*reg), layout.total, *bitsize / 8});
    layout.total += *bitsize / 8;
    if (layout.total * 2 > kMaxGdbPacket)
      return fail(fmt::format("the registers exceed a {}-byte gdb packet", kMaxGdbPacket));
    return {};
  });
}

// Little-endian bytes [offset, offset+size) of a hex reply, size <= 8.
std::optional<uint64_t> little_endian(std::string_view hex, std::size_t offset, std::size_t size) {
  uint64_t value = 0;
  for (std::size_t i = 0; i < size && i < 8; ++i) {
    int hi = hex_digit(hex[2 * (offset + i)]);
    int lo = hex_digit(hex[2 * (offset + i) + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;  // "xx": not available
    value |= static_cast<uint64_t>(hi * 16 + lo) << (8 * i);
  }
  return value;
}

}  // namespace

const RegisterSlot* RegisterLayout::find(std::string_view name) const {
  for (const RegisterSlot& slot : slots)
    if (slot.name == name) return &slot;
  return nullptr;
}

Result<RegisterLayout> parse_register_layout(
    std::string_view target_xml, const std::function<Result<std::string>(std::string_view href)>& include) {
  RegisterLayout layout;
  KTEST_TRY(add_registers(target_xml, 0, layout, include));
  for (const char* required : {"rip", "rsp", "cr3"})
    if (!layout.find(required))
      return fail(fmt::format("the gdbstub's target description has no register '{}'", required));
  return layout;
}

Result<RegisterLayout> fit_layout(const RegisterLayout& described, std::size_t reply_hex_digits) {
  if (reply_hex_digits == described.total * 2) return described;
  RegisterLayout sent;
  for (const RegisterSlot& slot : described.slots) {
    if (slot.name == "ss_base" || slot.name == "ds_base" || slot.name == "es_base") continue;
    sent.slots.push_back({slot.name, sent.total, slot.size});
    sent.total += slot.size;
  }
  if (reply_hex_digits == sent.total * 2) return sent;
  return fail(fmt::format("the gdbstub's 'g' reply has {} bytes where its target description lays out {}",
                          reply_hex_digits / 2, described.total));
}

Result<VcpuRegisters> parse_g_reply(std::string_view hex, const RegisterLayout& layout) {
  if (hex.size() < layout.total * 2)
    return fail(fmt::format("gdb 'g' reply of {} hex digits, the layout needs {}", hex.size(), layout.total * 2));
  VcpuRegisters out;
  struct Field {
    const char* name;
    uint64_t* into;
    bool required;
  };
  uint64_t cs = 0;
  const Field fields[] = {
      {"rip", &out.rip, true},       {"rsp", &out.rsp, true},       {"cr3", &out.cr3, true},
      {"rax", &out.rax, false},      {"rbx", &out.rbx, false},      {"rcx", &out.rcx, false},
      {"rdx", &out.rdx, false},      {"rsi", &out.rsi, false},      {"rdi", &out.rdi, false},
      {"rbp", &out.rbp, false},      {"r8", &out.r8, false},        {"r9", &out.r9, false},
      {"r10", &out.r10, false},      {"r11", &out.r11, false},      {"r12", &out.r12, false},
      {"r13", &out.r13, false},      {"r14", &out.r14, false},      {"r15", &out.r15, false},
      {"eflags", &out.rflags, false}, {"cr0", &out.cr0, false},     {"cr2", &out.cr2, false},
      {"cr4", &out.cr4, false},      {"efer", &out.efer, false},    {"fs_base", &out.fs_base, false},
      {"gs_base", &out.gs_base, false}, {"cs", &cs, false},
  };
  for (const Field& field : fields) {
    const RegisterSlot* slot = layout.find(field.name);
    if (!slot) continue;
    auto value = little_endian(hex, slot->offset, slot->size);
    if (!value && field.required)
      return fail(fmt::format("gdb 'g' reply: register '{}' is not available", field.name));
    *field.into = value.value_or(0);
  }
  out.cpl = static_cast<uint32_t>(cs & 3);
  return out;
}

std::string feature_read_packet(std::string_view annex, std::size_t offset) {
  return fmt::format("qXfer:features:read:{}:{:x},{:x}", annex, offset, kMaxGdbPacket / 2);
}

Result<bool> append_feature_chunk(std::string_view reply, std::string& document) {
  if (reply.empty() || (reply[0] != 'm' && reply[0] != 'l'))
    return fail(fmt::format("qXfer:features:read answered '{}'", reply.substr(0, 40)));
  if (document.size() + reply.size() - 1 > kMaxFeatureDocument)
    return fail(fmt::format("a target description over {} bytes", kMaxFeatureDocument));
  document.append(reply.substr(1));
  if (reply[0] == 'm' && reply.size() == 1) return fail("qXfer:features:read sent an empty chunk with more to come");
  return reply[0] == 'l';
}

}  // namespace ktest::kvm::gdb
