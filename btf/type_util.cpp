// Bounded BTF type walking and scalar decoding (see type_util.h).
#include "btf/type_util.h"

#include <bpf/btf.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>

#include "btf/btf.h"
#include "btf/render.h"

namespace ktest::btf {
namespace {

bool is_peelable(const struct btf_type* t) {
  switch (btf_kind(t)) {
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_TYPE_TAG:
    case BTF_KIND_DECL_TAG:
    case BTF_KIND_VAR:
      return true;
    default:
      return false;
  }
}

std::string bad_id(uint32_t id) { return "type id " + std::to_string(id) + " out of range"; }

Result<uint64_t> size_of(const struct ::btf* btf, uint32_t id, uint32_t depth) {
  if (depth > kMaxPeel) return fail("array nesting deeper than " + std::to_string(kMaxPeel));
  KTEST_ASSIGN(uint32_t real, peel(btf, id));
  if (real == 0) return fail("void has no size");
  const struct btf_type* t = btf__type_by_id(btf, real);
  switch (btf_kind(t)) {
    case BTF_KIND_INT:
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
    case BTF_KIND_FLOAT:
    case BTF_KIND_DATASEC:
      return uint64_t{t->size};
    case BTF_KIND_PTR: {
      const size_t psize = btf__pointer_size(btf);
      return uint64_t{psize == 4 ? 4u : 8u};
    }
    case BTF_KIND_ARRAY: {
      const struct btf_array* info = btf_array(t);
      KTEST_ASSIGN(uint64_t elem, size_of(btf, info->type, depth + 1));
      const uint64_t n = info->nelems;
      if (elem != 0 && n > UINT64_MAX / elem) return fail("array size overflows 64 bits");
      return n * elem;
    }
    case BTF_KIND_FWD:
      return fail("opaque type (forward declaration) has no size");
    case BTF_KIND_FUNC:
    case BTF_KIND_FUNC_PROTO:
      return fail("a function has no size");
    default:
      return fail("BTF kind " + std::to_string(btf_kind(t)) + " has no known size");
  }
}

}  // namespace

Result<uint32_t> peel(const struct ::btf* btf, uint32_t id) {
  for (uint32_t link = 0; link <= kMaxPeel; ++link) {
    if (!valid_type_id(btf, id)) return fail(bad_id(id));
    if (id == 0) return 0u;
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (t == nullptr) return fail(bad_id(id));
    if (!is_peelable(t)) return id;
    id = t->type;
  }
  return fail("typedef/modifier chain longer than " + std::to_string(kMaxPeel) +
              " links (a loop in the BTF?)");
}

Result<uint64_t> type_size(const struct ::btf* btf, uint32_t type_id) {
  if (btf == nullptr) return fail("no BTF");
  return size_of(btf, type_id, 0);
}

uint128_t load_bits(const uint8_t* data, uint64_t bit_off, uint32_t nbits) {
  const uint64_t start = bit_off / 8;
  const uint32_t shift = static_cast<uint32_t>(bit_off % 8);
  const uint64_t nbytes = (shift + uint64_t{nbits} + 7) / 8;  // <= 17
  if (nbytes <= 8) {  // bitfields mostly: 64-bit arithmetic is enough
    const uint64_t v = load_le64(data + start, nbytes) >> shift;
    return nbits < 64 ? v & ((uint64_t{1} << nbits) - 1) : v;
  }
  uint128_t v = load_le(data + start, nbytes < 16 ? nbytes : 16);
  v >>= shift;
  if (nbytes == 17) v |= static_cast<uint128_t>(data[start + 16]) << (128 - shift);
  if (nbits < 128) v &= (uint128_t{1} << nbits) - 1;
  return v;
}

int128_t sign_extend(uint128_t raw, uint32_t nbits) {
  if (nbits >= 128) return static_cast<int128_t>(raw);
  const uint128_t sign = uint128_t{1} << (nbits - 1);
  const uint128_t mask = (uint128_t{1} << nbits) - 1;
  raw &= mask;
  return static_cast<int128_t>((raw ^ sign) - sign);
}

void render_enum(RenderedValue& out, const struct ::btf* btf, const struct btf_type* t,
                 uint128_t raw, uint32_t nbits) {
  const bool is_signed = btf_kflag(t);
  const int128_t value = is_signed ? sign_extend(raw, nbits) : static_cast<int128_t>(raw);
  std::optional<std::string> variant;
  const uint16_t vlen = btf_vlen(t);
  for (uint16_t i = 0; i < vlen && !variant; ++i) {
    int128_t candidate = 0;
    uint32_t name_off = 0;
    if (btf_is_enum(t)) {
      const struct btf_enum* e = btf_enum(t) + i;
      candidate = is_signed ? int128_t{e->val} : int128_t{static_cast<uint32_t>(e->val)};
      name_off = e->name_off;
    } else {
      const struct btf_enum64* e = btf_enum64(t) + i;
      const uint64_t v = btf_enum64_value(e);
      candidate = is_signed ? int128_t{static_cast<int64_t>(v)} : int128_t{v};
      name_off = e->name_off;
    }
    if (candidate != value) continue;
    const char* name = btf__name_by_offset(btf, name_off);
    if (name != nullptr && name[0] != '\0') variant = name;
  }
  set_enum(out, nbits, value, std::move(variant), is_signed);
}

double half_to_double(uint16_t half) {
  const int sign = (half >> 15) != 0 ? -1 : 1;
  const int exponent = (half >> 10) & 0x1f;
  const int mantissa = half & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa == 0 ? sign * HUGE_VAL : std::nan("");
  return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

bool is_char_type(const struct ::btf* btf, uint32_t id) {
  for (uint32_t link = 0; link <= kMaxPeel; ++link) {
    if (id == 0 || !valid_type_id(btf, id)) return false;
    const struct btf_type* t = btf__type_by_id(btf, id);
    switch (btf_kind(t)) {
      case BTF_KIND_CONST:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        id = t->type;
        continue;
      case BTF_KIND_INT: {
        const char* name = btf__name_by_offset(btf, t->name_off);
        return t->size == 1 && ((btf_int_encoding(t) & BTF_INT_CHAR) != 0 ||
                                (name != nullptr && std::strcmp(name, "char") == 0));
      }
      default:
        return false;
    }
  }
  return false;
}

std::string text_until_nul(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return {};
  const auto* nul = static_cast<const uint8_t*>(std::memchr(bytes.data(), 0, bytes.size()));
  const std::size_t n = nul != nullptr ? static_cast<std::size_t>(nul - bytes.data()) : bytes.size();
  // Plain ASCII (the usual comm, name, ...) is valid as it is.
  if (std::all_of(bytes.data(), bytes.data() + n, [](uint8_t c) { return c < 0x80; })) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), n);
  }
  // At most one U+FFFD (3 bytes) per byte: sized once, written through a
  // pointer (uninitialised char arrays are common, and this runs per node).
  std::string out(3 * n, '\0');
  char* w = out.data();
  std::size_t i = 0;
  while (i < n) {
    const uint8_t c = bytes[i];
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) ok = (bytes[i + k] & 0xc0) == 0x80;
    if (ok && len == 2) ok = c >= 0xc2;  // no overlong encodings
    if (ok && len == 3) ok = !(c == 0xe0 && bytes[i + 1] < 0xa0) && !(c == 0xed && bytes[i + 1] >= 0xa0);
    if (ok && len == 4) ok = !(c == 0xf0 && bytes[i + 1] < 0x90) && c <= 0xf4 && !(c == 0xf4 && bytes[i + 1] >= 0x90);
    if (!ok) {
      std::memcpy(w, "\xef\xbf\xbd", 3);
      w += 3;
      ++i;
      continue;
    }
    std::memcpy(w, bytes.data() + i, len);
    w += len;
    i += len;
  }
  out.resize(static_cast<std::size_t>(w - out.data()));
  return out;
}

namespace {

// The decimal digits of n at p; returns the end. CPU numbers are below
// 10000, so those lengths are written from a table of digit pairs.
char* put_decimal(char* p, uint64_t n) {
  static constexpr auto kPairs = [] {
    std::array<char, 200> pairs{};
    for (int i = 0; i < 100; ++i) {
      pairs[2 * i] = static_cast<char>('0' + i / 10);
      pairs[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
    return pairs;
  }();
  if (n >= 10000) return std::to_chars(p, p + 20, n).ptr;
  if (n >= 1000) {
    std::memcpy(p, &kPairs[2 * (n / 100)], 2);
    std::memcpy(p + 2, &kPairs[2 * (n % 100)], 2);
    return p + 4;
  }
  if (n >= 100) {
    *p = static_cast<char>('0' + n / 100);
    std::memcpy(p + 1, &kPairs[2 * (n % 100)], 2);
    return p + 3;
  }
  if (n >= 10) {
    std::memcpy(p, &kPairs[2 * n], 2);
    return p + 2;
  }
  *p = static_cast<char>('0' + n);
  return p + 1;
}

}  // namespace

std::string cpu_list_from_bitmap(std::span<const uint8_t> bitmap) {
  std::string out;
  const uint64_t nbits = uint64_t{bitmap.size()} * 8;
  uint64_t start = 0;  // first bit of the run being read
  // Runs are written into `buf` and appended to `out` a few thousand
  // characters at a time.
  char buf[4096];
  char* p = buf;
  constexpr std::size_t kLongestRun = 42;  // ",N-M" with two 20-digit numbers
  auto emit = [&](uint64_t last) {
    if (static_cast<std::size_t>(buf + sizeof buf - p) < kLongestRun) {
      out.append(buf, static_cast<std::size_t>(p - buf));
      p = buf;
    }
    if (p != buf || !out.empty()) *p++ = ',';
    p = put_decimal(p, start);
    // "-last" is written always and taken back for runs of one: cheaper
    // than a branch that random masks mispredict half the time.
    char* const single = p;
    *p++ = '-';
    p = put_decimal(p, last);
    if (last == start) p = single;
  };
  // 64 bits at a time: a run starts or ends wherever a bit differs from the
  // one before it (the bit before bit 0, and those past the end, are 0).
  uint64_t previous = 0;  // the last bit of the previous word
  for (uint64_t base = 0; base < nbits; base += 64) {
    const std::size_t k = base / 8;
    const uint64_t word = load_le64(bitmap.data() + k, std::min<std::size_t>(8, bitmap.size() - k));
    uint64_t changes = word ^ ((word << 1) | previous);
    previous = word >> 63;
    while (changes != 0) {
      const int bit = std::countr_zero(changes);
      changes &= changes - 1;
      if (((word >> bit) & 1) != 0) {
        start = base + static_cast<uint64_t>(bit);
      } else {
        emit(base + static_cast<uint64_t>(bit) - 1);
      }
    }
  }
  if (previous != 0) emit(nbits - 1);
  out.append(buf, static_cast<std::size_t>(p - buf));
  return out;
}

std::optional<std::pair<uint64_t, uint64_t>> find_cpumask_bits(const struct ::btf* btf,
                                                               uint32_t struct_id, uint32_t depth) {
  if (depth > 4 || !valid_type_id(btf, struct_id) || struct_id == 0) return std::nullopt;
  const struct btf_type* t = btf__type_by_id(btf, struct_id);
  if (!btf_is_struct(t)) return std::nullopt;
  const struct btf_member* m = btf_members(t);
  for (uint16_t i = 0; i < btf_vlen(t); ++i, ++m) {
    if (btf_member_bitfield_size(t, i) != 0 || btf_member_bit_offset(t, i) % 8 != 0) continue;
    const uint64_t off = btf_member_bit_offset(t, i) / 8;
    auto real = peel(btf, m->type);
    if (!real || *real == 0) continue;
    const struct btf_type* mt = btf__type_by_id(btf, *real);
    const char* name = btf__name_by_offset(btf, m->name_off);
    if (btf_is_array(mt) && name != nullptr && std::strcmp(name, "bits") == 0) {
      auto elem = peel(btf, btf_array(mt)->type);
      if (!elem || *elem == 0 || !btf_is_int(btf__type_by_id(btf, *elem))) continue;
      auto size = type_size(btf, *real);
      if (!size) continue;
      return std::make_pair(off, *size);
    }
    if (btf_is_struct(mt)) {
      const char* sname = btf__name_by_offset(btf, mt->name_off);
      if (sname != nullptr && (std::strcmp(sname, "cpumask") == 0 ||
                               std::strcmp(sname, "scx_bitmap") == 0)) {
        if (auto inner = find_cpumask_bits(btf, *real, depth + 1)) {
          return std::make_pair(off + inner->first, inner->second);
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace ktest::btf
