// Internal to btf/: bounded BTF type walking and scalar decoding used by
// the renderer. Not part of the module's contract (see render.h).
// Every function validates type ids and bounds its loops; none reads
// outside the bytes it is handed.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "snapshot/rendered_value.h"
#include "util/result.h"

struct btf;
struct btf_type;

namespace ktest::btf {

// Follows typedef/const/volatile/restrict/type_tag/decl_tag/var links to
// the underlying type id (0 for void); errors on bad ids and long chains.
Result<uint32_t> peel(const struct ::btf* btf, uint32_t id);

// Little-endian load of n <= 8 bytes: one move for the usual widths.
inline uint64_t load_le64(const uint8_t* data, std::size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    switch (n) {
      case 8: { uint64_t v; std::memcpy(&v, data, 8); return v; }
      case 4: { uint32_t v; std::memcpy(&v, data, 4); return v; }
      case 2: { uint16_t v; std::memcpy(&v, data, 2); return v; }
      case 1: return data[0];
      default: break;
    }
  }
  uint64_t v = 0;
  for (std::size_t k = 0; k < n && k < 8; ++k) v |= static_cast<uint64_t>(data[k]) << (8 * k);
  return v;
}

// Little-endian load of n <= 16 bytes.
inline uint128_t load_le(const uint8_t* data, std::size_t n) {
  if (n <= 8) return load_le64(data, n);
  const uint64_t high = load_le64(data + 8, n < 16 ? n - 8 : 8);
  return (static_cast<uint128_t>(high) << 64) | load_le64(data, 8);
}
// nbits (1..128) starting at bit_off (LSB-first, little-endian layout).
// Reads bytes [bit_off/8, (bit_off+nbits+7)/8) only.
uint128_t load_bits(const uint8_t* data, uint64_t bit_off, uint32_t nbits);

// The low nbits (1..128) of raw as a two's-complement value.
int128_t sign_extend(uint128_t raw, uint32_t nbits);
// An enum/enum64 of type t holding `raw` in its low nbits, into `out` (a
// default-constructed value).
void render_enum(RenderedValue& out, const struct ::btf* btf, const struct btf_type* t,
                 uint128_t raw, uint32_t nbits);

double half_to_double(uint16_t half);

// Element type of a char array: a 1-byte int named "char" or with the
// CHAR encoding, after modifiers (not typedefs: u8 arrays stay numbers).
bool is_char_type(const struct ::btf* btf, uint32_t id);
// Text up to the first NUL; invalid UTF-8 becomes U+FFFD.
std::string text_until_nul(std::span<const uint8_t> bytes);

// (byte offset, byte length) of the bit array of a cpumask-like struct.
std::optional<std::pair<uint64_t, uint64_t>> find_cpumask_bits(const struct ::btf* btf,
                                                               uint32_t struct_id, uint32_t depth);

}  // namespace ktest::btf
