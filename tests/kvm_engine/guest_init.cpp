// /init of the engine's e2e guest: a static program that exercises the
// guest side of everything the engine offers, driven by the host over the
// control port. Mode from the kernel cmdline "engine_test=<mode>":
//   full  (default) doorbell round trips, watchpoint target, poweroff
//   panic           exit at once (the kernel panics: init died)
//   hang            sleep forever (the host's run timeout must fire)
// Protocol on the port (lines): guest → "doorbell ok|bad <why>",
// "rtt_ns <avg>", "watch <hex addr>"; host → "go"; guest → "wrote", "bye".
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kvm/doorbell_abi.h"

namespace {

using ktest::doorbell::DoorbellPage;

volatile uint64_t watched_var = 0;
volatile uint64_t spin_counter = 0;

void say(int fd, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void say(int fd, const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n > 0) {
    [[maybe_unused]] ssize_t w = write(fd, buf, static_cast<size_t>(n));
  }
}

bool read_file(const char* path, char* out, size_t cap) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return false;
  ssize_t n = read(fd, out, cap - 1);
  close(fd);
  if (n < 0) return false;
  out[n] = 0;
  return true;
}

// The PCI function of the ivshmem device (1af4:1110), e.g. "0000:00:02.0".
bool find_ivshmem(char* dev, size_t cap) {
  DIR* dir = opendir("/sys/bus/pci/devices");
  if (!dir) return false;
  bool found = false;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    char path[512], vendor[32], device[32];
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
    if (!read_file(path, vendor, sizeof(vendor))) continue;
    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
    if (!read_file(path, device, sizeof(device))) continue;
    if (strncmp(vendor, "0x1af4", 6) == 0 && strncmp(device, "0x1110", 6) == 0) {
      snprintf(dev, cap, "%s", e->d_name);
      found = true;
      break;
    }
  }
  closedir(dir);
  return found;
}

void* map_bar(const char* dev, int bar, size_t len) {
  char path[512];
  snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d", dev, bar);
  int fd = open(path, O_RDWR | O_SYNC);
  if (fd < 0) return nullptr;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  return p == MAP_FAILED ? nullptr : p;
}

// /dev/vportNpM whose /sys/class/virtio-ports/<it>/name is "ktest.ctl".
int open_control_port() {
  for (int attempt = 0; attempt < 200; ++attempt) {
    DIR* dir = opendir("/sys/class/virtio-ports");
    if (dir) {
      while (dirent* e = readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        char path[512], name[64];
        snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
        if (read_file(path, name, sizeof(name)) && strncmp(name, "ktest.ctl", 9) == 0) {
          snprintf(path, sizeof(path), "/dev/%s", e->d_name);
          closedir(dir);
          return open(path, O_RDWR);
        }
      }
      closedir(dir);
    }
    usleep(10000);
  }
  return -1;
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// One doorbell request; false when the host does not answer within 5 s.
bool ring(DoorbellPage* page, volatile uint32_t* regs, uint64_t serial, const char* payload) {
  size_t len = strlen(payload);
  page->request_kind = static_cast<uint32_t>(ktest::doorbell::RequestKind::Ping);
  page->request_length = static_cast<uint32_t>(len);
  memcpy(page->request_payload, payload, len);
  std::atomic_ref<uint64_t>(page->request_serial).store(serial, std::memory_order_release);
  regs[ktest::doorbell::kDoorbellRegisterOffset / 4] = page->host_peer_id << 16;
  uint64_t deadline = now_ns() + 5000000000ull;
  while (std::atomic_ref<uint64_t>(page->reply_serial).load(std::memory_order_acquire) != serial) {
    if (now_ns() > deadline) return false;
  }
  return true;
}

// Reads one line from the port, spinning (so guest memory keeps changing).
bool wait_line(int fd, char* out, size_t cap) {
  size_t used = 0;
  while (used + 1 < cap) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) {
      spin_counter = spin_counter + 1;
      continue;
    }
    char c;
    if (read(fd, &c, 1) != 1) return false;
    if (c == '\n') break;
    out[used++] = c;
  }
  out[used] = 0;
  return true;
}

void run_full() {
  int port = open_control_port();
  if (port < 0) {
    printf("engine-init: no ktest.ctl port\n");
    return;
  }
  char dev[300];
  if (!find_ivshmem(dev, sizeof(dev))) {
    say(port, "doorbell bad no ivshmem device\n");
    return;
  }
  auto* regs = static_cast<volatile uint32_t*>(map_bar(dev, 0, 256));
  auto* page = static_cast<DoorbellPage*>(map_bar(dev, 2, ktest::doorbell::kSharedMemorySize));
  if (!regs || !page) {
    say(port, "doorbell bad cannot map BARs of %s\n", dev);
    return;
  }
  if (page->magic != ktest::doorbell::kMagic || page->version != ktest::doorbell::kVersion) {
    say(port, "doorbell bad header magic %x version %u\n", page->magic, page->version);
    return;
  }
  uint64_t serial = 1;
  if (!ring(page, regs, serial, "hello")) {
    say(port, "doorbell bad no reply\n");
    return;
  }
  uint32_t rlen = page->reply_length;
  if (page->reply_status != 0 || rlen != 10 || memcmp(page->reply_payload, "pong:hello", 10) != 0) {
    say(port, "doorbell bad reply status %d length %u\n", page->reply_status, rlen);
    return;
  }
  // A hostile length: the host must clamp it to kPayloadMax, not overrun.
  page->request_length = 0xffffffffu;
  std::atomic_ref<uint64_t>(page->request_serial).store(++serial, std::memory_order_release);
  regs[ktest::doorbell::kDoorbellRegisterOffset / 4] = page->host_peer_id << 16;
  uint64_t until = now_ns() + 5000000000ull;
  while (std::atomic_ref<uint64_t>(page->reply_serial).load(std::memory_order_acquire) != serial) {
    if (now_ns() > until) {
      say(port, "doorbell bad no reply to a hostile length\n");
      return;
    }
  }
  if (page->reply_length != 7 || memcmp(page->reply_payload, "clamped", 7) != 0) {
    say(port, "doorbell bad hostile length not clamped\n");
    return;
  }
  say(port, "doorbell ok\n");

  constexpr int kRounds = 100;
  uint64_t start = now_ns();
  for (int i = 0; i < kRounds; ++i) {
    if (!ring(page, regs, ++serial, "ping")) {
      say(port, "rtt_ns failed\n");
      return;
    }
  }
  say(port, "rtt_ns %llu\n", static_cast<unsigned long long>((now_ns() - start) / kRounds));

  say(port, "watch %lx\n", reinterpret_cast<unsigned long>(&watched_var));
  char line[64];
  if (!wait_line(port, line, sizeof(line)) || strcmp(line, "go") != 0) return;
  watched_var = 42;  // first hit
  watched_var = 43;  // second hit: the watchpoint stays armed across resume
  say(port, "wrote\n");
  say(port, "bye\n");
  fsync(port);
}

}  // namespace

int main() {
  mount("proc", "/proc", "proc", 0, nullptr);
  mount("sysfs", "/sys", "sysfs", 0, nullptr);
  mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
  char cmdline[1024] = "";
  read_file("/proc/cmdline", cmdline, sizeof(cmdline));
  if (strstr(cmdline, "engine_test=panic")) return 1;
  if (strstr(cmdline, "engine_test=hang")) {
    for (;;) pause();
  }
  run_full();
  sleep(1);  // let the host read the port before the device goes away
  reboot(RB_POWER_OFF);
  return 0;
}
