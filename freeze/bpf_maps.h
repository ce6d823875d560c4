// The guest's BPF maps, read from frozen guest memory and rendered through BTF.
//
// Contract:
// - Every struct offset comes from the guest kernel's vmlinux BTF
//   (KernelLayout::from_btf); nothing is hard-coded per kernel version.
//   The section takes that BTF and layout from the run's shared Vmlinux
//   (freeze/vmlinux.h: loaded once by the session, not parsed here).
// - Maps are found through `map_idr` (an IDR → xarray walk bounded in depth,
//   node count and entries; cycles are cut). Each map is dumped with name,
//   kva, type, sizes and contents rendered with the map's own BTF (read from
//   the guest's struct btf; split over vmlinux when it has a base).
// - Each map's contents are read by its type's reader (freeze/map_types.h,
//   one file per family; the report shapes are in man/ktest-snapshot.1):
//   ARRAY (value = element 0; entries for every element when max_entries
//   > 1, capped at kMaxArrayEntries), PERCPU_ARRAY, HASH, LRU_HASH,
//   PERCPU_HASH, LRU_PERCPU_HASH; QUEUE and STACK (entries in pop order:
//   queue oldest first, stack top first; key = the position as u32);
//   ARRAY_OF_MAPS and HASH_OF_MAPS (value = {id, name, kva} of the inner
//   map, itself captured as a map of its own); STRUCT_OPS (value = the
//   kernel's struct bpf_struct_ops_<ops> rendered through vmlinux BTF, each
//   set callback as {id, name, kva} of its BPF program); TASK, CGRP, INODE
//   and SK storage (one entry per owner, sorted by key: task pid as a
//   32-bit int, cgroup {id, path, kva}, inode i_ino, socket cookie).
//   Every map gets type_name from vmlinux BTF's enum bpf_map_type; any
//   other type is still listed, with `error: "<type_name> is not read: ..."`.
// - A map whose guest data is garbage (bad pointers, cycles, huge counts)
//   gets `error` set and keeps what was read; it never aborts the others.
// - The attached sched_ext scheduler (find_active_object) is the object
//   whose struct_ops map a live struct_ops link in `link_idr` points at,
//   with a sched_ext_ops value type; the section sets the report's
//   active_obj_name / active_map_kvas from it, so active() picks the
//   scheduler's maps also when other BPF objects (LoadBpf) have globals.
// - The ReportSection (make_bpf_maps_section) needs the guest's kallsyms,
//   which arrive after boot: the session publishes them in SharedSymbols.
//   Without a Vmlinux (nullptr) every fill fails with `unavailable`.
//   Past kMaxMaps maps in map_idr it keeps the first kMaxMaps in the report
//   and fails saying the rest are left out (a section error).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "btf/btf.h"
#include "btf/render.h"
#include "freeze/coordinator.h"
#include "freeze/guest_kernel.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest::freeze {

inline constexpr std::size_t kMaxMaps = 4096;
inline constexpr uint32_t kMaxArrayEntries = 1024;
inline constexpr uint32_t kMaxHashBuckets = 1U << 20;
inline constexpr uint32_t kMaxHashEntries = 65536;
inline constexpr uint64_t kMaxMapBtfBytes = 16ULL << 20;
inline constexpr uint32_t kMaxPercpuCpus = kMaxGuestCpus;
inline constexpr uint32_t kMaxLocalStorageBucketLog = 20;  // as kMaxHashBuckets
inline constexpr std::size_t kMaxProgs = 65536;     // prog_idr entries read
inline constexpr uint32_t kMaxCgroupDepth = 64;     // kernfs parents walked for a path
inline constexpr std::size_t kMaxCgroupName = 256;  // bytes read per kernfs name

// Byte offset and type of a member reached by a dotted path ("a.b"),
// looking through anonymous struct/union members.
struct MemberInfo {
  uint64_t offset = 0;
  uint32_t type_id = 0;
};
Result<MemberInfo> member_info(const btf::Btf& btf, std::string_view struct_name,
                               std::string_view path);
Result<uint64_t> struct_size(const btf::Btf& btf, std::string_view struct_name);

struct XarrayLayout {
  uint64_t head = 0;        // xarray.xa_head
  uint64_t node_shift = 0;  // xa_node.shift (u8)
  uint64_t node_slots = 0;  // xa_node.slots[]
  uint32_t slot_count = 64;
};

// Kernel struct offsets the map reader needs, from vmlinux BTF.
struct KernelLayout {
  uint64_t idr_xarray = 0;  // idr.idr_rt
  XarrayLayout xarray;
  uint64_t map_name = 0, map_name_len = 16, map_type = 0, map_key_size = 0, map_value_size = 0,
           map_max_entries = 0, map_btf = 0, map_btf_key_type = 0, map_btf_value_type = 0;
  uint64_t map_vmlinux_value_type = 0;  // bpf_map.btf_vmlinux_value_type_id (struct_ops maps)
  uint64_t array_value = 0;  // bpf_array.value (also pptrs)
  uint64_t htab_buckets = 0, htab_n_buckets = 0;
  uint64_t bucket_size = 0, bucket_head = 0;
  uint64_t elem_next = 0, elem_key = 0;
  uint64_t btf_data = 0, btf_data_size = 0, btf_base = 0;
  // For find_active_object(); unset (with the reason) on kernels without
  // struct_ops links or sched_ext, which only loses the "active" marking.
  struct Links {
    uint64_t link_type = 0;        // bpf_link.type
    uint64_t struct_ops_map = 0;   // bpf_struct_ops_link.map
    uint32_t sched_ext_value_type = 0;    // vmlinux id of bpf_struct_ops_sched_ext_ops
  };
  std::optional<Links> links;
  std::string links_unavailable;
  // For local-storage maps (task, cgroup, inode, socket); unset (with the
  // reason) on kernels whose local storage differs, which only leaves those
  // maps unread.
  struct LocalStorage {
    uint64_t map_buckets = 0, map_bucket_log = 0;  // bpf_local_storage_map
    uint64_t bucket_size = 0, bucket_head = 0;     // its bucket; list.first
    uint64_t elem_next = 0;     // bpf_local_storage_elem.map_node.next
    uint64_t elem_storage = 0;  // .local_storage
    uint64_t elem_smap = 0;     // .sdata.smap
    uint64_t elem_data = 0;     // .sdata.data
    uint64_t storage_owner = 0; // bpf_local_storage.owner
    uint64_t task_pid = 0;      // task_struct.pid
  };
  std::optional<LocalStorage> local_storage;
  std::string local_storage_unavailable;
  // How each non-task storage owner is keyed; unset (with the reason) when
  // the kernel lacks a field, which only leaves that storage kind unread.
  struct CgroupOwner {
    uint64_t kn = 0;         // cgroup.kn
    uint64_t kn_id = 0;      // kernfs_node.id (the cgroup id)
    uint64_t kn_parent = 0;  // kernfs_node.__parent (or .parent)
    uint64_t kn_name = 0;    // kernfs_node.name
  };
  std::optional<CgroupOwner> cgroup_owner;
  std::string cgroup_owner_unavailable;
  std::optional<uint64_t> inode_ino;  // inode.i_ino
  std::string inode_ino_unavailable;
  std::optional<uint64_t> sock_cookie;  // sock.__sk_common.skc_cookie
  std::string sock_cookie_unavailable;
  // For QUEUE/STACK maps (struct bpf_queue_stack).
  struct QueueStack {
    uint64_t head = 0, tail = 0, size = 0, elements = 0;
  };
  std::optional<QueueStack> queue_stack;
  std::string queue_stack_unavailable;
  uint64_t map_id = 0;  // bpf_map.id (links to inner maps name it)
  // For STRUCT_OPS maps and the programs their callbacks name.
  struct StructOps {
    uint64_t uvalue = 0;       // bpf_struct_ops_map.uvalue (pointer)
    uint64_t kvalue = 0;       // bpf_struct_ops_map.kvalue
    uint64_t prog_aux = 0;     // bpf_prog.aux
    uint64_t aux_id = 0;       // bpf_prog_aux.id
    uint64_t aux_name = 0;     // bpf_prog_aux.name
    uint64_t aux_name_len = 16;
  };
  std::optional<StructOps> struct_ops;
  std::string struct_ops_unavailable;

  static Result<KernelLayout> from_btf(const btf::Btf& vmlinux);
};

// Non-internal pointer entries of the xarray at `xarray_kva`, in index
// order; at most `max_entries` (more is an error, as is a node cycle).
Result<std::vector<uint64_t>> collect_xarray_entries(btf::MemoryReader& memory,
                                                     uint64_t xarray_kva,
                                                     const XarrayLayout& layout,
                                                     std::size_t max_entries);

// The first `max_entries` of those entries; `more` says the xarray holds
// others past them (left out, the walk stops there). A node cycle is still
// an error.
struct XarrayPrefix {
  std::vector<uint64_t> entries;
  bool more = false;
};
Result<XarrayPrefix> collect_xarray_prefix(btf::MemoryReader& memory, uint64_t xarray_kva,
                                           const XarrayLayout& layout, std::size_t max_entries);

// A kernel array of hlist heads: `count` buckets `stride` bytes apart from
// `kva`, each holding its chain's first node pointer at offset `head`.
struct HlistBuckets {
  uint64_t kva = 0;
  uint32_t count = 0;
  uint64_t stride = 0;
  uint64_t head = 0;
};
// How a chain ends: hlist at NULL; hlist_nulls at a marker with bit 0 set.
enum class ChainEnd { Null, NullsMarker };
// Each element's first `len` bytes, copied in the walk that finds it, in
// element order.
struct ElementCopies {
  std::size_t len = 0;
  std::vector<uint8_t> bytes;
  std::span<const uint8_t> at(std::size_t i) const { return {bytes.data() + i * len, len}; }
};
// Element addresses on every chain, in bucket order; an element is its
// node minus `node_offset` and a node's `next` is its first word. Stops
// with an error on a cycle (an element reached twice), past
// `max_elements`, past kMaxHashBuckets buckets, or (ChainEnd::Null) at a
// misaligned node pointer. With `more` given, meeting an element past
// `max_elements` is no error: the walk stops there, keeps the first
// `max_elements` and sets *more. With `copies` given, each element is read
// once, copies->len bytes (at least node_offset + 8: the next pointer is
// taken from the copy), appended to copies->bytes.
Result<std::vector<uint64_t>> collect_hlist_elements(btf::MemoryReader& memory,
                                                     const HlistBuckets& buckets,
                                                     uint64_t node_offset, ChainEnd end,
                                                     std::size_t max_elements, bool* more = nullptr,
                                                     ElementCopies* copies = nullptr);
// What a map's section error says when a walk set *more: one wording for
// every reader that keeps the first `max_elements`.
std::string first_elements_only(std::size_t max_elements);

// Element addresses of a bpf_htab's bucket array (hlist_nulls chains).
Result<std::vector<uint64_t>> collect_hash_elements(btf::MemoryReader& memory,
                                                    uint64_t buckets_kva, uint32_t n_buckets,
                                                    const KernelLayout& layout,
                                                    std::size_t max_elements, bool* more = nullptr,
                                                    ElementCopies* copies = nullptr);

// One element of a local-storage map: the object owning its storage
// (bpf_local_storage.owner: a task_struct, cgroup, inode or sock) and the value.
struct LocalStorageElement {
  uint64_t kva = 0;    // the bpf_local_storage_elem
  uint64_t owner = 0;  // the owner object's kva
  std::vector<uint8_t> value;
};
// The elements of the local-storage map at `map_kva` (bounded bucket walk:
// 1 << bucket_log buckets, bucket_log <= kMaxLocalStorageBucketLog), in
// bucket order, into `out`. An element whose sdata.smap is not this map, or
// whose storage/owner cannot be read, is left out and reported in the
// returned error (the first one, with a count); the others are kept.
// Past `max_elements` the first ones are kept and the error says so.
// Elements with no storage or owner (being freed) are skipped silently.
Status collect_local_storage(btf::MemoryReader& memory, uint64_t map_kva, uint32_t value_size,
                             const KernelLayout::LocalStorage& layout, std::size_t max_elements,
                             std::vector<LocalStorageElement>& out);

// Every map in the guest, the first kMaxMaps of map_idr; the per-map
// problems are in MapDump::error. `more_maps`, when given, is set when
// map_idr holds maps past those (left out). With `deferred`, values that
// need no guest memory to render are left as placeholders for
// DeferredRenders::place() (freeze/deferred_render.h) once the guest runs.
struct MapReadContext {
  GuestKernel& kernel;
  const KernelLayout& layout;
  const btf::Btf& vmlinux;
  std::vector<uint64_t> per_cpu_offsets;  // one per possible CPU read
};
class DeferredRenders;
Result<std::vector<MapDump>> read_bpf_maps(MapReadContext& context, bool* more_maps = nullptr,
                                           DeferredRenders* deferred = nullptr);

inline constexpr std::size_t kMaxLinks = 4096;
inline constexpr uint32_t kLinkTypeStructOps = 9;  // BPF_LINK_TYPE_STRUCT_OPS

// The attached scheduler's BPF object: its name as its global-section maps
// spell it ("" when it has none) and the kvas of all its maps.
struct ActiveObject {
  std::string obj_name;
  std::vector<uint64_t> map_kvas;
};
// nullopt when no sched_ext scheduler is attached; an Error when the links
// cannot be walked or several sched_ext links claim to be live.
Result<std::optional<ActiveObject>> find_active_object(MapReadContext& context,
                                                       const std::vector<MapDump>& maps);

// The kallsyms table, published by the session once the agent sent it.
class SharedSymbols {
 public:
  void set(std::shared_ptr<const kvm::control::SymbolTable> table);
  std::shared_ptr<const kvm::control::SymbolTable> get() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const kvm::control::SymbolTable> table_;
};

struct Vmlinux;  // freeze/vmlinux.h

// `unavailable`: why there is no `vmlinux` (used only when it is nullptr).
std::unique_ptr<ReportSection> make_bpf_maps_section(std::shared_ptr<const Vmlinux> vmlinux,
                                                     std::string unavailable,
                                                     std::shared_ptr<const SharedSymbols> symbols);

}  // namespace ktest::freeze
