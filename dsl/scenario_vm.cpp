#include "dsl/scenario_vm.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "kvm/machine.h"

namespace ktest::dsl {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
// Below this a node's memory map does not hold the kernel's per-node data.
constexpr uint64_t kMinNodeMemory = 32 * kMiB;
constexpr int64_t kMaxNodes = 64;

std::string size_text(uint64_t bytes) {
  if (bytes % (1ull << 30) == 0) return fmt::format("{}G", bytes >> 30);
  return fmt::format("{}M", bytes >> 20);
}

std::optional<VmTopology> read_topology(const YAML::Node& node, FieldReader& r) {
  const std::string example = "topology: {sockets: 2, cores: 2, threads: 2}";
  auto fs = r.fields(node, {"sockets", "cores", "threads"}, "vm.topology", example);
  if (!node.IsMap()) return std::nullopt;
  VmTopology t;
  t.loc = r.loc(node);
  bool ok = true;
  const std::pair<const char*, uint32_t*> keys[] = {{"sockets", &t.sockets}, {"cores", &t.cores}, {"threads", &t.threads}};
  for (auto [key, field] : keys) {
    if (const YAML::Node* n = FieldReader::find(fs, key)) {
      auto v = r.integer(*n, key, kvm::kMinCpus, kvm::kMaxCpus);
      ok = ok && v;
      if (v) *field = static_cast<uint32_t>(*v);
    }
  }
  if (!ok) return std::nullopt;
  return t;
}

std::optional<VmNumaNode> read_node(const YAML::Node& item, FieldReader& r) {
  const std::string example = "- {cpus: \"0-3\", memory: 256M}";
  auto fs = r.fields(item, {"cpus", "memory"}, "a vm.numa node", example);
  if (!item.IsMap()) return std::nullopt;
  VmNumaNode node;
  node.loc = r.loc(item);
  bool ok = true;
  if (const YAML::Node* n = r.require(fs, "cpus", item, "a vm.numa node", example)) {
    auto text = r.string(*n, "cpus");
    if (text) {
      auto cpus = parse_cpu_list(*text);
      if (cpus) {
        node.cpus = std::move(*cpus);
        node.cpus_text = *text;
      } else {
        r.error(*n, "'cpus': " + cpus.error().message, cpus.error().hint);
      }
      ok = ok && cpus;
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const YAML::Node* n = r.require(fs, "memory", item, "a vm.numa node", example)) {
    auto bytes = r.size(*n, "memory");
    if (bytes && (*bytes < kMinNodeMemory || *bytes % kMiB != 0)) {
      r.error(*n, fmt::format("a NUMA node's memory must be a whole number of MiB, at least 32M, not {}",
                              n->Scalar()),
              "use e.g. memory: 256M");
      bytes.reset();
    }
    ok = ok && bytes;
    if (bytes) node.memory_bytes = *bytes;
  } else {
    ok = false;
  }
  if (!ok) return std::nullopt;
  return node;
}

// Every cpu 0..cpus-1 in exactly one node, and nothing past cpus.
void check_node_cpus(const YAML::Node& seq, FieldReader& r, const VmConfig& vm) {
  std::vector<int> owner(vm.cpus, -1);
  for (std::size_t i = 0; i < vm.numa.size(); ++i) {
    const VmNumaNode& node = vm.numa[i];
    const YAML::Node at = seq[i]["cpus"];
    if (node.cpus.back() >= vm.cpus)
      r.error(at, fmt::format("cpu {} does not exist: the vm has {} cpu{}", node.cpus.back(), vm.cpus,
                              vm.cpus == 1 ? "" : "s"),
              fmt::format("use cpus within 0-{}, or raise vm.cpus", vm.cpus - 1));
    // The cpus that do exist still count, so one mistake is one error.
    bool overlap_reported = false;
    for (uint32_t cpu : node.cpus) {
      if (cpu >= vm.cpus) break;  // sorted: the rest are out of range too
      if (owner[cpu] >= 0) {
        if (!overlap_reported)
          r.error(at, fmt::format("cpu {} is already in NUMA node {}", cpu, owner[cpu]),
                  "give each cpu to exactly one node");
        overlap_reported = true;
        continue;
      }
      owner[cpu] = static_cast<int>(i);
    }
  }
  std::vector<uint32_t> missing;
  for (uint32_t cpu = 0; cpu < vm.cpus; ++cpu)
    if (owner[cpu] < 0) missing.push_back(cpu);
  if (!missing.empty())
    r.error(seq, fmt::format("cpu{} {} {} in no NUMA node", missing.size() == 1 ? "" : "s",
                             fmt::join(missing, ","), missing.size() == 1 ? "is" : "are"),
            fmt::format("the nodes' cpu lists must cover 0-{} exactly once", vm.cpus - 1));
}

void read_numa(const YAML::Node& seq, FieldReader& r, VmConfig& vm, bool memory_written,
               const YAML::Node* memory_node) {
  const std::string example = "numa: [{cpus: \"0-3\", memory: 256M}, {cpus: \"4-7\", memory: 256M}]";
  if (!seq.IsSequence() || seq.size() == 0) {
    r.error(seq, "'numa' must be a non-empty list of nodes", "write " + example);
    return;
  }
  if (seq.size() > static_cast<std::size_t>(kMaxNodes)) {
    r.error(seq, fmt::format("'numa' has {} nodes, more than {}", seq.size(), kMaxNodes), "use fewer nodes");
    return;
  }
  bool ok = true;
  for (const auto& item : seq) {
    auto node = read_node(item, r);
    ok = ok && node;
    if (node) vm.numa.push_back(std::move(*node));
  }
  if (!ok) {
    vm.numa.clear();
    return;
  }
  uint64_t sum = 0;
  for (const auto& node : vm.numa) sum += node.memory_bytes;
  if (!memory_written) {
    if (Status s = kvm::check_guest_memory(sum); !s)
      r.error(seq, fmt::format("the NUMA nodes hold {} in all: {}", size_text(sum), s.error().message),
              s.error().hint);
    vm.memory_bytes = sum;
    vm.memory_written = true;  // by the nodes
  } else if (sum != vm.memory_bytes) {
    std::vector<std::string> parts;
    for (const auto& node : vm.numa) parts.push_back(size_text(node.memory_bytes));
    r.error(*memory_node,
            fmt::format("vm.memory is {}, but the NUMA nodes hold {} = {}", size_text(vm.memory_bytes),
                        fmt::join(parts, " + "), size_text(sum)),
            fmt::format("make the nodes' memory sum to vm.memory, or write memory: {} (or leave it out)",
                        size_text(sum)));
  }
  check_node_cpus(seq, r, vm);
}

}  // namespace

void read_vm_shape(const FieldReader::Fields& fs, FieldReader& r, VmConfig& vm) {
  const YAML::Node* cpus_node = FieldReader::find(fs, "cpus");
  const YAML::Node* memory_node = FieldReader::find(fs, "memory");
  if (const YAML::Node* n = FieldReader::find(fs, "topology")) {
    vm.topology = read_topology(*n, r);
    if (vm.topology) {
      const VmTopology& t = *vm.topology;
      uint64_t product = uint64_t{t.sockets} * t.cores * t.threads;
      if (!cpus_node && product <= kvm::kMaxCpus) {
        vm.cpus = static_cast<uint32_t>(product);
        vm.cpus_written = true;  // by the topology
      } else if (product != vm.cpus) {
        r.error(*n, fmt::format("topology {} sockets x {} cores x {} threads is {} cpus, but vm.cpus is {}",
                                t.sockets, t.cores, t.threads, product, vm.cpus),
                "make sockets x cores x threads equal vm.cpus (or leave cpus out: it follows the topology)");
      }
    }
  }
  if (const YAML::Node* n = FieldReader::find(fs, "numa")) read_numa(*n, r, vm, memory_node != nullptr, memory_node);
  if (const YAML::Node* n = FieldReader::find(fs, "cpu_model")) {
    if (auto model = r.string(*n, "cpu_model")) {
      if (kvm::valid_cpu_model(*model)) {
        vm.cpu_model = *model;
        vm.cpu_model_loc = r.loc(*n);
      } else {
        r.error(*n, fmt::format("'cpu_model' '{}' is not a QEMU CPU model name", *model),
                "write a name as `qemu-system-x86_64 -cpu help` lists it, e.g. qemu64 or host, "
                "optionally with features: host,-xsaves");
      }
    }
  }
}

}  // namespace ktest::dsl
