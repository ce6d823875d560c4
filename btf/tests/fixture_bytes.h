// Test helpers: the compiled BTF fixture, member offsets looked up through
// libbpf directly (not through the renderer), and byte images to render.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "btf/btf.h"

namespace ktest::btf::testing {

// The fixture object compiled by meson (render_types.bpf.o).
const Btf& fixture();
// Type id of a named struct/enum/typedef in `btf`; fails the test if absent.
uint32_t type_id(const Btf& btf, const std::string& name);
// Byte offset of a (non-bitfield) member of a named struct.
std::size_t offset_of(const Btf& btf, const std::string& type, const std::string& member);
uint64_t size_of(const Btf& btf, uint32_t id);

// A byte image of one value, written field by field.
struct Image {
  std::vector<uint8_t> bytes;
  explicit Image(std::size_t size, uint8_t fill = 0) : bytes(size, fill) {}
  template <typename T>
  Image& put(std::size_t offset, T value) {
    if (offset + sizeof value > bytes.size()) std::abort();  // a broken test, not input
    std::memcpy(bytes.data() + offset, &value, sizeof value);
    return *this;
  }
  Image& put_text(std::size_t offset, const char* text) {
    if (offset + std::strlen(text) > bytes.size()) std::abort();
    std::memcpy(bytes.data() + offset, text, std::strlen(text));
    return *this;
  }
};

// Known images of the fixture's map value types (also used by the oracles).
Image all_ints_image(const Btf& btf);
Image enums_image(const Btf& btf);
Image bitfields_image(const Btf& btf);
Image anon_image(const Btf& btf);
Image arrays_image(const Btf& btf);
Image list_node_image(const Btf& btf);
Image floats_image(const Btf& btf);
Image chain_image(const Btf& btf);
Image mask_holder_image(const Btf& btf);
Image sched_ctx_image(const Btf& btf);

struct NamedImage {
  const char* type;  // struct name in the fixture
  const char* map;   // array map holding it in the fixture object
  Image (*make)(const Btf&);
};
const std::vector<NamedImage>& fixture_images();

}  // namespace ktest::btf::testing
