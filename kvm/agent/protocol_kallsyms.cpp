// kallsyms on the control channel: chunking (agent side), reassembly and
// symbol-table parsing (host side), and the host's ControlStream reader.
// Declared in kvm/control_protocol.h.
#include <algorithm>
#include <charconv>
#include <functional>

#include "kvm/control_protocol.h"

namespace ktest::kvm::control {

Result<uint64_t> parse_hex_address(std::string_view s) {
  if (s.starts_with("0x")) s.remove_prefix(2);
  uint64_t v = 0;
  if (s.empty() || s.size() > 16) return fail("bad hex number \"" + std::string(s) + "\"");
  auto r = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    return fail("bad hex number \"" + std::string(s) + "\"");
  return v;
}

Result<SymbolTable> SymbolTable::parse(std::string_view text) {
  SymbolTable table;
  table.symbols_.reserve(std::min<std::size_t>(std::count(text.begin(), text.end(), '\n') + 1, kMaxSymbols));
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty()) continue;
    auto where = [&] { return "kallsyms line " + std::to_string(line_no); };
    if (table.symbols_.size() >= kMaxSymbols)
      return fail("more than " + std::to_string(kMaxSymbols) + " symbols", where());
    // "ffffffff81000000 T _text" or "ffffffffc0000000 t name\t[module]"
    auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || line.size() < sp1 + 4 || line[sp1 + 2] != ' ')
      return fail("malformed kallsyms line", where(), "expected \"<hex address> <type> <name>\"");
    KernelSymbol sym;
    auto addr = parse_hex_address(line.substr(0, sp1));
    if (!addr) return fail(addr.error().message, where());
    sym.address = *addr;
    sym.type = line[sp1 + 1];
    std::string_view rest = line.substr(sp1 + 3);
    auto tab = rest.find('\t');
    std::string_view name = rest.substr(0, tab);
    if (tab != std::string_view::npos) {
      std::string_view mod = rest.substr(tab + 1);
      if (mod.size() < 2 || mod.front() != '[' || mod.back() != ']')
        return fail("malformed module field", where(), "expected \"\\t[module]\"");
      sym.module = std::string(mod.substr(1, mod.size() - 2));
    }
    if (name.empty() || name.size() > kMaxSymbolNameBytes || sym.module.size() > kMaxSymbolNameBytes)
      return fail("symbol name empty or longer than " + std::to_string(kMaxSymbolNameBytes), where());
    sym.name = std::string(name);
    table.symbols_.push_back(std::move(sym));
  }
  table.index_names();
  table.index_addresses();
  return table;
}

void SymbolTable::index_names() {
  by_name_.resize(symbols_.size());
  for (std::size_t i = 0; i < symbols_.size(); ++i)
    by_name_[i] = {std::hash<std::string_view>{}(symbols_[i].name), static_cast<uint32_t>(i)};
  std::sort(by_name_.begin(), by_name_.end(), [this](const NameKey& a, const NameKey& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    const bool a_module = !symbols_[a.index].module.empty(), b_module = !symbols_[b.index].module.empty();
    if (a_module != b_module) return b_module;
    return a.index < b.index;
  });
}

const KernelSymbol* SymbolTable::find(std::string_view name) const {
  const uint64_t hash = std::hash<std::string_view>{}(name);
  auto it = std::lower_bound(by_name_.begin(), by_name_.end(), hash,
                             [](const NameKey& k, uint64_t h) { return k.hash < h; });
  for (; it != by_name_.end() && it->hash == hash; ++it)
    if (symbols_[it->index].name == name) return &symbols_[it->index];
  return nullptr;
}

Status KallsymsAssembler::add(const KallsymsChunk& chunk) {
  if (chunk.seq != next_seq_)
    return fail("kallsyms chunk " + std::to_string(chunk.seq) + " out of order (expected " +
                std::to_string(next_seq_) + ")");
  if (next_seq_ >= kMaxKallsymsChunks)
    return fail("more than " + std::to_string(kMaxKallsymsChunks) + " kallsyms chunks");
  // Base64 of at most kMaxKallsymsBytes: a compressed frame is never larger.
  if (base64_.size() + chunk.data.size() > (kMaxKallsymsBytes / 3 + 1) * 4)
    return fail("kallsyms chunks exceed " + std::to_string(kMaxKallsymsBytes) + " bytes");
  if (chunk.data.size() > kKallsymsChunkChars)
    return fail("kallsyms chunk " + std::to_string(chunk.seq) + " larger than " +
                std::to_string(kKallsymsChunkChars) + " characters");
  base64_ += chunk.data;
  ++next_seq_;
  return {};
}

Result<SymbolTable> KallsymsAssembler::finish(const KallsymsEnd& end, std::string* frame_out) {
  if (!end.error.empty()) return fail("the agent could not read /proc/kallsyms: " + end.error);
  if (end.encoding != kKallsymsEncoding)
    return fail("unsupported kallsyms encoding \"" + end.encoding.substr(0, 64) + "\"");
  if (end.chunks != next_seq_)
    return fail("kallsyms_end announces " + std::to_string(end.chunks) + " chunks, received " +
                std::to_string(next_seq_));
  if (end.raw_bytes > kMaxKallsymsBytes)
    return fail("kallsyms of " + std::to_string(end.raw_bytes) + " bytes exceeds the limit");
  KTEST_ASSIGN(auto frame, base64_decode(base64_, kMaxKallsymsBytes));
  if (frame.size() != end.compressed_bytes)
    return fail("kallsyms frame is " + std::to_string(frame.size()) + " bytes, announced " +
                std::to_string(end.compressed_bytes));
  KTEST_ASSIGN(auto text, zstd_decompress(frame, static_cast<std::size_t>(end.raw_bytes)));
  if (text.size() != end.raw_bytes)
    return fail("kallsyms text is " + std::to_string(text.size()) + " bytes, announced " +
                std::to_string(end.raw_bytes));
  base64_.clear();
  KTEST_ASSIGN(auto table, SymbolTable::parse(text));
  if (frame_out != nullptr) *frame_out = std::move(frame);
  return table;
}

ControlStream::Output ControlStream::feed(std::string_view bytes) {
  Output out;
  auto split = splitter_.feed(bytes);
  out.errors = std::move(split.errors);
  for (const auto& line : split.lines) {
    auto msg = decode_message(line);
    if (!msg) {
      out.errors.push_back(msg.error().to_string());
      continue;
    }
    if (auto* chunk = std::get_if<KallsymsChunk>(&*msg)) {
      if (kallsyms_error_.empty()) {
        if (auto st = kallsyms_.add(*chunk); !st) kallsyms_error_ = st.error().to_string();
      }
      continue;
    }
    if (auto* end = std::get_if<KallsymsEnd>(&*msg)) {
      if (symbols_) {
        out.errors.push_back("a second kallsyms_end ignored");
      } else if (kallsyms_error_.empty()) {
        auto table = kallsyms_.finish(*end);
        if (table) symbols_ = std::move(*table);
        else kallsyms_error_ = table.error().to_string();
      }
      if (!kallsyms_error_.empty()) out.errors.push_back("kallsyms: " + kallsyms_error_);
    }
    out.messages.push_back(std::move(*msg));
  }
  return out;
}

std::vector<Message> kallsyms_messages(std::string_view kallsyms_text, std::string_view zstd_frame) {
  std::string encoded = base64_encode(zstd_frame);
  std::vector<Message> out;
  uint32_t seq = 0;
  for (std::size_t off = 0; off < encoded.size(); off += kKallsymsChunkChars)
    out.push_back(KallsymsChunk{seq++, encoded.substr(off, kKallsymsChunkChars)});
  KallsymsEnd end;
  end.chunks = seq;
  end.raw_bytes = kallsyms_text.size();
  end.compressed_bytes = zstd_frame.size();
  out.push_back(std::move(end));
  return out;
}

}  // namespace ktest::kvm::control
