// The guest kernel's vmlinux BTF, loaded once (see vmlinux.h).
#include "freeze/vmlinux.h"

namespace ktest::freeze {

Result<std::shared_ptr<const Vmlinux>> load_vmlinux(const std::string& btf_path) {
  if (btf_path.empty()) return fail(kNoVmlinuxBtf);
  KTEST_ASSIGN(auto btf, btf::Btf::from_elf(btf_path));
  KTEST_ASSIGN(auto maps, KernelLayout::from_btf(btf));
  auto scx = ScxLayout::from_btf(btf);
  std::string scx_unavailable = scx ? "" : scx.error().to_string();
  std::optional<ScxLayout> scx_layout;
  if (scx) scx_layout = std::move(*scx);
  return std::make_shared<const Vmlinux>(
      Vmlinux{std::move(btf), std::move(maps), std::move(scx_layout), std::move(scx_unavailable)});
}

}  // namespace ktest::freeze
