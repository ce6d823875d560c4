// BtfWriter: builds BTF blobs with libbpf for the fuzz seeds and the mini
// vmlinux, checking every call (a failure is a bug in the caller).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include <bpf/btf.h>

#include "fuzz/fuzz_target.h"

namespace ktest::fuzz {

class BtfWriter {
 public:
  BtfWriter() : btf_(btf__new_empty()) { fuzz_check(btf_ != nullptr, "btf__new_empty"); }
  ~BtfWriter() { btf__free(btf_); }
  BtfWriter(const BtfWriter&) = delete;
  BtfWriter& operator=(const BtfWriter&) = delete;

  struct Field {
    const char* name;
    int type;
    uint32_t offset;  // bytes
  };

  int check(int id) {
    fuzz_check(id >= 0, "building fuzz BTF with libbpf");
    return id;
  }
  int integer(const char* name, uint32_t size, int encoding = 0) {
    return check(btf__add_int(btf_, name, size, encoding));
  }
  int pointer(int to) { return check(btf__add_ptr(btf_, to)); }
  int array(int elem, uint32_t count) { return check(btf__add_array(btf_, index_type(), elem, count)); }
  int composite(const char* name, uint32_t size, std::initializer_list<Field> fields, bool is_union = false) {
    int id = check(is_union ? btf__add_union(btf_, name, size) : btf__add_struct(btf_, name, size));
    for (const auto& f : fields) check(btf__add_field(btf_, f.name, f.type, f.offset * 8, 0));
    return id;
  }
  int enumeration(const char* name, std::initializer_list<std::pair<const char*, int64_t>> values) {
    int id = check(btf__add_enum(btf_, name, 4));
    for (const auto& [n, v] : values) check(btf__add_enum_value(btf_, n, v));
    return id;
  }
  int func_pointer(int ret) { return pointer(check(btf__add_func_proto(btf_, ret))); }
  int datasec(const char* name, uint32_t size, std::initializer_list<Field> vars) {
    std::vector<int> ids;
    for (const auto& v : vars) ids.push_back(check(btf__add_var(btf_, v.name, BTF_VAR_GLOBAL_ALLOCATED, v.type)));
    int id = check(btf__add_datasec(btf_, name, size));
    std::size_t i = 0;
    for (const auto& v : vars) {
      uint32_t size_of = static_cast<uint32_t>(btf__resolve_size(btf_, v.type));
      check(btf__add_datasec_var_info(btf_, ids[i++], v.offset, size_of));
    }
    return id;
  }
  // For the kinds the helpers above do not cover (bitfields, enum64, ...).
  struct ::btf* get() { return btf_; }
  std::vector<uint8_t> raw() const {
    uint32_t size = 0;
    const auto* data = static_cast<const uint8_t*>(btf__raw_data(btf_, &size));
    fuzz_check(data != nullptr, "btf__raw_data");
    return std::vector<uint8_t>(data, data + size);
  }

 private:
  int index_type() {
    if (index_ == 0) index_ = integer("__ARRAY_SIZE_TYPE__", 4);
    return index_;
  }
  struct ::btf* btf_;
  int index_ = 0;
};

}  // namespace ktest::fuzz
