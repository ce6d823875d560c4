// The ivshmem doorbell: BAR0 registers, BAR2 the shared DoorbellPage.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "kvm/agent/agent.h"
#include "kvm/doorbell_abi.h"

namespace ktest::agent {
namespace {

namespace db = ktest::doorbell;
constexpr const char* kPciDevices = "/sys/bus/pci/devices";

Result<void*> map_resource(const std::string& path, std::size_t& size) {
  int fd = ::open(path.c_str(), O_RDWR | O_SYNC | O_CLOEXEC);
  if (fd < 0) return fail(path + ": " + std::strerror(errno));
  struct stat st{};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    return fail(path + ": cannot size the BAR");
  }
  size = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) return fail("mmap " + path + ": " + std::strerror(err));
  return p;
}

db::DoorbellPage* page(void* shared) { return static_cast<db::DoorbellPage*>(shared); }

}  // namespace

Doorbell::~Doorbell() {
  if (registers_ != nullptr) ::munmap(registers_, registers_size_);
  if (shared_ != nullptr) ::munmap(shared_, shared_size_);
}

Status Doorbell::probe() {
  DIR* dir = ::opendir(kPciDevices);
  if (dir == nullptr) return fail(std::string(kPciDevices) + ": " + std::strerror(errno));
  std::string found;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::string base = std::string(kPciDevices) + "/" + e->d_name;
    if (trim(read_text_file(base + "/vendor", 64).value_or("")) == "0x1af4" &&
        trim(read_text_file(base + "/device", 64).value_or("")) == "0x1110") {
      found = e->d_name;
      break;
    }
  }
  ::closedir(dir);
  if (found.empty()) return {};
  std::string base = std::string(kPciDevices) + "/" + found;
  // No driver binds ivshmem: enable memory decoding ourselves.
  if (int fd = ::open((base + "/enable").c_str(), O_WRONLY | O_CLOEXEC); fd >= 0) {
    [[maybe_unused]] auto n = ::write(fd, "1", 1);
    ::close(fd);
  }
  KTEST_ASSIGN(shared_, map_resource(base + "/resource2", shared_size_));
  if (shared_size_ < sizeof(db::DoorbellPage)) {
    ::munmap(shared_, shared_size_);
    shared_ = nullptr;
    return fail("ivshmem BAR2 of " + std::to_string(shared_size_) + " bytes is smaller than the doorbell page");
  }
  // BAR0 is absent on nothing we know, but the capture path needs it.
  auto regs = map_resource(base + "/resource0", registers_size_);
  if (regs) registers_ = *regs;
  device_ = found;
  return {};
}

bool Doorbell::ready() const {
  if (shared_ == nullptr) return false;
  const volatile db::DoorbellPage* p = page(shared_);
  return p->magic == db::kMagic && p->version == db::kVersion;
}

Result<DoorbellReply> Doorbell::request(uint32_t kind, std::string_view payload,
                                        std::chrono::milliseconds timeout) {
  if (shared_ == nullptr)
    return fail("no ivshmem doorbell device (PCI 1af4:1110) in the guest", "",
                "the host must start QEMU with the ivshmem doorbell for snapshot steps");
  if (registers_ == nullptr) return fail("ivshmem BAR0 (registers) could not be mapped");
  if (payload.size() > db::kPayloadMax)
    return fail("doorbell payload of " + std::to_string(payload.size()) + " bytes exceeds " +
                std::to_string(db::kPayloadMax));
  auto deadline = Clock::now() + timeout;
  std::unique_lock lock(in_flight_, std::defer_lock);
  if (!lock.try_lock_until(deadline))
    return fail("the doorbell stayed busy for " + std::to_string(timeout.count()) + " ms", "",
                "another capture (a series) held it; give the step or the series more time");
  while (!ready()) {
    if (Clock::now() >= deadline)
      return fail("the doorbell header has no ktest magic", "", "the host did not initialise the shared memory");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  db::DoorbellPage* p = page(shared_);
  uint64_t serial = std::max(serial_, __atomic_load_n(&p->reply_serial, __ATOMIC_ACQUIRE)) + 1;
  std::memcpy(p->request_payload, payload.data(), payload.size());
  p->request_kind = kind;
  p->request_length = static_cast<uint32_t>(payload.size());
  __atomic_store_n(&p->request_serial, serial, __ATOMIC_RELEASE);
  serial_ = serial;
  uint32_t host_peer = p->host_peer_id;
  auto* doorbell_reg = reinterpret_cast<volatile uint32_t*>(static_cast<char*>(registers_) +
                                                            db::kDoorbellRegisterOffset);
  *doorbell_reg = host_peer << 16 | 0;
  while (__atomic_load_n(&p->reply_serial, __ATOMIC_ACQUIRE) != serial) {
    if (Clock::now() >= deadline)
      return fail("no doorbell reply within " + std::to_string(timeout.count()) + " ms", "",
                  "the host's ivshmem server or freeze coordinator did not answer");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  DoorbellReply reply;
  reply.status = p->reply_status;
  uint32_t len = std::min<uint32_t>(p->reply_length, db::kPayloadMax);
  reply.payload.assign(reinterpret_cast<const char*>(p->reply_payload), len);
  return reply;
}

Status host_accepted(const DoorbellReply& reply) {
  if (reply.status == static_cast<int32_t>(db::ReplyStatus::Error))
    return fail("the host reported an error: " + reply.payload);
  return {};
}

}  // namespace ktest::agent
