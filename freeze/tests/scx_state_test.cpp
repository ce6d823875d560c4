// The sched_ext reader over a synthetic guest (freeze/tests/scx_guest.h):
// a healthy scheduler, an exiting one, and hostile memory that must give
// a bounded, partial state with its errors, never a crash or a hang.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "freeze/tests/scx_guest.h"

namespace ktest::freeze {
namespace {

using namespace testing;

bool has_error(const ScxState& s, std::string_view needle) {
  return std::any_of(s.errors.begin(), s.errors.end(),
                     [&](const std::string& e) { return e.find(needle) != std::string::npos; });
}

std::string all_errors(const ScxState& s) {
  std::string out;
  for (const auto& e : s.errors) out += e + "\n";
  return out;
}

std::vector<int32_t> pids(const ScxState& s) {
  std::vector<int32_t> out;
  for (const auto& t : s.runnable) out.push_back(t.pid);
  return out;
}

const ScxDsq* find_dsq(const ScxState& s, std::string_view kind, int32_t cpu = -1) {
  for (const auto& d : s.dsqs) {
    if (d.kind == kind && d.cpu == cpu) return &d;
  }
  return nullptr;
}

TEST_CASE("ScxLayout from the fetched kernel's vmlinux BTF") {
  const btf::Btf* vmlinux = fetched_vmlinux();
  if (!vmlinux) {
    MESSAGE("SKIPPED: no fetched kernel (configure with -Dkernel_dir=DIR holding vmlinux)");
    return;
  }
  auto layout = ScxLayout::from_btf(*vmlinux);
  REQUIRE_MESSAGE(layout, layout.error().to_string());
  const ScxLayout& l = *layout;
  CHECK(l.exit_kind_name(1026) == "SCX_EXIT_ERROR_STALL");
  CHECK(l.exit_kind_name(64) == "SCX_EXIT_UNREG");
  CHECK(l.exit_kind_name(12345).empty());
  CHECK(l.exit_none == 0);
  CHECK(l.exit_done == 1);
  CHECK(scx_enum_name(l.enable_states, 1) == "SCX_ENABLED");
  CHECK(l.dsq_global == ((1ULL << 63) | 1));
  CHECK(l.dsq_local == ((1ULL << 63) | 2));
  CHECK(l.dsq_bypass == ((1ULL << 63) | 3));
  CHECK(l.lnode_iter_cursor == 1);
  CHECK(l.exit_bt_len == 64);
  CHECK(l.exit_msg_len == 1024);
  CHECK(l.exit_dump_default_len == 32768);
  CHECK(l.ops_name_len == 128);
  CHECK(l.comm_len == 16);
  CHECK(l.sched_ops_name > l.sched_ops_flags);  // ops sits first in scx_sched
  CHECK(l.sched_exit_info > l.sched_exit_kind);
  CHECK(l.task_runnable_at == l.task_runnable_node + 16);
  CHECK(l.lnode_flags == 16);
  CHECK(l.tbl_buckets == *struct_size(*vmlinux, "bucket_table"));  // the flexible array
  CHECK(l.rq_runnable_list == l.rq_local_dsq + *struct_size(*vmlinux, "scx_dispatch_q"));
  CHECK(l.ei_kind == 0);
}

TEST_CASE("load_vmlinux: the BTF and both layouts, parsed once; no file is an Error") {
  auto none = load_vmlinux("");
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "no vmlinux BTF for the guest kernel");
  CHECK_FALSE(load_vmlinux("/nonexistent/vmlinux"));
  const btf::Btf* fetched = fetched_vmlinux();
  if (!fetched) {
    MESSAGE("SKIPPED: no fetched kernel (configure with -Dkernel_dir=DIR holding vmlinux)");
    return;
  }
  auto vmlinux = load_vmlinux(std::string(KTEST_KERNEL_DIR) + "/vmlinux");
  REQUIRE_MESSAGE(vmlinux, vmlinux.error().to_string());
  const Vmlinux& v = **vmlinux;
  CHECK(v.btf.type_count() == fetched->type_count());
  auto maps = KernelLayout::from_btf(*fetched);
  REQUIRE(maps);
  CHECK(v.maps.map_name == maps->map_name);
  CHECK(v.maps.array_value == maps->array_value);
  REQUIRE_MESSAGE(v.scx, v.scx_unavailable);
  CHECK(v.scx_unavailable.empty());
  CHECK(v.scx->sched_exit_kind == scx_test_layout().sched_exit_kind);
  CHECK(v.scx->exit_kind_name(1026) == "SCX_EXIT_ERROR_STALL");
}

TEST_CASE("ScxLayout: a kernel without sched_ext says so") {
  auto blob = btf_blob([](struct ::btf* b) { REQUIRE(btf__add_int(b, "int", 4, BTF_INT_SIGNED) == 1); });
  auto btf = btf::Btf::from_bytes(blob, "test BTF");
  REQUIRE(btf);
  auto layout = ScxLayout::from_btf(*btf);
  REQUIRE_FALSE(layout);
  CHECK(layout.error().message.find("no sched_ext") != std::string::npos);
}

TEST_CASE("read_scx_state: a healthy scheduler on two CPUs") {
  ScxGuest g;
  ScxState s = g.read();
  CHECK_MESSAGE(s.errors.empty(), all_errors(s));
  CHECK(s.state == "enabled");
  CHECK(s.state_value == 1);
  REQUIRE(s.ops);
  CHECK(s.ops->name == "ktest_sched");
  CHECK(s.ops->flags == 0x44);
  CHECK(s.ops->timeout_ms == 5000);
  CHECK_FALSE(s.exit);
  CHECK(s.watchdog_timeout_ms == 30000);
  CHECK(s.bypass_depth == 0);
  CHECK(s.hz == 250);
  CHECK(s.jiffies == kJiffies);

  REQUIRE(s.cpus.size() == 2);
  CHECK(s.cpus[0].cpu == 0);
  CHECK(s.cpus[0].nr_running == 3);
  CHECK(s.cpus[0].flags == 1);
  CHECK(s.cpus[0].curr_pid == 300);
  CHECK(s.cpus[0].curr_comm == "runner");
  CHECK(s.cpus[0].curr_is_scx);
  CHECK(s.cpus[1].local_dsq_nr == 1);
  CHECK(s.cpus[1].curr_comm == "swapper/1");
  CHECK_FALSE(s.cpus[1].curr_is_scx);

  // Global first, then local+bypass per CPU, then user DSQs by id.
  REQUIRE(s.dsqs.size() == 7);
  CHECK(s.dsqs[0].kind == "global");
  CHECK(s.dsqs[0].node == 0);
  CHECK(s.dsqs[0].id == g.l.dsq_global);
  CHECK(s.dsqs[0].nr == 3);
  CHECK(s.dsqs[1].kind == "local");
  CHECK(s.dsqs[1].cpu == 0);
  CHECK(s.dsqs[2].kind == "bypass");
  CHECK(s.dsqs[2].id == g.l.dsq_bypass);
  CHECK(s.dsqs[3].kind == "local");
  CHECK(s.dsqs[3].cpu == 1);
  CHECK(s.dsqs[3].nr == 1);
  CHECK(s.dsqs[5].kind == "user");
  CHECK(s.dsqs[5].id == 0x10);
  CHECK(s.dsqs[5].nr == 2);
  CHECK(s.dsqs[6].id == 0x20);

  // Longest wait first: 1000, 500, 100 jiffies at HZ=250.
  CHECK(pids(s) == std::vector<int32_t>{200, 100, 101});
  CHECK(s.runnable[0].comm == "hog");
  CHECK(s.runnable[0].cpu == 1);
  CHECK(s.runnable[0].dsq_id == g.l.dsq_local);
  CHECK(s.runnable[0].runnable_at == kJiffies - 1000);
  CHECK(s.runnable[0].wait_ms == 4000);
  CHECK(s.runnable[1].dsq_id == 0x10);
  CHECK(s.runnable[1].wait_ms == 2000);
  CHECK(s.runnable[2].wait_ms == 400);
  CHECK(s.longest_wait_ms == 4000);

  SUBCASE("without HZ the waits stay in jiffies, and the state says so") {
    ScxState j = g.read(0);
    CHECK(j.longest_wait_ms == 1000);
    CHECK(j.watchdog_timeout_ms == kWatchdog);
    CHECK(has_error(j, "CONFIG_HZ is unknown"));
  }
  SUBCASE("no scheduler attached: CPUs and local DSQs only") {
    g.ram.put64(kRootSym, 0);
    g.ram.put32(kStateSym, 3);
    ScxState none = g.read();
    CHECK_MESSAGE(none.errors.empty(), all_errors(none));
    CHECK(none.state == "disabled");
    CHECK_FALSE(none.ops);
    CHECK(none.cpus.size() == 2);
    CHECK(none.dsqs.size() == 2);
    CHECK(none.runnable.size() == 3);
  }
}

TEST_CASE("read_scx_state: the exit info, its dump and a symbolised backtrace") {
  ScxGuest g;
  g.put_exit(1025, 1025);  // SCX_EXIT_ERROR_BPF claimed, disable work not yet run
  ScxState s = g.read();
  CHECK_MESSAGE(s.errors.empty(), all_errors(s));
  REQUIRE(s.exit);
  CHECK(s.exit->kind == "SCX_EXIT_ERROR_BPF");
  CHECK(s.exit->kind_value == 1025);
  CHECK(scx_exit_is_error(*s.exit));
  CHECK(s.exit->exit_code == -22);
  CHECK(s.exit->reason == "scx_bpf_error");
  CHECK(s.exit->msg == "task 100 dispatched to a bad DSQ");
  CHECK(s.exit->dump == "ktest_sched[1]: error\n  CPU 0: nr_run=3\n");
  CHECK(s.exit->backtrace ==
        std::vector<std::string>{"scx_bpf_error_bstr+0x6b/0xa0", "bpf_prog_run+0x10/0x160",
                                 "0xffffffff90000000"});

  SUBCASE("exit_kind DONE: the kind is exit_info->kind") {
    g.put_exit(1, 1026);
    ScxState done = g.read();
    REQUIRE(done.exit);
    CHECK(done.exit->kind == "SCX_EXIT_ERROR_STALL");
    CHECK(done.exit->kind_value == 1026);
    g.put_exit(1, 0);  // DONE before ei->kind was written (a userspace unload)
    ScxState early = g.read();
    REQUIRE(early.exit);
    CHECK(early.exit->kind == "SCX_EXIT_DONE");
  }
  SUBCASE("without kallsyms the backtrace is addresses, and that is noted") {
    ScxReadContext ctx{{0, kCpu1Offset}, 250, nullptr};
    ScxState raw = read_scx_state(*g.kernel, g.l, ctx);
    REQUIRE(raw.exit);
    CHECK(raw.exit->backtrace[0] == "0xffffffff8110006b");
    CHECK(has_error(raw, "not symbolised"));
  }
  SUBCASE("an unknown exit kind keeps its number") {
    g.put_exit(4242, 0);
    ScxState odd = g.read();
    REQUIRE(odd.exit);
    CHECK(odd.exit->kind == "4242");
    CHECK(has_error(odd, "not in enum scx_exit_kind"));
  }
}

TEST_CASE("read_scx_state: a dump of kMaxExitDumpBytes and kMaxBacktrace frames are kept whole; more is cut, and said") {
  constexpr uint64_t kBigDump = 0x700000, kBigBt = 0x740000;  // free RAM past the tasks
  ScxGuest g;
  const ScxLayout& l = g.l;
  g.put_exit(1024, 1024);
  g.ram.put64(kEi + l.ei_dump, dm(kBigDump));
  g.ram.put64(kEi + l.ei_bt, dm(kBigBt));
  std::memset(g.ram.bytes.data() + kBigDump, 'd', kMaxExitDumpBytes + 1);  // no NUL: the length bounds it
  for (uint64_t i = 0; i <= kMaxBacktrace; ++i) g.ram.put64(kBigBt + i * 8, 0xffffffff8110006bULL);

  g.ram.put32(kSch + l.sched_ops_exit_dump_len, static_cast<uint32_t>(kMaxExitDumpBytes));
  g.ram.put32(kEi + l.ei_bt_len, kMaxBacktrace);
  ScxState whole = g.read();
  REQUIRE(whole.exit);
  CHECK(whole.exit->dump == std::string(kMaxExitDumpBytes, 'd'));
  CHECK(whole.exit->backtrace.size() == kMaxBacktrace);
  CHECK_FALSE(has_error(whole, "exceeds"));

  g.ram.put32(kSch + l.sched_ops_exit_dump_len, static_cast<uint32_t>(kMaxExitDumpBytes + 1));
  g.ram.put32(kEi + l.ei_bt_len, kMaxBacktrace + 1);
  ScxState cut = g.read();
  REQUIRE(cut.exit);
  CHECK(cut.exit->dump == std::string(kMaxExitDumpBytes, 'd'));
  CHECK(cut.exit->backtrace.size() == kMaxBacktrace);
  CHECK(has_error(cut, "exit_info.dump: ops.exit_dump_len 262145 exceeds 262144; reading the first 262144 bytes"));
  CHECK(has_error(cut, "exit_info.bt_len 65 exceeds 64; reading 64 entries"));
}

TEST_CASE("read_scx_state: hostile guest memory gives a bounded, partial state") {
  ScxGuest g;
  const ScxLayout& l = g.l;
  auto node = [&](int task) { return dm(g.task(task) + l.task_runnable_node); };
  constexpr uint64_t kWild = 0xffff888100000000ULL;  // direct map, 4 GiB in: outside RAM

  SUBCASE("a runnable list that loops") {
    g.ram.put64(g.task(1) + l.task_runnable_node, node(0));
    ScxState s = g.read();
    CHECK(has_error(s, "CPU 0's runnable list"));
    CHECK(has_error(s, "cycle"));
    CHECK(pids(s) == std::vector<int32_t>{200, 100, 101});
    CHECK(s.dsqs.size() == 7);
  }
  SUBCASE("a runnable list that leads outside RAM") {
    g.ram.put64(g.task(0) + l.task_runnable_node, kWild);
    ScxState s = g.read();
    CHECK(has_error(s, "CPU 0's runnable list"));
    CHECK(pids(s) == std::vector<int32_t>{200, 100});
  }
  SUBCASE("a huge bt_len is cut at 64 entries") {
    g.put_exit(1024, 1024);
    g.ram.put32(kEi + l.ei_bt_len, 0xffffffffU);
    ScxState s = g.read();
    REQUIRE(s.exit);
    CHECK(s.exit->backtrace.size() == 64);
    CHECK(has_error(s, "bt_len 4294967295 exceeds 64"));
  }
  SUBCASE("wild exit_info, rq->curr, task DSQ, pnode and pcpu pointers") {
    g.put_exit(1024, 1024);
    g.ram.put64(kSch + l.sched_exit_info, kWild);
    g.ram.put64(g.rq(1) + l.rq_curr, kWild);
    g.ram.put64(g.task(0) + l.task_dsq, kWild);
    g.ram.put64(kPnode, kWild);
    g.ram.put64(kSch + l.sched_pcpu, kWild);
    ScxState s = g.read();
    REQUIRE(s.exit);
    CHECK(s.exit->kind == "SCX_EXIT_ERROR");  // from exit_kind, without the info
    CHECK(s.exit->msg.empty());
    CHECK(has_error(s, "exit_info"));
    CHECK(has_error(s, "CPU 1's rq->curr"));
    CHECK(has_error(s, "'s DSQ"));
    CHECK(has_error(s, "node 0's global DSQ"));
    CHECK(has_error(s, "CPU 0's bypass DSQ"));
    CHECK(s.cpus.size() == 2);
    CHECK(s.cpus[0].curr_pid == 300);
    CHECK(pids(s) == std::vector<int32_t>{200, 100, 101});
    CHECK_FALSE(s.runnable[1].dsq_id);
    CHECK(find_dsq(s, "global") == nullptr);
    CHECK(find_dsq(s, "local", 1) != nullptr);
  }
  SUBCASE("a DSQ hash table with a bogus size") {
    for (uint32_t size : {0x7fffffffU, 0U, 3U}) {
      g.ram.put32(kTbl + l.tbl_size, size);
      ScxState s = g.read();
      CHECK(has_error(s, "is not a power of two"));
      CHECK(find_dsq(s, "user") == nullptr);
      CHECK(s.dsqs.size() == 5);
    }
  }
  SUBCASE("a DSQ hash table whose buckets run off RAM, or that is nested") {
    g.ram.put32(kTbl + l.tbl_size, kMaxDsqHashBuckets);
    CHECK(has_error(g.read(), "user DSQs"));
    g.ram.put32(kTbl + l.tbl_size, 4);
    g.ram.put32(kTbl + l.tbl_nest, 1);
    CHECK(has_error(g.read(), "nested"));
  }
  SUBCASE("a DSQ hash chain that loops") {
    g.ram.put64(kDsqB + l.dsq_hash_node, dm(kDsqA + l.dsq_hash_node));
    ScxState s = g.read();
    CHECK(has_error(s, "cycle"));
    CHECK(s.dsqs.size() == 7);  // both were read before the loop closed
  }
  SUBCASE("a resize in progress: future_tbl is walked too, duplicates dropped") {
    constexpr uint64_t kTbl2 = 0x338000, kDsqC = 0x342000;
    g.ram.put64(kTbl + l.tbl_future_tbl, dm(kTbl2));
    g.ram.put32(kTbl2 + l.tbl_size, 2);
    g.ram.put64(kTbl2 + l.tbl_buckets, dm(kDsqC + l.dsq_hash_node));
    g.ram.put64(kDsqC + l.dsq_hash_node, dm(kDsqA + l.dsq_hash_node));  // A moved over too
    g.put_dsq(kDsqC, 0x30, 0);
    g.ram.put64(kTbl2 + l.tbl_future_tbl, dm(kTbl));  // a loop of tables ends the walk
    ScxState s = g.read();
    CHECK_MESSAGE(s.errors.empty(), all_errors(s));
    REQUIRE(s.dsqs.size() == 8);
    CHECK(s.dsqs[5].id == 0x10);
    CHECK(s.dsqs[6].id == 0x20);
    CHECK(s.dsqs[7].id == 0x30);
  }
  SUBCASE("scx_root that is no pointer, an unknown state, an absurd node count") {
    g.ram.put64(kRootSym, 0x1234);
    g.ram.put32(kStateSym, 7);
    ScxState s = g.read();
    CHECK(has_error(s, "scx_root"));
    CHECK(s.state == "7");
    CHECK_FALSE(s.ops);
    CHECK(s.cpus.size() == 2);
    g.ram.put64(kRootSym, dm(kSch));
    g.ram.put32(kNodesSym, 100000);
    ScxState nodes = g.read();
    CHECK(has_error(nodes, "nr_node_ids 100000 is outside 1..64"));
    CHECK(nodes.ops);
  }
  SUBCASE("an exit message without NUL that runs off RAM, an absurd dump length") {
    g.put_exit(1024, 1024);
    uint64_t end = g.ram.size();
    std::memset(g.ram.bytes.data() + end - 100, 'x', 100);
    g.ram.put64(kEi + l.ei_msg, dm(end - 100));
    g.ram.put32(kSch + l.sched_ops_exit_dump_len, 0xffffffffU);
    ScxState s = g.read();
    REQUIRE(s.exit);
    CHECK(s.exit->msg == std::string(100, 'x'));
    CHECK(has_error(s, "exit_info.msg"));
    CHECK(has_error(s, "exit_dump_len 4294967295 exceeds 262144"));
    CHECK(s.exit->dump == "ktest_sched[1]: error\n  CPU 0: nr_run=3\n");
  }
}

}  // namespace
}  // namespace ktest::freeze
