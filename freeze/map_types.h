// Internal to freeze/: the per-type readers behind read_bpf_maps().
//
// Contract:
// - read_bpf_maps (bpf_map_dump.cpp) reads each map's header and BTF, then
//   dispatches on the map type (read_map_contents) to one reader per type
//   family, each in its own file (map_<type>.cpp), all with one signature:
//       Status read_<type>(MapFill& fill, MapDump& out[, variant flag]);
//   A reader fills `out` (value / entries / per-CPU entries / extra) and
//   returns an Error saying why the contents are missing or partial; what it
//   filled before failing is kept (the error becomes MapDump::error).
// - A reader bounds every count, index and pointer it takes from the guest
//   (guest memory is hostile) and never aborts the other maps.
// - A type with no reader gets "<BPF_MAP_TYPE_X> is not read: <why>", the
//   name taken from vmlinux BTF's enum bpf_map_type (map_type_enum_name).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "btf/render.h"
#include "freeze/bpf_maps.h"
#include "freeze/deferred_render.h"
#include "freeze/map_reader.h"

namespace ktest::freeze {

// One BPF program as prog_idr lists it (for struct_ops callbacks).
struct ProgInfo {
  uint64_t kva = 0;
  uint32_t id = 0;
  std::string name;
};

// Tables built at most once per capture, on first use by a reader.
class CaptureTables {
 public:
  CaptureTables(GuestKernel& kernel, const KernelLayout& layout) : kernel_(kernel), layout_(layout) {}
  // Every program in prog_idr by id (map_struct_ops.cpp).
  Result<const std::map<uint32_t, ProgInfo>*> programs();

 private:
  GuestKernel& kernel_;
  const KernelLayout& layout_;
  std::optional<Result<std::map<uint32_t, ProgInfo>>> programs_;
};

// Everything a reader needs for one map.
struct MapFill {
  const MapHeader& h;
  GuestKernel& kernel;
  const KernelLayout& layout;
  const btf::Btf& vmlinux;
  const std::vector<uint64_t>& per_cpu_offsets;
  CaptureTables& tables;
  std::shared_ptr<const btf::Btf> btf;  // the map's own BTF; null when it has none
  btf::RenderOptions options;           // pointers followed through `kernel`
  DeferredRenders* deferred = nullptr;  // null: render() renders at once

  // `bytes` rendered as `type` of the map's BTF (nullopt: no BTF or type 0);
  // with `deferred`, a placeholder when it can be rendered after the capture.
  std::optional<RenderedValue> render(uint32_t type, std::span<const uint8_t> bytes) const;
  // One value per CPU read from a __percpu pointer (nullopt: unreadable).
  std::vector<std::optional<RenderedValue>> percpu_values(uint64_t pptr) const;
  // With `deferred`, where a reader copies entries of `key_size` and
  // value_size bytes to be made after the capture (DeferredRenders::
  // copy_entries); null without it, or when the key or value type holds a
  // pointer: the reader then makes its entries itself.
  EntryCopies* copy_entries(std::size_t key_size) const;
  // For maps holding key/value bytes: the sizes are plausible.
  Status check_sizes() const;
};

// The enumerator of vmlinux's enum bpf_map_type with value `type`
// ("BPF_MAP_TYPE_QUEUE"); "" when the BTF has no such enumerator.
std::string map_type_enum_name(const btf::Btf& vmlinux, uint32_t type);

// Dispatch: fills `out` with the map's contents through its type's reader.
Status read_map_contents(MapFill& fill, MapDump& out);

// map_array_hash.cpp
Status read_array(MapFill& fill, MapDump& out, bool percpu);
Status read_hash(MapFill& fill, MapDump& out, bool percpu);
// map_queue_stack.cpp: entries in pop order (queue: oldest first; stack:
// top first), key = the position (u32), value rendered with the value type.
enum class PopOrder { Fifo, Lifo };
Status read_queue_stack(MapFill& fill, MapDump& out, PopOrder order);
// map_of_maps.cpp: value = {id, name, kva} of the inner map in each slot.
Status read_array_of_maps(MapFill& fill, MapDump& out);
Status read_hash_of_maps(MapFill& fill, MapDump& out);
// map_struct_ops.cpp: value = the kernel's struct bpf_struct_ops_<ops>,
// callbacks as {id, name, kva} of their BPF program.
Status read_struct_ops(MapFill& fill, MapDump& out);
// map_arena.cpp: geometry and present pages in out.arena, the object's
// `__arena` globals as value {globals: <.addr_space.1>} (freeze/map_arena.h).
Status read_arena(MapFill& fill, MapDump& out);
// map_ringbuf.cpp: the records between consumer and producer in out.ringbuf,
// committed samples as entries keyed by position (freeze/map_ringbuf.h).
Status read_ringbuf(MapFill& fill, MapDump& out);
// local_storage.cpp: one entry per owner holding storage.
enum class StorageOwner { Task, Cgroup, Inode, Socket };
Status read_local_storage(MapFill& fill, MapDump& out, StorageOwner owner);

// The synthesized value of a link to another kernel object by id:
// struct <type_name> {u32 id; char name[]; u64 kva}.
RenderedValue object_ref(std::string type_name, uint32_t id, const std::string& name, uint64_t kva);

}  // namespace ktest::freeze
