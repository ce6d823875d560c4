// Values rendered per second by btf::render() versus libbpf's
// btf_dump__dump_type_data() (compact text, emit_zeroes) on the same bytes:
// a scheduler-sized struct from the fixture and the fetched kernel's
// task_struct. Each side runs for a fixed time, in alternating slices; the
// ratio is ours/libbpf.
#include <bpf/btf.h>

#include <chrono>
#include <cstdlib>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "btf/btf.h"
#include "btf/render.h"

namespace {

using Clock = std::chrono::steady_clock;
// KTEST_BENCH_SMOKE=1 (CI): a short run that proves the benchmark works; its numbers mean nothing.
double seconds_per_side() { return std::getenv("KTEST_BENCH_SMOKE") ? 0.02 : 1.0; }

// Calls `once` for about `seconds`; adds the calls and the time taken.
template <typename F>
void run_for(F&& once, double seconds, uint64_t& calls, double& taken) {
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  Clock::time_point now;
  do {
    for (int k = 0; k < 16; ++k) once();
    calls += 16;
    now = Clock::now();
  } while (now < deadline);
  taken += std::chrono::duration<double>(now - start).count();
}

// Calls per second of each side, measured in alternating slices so that
// load from elsewhere on the machine falls on both sides alike.
template <typename A, typename B>
std::pair<double, double> per_second(A&& ours, B&& theirs) {
  constexpr int kSlices = 20;
  uint64_t ours_calls = 0, theirs_calls = 0;
  double ours_taken = 0, theirs_taken = 0;
  for (int slice = 0; slice < kSlices; ++slice) {
    run_for(ours, seconds_per_side() / kSlices, ours_calls, ours_taken);
    run_for(theirs, seconds_per_side() / kSlices, theirs_calls, theirs_taken);
  }
  return {static_cast<double>(ours_calls) / ours_taken,
          static_cast<double>(theirs_calls) / theirs_taken};
}

void text_sink(void* ctx, const char* fmt, va_list args) {
  char buf[512];
  const int len = std::vsnprintf(buf, sizeof buf, fmt, args);
  if (len > 0) static_cast<std::string*>(ctx)->append(buf, std::min<std::size_t>(len, sizeof buf - 1));
}

int bench(const char* label, const std::string& path, const char* type) {
  auto btf = ktest::btf::Btf::load(path);
  if (!btf) {
    std::fprintf(stderr, "%s: %s\n", label, btf.error().to_string().c_str());
    return 1;
  }
  auto id = btf->find_type(type);
  auto size = id ? ktest::btf::type_size(btf->get(), *id) : ktest::Result<uint64_t>(ktest::fail("no type"));
  if (!id || !size) {
    std::fprintf(stderr, "%s: no sized type %s\n", label, type);
    return 1;
  }
  std::vector<uint8_t> bytes(*size);
  uint32_t state = 1;  // deterministic, mostly non-zero data
  for (auto& b : bytes) b = static_cast<uint8_t>((state = state * 1103515245u + 12345u) >> 16);

  std::size_t nodes = 0;
  int dump_error = 0;
  std::string text;
  struct btf_dump* d = btf_dump__new(btf->get(), text_sink, &text, nullptr);
  if (d == nullptr) {
    std::fprintf(stderr, "%s: btf_dump__new failed\n", label);
    return 1;
  }
  struct btf_dump_type_data_opts opts = {};
  opts.sz = sizeof opts;
  opts.compact = true;
  opts.emit_zeroes = true;
  const auto [ours, theirs] = per_second(
      [&] {
        auto v = ktest::btf::render(*btf, *id, bytes);
        nodes += v.members.size();
      },
      [&] {
        text.clear();
        const int rc = btf_dump__dump_type_data(d, *id, bytes.data(), bytes.size(), &opts);
        if (rc < 0) dump_error = rc;
      });
  btf_dump__free(d);
  std::printf("%-28s %6llu bytes  ktest %10.0f values/s  libbpf btf_dump %10.0f values/s  ratio %.2fx\n",
              label, static_cast<unsigned long long>(bytes.size()), ours, theirs, ours / theirs);
  if (nodes == 0 || dump_error != 0 || !(ours > 0) || !(theirs > 0)) {
    std::fprintf(stderr, "%s: cannot measure (nodes %zu, btf_dump error %d)\n", label, nodes,
                 dump_error);
    return 1;
  }
  return 0;
}

}  // namespace

int main() {
  int rc = bench("sched_ctx (fixture)", KTEST_BTF_FIXTURE, "sched_ctx");
  const std::string kernel_dir = KTEST_KERNEL_DIR;
  if (kernel_dir.empty()) {
    std::printf("task_struct: SKIPPED (no -Dkernel_dir: fetch a kernel with `ktest kernel fetch`)\n");
  } else {
    rc |= bench("task_struct (vmlinux)", kernel_dir + "/vmlinux", "task_struct");
  }
  return rc;
}
