// Seeds of the bpf_maps target: guests laid out for the mini vmlinux's
// KernelLayout, one image per family of map readers, each map as the
// kernel would leave it (the unit tests in freeze/tests show the shapes).
#include <cstring>
#include <string>

#include "freeze/map_arena.h"
#include "freeze/map_ringbuf.h"
#include "fuzz/guest_image.h"
#include "fuzz/mini_kernel.h"
#include "fuzz/seeds.h"
#include "snapshot/report.h"

namespace ktest::fuzz {
namespace {

using freeze::kPageSize;

constexpr uint64_t kMapNode = 0x2000, kProgNode = 0x2100, kLinkNode = 0x2200, kObjBtf = 0x2300,
                   kObjBlob = 0x2400, kFirstMap = 0x3000, kMapRegion = 0x800;

// One guest: map_idr/prog_idr/link_idr as one xa_node each, the object's
// struct btf, and a kMapRegion per map (its struct, then its data).
class MapsImage {
 public:
  MapsImage() : l_(mini_vmlinux()->maps), prog_(program_btf()) {
    for (uint64_t idr : {kMapIdr, kProgIdr, kLinkIdr}) {
      uint64_t node = idr == kMapIdr ? kMapNode : idr == kProgIdr ? kProgNode : kLinkNode;
      w.put64(idr + l_.idr_xarray + l_.xarray.head, dm(node) | 2);
    }
    w.put64(kObjBtf + l_.btf_data, dm(kObjBlob));
    w.put32(kObjBtf + l_.btf_data_size, static_cast<uint32_t>(prog_.bytes.size()));
    w.put_bytes(kObjBlob, prog_.bytes);
    fuzz_check(kObjBlob + prog_.bytes.size() <= kFirstMap, "the object's BTF fits before the maps");
  }

  // A struct bpf_map in the next region, listed in map_idr; its data may
  // use the region from +0x100 on.
  uint64_t map(const char* name, uint32_t type, uint32_t key_size, uint32_t value_size,
               uint32_t max_entries, uint32_t value_type, bool with_btf = true) {
    uint64_t gpa = kFirstMap + maps_ * kMapRegion;
    fuzz_check(gpa + kMapRegion <= kImageBytes && maps_ < l_.xarray.slot_count, "the maps fit the image");
    w.put64(kMapNode + l_.xarray.node_slots + 8 * maps_, dm(gpa));
    ++maps_;
    w.put_text(gpa + l_.map_name, name);
    w.put32(gpa + l_.map_type, type);
    w.put32(gpa + l_.map_key_size, key_size);
    w.put32(gpa + l_.map_value_size, value_size);
    w.put32(gpa + l_.map_max_entries, max_entries);
    w.put32(gpa + l_.map_id, 100 + maps_);
    if (with_btf) {
      w.put64(gpa + l_.map_btf, dm(kObjBtf));
      w.put32(gpa + l_.map_btf_key_type, key_size == 4 ? int_type() : 0);
      w.put32(gpa + l_.map_btf_value_type, value_type);
    }
    return gpa;
  }
  // A struct bpf_prog (and its aux) in prog_idr slot `slot`.
  void prog(uint32_t slot, uint64_t gpa, uint32_t id, const char* name, std::vector<uint64_t> used_maps = {}) {
    const auto& o = *l_.struct_ops;
    uint64_t aux = gpa + 0x40;
    w.put64(kProgNode + l_.xarray.node_slots + 8 * slot, dm(gpa));
    w.put64(gpa + o.prog_aux, dm(aux));
    w.put32(aux + o.aux_id, id);
    w.put_text(aux + o.aux_name, name);
    if (used_maps.empty()) return;
    w.put32(aux + aux_offset("used_map_cnt"), static_cast<uint32_t>(used_maps.size()));
    w.put64(aux + aux_offset("used_maps"), dm(gpa + 0x80));
    for (std::size_t i = 0; i < used_maps.size(); ++i) w.put64(gpa + 0x80 + 8 * i, dm(used_maps[i]));
    w.put64(aux + aux_offset("btf"), dm(kObjBtf));
  }
  // A hash table's buckets at `buckets` holding `elems` (gpa, key, value
  // bytes), chained two per bucket, nulls markers ending each chain.
  void htab(uint64_t map, uint64_t buckets, uint32_t n_buckets, uint32_t key_size,
            const std::vector<std::pair<uint64_t, std::vector<uint8_t>>>& elems, uint32_t first_key) {
    w.put64(map + l_.htab_buckets, dm(buckets));
    w.put32(map + l_.htab_n_buckets, n_buckets);
    for (uint32_t b = 0; b < n_buckets; ++b) w.put64(buckets + b * l_.bucket_size + l_.bucket_head, (b << 1) | 1);
    uint64_t value_at = l_.elem_key + ((key_size + 7) & ~7ULL);
    for (std::size_t i = 0; i < elems.size(); ++i) {
      const auto& [elem, value] = elems[i];
      uint32_t b = static_cast<uint32_t>(i % n_buckets);
      uint64_t head = buckets + b * l_.bucket_size + l_.bucket_head;
      w.put64(elem + l_.elem_next, w.get64(head));  // push front
      w.put64(head, dm(elem + l_.elem_next));
      w.put32(elem + l_.elem_key, first_key + static_cast<uint32_t>(i));
      w.put_bytes(elem + value_at, value);
    }
  }
  // A local-storage map's single bucket holding one element owned by `owner`.
  void storage(uint64_t map, uint64_t owner_kva, int32_t x) {
    const auto& s = *l_.local_storage;
    uint64_t bucket = map + 0x100, elem = map + 0x180, local = map + 0x280;
    w.put64(map + s.map_buckets, dm(bucket));
    w.put32(map + s.map_bucket_log, 0);
    w.put64(bucket + s.bucket_head, dm(elem + s.elem_next));
    w.put64(elem + s.elem_storage, dm(local));
    w.put64(elem + s.elem_smap, dm(map));
    w.put32(elem + s.elem_data, static_cast<uint32_t>(x));
    w.put32(elem + s.elem_data + 4, static_cast<uint32_t>(-x));
    w.put64(local + s.storage_owner, owner_kva);
  }
  static std::vector<uint8_t> point(int32_t x, int32_t y) {
    std::vector<uint8_t> out(8);
    std::memcpy(out.data(), &x, 4);
    std::memcpy(out.data() + 4, &y, 4);
    return out;
  }
  uint32_t int_type() const { return 1; }  // program_btf()'s first type
  static uint64_t aux_offset(const char* member) {
    auto m = freeze::member_info(mini_vmlinux()->btf, "bpf_prog_aux", member);
    fuzz_check(m.ok(), "the mini vmlinux has bpf_prog_aux's members");
    return m->offset;
  }

  ImageWriter w;
  const freeze::KernelLayout& l_;
  ProgramBtf prog_;

 private:
  uint32_t maps_ = 0;
};

Seed arrays_and_hashes() {
  MapsImage g;
  // 2 CPUs, per-CPU areas 0x100 apart.
  g.w.arg(0, 2);
  g.w.put64(kPerCpuOffset, 0);
  g.w.put64(kPerCpuOffset + 8, 0x100);
  uint64_t bss = g.map("obj.bss", kMapTypeArray, 4, 24, 1, g.prog_.bss);
  uint64_t pointee = bss + 0x100;
  g.w.put64(bss + g.l_.array_value, 7);                        // nr_events
  g.w.put_bytes(bss + g.l_.array_value + 8, MapsImage::point(3, 4));  // last
  g.w.put64(bss + g.l_.array_value + 16, dm(pointee));         // where: followed
  g.w.put_bytes(pointee, MapsImage::point(5, 6));
  uint64_t points = g.map("points", kMapTypeArray, 4, 8, 3, g.prog_.point);
  for (int i = 0; i < 3; ++i) g.w.put_bytes(points + g.l_.array_value + 8 * i, MapsImage::point(i, -i));
  uint64_t pcpu = g.map("pcpu", kMapTypePercpuArray, 4, 8, 2, g.prog_.point);
  for (int i = 0; i < 2; ++i) {
    uint64_t area = pcpu + 0x100 + 0x10 * i;  // CPU 1's copy is 0x100 further
    g.w.put64(pcpu + g.l_.array_value + 8 * i, dm(area));
    g.w.put_bytes(area, MapsImage::point(10 + i, 20 + i));
    g.w.put_bytes(area + 0x100, MapsImage::point(30 + i, 40 + i));
  }
  uint64_t hash = g.map("hash", kMapTypeHash, 4, 8, 8, g.prog_.point);
  g.htab(hash, hash + 0x100, 2, 4,
         {{hash + 0x200, MapsImage::point(1, 2)}, {hash + 0x240, MapsImage::point(3, 4)},
          {hash + 0x280, MapsImage::point(5, 6)}},
         7);
  uint64_t pcpu_hash = g.map("pcpu_hash", kMapTypePercpuHash, 4, 8, 4, g.prog_.point);
  uint64_t area = pcpu_hash + 0x300;
  std::vector<uint8_t> pptr(8);
  uint64_t area_kva = dm(area);
  std::memcpy(pptr.data(), &area_kva, 8);
  g.htab(pcpu_hash, pcpu_hash + 0x100, 1, 4, {{pcpu_hash + 0x200, pptr}}, 9);
  g.w.put_bytes(area, MapsImage::point(-1, -2));
  g.w.put_bytes(area + 0x100, MapsImage::point(-3, -4));
  uint64_t lru = g.map("lru", kMapTypeLruHash, 4, 8, 2, g.prog_.point);
  g.htab(lru, lru + 0x100, 1, 4, {{lru + 0x200, MapsImage::point(8, 9)}}, 1);
  return g.w.seed("arrays_hashes");
}

Seed queues_and_maps_of_maps() {
  MapsImage g;
  g.w.arg(0, 1);
  const auto& q = *g.l_.queue_stack;
  auto ring = [&](uint64_t map, uint32_t head, uint32_t tail, uint32_t size) {
    g.w.put32(map + q.head, head);
    g.w.put32(map + q.tail, tail);
    g.w.put32(map + q.size, size);
    for (uint32_t i = 0; i < size; ++i) {
      g.w.put_bytes(map + q.elements + 8 * i, MapsImage::point(static_cast<int32_t>(10 * i), -static_cast<int32_t>(i)));
    }
  };
  uint64_t queue = g.map("queue", kMapTypeQueue, 0, 8, 4, g.prog_.point);
  ring(queue, 1, 3, 5);  // slots 3, 4, 0 in use: wraps
  uint64_t stack = g.map("stack", kMapTypeStack, 0, 8, 4, 0, false);
  ring(stack, 2, 0, 5);
  uint64_t aom = g.map("aom", kMapTypeArrayOfMaps, 4, 4, 3, 0);
  g.w.put64(aom + g.l_.array_value, dm(queue));
  g.w.put64(aom + g.l_.array_value + 16, dm(stack));
  uint64_t hom = g.map("hom", kMapTypeHashOfMaps, 4, 4, 2, 0, false);
  std::vector<uint8_t> inner(8);
  uint64_t queue_kva = dm(queue);
  std::memcpy(inner.data(), &queue_kva, 8);
  g.htab(hom, hom + 0x100, 2, 4, {{hom + 0x200, inner}}, 42);
  return g.w.seed("queues_maps_of_maps");
}

Seed struct_ops_and_links() {
  MapsImage g;
  g.w.arg(0, 1);
  g.w.arg(1, 1);
  const auto& o = *g.l_.struct_ops;
  uint64_t bss = g.map("obj.bss", kMapTypeArray, 4, 24, 1, g.prog_.bss);
  g.w.put64(bss + g.l_.array_value, 1);
  uint32_t size = sched_ext_ops_value_size();
  uint64_t ops = g.map("fuzz_ops", kMapTypeStructOps, 4, size, 1, 0);
  g.w.put32(ops + g.l_.map_vmlinux_value_type, sched_ext_ops_value_type());
  // kvalue: refcnt, then sched_ext_ops {enqueue, dispatch, name}.
  g.w.put64(ops + o.kvalue, 1);
  g.w.put64(ops + o.kvalue + 8, 0xffffffffa0001000ULL);
  g.w.put64(ops + o.kvalue + 16, 0xffffffffa0002000ULL);
  g.w.put_text(ops + o.kvalue + 24, "fuzz_ops");
  // uvalue: the same with the callbacks' program ids.
  uint64_t uvalue = ops + 0x100;
  g.w.put64(ops + o.uvalue, dm(uvalue));
  g.w.put64(uvalue + 8, 5);
  g.w.put64(uvalue + 16, 6);
  g.prog(0, ops + 0x200, 5, "fuzz_enqueue");
  g.prog(1, ops + 0x300, 6, "fuzz_dispatch");
  // link_idr: a live struct_ops link to the map, and a detached one.
  uint64_t link = ops + 0x400, detached = ops + 0x440;
  const auto& k = *g.l_.links;
  g.w.put64(kLinkNode + g.l_.xarray.node_slots, dm(link));
  g.w.put64(kLinkNode + g.l_.xarray.node_slots + 8, dm(detached));
  g.w.put32(link + k.link_type, freeze::kLinkTypeStructOps);
  g.w.put64(link + k.struct_ops_map, dm(ops));
  g.w.put32(detached + k.link_type, freeze::kLinkTypeStructOps);
  return g.w.seed("struct_ops");
}

Seed local_storages() {
  MapsImage g;
  g.w.arg(0, 1);
  const auto& s = *g.l_.local_storage;
  uint64_t task = g.map("task_store", kMapTypeTaskStorage, 4, 8, 0, g.prog_.point);
  uint64_t task_struct = task + 0x400;
  g.w.put32(task_struct + s.task_pid, 1234);
  g.storage(task, dm(task_struct), 1);
  uint64_t cgrp = g.map("cgrp_store", kMapTypeCgrpStorage, 4, 8, 0, g.prog_.point);
  const auto& c = *g.l_.cgroup_owner;
  uint64_t cgroup = cgrp + 0x400, kn = cgrp + 0x440, root_kn = cgrp + 0x480, name = cgrp + 0x4c0;
  g.w.put64(cgroup + c.kn, dm(kn));
  g.w.put64(kn + c.kn_id, 77);
  g.w.put64(kn + c.kn_parent, dm(root_kn));
  g.w.put64(kn + c.kn_name, dm(name));
  g.w.put_text(name, "fuzz.slice");
  g.storage(cgrp, dm(cgroup), 2);
  uint64_t inode = g.map("inode_store", kMapTypeInodeStorage, 4, 8, 0, g.prog_.point);
  g.w.put64(inode + 0x400 + *g.l_.inode_ino, 4242);
  g.storage(inode, dm(inode + 0x400), 3);
  uint64_t sk = g.map("sk_store", kMapTypeSkStorage, 4, 8, 0, g.prog_.point);
  g.w.put64(sk + 0x400 + *g.l_.sock_cookie, 0x5eed);
  g.storage(sk, dm(sk + 0x400), 4);
  return g.w.seed("local_storage");
}

Seed ringbuf_and_arena() {
  MapsImage g;
  g.w.arg(0, 1);
  auto rl = freeze::RingbufLayout::from_btf(mini_vmlinux()->btf);
  auto al = freeze::ArenaLayout::from_btf(mini_vmlinux()->btf);
  fuzz_check(rl.ok() && al.ok(), "the mini vmlinux has ringbuf and arena layouts");
  uint64_t next_table = 0xc000;  // page tables: 0xc000..0xffff
  // "events": a one-page ring at a vmalloc address, data mapped twice.
  uint64_t events = g.map("events", kMapTypeRingbuf, 0, 0, kPageSize, 0, false);
  uint64_t rb = 0xffffc90000200000ULL, header = 0xa000, data_page = 0xb000;
  g.w.put64(events + rl->map_rb, rb);
  g.w.map_page(rb, header, &next_table);
  g.w.map_page(rb + rl->data, data_page, &next_table);
  g.w.map_page(rb + rl->data + kPageSize, data_page, &next_table);
  g.w.put64(header + rl->mask, kPageSize - 1);
  g.w.put64(header + rl->consumer_pos, 0);
  g.w.put32(data_page, 16);  // one events_record
  g.w.put64(data_page + 8, 123456789);
  g.w.put32(data_page + 16, 42);
  g.w.put32(data_page + 20, 1);
  g.w.put32(data_page + 24, freeze::kRingbufBusyBit | 8);
  g.w.put64(header + rl->producer_pos, 40);
  g.w.put64(header + rl->pending_pos, 40);
  // "arena": 2 pages of user range; page 0 mapped in the kernel window.
  uint64_t arena = g.map("arena", kMapTypeArena, 0, 0, 2, 0, false);
  uint64_t user = 0x100000000ULL, window = 0xffffc90000400000ULL;
  uint64_t vm_struct = arena + 0x100, page0 = 0x9000;
  g.w.put64(arena + al->user_vm_start, user);
  g.w.put64(arena + al->user_vm_end, user + 2 * kPageSize);
  g.w.put64(arena + al->kern_vm, dm(vm_struct));
  g.w.put64(vm_struct + al->vm_addr, window - al->guard_half);
  g.w.map_page(window, page0, &next_table);
  g.w.put64(page0, 99);                                          // arena_counter (globals at 0)
  g.w.put64(kVmemmapBase, 0xffffea0000000000ULL);
  g.w.put64(arena + *al->scratch_page, 0xffffea0000000000ULL + 0x100 * al->page_struct_size);
  // A program using both maps: their BTF is its object's.
  g.prog(0, 0x8000, 7, "fuzz_prog", {events, arena});
  return g.w.seed("ringbuf_arena");
}

}  // namespace

std::vector<Seed> bpf_maps_seeds() {
  return {arrays_and_hashes(), queues_and_maps_of_maps(), struct_ops_and_links(), local_storages(),
          ringbuf_and_arena()};
}

}  // namespace ktest::fuzz
