// Internal to dsl/: the vm keys that shape the guest machine (topology,
// numa, cpu_model), read and checked against vm.cpus and vm.memory, and
// those that fill it (modules, files).
#pragma once

#include "dsl/yaml_reader.h"

namespace ktest::dsl {

// The vm keys read_vm() recognizes besides cpus/memory/timeout/tools.
inline const char* const kVmShapeKeys[] = {"topology", "numa", "cpu_model"};
inline const char* const kVmContentKeys[] = {"modules", "files"};

// Reads vm.topology, vm.numa and vm.cpu_model from `fs` (vm's fields) into
// `vm`, whose cpus and memory are already read. An unwritten vm.cpus becomes
// the topology's product, an unwritten vm.memory the nodes' sum; then the
// topology must multiply out to cpus, the nodes' cpu lists must cover
// 0..cpus-1 exactly once, and their memory must sum to vm.memory.
void read_vm_shape(const FieldReader::Fields& fs, FieldReader& r, VmConfig& vm);

// Reads vm.modules (names; listing one twice is an error) and vm.files
// (relative host paths resolved against `dir`; guest paths absolute and
// outside kGuestOwnedDirs; one guest path twice is an error)
// (scenario_vm_contents.cpp). Existence is checked by `ktest run`.
void read_vm_contents(const FieldReader::Fields& fs, FieldReader& r, const std::string& dir, VmConfig& vm);

}  // namespace ktest::dsl
