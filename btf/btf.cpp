// BTF loading through libbpf (see btf.h for the contract).
#include "btf/btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <vector>

#include "btf/render_plan.h"
#include "util/edit_distance.h"

namespace ktest::btf {
namespace {

constexpr const char* kKernelBtfPath = "/sys/kernel/btf/vmlinux";
constexpr uint16_t kEmBpf = 247;  // EM_BPF

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

void free_btf(struct ::btf* b) { btf__free(b); }

// The first bytes of a file, to tell ELF from raw BTF.
Result<std::vector<uint8_t>> read_head(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("cannot open BTF file: " + errno_text(errno), path);
  std::vector<uint8_t> head(n);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(n));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return head;
}

bool preferred_kind(const struct btf_type* t) {
  switch (btf_kind(t)) {
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
    case BTF_KIND_DATASEC:
    case BTF_KIND_INT:
    case BTF_KIND_FLOAT:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool valid_type_id(const struct ::btf* btf, uint32_t id) {
  return btf != nullptr && id < btf__type_cnt(btf);
}

Btf::Btf(struct ::btf* handle, std::string origin, std::shared_ptr<struct ::btf> base)
    : handle_(handle, free_btf),
      base_(std::move(base)),
      origin_(std::move(origin)),
      plans_(std::make_shared<RenderPlans>(handle)) {}

struct ::btf* Btf::get_mut() {
  // Plans describe the BTF as it was; a changed one gets new ones.
  plans_ = std::make_shared<RenderPlans>(handle_.get());
  return handle_.get();
}

Result<Btf> Btf::load(const std::string& path) {
  KTEST_ASSIGN(auto head, read_head(path, 20));
  if (head.size() >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F') {
    // e_machine sits at offset 18 (little-endian on every host we build for).
    const bool is_bpf = head.size() >= 20 && (head[18] | (head[19] << 8)) == kEmBpf;
    return is_bpf ? from_object(path) : from_elf(path);
  }
  if (head.size() >= 2 && head[0] == 0x9f && head[1] == 0xeb) return from_raw(path);
  return fail("not a BTF file (neither ELF nor raw BTF magic 0xeb9f)", path,
              "pass a .bpf.o, a vmlinux ELF built with CONFIG_DEBUG_INFO_BTF=y, or a raw "
              "blob such as /sys/kernel/btf/vmlinux");
}

Result<Btf> Btf::from_object(const std::string& path) {
  struct bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
  if (obj == nullptr) {
    return fail("cannot open BPF object: " + errno_text(errno), path,
                "compile it with `clang -g -O2 -target bpf` so it carries BTF");
  }
  const struct ::btf* obj_btf = bpf_object__btf(obj);
  if (obj_btf == nullptr) {
    bpf_object__close(obj);
    return fail("BPF object has no BTF", path, "compile it with -g so clang emits .BTF");
  }
  // Copy: the object's BTF dies with the object, and the copy keeps the
  // DATASEC fixups libbpf applied on open.
  uint32_t size = 0;
  const void* raw = btf__raw_data(obj_btf, &size);
  struct ::btf* copy = raw != nullptr ? btf__new(raw, size) : nullptr;
  const int err = errno;
  bpf_object__close(obj);
  if (copy == nullptr) return fail("cannot copy BTF of BPF object: " + errno_text(err), path);
  return Btf(copy, path);
}

Result<Btf> Btf::from_elf(const std::string& path) {
  struct ::btf* b = btf__parse_elf(path.c_str(), nullptr);
  if (b == nullptr) {
    return fail("cannot read .BTF from ELF file: " + errno_text(errno), path,
                "the kernel needs CONFIG_DEBUG_INFO_BTF=y (vmlinux must not be stripped of .BTF)");
  }
  return Btf(b, path);
}

Result<Btf> Btf::from_raw(const std::string& path) {
  struct ::btf* b = btf__parse_raw(path.c_str());
  if (b == nullptr) return fail("cannot parse raw BTF: " + errno_text(errno), path);
  return Btf(b, path);
}

Result<Btf> Btf::from_bytes(std::span<const uint8_t> data, std::string_view origin) {
  if (data.size() > UINT32_MAX) return fail("BTF blob larger than 4 GiB", std::string(origin));
  struct ::btf* b = btf__new(data.data(), static_cast<uint32_t>(data.size()));
  if (b == nullptr) return fail("invalid BTF blob: " + errno_text(errno), std::string(origin));
  return Btf(b, std::string(origin));
}

Result<Btf> Btf::running_kernel() {
  struct ::btf* b = btf__parse_raw(kKernelBtfPath);
  if (b == nullptr) {
    return fail("cannot read the running kernel's BTF: " + errno_text(errno), kKernelBtfPath,
                "the host kernel needs CONFIG_DEBUG_INFO_BTF=y; or pass a vmlinux explicitly");
  }
  return Btf(b, kKernelBtfPath);
}

Result<Btf> Btf::split_file(const std::string& path, const Btf& base) {
  struct ::btf* b = btf__parse_split(path.c_str(), base.handle_.get());
  if (b == nullptr) {
    return fail("cannot parse split BTF on base " + base.origin() + ": " + errno_text(errno), path,
                "split BTF must be built against exactly this base (same vmlinux)");
  }
  return Btf(b, path, base.handle_);
}

Result<Btf> Btf::split_bytes(std::span<const uint8_t> data, const Btf& base,
                             std::string_view origin) {
  if (data.size() > UINT32_MAX) return fail("BTF blob larger than 4 GiB", std::string(origin));
  struct ::btf* b =
      btf__new_split(data.data(), static_cast<uint32_t>(data.size()), base.handle_.get());
  if (b == nullptr) {
    return fail("invalid split BTF on base " + base.origin() + ": " + errno_text(errno),
                std::string(origin));
  }
  return Btf(b, std::string(origin), base.handle_);
}

uint32_t Btf::type_count() const { return btf__type_cnt(handle_.get()); }

std::string Btf::type_name(uint32_t id) const {
  if (id == 0 || !valid_type_id(handle_.get(), id)) return {};
  const struct btf_type* t = btf__type_by_id(handle_.get(), id);
  const char* name = t != nullptr ? btf__name_by_offset(handle_.get(), t->name_off) : nullptr;
  return name != nullptr ? name : "";
}

Result<uint32_t> Btf::find_type(std::string_view name_or_id) const {
  const uint32_t count = type_count();
  uint32_t id = 0;
  const char* end = name_or_id.data() + name_or_id.size();
  auto [ptr, ec] = std::from_chars(name_or_id.data(), end, id);
  if (!name_or_id.empty() && ec == std::errc() && ptr == end) {
    if (id == 0 || id >= count) {
      return fail("type id " + std::to_string(id) + " out of range (valid: 1.." +
                      std::to_string(count - 1) + ")",
                  origin_);
    }
    return id;
  }
  auto search = [&](std::string_view wanted) -> uint32_t {
    uint32_t fallback = 0;
    for (uint32_t i = 1; i < count; ++i) {
      const struct btf_type* t = btf__type_by_id(handle_.get(), i);
      if (t == nullptr) continue;
      const char* name = btf__name_by_offset(handle_.get(), t->name_off);
      if (name == nullptr || wanted != name) continue;
      if (preferred_kind(t)) return i;
      if (fallback == 0) fallback = i;
    }
    return fallback;
  };
  if (uint32_t found = search(name_or_id); found != 0) return found;
  // "struct foo" / "union foo" / "enum foo" are accepted as plain names (after
  // the exact name: BTF does not forbid a type named "enum x").
  for (std::string_view prefix : {"struct ", "union ", "enum "}) {
    if (name_or_id.substr(0, prefix.size()) == prefix) {
      name_or_id.remove_prefix(prefix.size());
      if (uint32_t found = search(name_or_id); found != 0) return found;
      break;
    }
  }
  std::vector<std::string> names;
  for (uint32_t i = 1; i < count; ++i) {
    std::string n = type_name(i);
    if (!n.empty()) names.push_back(std::move(n));
  }
  std::string hint = "list the types with `ktest btf types " + origin_ + "`";
  if (auto near = nearest(name_or_id, names)) hint = "did you mean '" + *near + "'?";
  return fail("no type named '" + std::string(name_or_id) + "'", origin_, hint);
}

std::span<const uint8_t> Btf::raw_data() const {
  uint32_t size = 0;
  const void* raw = btf__raw_data(handle_.get(), &size);
  if (raw == nullptr) return {};
  return {static_cast<const uint8_t*>(raw), size};
}

}  // namespace ktest::btf
