// From a user's scenario to what the guest agent executes.
//
// Contract: build_guest_plan() turns a loaded dsl::Scenario into the
// agent's kvm::Plan plus the host files the initramfs must carry (BPF
// objects), each at a unique guest path /ktest/objects/<n>/<file name>. The
// scenario-level `scheduler` becomes an AttachScheduler before the first
// step and a DetachScheduler after the last. A BPF object is looked up
// relative to the scenario first, then under each `object_path` directory
// (same relative path, then by file name); a missing object is an error
// naming the scenario line and every place that was searched. LoadBpf
// objects are found the same way as schedulers'.
// vm.tools entries are resolved on the host here, before any guest boots:
// a bare name on $PATH, then /usr/sbin and /sbin; an absolute path as is.
// Each must be an ELF executable; otherwise the error points at the
// entry's file:line:col with a hint. The initramfs gets each at its host
// path, with its shared libraries, except a program in a directory the
// guest mounts over (/tmp, /run, ...: dsl::kGuestOwnedDirs), which goes to
// /ktest/tools/<n>/<file name>. A Run, Spawn or loader command whose
// program is a tool's host path runs it at its guest path. A scheduler's
// loader program (`command:`) is found and shipped the same way (once,
// also when vm.tools lists it) and the plan runs it by that absolute
// path; when a loader is still attached
// after the last step, an implicit DetachScheduler (line 0) stops it, so
// its output reaches the host with a step.
// vm.files entries must exist on the host; a directory is copied whole
// (regular files, also through symlinks; symlinked directories are not
// followed), and everything together must stay within half of vm.memory,
// else the error names the entry and the total.
#pragma once

#include <string>
#include <vector>

#include "dsl/scenario.h"
#include "kvm/plan.h"
#include "util/result.h"

namespace ktest::cli {

struct GuestFile {
  std::string guest_path;
  std::string host_path;
};

// Where a tool from a directory the guest mounts over (dsl::kGuestOwnedDirs,
// e.g. /tmp) lands: <dir>/<n>/<file name>.
inline constexpr const char* kRelocatedToolsDir = "/ktest/tools";

struct GuestTool {
  std::string path;        // absolute, on the host
  std::string guest_path;  // the same, unless relocated (kRelocatedToolsDir)
  std::string where;       // "file:line:col" of its vm.tools entry, for messages
};

// A vm.modules entry, resolved against the kernel when the initramfs is built.
struct GuestModule {
  std::string name;
  std::string where;  // "file:line:col"
};

struct GuestPlan {
  kvm::Plan plan;
  std::vector<GuestFile> files;  // BPF objects, then vm.files (directories expanded)
  std::vector<GuestTool> tools;
  std::vector<GuestModule> modules;
  // plan.steps[i] came from scenario line step_lines[i] (0: implicit step).
  std::vector<int> step_lines;
  // plan.steps[i]'s output is recorded as JSON document step_json[i]
  // (a Run step's `json:`); "" for every other step.
  std::vector<std::string> step_json;
};

Result<GuestPlan> build_guest_plan(const dsl::Scenario& scenario,
                                   const std::vector<std::string>& object_path);

}  // namespace ktest::cli
