// BPF global variables as WatchSnapshot targets (see bpf_globals.h).
#include "freeze/bpf_globals.h"

#include <bpf/btf.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "freeze/map_reader.h"
#include "freeze/vmlinux.h"
#include "util/edit_distance.h"

namespace ktest::freeze {
namespace {

// Ambiguity errors list at most this many candidates.
constexpr std::size_t kMaxListedCandidates = 8;

// The variables of one global-section map, or why it is left out.
Status add_map_globals(const btf::Btf& btf, const MapHeader& h, const KernelLayout& layout,
                       const std::string& object, BpfGlobals& out) {
  const struct ::btf* raw = btf.get();
  if (h.value_type == 0 || !btf::valid_type_id(raw, h.value_type)) {
    return fail(fmt::format("value type id {} is not in the map's BTF", h.value_type));
  }
  const struct btf_type* sec = btf__type_by_id(raw, h.value_type);
  if (sec == nullptr || !btf_is_datasec(sec)) {
    return fail(fmt::format("value type {} is not a DATASEC", h.value_type));
  }
  std::vector<BpfGlobal> vars;
  const struct btf_var_secinfo* info = btf_var_secinfos(sec);
  for (uint16_t i = 0; i < btf_vlen(sec); ++i, ++info) {
    if (!btf::valid_type_id(raw, info->type)) {
      return fail(fmt::format("DATASEC entry {} names type id {}, which is not in the BTF", i, info->type));
    }
    const struct btf_type* var = btf__type_by_id(raw, info->type);
    if (var == nullptr || !btf_is_var(var)) continue;  // e.g. a FUNC in .ksyms
    const char* name = btf__name_by_offset(raw, var->name_off);
    if (name == nullptr || *name == '\0') {
      return fail(fmt::format("DATASEC entry {} is a variable without a name", i));
    }
    if (uint64_t{info->offset} + info->size > h.value_size) {
      return fail(fmt::format("variable '{}' at offset {} ({} bytes) lies past the map's {}-byte value",
                              name, info->offset, info->size, h.value_size));
    }
    BpfGlobal g;
    g.object = object;
    g.name = name;
    g.map = h.name;
    g.map_kva = h.kva;
    g.offset = info->offset;
    g.size = info->size;
    g.address = h.kva + layout.array_value + info->offset;
    vars.push_back(std::move(g));
  }
  if (out.vars.size() + vars.size() > kMaxBpfGlobals) {
    return fail(fmt::format("more than {} BPF globals in all; this map's are not listed", kMaxBpfGlobals));
  }
  for (auto& g : vars) out.vars.push_back(std::move(g));
  return {};
}

// The largest watch length (8, 4, 2, 1) that is at most `limit` and
// divides `address`; 0 when none (limit 0).
uint32_t best_len(uint64_t address, uint64_t limit) {
  for (uint32_t len : {8U, 4U, 2U, 1U}) {
    if (len <= limit && address % len == 0) return len;
  }
  return 0;
}

Status check_kernel_watch(const kvm::control::KernelSymbol& sym, uint32_t len) {
  if (sym.address % len == 0) return {};
  return fail(fmt::format("kernel symbol '{}' at {:#x} is not {}-byte aligned, so a {}-byte watch "
                          "cannot start there (x86 watches only naturally aligned ranges)",
                          sym.name, sym.address, len, len),
              "", fmt::format("use len: {}", best_len(sym.address, 8)));
}

Status check_global_watch(const BpfGlobal& g, uint32_t len) {
  std::string where = fmt::format("offset {} of {}", g.offset, g.map);
  uint32_t fits = best_len(g.address, g.size);
  std::string hint = fits == 0 ? "the variable has no bytes to watch; watch another one"
                               : fmt::format("use len: {}", fits);
  if (len > g.size) {
    return fail(fmt::format("a {}-byte watch does not fit BPF global '{}': it is {} bytes (at {})",
                            len, g.qualified(), g.size, where),
                "", hint);
  }
  if (g.address % len != 0) {
    return fail(fmt::format("BPF global '{}' ({} bytes at {}) is not {}-byte aligned, so a {}-byte "
                            "watch cannot start there (x86 watches only naturally aligned ranges)",
                            g.qualified(), g.size, where, len, len),
                "", hint);
  }
  return {};
}

WatchTarget kernel_target(const kvm::control::KernelSymbol& sym) {
  return {sym.address, "kernel symbol " + sym.name, std::nullopt};
}

std::string list_candidates(const std::vector<const BpfGlobal*>& matches, bool with_maps) {
  std::string out;
  for (std::size_t i = 0; i < matches.size() && i < kMaxListedCandidates; ++i) {
    if (i > 0) out += ", ";
    out += matches[i]->qualified();
    if (with_maps) out += fmt::format(" (map {} at {:#x})", matches[i]->map, matches[i]->map_kva);
  }
  if (matches.size() > kMaxListedCandidates) {
    out += fmt::format(" and {} more", matches.size() - kMaxListedCandidates);
  }
  return out;
}

std::vector<const BpfGlobal*> matching(const BpfGlobals& globals, std::string_view symbol) {
  std::vector<const BpfGlobal*> out;
  auto dot = symbol.find('.');
  for (const auto& g : globals.vars) {
    bool match = dot == std::string_view::npos
                     ? g.name == symbol
                     : (!g.object.empty() && g.object == symbol.substr(0, dot) &&
                        g.name == symbol.substr(dot + 1));
    if (match) out.push_back(&g);
  }
  return out;
}

Result<WatchTarget> pick_global(std::string_view symbol, uint32_t len,
                                const std::vector<const BpfGlobal*>& matches) {
  if (matches.size() > 1) {
    std::vector<std::string> names;
    for (const auto* g : matches) names.push_back(g->qualified());
    std::sort(names.begin(), names.end());
    bool distinct = std::adjacent_find(names.begin(), names.end()) == names.end();
    if (distinct) {
      return fail(fmt::format("symbol '{}' is ambiguous: {} loaded BPF objects have a global of that "
                              "name: {}",
                              symbol, matches.size(), list_candidates(matches, false)),
                  "", fmt::format("name the object as obj.var, e.g. symbol: {}", matches[0]->qualified()));
    }
    return fail(fmt::format("symbol '{}' is ambiguous: {} BPF globals have that name, in objects "
                            "ktest cannot tell apart: {}",
                            symbol, matches.size(), list_candidates(matches, true)),
                "", "the same object (or two whose names share their first 8 characters) is loaded "
                    "more than once; load it once, or rename one");
  }
  const BpfGlobal& g = *matches[0];
  KTEST_TRY(check_global_watch(g, len));
  return WatchTarget{g.address,
                     fmt::format("BPF global {} ({}+{:#x}, {} bytes)", g.qualified(), g.map, g.offset, g.size),
                     g};
}

Unexpected unknown_symbol(std::string_view symbol, const BpfGlobals& globals) {
  std::string message = fmt::format(
      "symbol '{}' is neither in the guest's /proc/kallsyms nor a global variable of a loaded BPF "
      "object",
      symbol);
  if (!globals.problems.empty()) {
    message += fmt::format(" ({} BPF map(s) could not be read: {}{})", globals.problems.size(),
                           globals.problems.front(), globals.problems.size() > 1 ? "; ..." : "");
  }
  if (globals.vars.empty()) {
    return fail(message, "",
                "no loaded BPF object has global variables now: the WatchSnapshot step must come "
                "after the step that loads the object (AttachScheduler, LoadBpf)");
  }
  // Plain names first for a plain symbol, `obj.var` first for a dotted one.
  std::vector<std::string> plain, qualified;
  for (const auto& g : globals.vars) {
    plain.push_back(g.name);
    qualified.push_back(g.qualified());
  }
  bool dotted = symbol.find('.') != std::string_view::npos;
  std::vector<std::string> candidates = dotted ? qualified : plain;
  candidates.insert(candidates.end(), dotted ? plain.begin() : qualified.begin(),
                    dotted ? plain.end() : qualified.end());
  std::string forms = "BPF globals are written `var` or `obj.var` (obj: the object's map-name prefix, "
                      "e.g. ktest_sc for ktest_sc.bss); kernel symbols as /proc/kallsyms spells them";
  if (auto near = nearest(symbol, candidates)) {
    return fail(message, "", fmt::format("did you mean '{}'? {}", *near, forms));
  }
  return fail(message, "", forms);
}

}  // namespace

std::string BpfGlobal::qualified() const { return object.empty() ? name : object + "." + name; }

Result<BpfGlobals> collect_bpf_globals(GuestKernel& kernel, const KernelLayout& layout,
                                       const btf::Btf& vmlinux) {
  KTEST_ASSIGN(uint64_t idr, kernel.symbol("map_idr"));
  KTEST_ASSIGN(auto prefix, collect_xarray_prefix(kernel, idr + layout.idr_xarray, layout.xarray, kMaxMaps));
  const std::vector<uint64_t>& kvas = prefix.entries;
  BpfGlobals out;
  if (prefix.more) {
    out.problems.push_back(fmt::format("more than {} BPF maps; the globals of the rest are not listed", kMaxMaps));
  }
  std::vector<MapHeader> sections;
  std::map<uint64_t, std::string> object_of_btf;  // the maps of one object share its struct btf
  for (uint64_t kva : kvas) {
    auto h = read_map_header(kernel, layout, kva);
    if (!h) {
      out.problems.push_back(fmt::format("map at {:#x}: {}", kva, h.error().to_string()));
      continue;
    }
    if (h->type != kMapTypeArray || global_section_of(h->name).empty()) continue;
    std::string object = section_map_prefix(h->name);
    if (!object.empty() && h->btf_kva != 0) object_of_btf.emplace(h->btf_kva, object);
    sections.push_back(std::move(*h));
  }
  MapBtfCache btfs(kernel, layout, vmlinux);
  for (const auto& h : sections) {
    std::string object = section_map_prefix(h.name);
    if (auto it = object_of_btf.find(h.btf_kva); object.empty() && it != object_of_btf.end()) {
      object = it->second;
    }
    Status added = [&]() -> Status {
      if (h.btf_kva == 0) return fail("it has no BTF");
      KTEST_ASSIGN(auto btf, btfs.get(h.btf_kva));
      return add_map_globals(*btf, h, layout, object, out);
    }();
    if (!added) {
      out.problems.push_back(fmt::format("map {} at {:#x}: {}", h.name, h.kva, added.error().to_string()));
    }
  }
  return out;
}

Result<WatchTarget> resolve_watch_symbol(std::string_view symbol, uint32_t len,
                                         const kvm::control::SymbolTable& kallsyms,
                                         const BpfGlobalsSource& globals) {
  if (len != 1 && len != 2 && len != 4 && len != 8) {
    return fail(fmt::format("watch len {} is not 1, 2, 4 or 8", len), "",
                "x86 debug registers watch 1, 2, 4 or 8 naturally aligned bytes");
  }
  const kvm::control::KernelSymbol* ksym = kallsyms.find(symbol);
  bool dotted = symbol.find('.') != std::string_view::npos;
  if (ksym && !dotted) {
    KTEST_TRY(check_kernel_watch(*ksym, len));
    return kernel_target(*ksym);
  }
  if (!globals) {
    if (ksym) {
      KTEST_TRY(check_kernel_watch(*ksym, len));
      return kernel_target(*ksym);
    }
    return fail(fmt::format("symbol '{}' is not in the guest's /proc/kallsyms (BPF global variables "
                            "are not looked up in this run)",
                            symbol),
                "", "watch a data symbol from /proc/kallsyms");
  }
  auto read = globals();
  if (!read) {
    if (ksym) {
      KTEST_TRY(check_kernel_watch(*ksym, len));
      return kernel_target(*ksym);
    }
    return fail(fmt::format("symbol '{}' is not in the guest's /proc/kallsyms, and the BPF global "
                            "variables could not be read: {}",
                            symbol, read.error().to_string()),
                "", "watch a data symbol from /proc/kallsyms, or report the BPF map walk's failure");
  }
  auto matches = matching(*read, symbol);
  if (!matches.empty()) return pick_global(symbol, len, matches);
  if (ksym) {
    KTEST_TRY(check_kernel_watch(*ksym, len));
    return kernel_target(*ksym);
  }
  return unknown_symbol(symbol, *read);
}

BpfGlobalResolver::BpfGlobalResolver(std::shared_ptr<const Vmlinux> vmlinux, std::string unavailable)
    : vmlinux_(std::move(vmlinux)), unavailable_(std::move(unavailable)) {}

Result<BpfGlobals> BpfGlobalResolver::collect(kvm::Machine& machine,
                                              const kvm::control::SymbolTable& kallsyms) {
  if (!vmlinux_) return fail(unavailable_);
  if (Status paused = machine.pause_all(); !paused) {
    Status resumed = machine.resume();  // whatever part of the rendezvous happened
    static_cast<void>(resumed);
    return std::move(paused).context("pausing the guest to read its BPF maps");
  }
  auto read = [&]() -> Result<BpfGlobals> {
    KTEST_ASSIGN(auto regs, machine.read_registers(0));
    MachineMemory memory(machine);
    KTEST_ASSIGN(auto kernel, GuestKernel::open(memory, kallsyms, regs.cr3, regs.cr4));
    return collect_bpf_globals(*kernel, vmlinux_->maps, vmlinux_->btf);
  }();
  Status resumed = machine.resume();
  if (!resumed) return std::move(resumed).context("resuming the guest after reading its BPF maps");
  return read;
}

Result<WatchTarget> BpfGlobalResolver::resolve(kvm::Machine& machine, std::string_view symbol,
                                               uint32_t len, const kvm::control::SymbolTable& kallsyms) {
  return resolve_watch_symbol(symbol, len, kallsyms, [&] { return collect(machine, kallsyms); });
}

}  // namespace ktest::freeze
