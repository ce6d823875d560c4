// End-to-end test of the QEMU engine: boots the real kernel with a tiny
// static /init (guest_init.cpp) and checks every Machine promise against it.
// Needs KTEST_ENGINE_KERNEL (an uncompressed vmlinux) and KTEST_ENGINE_INIT
// (the built init); exits 77 (skip) naming what is missing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <elf.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "kvm/initramfs/initramfs.h"
#include "kvm/machine.h"
#include "util/atomic_file.h"

using namespace ktest::kvm;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_kernel, g_init, g_work;

std::string make_initrd() {
  static std::string path;
  if (!path.empty()) return path;
  Initramfs fs;
  REQUIRE(fs.add_base_layout().ok());
  REQUIRE(fs.add_host_file("/init", g_init, 0755).ok());
  path = g_work + "/initrd.cpio";
  std::ofstream(path, std::ios::binary) << fs.archive().value();
  return path;
}

MachineConfig config_for(const std::string& name, const std::string& mode) {
  MachineConfig c;
  c.kernel_image = g_kernel;
  c.initrd = make_initrd();
  c.cpus = 2;
  c.memory_mib = 256;
  c.extra_cmdline = "engine_test=" + mode;
  c.run_dir = g_work + "/" + name;
  c.run_timeout = std::chrono::seconds(120);
  return c;
}

// Serves doorbells (reply "pong:<payload>") and collects control-port lines.
struct Driver {
  explicit Driver(Machine& machine) : m(machine) {}
  Machine& m;
  std::string partial;
  std::deque<std::string> lines;
  std::optional<WatchpointHit> hit;
  std::optional<ExitEvent> exit;
  int doorbells = 0;

  void pump(std::chrono::milliseconds slice) {
    auto ev = m.wait_event(slice);
    REQUIRE_MESSAGE(ev.ok(), ev.error().to_string());
    if (ev->has_value()) {
      if (auto* d = std::get_if<DoorbellEvent>(&**ev)) {
        std::string reply = d->payload.size() == ktest::doorbell::kPayloadMax
                                ? "clamped"  // the guest claimed a length past the array
                                : "pong:" + std::string(d->payload.begin(), d->payload.end());
        CHECK(d->payload.size() <= ktest::doorbell::kPayloadMax);
        REQUIRE(m.reply_doorbell(d->serial, ktest::doorbell::ReplyStatus::Ok,
                                 std::vector<uint8_t>(reply.begin(), reply.end())).ok());
        ++doorbells;
      } else if (auto* w = std::get_if<WatchpointHit>(&**ev)) {
        hit = *w;
      } else if (auto* x = std::get_if<ExitEvent>(&**ev)) {
        exit = *x;
      }
    }
    int fd = m.control_channel();
    pollfd p{fd, POLLIN, 0};
    while (fd >= 0 && ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
      char buf[512];
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) break;
      partial.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
        lines.push_back(partial.substr(0, nl));
        partial.erase(0, nl + 1);
      }
    }
  }

  // The next control line, serving doorbells meanwhile.
  std::string line(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    auto deadline = Clock::now() + timeout;
    while (lines.empty() && !exit && Clock::now() < deadline) pump(std::chrono::milliseconds(5));
    if (lines.empty()) {
      std::string tail;
      for (const auto& l : m.console_tail()) tail += l + "\n";
      FAIL("no control line from the guest; console tail:\n" << tail);
    }
    std::string l = lines.front();
    lines.pop_front();
    return l;
  }
};

uint64_t fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) h = (h ^ b) * 1099511628211ull;
  return h;
}

// .text of the vmlinux: (virtual address, bytes).
std::pair<uint64_t, std::vector<uint8_t>> vmlinux_text(size_t len) {
  std::ifstream f(g_kernel, std::ios::binary);
  Elf64_Ehdr eh{};
  f.read(reinterpret_cast<char*>(&eh), sizeof(eh));
  REQUIRE(std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0);
  std::vector<Elf64_Shdr> sh(eh.e_shnum);
  f.seekg(static_cast<std::streamoff>(eh.e_shoff));
  f.read(reinterpret_cast<char*>(sh.data()), static_cast<std::streamsize>(sh.size() * sizeof(Elf64_Shdr)));
  std::vector<char> names(sh[eh.e_shstrndx].sh_size);
  f.seekg(static_cast<std::streamoff>(sh[eh.e_shstrndx].sh_offset));
  f.read(names.data(), static_cast<std::streamsize>(names.size()));
  for (const auto& s : sh) {
    if (s.sh_name < names.size() && std::strcmp(&names[s.sh_name], ".text") == 0) {
      std::vector<uint8_t> bytes(std::min<size_t>(len, s.sh_size));
      f.seekg(static_cast<std::streamoff>(s.sh_offset));
      f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      return {s.sh_addr, bytes};
    }
  }
  FAIL("vmlinux has no .text section");
  return {};
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

TEST_CASE("boot, doorbell, pause, registers, memory, watchpoint, poweroff") {
  auto made = make_machine("qemu");
  REQUIRE(made.ok());
  Machine& m = **made;
  auto t_boot = Clock::now();
  auto booted = m.boot(config_for("full", "full"));
  REQUIRE_MESSAGE(booted.ok(), booted.error().to_string());
  CHECK(m.control_channel() >= 0);
  CHECK(m.vcpu_count() == 2);
  Driver d(m);

  CHECK(d.line() == "doorbell ok");
  MESSAGE("boot to first doorbell: " << ms_since(t_boot) << " ms");
  std::string rtt = d.line();
  REQUIRE(rtt.rfind("rtt_ns ", 0) == 0);
  MESSAGE("doorbell round trip (guest-measured, avg of 100): " << std::stoull(rtt.substr(7)) / 1000.0 << " us");
  CHECK(d.doorbells == 102);

  std::string watch = d.line();
  REQUIRE(watch.rfind("watch ", 0) == 0);
  uint64_t var_addr = std::stoull(watch.substr(6), nullptr, 16);

  // The guest now spins on the port: memory changes while it runs.
  auto running1 = m.read_physical(0, m.ram_size());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto running2 = m.read_physical(0, m.ram_size());
  REQUIRE(running1.ok());
  REQUIRE(running2.ok());
  CHECK(fnv1a(*running1) != fnv1a(*running2));

  auto t_pause = Clock::now();
  REQUIRE(m.pause_all().ok());
  double pause_ms = ms_since(t_pause);
  CHECK(*m.is_paused());
  auto paused1 = m.read_physical(0, m.ram_size());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto paused2 = m.read_physical(0, m.ram_size());
  CHECK(fnv1a(*paused1) == fnv1a(*paused2));

  auto all_regs = m.read_all_registers();  // every vCPU in one gdbstub round trip
  REQUIRE_MESSAGE(all_regs.ok(), all_regs.error().to_string());
  REQUIRE(all_regs->size() == m.vcpu_count());
  for (uint32_t cpu = 0; cpu < m.vcpu_count(); ++cpu) {
    auto regs = m.read_registers(cpu);
    REQUIRE_MESSAGE(regs.ok(), regs.error().to_string());
    CHECK((regs->cr0 & 0x80000001) == 0x80000001);  // PG and PE
    CHECK((regs->efer & 0x400) != 0);                // long mode active
    CHECK(regs->cr3 != 0);
    CHECK((regs->cr3 & ~0xfffull) < m.ram_size());
    CHECK(regs->rip != 0);
    CHECK_MESSAGE((*all_regs)[cpu] == *regs, "vCPU " << cpu << ": read_all_registers() differs from read_registers()");
  }
  CHECK_FALSE(m.read_registers(m.vcpu_count()).ok());

  // nokaslr: kernel virtual 0xffffffff81000000 is guest physical 0x1000000.
  auto [text_va, text] = vmlinux_text(4096);
  REQUIRE(text_va >= 0xffffffff81000000ull);
  auto guest_text = m.read_physical(0x1000000 + (text_va - 0xffffffff81000000ull), text.size());
  REQUIRE(guest_text.ok());
  CHECK(std::equal(text.begin(), text.begin() + 64, guest_text->begin()));
  size_t same = 0;
  for (size_t i = 0; i < text.size(); ++i) same += text[i] == (*guest_text)[i];
  CHECK(same * 100 >= text.size() * 95);  // boot-time code patching touches a few bytes

  // Bounds: nothing outside guest RAM, no wrap-around.
  CHECK_FALSE(m.read_physical(m.ram_size() - 4, 8).ok());
  CHECK_FALSE(m.read_physical(~0ull - 2, 4).ok());
  CHECK(m.read_physical(m.ram_size() - 8, 8).ok());

  auto t_resume = Clock::now();
  REQUIRE(m.resume().ok());
  double resume_ms = ms_since(t_resume);
  CHECK_FALSE(*m.is_paused());
  MESSAGE("pause_all: " << pause_ms << " ms, resume: " << resume_ms << " ms");
  auto while_running = m.read_all_registers();
  REQUIRE_FALSE(while_running.ok());
  CHECK(while_running.error().to_string().find("reports running") != std::string::npos);

  auto wp = m.set_watchpoint(var_addr, 8, WatchKind::Write);
  REQUIRE_MESSAGE(wp.ok(), wp.error().to_string());
  CHECK_FALSE(*m.is_paused());  // arming while running leaves it running
  std::string go = "go\n";
  REQUIRE(::write(m.control_channel(), go.data(), go.size()) == 3);
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!d.hit && !d.exit && Clock::now() < deadline) d.pump(std::chrono::milliseconds(20));
  REQUIRE(d.hit.has_value());
  CHECK(d.hit->id == *wp);
  CHECK(d.hit->addr == var_addr);
  CHECK(d.hit->cpu >= 0);
  CHECK(d.hit->cpu < 2);
  CHECK(*m.is_paused());  // a hit leaves the machine paused
  auto first_regs = m.read_registers(static_cast<uint32_t>(d.hit->cpu));
  REQUIRE(first_regs.ok());

  // Still armed after resume: the second store hits at the next instruction.
  d.hit.reset();
  REQUIRE(m.resume().ok());
  deadline = Clock::now() + std::chrono::seconds(30);
  while (!d.hit && !d.exit && Clock::now() < deadline) d.pump(std::chrono::milliseconds(20));
  REQUIRE(d.hit.has_value());
  CHECK(d.hit->id == *wp);
  auto second_regs = m.read_registers(static_cast<uint32_t>(d.hit->cpu));
  REQUIRE(second_regs.ok());
  CHECK(second_regs->rip != first_regs->rip);
  CHECK(second_regs->cpl == 3);  // the store was init's, in user mode

  REQUIRE(m.clear_watchpoint(*wp).ok());
  CHECK_FALSE(m.clear_watchpoint(*wp).ok());
  REQUIRE(m.resume().ok());

  CHECK(d.line() == "wrote");
  CHECK(d.line() == "bye");
  deadline = Clock::now() + std::chrono::seconds(30);
  while (!d.exit && Clock::now() < deadline) d.pump(std::chrono::milliseconds(50));
  REQUIRE(d.exit.has_value());
  CHECK_MESSAGE(d.exit->reason == ExitReason::Poweroff, d.exit->detail);
  CHECK_FALSE(m.pause_all().ok());  // everything fails after the exit
  CHECK_FALSE(m.wait_event(std::chrono::milliseconds(10)).ok());
  CHECK(std::filesystem::file_size(m.run_dir() + "/console.log") > 0);
}

TEST_CASE("a guest panic ends the run within seconds with the console tail") {
  auto m = make_machine("qemu").value();
  REQUIRE(m->boot(config_for("panic", "panic")).ok());
  auto t0 = Clock::now();
  std::optional<ExitEvent> exit;
  while (!exit && ms_since(t0) < 60'000) {
    auto ev = m->wait_event(std::chrono::milliseconds(200));
    REQUIRE(ev.ok());
    if (ev->has_value()) {
      if (auto* x = std::get_if<ExitEvent>(&**ev)) exit = *x;
    }
  }
  REQUIRE(exit.has_value());
  CHECK_MESSAGE(exit->reason == ExitReason::Panic, exit->detail);
  CHECK(exit->detail.find("Kernel panic") != std::string::npos);
  REQUIRE_FALSE(exit->console_tail.empty());
  MESSAGE("boot + panic + exit: " << ms_since(t0) << " ms; " << exit->detail);
}

TEST_CASE("a hung guest hits the run timeout and is killed; console.log stays") {
  auto m = make_machine("qemu").value();
  auto config = config_for("hang", "hang");
  config.run_timeout = std::chrono::seconds(8);
  REQUIRE(m->boot(config).ok());
  auto t0 = Clock::now();
  std::optional<ExitEvent> exit;
  while (!exit && ms_since(t0) < 60'000) {
    auto ev = m->wait_event(std::chrono::milliseconds(200));
    REQUIRE(ev.ok());
    if (ev->has_value()) {
      if (auto* x = std::get_if<ExitEvent>(&**ev)) exit = *x;
    }
  }
  REQUIRE(exit.has_value());
  CHECK_MESSAGE(exit->reason == ExitReason::Timeout, exit->detail);
  CHECK(ms_since(t0) < 20'000);
  CHECK(std::filesystem::exists(config.run_dir + "/console.log"));
}

TEST_CASE("kill() stops a running guest and reports Killed") {
  auto m = make_machine("qemu").value();
  REQUIRE(m->boot(config_for("kill", "hang")).ok());
  ExitEvent exit = m->kill();
  CHECK(exit.reason == ExitReason::Killed);
  CHECK_FALSE(m->resume().ok());
}

TEST_CASE("bad configurations fail before QEMU starts, saying how to fix them") {
  auto m = make_machine("qemu").value();
  auto config = config_for("bad", "full");
  config.memory_mib = 1u << 20;
  auto st = m->boot(config);
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(st.error().hint.empty());
  config = config_for("bad", "full");
  config.kernel_image = "/nonexistent/vmlinux";
  CHECK_FALSE(make_machine("qemu").value()->boot(config).ok());
  CHECK_FALSE(make_machine("firecracker").ok());
}

TEST_CASE("QEMU refusing to start fails boot() quickly with QEMU's own message") {
  auto m = make_machine("qemu").value();
  auto config = config_for("not-a-kernel", "full");
  config.kernel_image = make_initrd();  // readable, but no kernel
  auto t0 = Clock::now();
  auto st = m->boot(config);
  REQUIRE_FALSE(st.ok());
  CHECK(ms_since(t0) < 30'000);
  CHECK(st.error().message.find("QEMU said: qemu") != std::string::npos);
  CHECK(st.error().hint.find("qemu.log") != std::string::npos);
  MESSAGE(st.error().to_string());
}

int main(int argc, char** argv) {
  const char* kernel = std::getenv("KTEST_ENGINE_KERNEL");
  const char* init = std::getenv("KTEST_ENGINE_INIT");
  if (!kernel || ::access(kernel, R_OK) != 0) {
    std::printf("SKIP: no kernel (KTEST_ENGINE_KERNEL=%s); configure with -Dkernel_dir=<fetched kernel>\n",
                kernel ? kernel : "unset");
    return 77;
  }
  if (!init || ::access(init, X_OK) != 0) {
    std::printf("SKIP: guest init not built (KTEST_ENGINE_INIT=%s)\n", init ? init : "unset");
    return 77;
  }
  if (std::system("qemu-system-x86_64 --version >/dev/null 2>&1") != 0) {
    std::printf("SKIP: qemu-system-x86_64 is not installed\n");
    return 77;
  }
  g_kernel = kernel;
  g_init = init;
  char dir[] = "/tmp/ktest-engine-e2e-XXXXXX";
  if (!::mkdtemp(dir)) return 1;
  g_work = dir;
  doctest::Context context(argc, argv);
  int rc = context.run();
  if (rc == 0 && !context.shouldExit()) {
    std::error_code ec;
    std::filesystem::remove_all(g_work, ec);
  } else {
    std::printf("run dirs (console.log, qemu.log) kept in %s\n", g_work.c_str());
  }
  return rc;
}
