// vm.modules and vm.files: what the guest carries besides ktest's own pieces.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "dsl/scenario_vm.h"
#include "kvm/kernel/kernel.h"  // module_name(), header-only

namespace ktest::dsl {
namespace {

bool valid_module_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

void read_modules(const YAML::Node& node, FieldReader& r, std::vector<VmModule>& modules) {
  const std::string example = "modules: [kvm-amd]";
  if (!node.IsSequence()) {
    r.error(node, "'modules' must be a list of kernel module names", "write " + example);
    return;
  }
  for (const auto& item : node) {
    auto name = r.string(item, "modules");
    if (!name) continue;
    if (!valid_module_name(*name)) {
      r.error(item, fmt::format("'{}' is not a module name", *name),
              "write the name modprobe takes (letters, digits, '-' and '_'), e.g. " + example);
      continue;
    }
    auto same = std::find_if(modules.begin(), modules.end(), [&](const VmModule& m) {
      return kvm::module_name(m.name) == kvm::module_name(*name);
    });
    if (same != modules.end()) {
      r.error(item, fmt::format("module '{}' is listed twice (first at line {})", *name, same->loc.line),
              "delete one of them");
      continue;
    }
    modules.push_back({*name, r.loc(item)});
  }
}

std::optional<VmFile> read_file_entry(const YAML::Node& item, FieldReader& r, const std::string& dir) {
  const std::string example = "files: [/usr/share/qemu, {host: data/, guest: /opt/data}]";
  auto absolute = [&dir](const std::string& p) {
    std::filesystem::path path(p);
    // The scenario's directory may be relative to the working directory.
    return std::filesystem::absolute(path.is_absolute() ? path : std::filesystem::path(dir) / path)
        .lexically_normal()
        .string();
  };
  VmFile file;
  file.loc = r.loc(item);
  // Where a guest-path error points: a handle, as the mapping's fields die with their block.
  YAML::Node guest_node(item);
  if (item.IsMap()) {
    auto fs = r.fields(item, {"host", "guest"}, "vm.files entry", "{host: data/, guest: /opt/data}");
    const YAML::Node* host = r.require(fs, "host", item, "a vm.files entry", "{host: data/, guest: /opt/data}");
    const YAML::Node* guest = r.require(fs, "guest", item, "a vm.files entry", "{host: data/, guest: /opt/data}");
    if (!host || !guest) return std::nullopt;
    auto h = r.string(*host, "host");
    auto g = r.string(*guest, "guest");
    if (!h || !g) return std::nullopt;
    if (g->empty() || g->front() != '/') {
      r.error(*guest, fmt::format("guest path '{}' is not absolute", *g), "write where it goes, e.g. /opt/data");
      return std::nullopt;
    }
    file.host = absolute(*h);
    file.guest = std::filesystem::path(*g).lexically_normal().string();
    guest_node.reset(*guest);  // rebinds; operator= would overwrite the document
  } else {
    auto p = r.string(item, "files");
    if (!p) return std::nullopt;
    if (p->empty()) {
      r.error(item, "an empty vm.files entry", "write " + example);
      return std::nullopt;
    }
    file.host = absolute(*p);
    file.guest = file.host;
  }
  for (std::string* path : {&file.host, &file.guest})
    while (path->size() > 1 && path->back() == '/') path->pop_back();
  if (file.guest == "/") {
    r.error(guest_node, "vm.files cannot replace the guest's root directory", "name a directory below /");
    return std::nullopt;
  }
  if (auto mount = guest_owned_dir(file.guest)) {
    r.error(guest_node, fmt::format("'{}' would land in {}, which the guest mounts over at boot", file.guest, *mount),
            "give it another guest path: {host: " + file.host + ", guest: /opt/" +
                std::filesystem::path(file.guest).filename().string() + "}");
    return std::nullopt;
  }
  return file;
}

void read_files(const YAML::Node& node, FieldReader& r, const std::string& dir, std::vector<VmFile>& files) {
  if (!node.IsSequence()) {
    r.error(node, "'files' must be a list of paths or {host, guest} mappings",
            "write files: [/usr/share/qemu, {host: data/, guest: /opt/data}]");
    return;
  }
  for (const auto& item : node) {
    auto file = read_file_entry(item, r, dir);
    if (!file) continue;
    auto same = std::find_if(files.begin(), files.end(), [&](const VmFile& f) { return f.guest == file->guest; });
    if (same != files.end()) {
      r.error(item, fmt::format("guest path '{}' is given twice (first at line {})", file->guest, same->loc.line),
              "delete one of them, or give one another guest path");
      continue;
    }
    files.push_back(std::move(*file));
  }
}

}  // namespace

void read_vm_contents(const FieldReader::Fields& fs, FieldReader& r, const std::string& dir, VmConfig& vm) {
  if (const YAML::Node* n = FieldReader::find(fs, "modules")) read_modules(*n, r, vm.modules);
  if (const YAML::Node* n = FieldReader::find(fs, "files")) read_files(*n, r, dir, vm.files);
}

}  // namespace ktest::dsl
