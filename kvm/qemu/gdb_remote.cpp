#include "kvm/qemu/gdb_remote.h"

#include <charconv>

#include <fmt/format.h>

#include "util/hex.h"

namespace ktest::kvm::gdb {

namespace {

std::optional<uint64_t> parse_hex(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

// Undoes '}' escapes and '*' run-length encoding.
Result<std::string> unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '}') {
      if (i + 1 >= raw.size()) return fail("gdb packet ends inside an escape");
      out.push_back(static_cast<char>(raw[++i] ^ 0x20));
    } else if (c == '*') {
      if (out.empty() || i + 1 >= raw.size()) return fail("gdb packet has a bad run-length");
      int repeat = static_cast<unsigned char>(raw[++i]) - 29;
      if (repeat < 0) return fail("gdb packet has a bad run-length");
      out.append(static_cast<size_t>(repeat), out.back());
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

uint8_t gdb_checksum(std::string_view payload) {
  unsigned sum = 0;
  for (char c : payload) sum += static_cast<unsigned char>(c);
  return static_cast<uint8_t>(sum & 0xff);
}

std::string encode_gdb_packet(std::string_view payload) {
  std::string body;
  body.reserve(payload.size());
  for (char c : payload) {
    if (c == '$' || c == '#' || c == '}' || c == '*') {
      body.push_back('}');
      body.push_back(static_cast<char>(c ^ 0x20));
    } else {
      body.push_back(c);
    }
  }
  return fmt::format("${}#{:02x}", body, gdb_checksum(body));
}

void GdbPacketDecoder::feed(std::string_view bytes) { buffer_.append(bytes); }

std::optional<Result<std::string>> GdbPacketDecoder::next() {
  size_t start = buffer_.find('$');
  if (start == std::string::npos) {
    buffer_.clear();  // only acks or noise
    return std::nullopt;
  }
  size_t hash = buffer_.find('#', start);
  if (hash == std::string::npos) {
    if (buffer_.size() - start > kMaxGdbPacket) {
      buffer_.clear();
      return Result<std::string>(fail("gdb packet longer than the limit; dropped"));
    }
    buffer_.erase(0, start);
    return std::nullopt;
  }
  if (buffer_.size() < hash + 3) {
    buffer_.erase(0, start);
    return std::nullopt;
  }
  std::string raw = buffer_.substr(start + 1, hash - start - 1);
  int hi = hex_digit(buffer_[hash + 1]);
  int lo = hex_digit(buffer_[hash + 2]);
  buffer_.erase(0, hash + 3);
  if (hi < 0 || lo < 0) return Result<std::string>(fail("gdb packet has a non-hex checksum"));
  auto want = static_cast<uint8_t>(hi * 16 + lo);
  if (want != gdb_checksum(raw))
    return Result<std::string>(fail(fmt::format(
        "gdb packet checksum mismatch (sent {:02x}, computed {:02x})", want, gdb_checksum(raw))));
  return unescape(raw);
}

bool is_stop_reply(std::string_view payload) {
  return !payload.empty() &&
         (payload[0] == 'T' || payload[0] == 'S' || payload[0] == 'W' || payload[0] == 'X');
}

Result<StopReply> parse_stop_reply(std::string_view payload) {
  if (!is_stop_reply(payload) || payload.size() < 3)
    return fail(fmt::format("not a gdb stop reply: '{}'", payload.substr(0, 40)));
  StopReply reply;
  auto sig = parse_hex(payload.substr(1, 2));
  if (!sig) return fail(fmt::format("gdb stop reply has a bad signal: '{}'", payload.substr(0, 40)));
  reply.signal = static_cast<int>(*sig);
  if (payload[0] == 'W' || payload[0] == 'X') {
    reply.exited = true;
    return reply;
  }
  if (payload[0] == 'S') return reply;

  std::string_view rest = payload.substr(3);
  while (!rest.empty()) {
    size_t semi = rest.find(';');
    std::string_view pair = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    size_t colon = pair.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = pair.substr(0, colon);
    std::string_view value = pair.substr(colon + 1);
    if (key == "thread") {
      // "p<pid>.<tid>" in multiprocess mode, else "<tid>".
      if (size_t dot = value.find('.'); dot != std::string_view::npos) value = value.substr(dot + 1);
      auto tid = parse_hex(value);
      if (!tid || *tid > 0xffff) return fail(fmt::format("gdb stop reply has a bad thread id '{}'", value));
      reply.thread = static_cast<int>(*tid);
    } else if (key == "watch" || key == "rwatch" || key == "awatch") {
      auto addr = parse_hex(value);
      if (!addr) return fail(fmt::format("gdb stop reply has a bad watch address '{}'", value));
      reply.watch_addr = *addr;
      reply.watch_kind = key == "watch" ? WatchKind::Write
                         : key == "rwatch" ? WatchKind::Read
                                           : WatchKind::Access;
    }
  }
  return reply;
}

std::string watchpoint_packet(bool insert, WatchKind kind, uint64_t addr, uint32_t len) {
  int type = kind == WatchKind::Write ? 2 : kind == WatchKind::Read ? 3 : 4;
  return fmt::format("{}{},{:x},{:x}", insert ? 'Z' : 'z', type, addr, len);
}

}  // namespace ktest::kvm::gdb
