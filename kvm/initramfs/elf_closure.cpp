// Executables with their shared libraries, and busybox with its applets.
#include <gelf.h>
#include <libelf.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "kvm/initramfs/initramfs.h"
#include "util/atomic_file.h"

namespace ktest::kvm {

namespace {

namespace fs = std::filesystem;

// Debian's ld.so searches these (multiarch first) when there is no
// ld.so.cache, which our initramfs does not have.
constexpr const char* kLibraryDirs[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                        "/lib64", "/usr/lib64", "/lib", "/usr/lib"};

struct DynamicInfo {
  std::string interpreter;            // PT_INTERP, "" for static executables
  std::vector<std::string> needed;    // DT_NEEDED
  std::vector<std::string> run_paths; // DT_RUNPATH / DT_RPATH entries
};

Result<DynamicInfo> read_dynamic_info(const std::string& host_path, std::string_view bytes) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_memory(const_cast<char*>(bytes.data()), bytes.size());
  if (!elf || elf_kind(elf) != ELF_K_ELF) {
    if (elf) elf_end(elf);
    return fail(host_path + " is not an ELF executable", "", "pass a compiled program, or add scripts with add_file");
  }
  DynamicInfo info;
  std::size_t phnum = 0;
  elf_getphdrnum(elf, &phnum);
  for (std::size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, static_cast<int>(i), &ph) || ph.p_type != PT_INTERP) continue;
    if (ph.p_offset < bytes.size() && ph.p_filesz <= bytes.size() - ph.p_offset) {
      std::string interp(bytes.substr(ph.p_offset, ph.p_filesz));
      info.interpreter = interp.substr(0, interp.find('\0'));
    }
  }
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || sh.sh_entsize == 0) continue;
    for (std::size_t i = 0; i < sh.sh_size / sh.sh_entsize; ++i) {
      GElf_Dyn dyn;
      if (!gelf_getdyn(data, static_cast<int>(i), &dyn)) break;
      if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH && dyn.d_tag != DT_RPATH) continue;
      const char* s = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
      if (!s) continue;
      if (dyn.d_tag == DT_NEEDED) {
        info.needed.emplace_back(s);
      } else {
        std::string_view list = s;
        std::string origin = fs::path(host_path).parent_path().string();
        while (!list.empty()) {
          std::string entry(list.substr(0, list.find(':')));
          list = list.find(':') == std::string_view::npos ? std::string_view{} : list.substr(list.find(':') + 1);
          if (entry.starts_with("$ORIGIN")) entry = origin + entry.substr(7);
          if (!entry.empty()) info.run_paths.push_back(entry);
        }
      }
    }
  }
  elf_end(elf);
  return info;
}

std::string find_library(const std::string& name, const std::vector<std::string>& run_paths) {
  std::error_code ec;
  if (name.find('/') != std::string::npos) return fs::is_regular_file(name, ec) ? name : std::string{};
  for (const auto& dir : run_paths) {
    if (fs::is_regular_file(dir + "/" + name, ec)) return dir + "/" + name;
  }
  for (const char* dir : kLibraryDirs) {
    if (fs::is_regular_file(std::string(dir) + "/" + name, ec)) return std::string(dir) + "/" + name;
  }
  return {};
}

constexpr const char* kNiceScript =
    "#!/bin/sh\n"
    "# nice [-n N | -N] COMMAND...: renice this shell, then become COMMAND.\n"
    "n=10\n"
    "case \"$1\" in\n"
    "  -n) n=$2; shift 2 ;;\n"
    "  -n*) n=${1#-n}; shift ;;\n"
    "  -[0-9]*) n=${1#-}; shift ;;\n"
    "esac\n"
    "renice -n \"$n\" -p $$ >/dev/null || exit 125\n"
    "exec \"$@\"\n";

}  // namespace

Result<std::vector<std::string>> Initramfs::add_elf_with_libraries(std::string_view guest_path,
                                                                   const std::string& host_path) {
  std::vector<std::string> added;
  std::set<std::string> seen;
  // Breadth-first over DT_NEEDED; each library at its host path (ld.so finds it there).
  std::vector<std::pair<std::string, std::string>> queue = {{std::string(guest_path), host_path}};
  for (std::size_t i = 0; i < queue.size(); ++i) {
    auto [guest, host] = queue[i];
    KTEST_ASSIGN(HostFile identity, identify(host));
    KTEST_ASSIGN(std::string bytes, read_file(host));
    KTEST_ASSIGN(DynamicInfo info, read_dynamic_info(host, bytes));
    KTEST_TRY(add_host_entry(guest, std::move(identity), 0755));
    added.push_back(host);
    if (!info.interpreter.empty() && seen.insert(info.interpreter).second) {
      if (std::error_code ec; !fs::exists(info.interpreter, ec)) {
        return fail(host + " needs the ELF interpreter " + info.interpreter + ", which this host lacks");
      }
      queue.emplace_back(info.interpreter, info.interpreter);
    }
    for (const auto& name : info.needed) {
      std::string found = find_library(name, info.run_paths);
      if (found.empty()) {
        return fail(host + " needs " + name + ", which is not in its RUNPATH or the standard library dirs", "",
                    "install the library, or link the program statically");
      }
      if (seen.insert(found).second) queue.emplace_back(found, found);
    }
  }
  return added;
}

const std::vector<std::string>& common_busybox_applets() {
  static const std::vector<std::string> applets = {
      "sh", "ash", "ls", "cat", "echo", "sleep", "taskset", "renice", "yes", "dd", "true",
      "false", "mount", "umount", "mkdir", "rm", "cp", "mv", "ln", "ps", "kill", "killall", "grep",
      "sed", "awk", "head", "tail", "wc", "sort", "uniq", "cut", "tr", "seq", "env", "printf",
      "test", "[", "timeout", "nproc", "uname", "date", "stat", "find", "xargs", "poweroff",
      "reboot", "sync", "dmesg", "hexdump", "od", "md5sum", "sha256sum", "mknod", "chmod", "touch",
      "pidof", "usleep", "watch", "free", "top", "time"};
  return applets;
}

Status Initramfs::add_busybox(const std::string& host_busybox) {
  KTEST_ASSIGN(HostFile identity, identify(host_busybox));
  KTEST_ASSIGN(std::string bytes, read_file(host_busybox));
  KTEST_ASSIGN(DynamicInfo info, read_dynamic_info(host_busybox, bytes));
  if (!info.interpreter.empty() || !info.needed.empty()) {
    return fail(host_busybox + " is dynamically linked", "", "install busybox-static (apt-get install busybox-static)");
  }
  KTEST_TRY(add_host_entry("/bin/busybox", std::move(identity), 0755));
  for (const auto& applet : common_busybox_applets()) {
    if (!contains("/bin/" + applet)) KTEST_TRY(add_symlink("/bin/" + applet, "busybox"));
  }
  // Debian's busybox-static has renice but no nice applet; scenarios use nice.
  if (!contains("/bin/nice")) KTEST_TRY(add_file("/bin/nice", kNiceScript, 0755));
  return {};
}

}  // namespace ktest::kvm
