// Internal to btf/: bounded BTF type walking and scalar decoding used by
// the renderer. Not part of the module's contract (see render.h).
// Every function validates type ids and bounds its loops; none reads
// outside the bytes it is handed.
#pragma once

#include <cstdint>
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

// Little-endian load of n <= 16 bytes.
uint128_t load_le(const uint8_t* data, std::size_t n);
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
