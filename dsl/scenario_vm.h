// Internal to dsl/: the vm keys that shape the guest machine (topology,
// numa, cpu_model), read and checked against vm.cpus and vm.memory.
#pragma once

#include "dsl/yaml_reader.h"

namespace ktest::dsl {

// The vm keys read_vm() recognizes besides cpus/memory/timeout/tools.
inline const char* const kVmShapeKeys[] = {"topology", "numa", "cpu_model"};

// Reads vm.topology, vm.numa and vm.cpu_model from `fs` (vm's fields) into
// `vm`, whose cpus and memory are already read. An unwritten vm.cpus becomes
// the topology's product, an unwritten vm.memory the nodes' sum; then the
// topology must multiply out to cpus, the nodes' cpu lists must cover
// 0..cpus-1 exactly once, and their memory must sum to vm.memory.
void read_vm_shape(const FieldReader::Fields& fs, FieldReader& r, VmConfig& vm);

}  // namespace ktest::dsl
