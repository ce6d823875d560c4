// The monitor's light probes (read while the guest runs) and the bounded
// string reader, over the synthetic sched_ext guest of scx_guest.h.
#include <doctest/doctest.h>

#include "freeze/tests/scx_guest.h"

namespace ktest::freeze {
namespace {

using namespace testing;

TEST_CASE("monitor probes: scx_root, exit_kind and the longest runnable wait") {
  ScxGuest g;
  const ScxLayout& l = g.l;
  GuestKernel& k = *g.kernel;
  auto root = read_scx_root(k);
  REQUIRE(root);
  CHECK(*root == dm(kSch));
  CHECK(exit_kind_address(*root, l) == dm(kSch) + l.sched_exit_kind);
  CHECK(*read_exit_kind(k, *root, l) == 0);
  CHECK(*read_ops_name(k, *root, l) == "ktest_sched");
  g.put_exit(1026, 1026);
  CHECK(*read_exit_kind(k, *root, l) == 1026);
  CHECK_FALSE(read_exit_kind(k, 0, l));

  std::vector<uint64_t> offsets{0, kCpu1Offset};
  auto wait = longest_runnable_wait(k, l, offsets);
  REQUIRE_MESSAGE(wait, wait.error().to_string());
  CHECK(wait->longest_wait_jiffies == 1000);
  CHECK(wait->watchdog_timeout_jiffies == kWatchdog);
  CHECK(wait->pid == 200);
  CHECK(wait->comm == "hog");

  SUBCASE("a torn scx_root is an error, not a scheduler") {
    g.ram.put64(kRootSym, dm(kSch) + 3);
    CHECK_FALSE(read_scx_root(k));
    CHECK_FALSE(longest_runnable_wait(k, l, offsets));
  }
  SUBCASE("no scheduler: no timeout, the waits still measured") {
    g.ram.put64(kRootSym, 0);
    CHECK(*read_scx_root(k) == 0);
    auto none = longest_runnable_wait(k, l, offsets);
    REQUIRE(none);
    CHECK(none->watchdog_timeout_jiffies == 0);
    CHECK(none->longest_wait_jiffies == 1000);
  }
  SUBCASE("a looping or wild runnable list is an error") {
    g.ram.put64(g.task(1) + l.task_runnable_node, dm(g.task(0) + l.task_runnable_node));
    auto loop = longest_runnable_wait(k, l, offsets);
    REQUIRE_FALSE(loop);
    CHECK(loop.error().to_string().find("cycle") != std::string::npos);
    g.ram.put64(g.rq(1) + l.rq_runnable_list, 0xffff888100000000ULL);
    CHECK_FALSE(longest_runnable_wait(k, l, {kCpu1Offset}));
  }
  SUBCASE("empty runnable lists: nothing waits") {
    g.put_runnable(0, {});
    g.put_runnable(1, {});
    auto idle = longest_runnable_wait(k, l, offsets);
    REQUIRE(idle);
    CHECK(idle->longest_wait_jiffies == 0);
    CHECK(idle->pid == 0);
  }
}

TEST_CASE("read_guest_cstring: bounded, and keeps what precedes an unreadable page") {
  ScxGuest g;
  g.put_str(0x60000, "hello");
  std::string err;
  CHECK(read_guest_cstring(*g.kernel, dm(0x60000), 100, &err) == "hello");
  CHECK(err.empty());
  CHECK(read_guest_cstring(*g.kernel, dm(0x60000), 3, &err) == "hel");
  std::memset(g.ram.bytes.data() + 0x60ff0, 'y', 0x20);  // across a page boundary
  CHECK(read_guest_cstring(*g.kernel, dm(0x60ff0), 0x100, &err) == std::string(0x20, 'y'));
  CHECK(read_guest_cstring(*g.kernel, 0xffff888100000000ULL, 16, &err).empty());
  CHECK_FALSE(err.empty());
}

}  // namespace
}  // namespace ktest::freeze
