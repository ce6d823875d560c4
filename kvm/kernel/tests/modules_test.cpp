// vm.modules: depmod's index read, names resolved to files in load order.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>

#include "kvm/kernel/kernel.h"

namespace fs = std::filesystem;
using namespace ktest::kvm;

namespace {

// The shape of Debian 7.2's index for KVM on AMD (modules.dep lists every
// transitive dependency; depmod writes the deepest last).
constexpr std::string_view kDep =
    "kernel/arch/x86/kvm/kvm.ko.xz: kernel/virt/lib/irqbypass.ko.xz\n"
    "kernel/arch/x86/kvm/kvm-amd.ko.xz: kernel/arch/x86/kvm/kvm.ko.xz kernel/drivers/crypto/ccp/ccp.ko.xz "
    "kernel/virt/lib/irqbypass.ko.xz\n"
    "kernel/virt/lib/irqbypass.ko.xz:\n"
    "kernel/drivers/crypto/ccp/ccp.ko.xz:\n"
    "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz\n"
    "kernel/net/9p/9pnet.ko.xz:\n"
    "kernel/fs/netfs/netfs.ko.xz:\n";
constexpr std::string_view kBuiltin = "kernel/fs/ext4/ext4.ko\nkernel/drivers/virtio/virtio_pci.ko\n";

}  // namespace

TEST_CASE("module names match as modprobe matches them") {
  CHECK(module_name("kernel/arch/x86/kvm/kvm-amd.ko.xz") == "kvm_amd");
  CHECK(module_name("kvm-amd") == "kvm_amd");
  CHECK(module_name("ext4.ko") == "ext4");
}

TEST_CASE("a module comes after everything it needs, once each") {
  ModuleIndex index = parse_module_index(kDep, kBuiltin);
  auto order = module_load_order(index, {"kvm_amd", "kvm"});
  REQUIRE(order);
  REQUIRE(order->size() == 4);
  auto at = [&](const std::string& file) {
    return std::find(order->begin(), order->end(), file) - order->begin();
  };
  CHECK(at("kernel/virt/lib/irqbypass.ko.xz") < at("kernel/arch/x86/kvm/kvm.ko.xz"));
  CHECK(at("kernel/arch/x86/kvm/kvm.ko.xz") < at("kernel/arch/x86/kvm/kvm-amd.ko.xz"));
  CHECK(at("kernel/drivers/crypto/ccp/ccp.ko.xz") < at("kernel/arch/x86/kvm/kvm-amd.ko.xz"));
  CHECK(order->back() == "kernel/arch/x86/kvm/kvm-amd.ko.xz");
}

TEST_CASE("built-in modules need no file; unknown names get a suggestion") {
  ModuleIndex index = parse_module_index(kDep, kBuiltin);
  auto builtin = module_load_order(index, {"ext4", "virtio-pci"});
  REQUIRE(builtin);
  CHECK(builtin->empty());
  auto typo = module_load_order(index, {"kvm-amdd"});
  REQUIRE_FALSE(typo);
  CHECK(typo.error().message.find("no module named kvm-amdd") != std::string::npos);
  CHECK(typo.error().hint.find("kvm_amd") != std::string::npos);
}

TEST_CASE("a corrupt index fails instead of looping") {
  ModuleIndex cycle = parse_module_index("a.ko: b.ko\nb.ko: a.ko\n", "");
  auto looped = module_load_order(cycle, {"a"});
  REQUIRE_FALSE(looped);
  CHECK(looped.error().message.find("cycle") != std::string::npos);
  ModuleIndex dangling = parse_module_index("a.ko: missing.ko\n", "");
  auto missing = module_load_order(dangling, {"a"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("missing.ko") != std::string::npos);
}

TEST_CASE("resolve_modules finds the files, and says how to get modules when there are none") {
  fs::path dir = fs::temp_directory_path() / ("ktest-modules-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "kernel/net/9p");
  fs::create_directories(dir / "kernel/fs/9p");
  std::ofstream(dir / "modules.dep") << "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz\nkernel/net/9p/9pnet.ko.xz:\n";
  std::ofstream(dir / "kernel/net/9p/9pnet.ko.xz") << "x";
  auto absent = resolve_modules(dir.string(), {"9p"});
  REQUIRE_FALSE(absent);  // 9p.ko.xz itself is not there
  CHECK(absent.error().message.find("not a file") != std::string::npos);
  std::ofstream(dir / "kernel/fs/9p/9p.ko.xz") << "x";
  auto files = resolve_modules(dir.string(), {"9p"});
  REQUIRE(files);
  REQUIRE(files->size() == 2);
  CHECK((*files)[0].name == "9pnet");
  CHECK((*files)[1].host_path == (dir / "kernel/fs/9p/9p.ko.xz").string());
  auto none = resolve_modules("", {"9p"});
  REQUIRE_FALSE(none);
  CHECK(none.error().hint.find("ktest kernel fetch --modules") != std::string::npos);
  CHECK(resolve_modules("", {}).value().empty());
  fs::remove_all(dir);
}
