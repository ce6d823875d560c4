// QemuMachine: boot, teardown and the caller-facing commands. The monitor
// thread (what QEMU says, exits, deadlines) lives in qemu_monitor.cpp.
#include "kvm/qemu/qemu_machine.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>

#include <fmt/format.h>

#include "kvm/qemu/info_registers.h"
#include "kvm/qemu/qemu_command_line.h"

namespace ktest::kvm {

namespace fs = std::filesystem;
using doorbell::DoorbellPage;

namespace {

Unexpected errno_fail(const std::string& what) {
  return fail(fmt::format("{}: {}", what, std::strerror(errno)));
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_fail("write to QEMU socket");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<UniqueFd> connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return fail("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return errno_fail("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return errno_fail("connect " + path);
  return fd;
}

// Reads one '\n'-terminated line from a blocking fd, bounded by a deadline.
Result<std::string> read_line(int fd, std::string& buffer,
                              std::chrono::steady_clock::time_point deadline) {
  while (true) {
    if (size_t nl = buffer.find('\n'); nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail("timed out waiting for QEMU's reply");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return errno_fail("poll");
    if (!(p.revents & (POLLIN | POLLHUP))) continue;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof(chunk));
    if (n == 0) return fail("QEMU closed the socket");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno_fail("read");
    }
    if (buffer.size() > (1u << 20)) return fail("QEMU sent an over-long line");
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace

std::string_view to_string(ExitReason reason) {
  switch (reason) {
    case ExitReason::Poweroff: return "poweroff";
    case ExitReason::Panic: return "panic";
    case ExitReason::Crashed: return "crashed";
    case ExitReason::Timeout: return "timeout";
    case ExitReason::Killed: return "killed";
  }
  return "unknown";
}

Result<std::unique_ptr<Machine>> make_machine(std::string_view engine) {
  if (engine == "qemu") return std::unique_ptr<Machine>(std::make_unique<QemuMachine>());
  return fail(fmt::format("unknown VM engine '{}'", engine), "", "the available engine is: qemu");
}

QemuMachine::~QemuMachine() {
  if (pid_ > 0) kill();
  stop_monitor_ = true;
  if (wake_fd_.valid()) {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
  }
  if (monitor_.joinable()) monitor_.join();
  if (ram_) ::munmap(const_cast<uint8_t*>(ram_), ram_size_);
  if (shm_) ::munmap(shm_, doorbell::kSharedMemorySize);
  if (!socket_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(socket_dir_, ec);
  }
}

Status QemuMachine::validate(const MachineConfig& c) const {
  auto readable = [](const std::string& path) { return ::access(path.c_str(), R_OK) == 0; };
  if (c.kernel_image.empty() || !readable(c.kernel_image))
    return fail(fmt::format("kernel image '{}' is not readable", c.kernel_image), "",
                "fetch a kernel first (ktest kernel fetch) or pass an uncompressed vmlinux with a PVH note");
  if (!c.initrd.empty() && !readable(c.initrd))
    return fail(fmt::format("initrd '{}' is not readable", c.initrd));
  if (c.cpus < 1 || c.cpus > 64)
    return fail(fmt::format("cpus = {} is out of range", c.cpus), "", "use 1 to 64 vCPUs");
  if (c.memory_mib < 64 || c.memory_mib > kMaxMemoryMiB)
    return fail(fmt::format("memory = {} MiB is out of range", c.memory_mib), "",
                fmt::format("use 64 to {} MiB (guest RAM must stay below the PCI hole)", kMaxMemoryMiB));
  if (c.run_dir.empty()) return fail("run_dir is empty", "", "give the machine a directory for its logs");
  return {};
}

Status QemuMachine::create_resources() {
  std::error_code ec;
  fs::create_directories(config_.run_dir, ec);
  if (ec) return fail(fmt::format("cannot create run dir '{}': {}", config_.run_dir, ec.message()));
  console_log_.reset(::open((config_.run_dir + "/console.log").c_str(),
                            O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  qemu_log_.reset(::open((config_.run_dir + "/qemu.log").c_str(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!console_log_.valid() || !qemu_log_.valid()) return errno_fail("create logs in " + config_.run_dir);

  char dir_template[] = "/tmp/ktest-vm-XXXXXX";
  if (!::mkdtemp(dir_template)) return errno_fail("mkdtemp");
  socket_dir_ = dir_template;

  ram_size_ = uint64_t{config_.memory_mib} << 20;
  ram_fd_.reset(::memfd_create("ktest-guest-ram", MFD_CLOEXEC));
  if (!ram_fd_.valid() || ::ftruncate(ram_fd_.get(), static_cast<off_t>(ram_size_)) != 0)
    return errno_fail("guest RAM memfd");
  void* ram = ::mmap(nullptr, ram_size_, PROT_READ, MAP_SHARED, ram_fd_.get(), 0);
  if (ram == MAP_FAILED) return errno_fail("map guest RAM");
  ram_ = static_cast<const uint8_t*>(ram);

  shm_fd_.reset(::memfd_create("ktest-doorbell", MFD_CLOEXEC));
  if (!shm_fd_.valid() ||
      ::ftruncate(shm_fd_.get(), static_cast<off_t>(doorbell::kSharedMemorySize)) != 0)
    return errno_fail("doorbell memfd");
  void* shm = ::mmap(nullptr, doorbell::kSharedMemorySize, PROT_READ | PROT_WRITE, MAP_SHARED,
                     shm_fd_.get(), 0);
  if (shm == MAP_FAILED) return errno_fail("map doorbell page");
  shm_ = static_cast<uint8_t*>(shm);
  auto* page = reinterpret_cast<DoorbellPage*>(shm_);
  page->magic = doorbell::kMagic;
  page->version = doorbell::kVersion;
  page->host_peer_id = IvshmemServer::kHostPeerId;

  auto server = IvshmemServer::listen(socket_dir_ + "/" + kIvshmemSocket, shm_fd_.get());
  if (!server) return std::move(server).context("doorbell");
  ivshmem_.emplace(std::move(*server));
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_.valid()) return errno_fail("eventfd");
  return {};
}

Status QemuMachine::spawn(const std::vector<std::string>& args) {
  int out[2], err[2], exec_err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 || ::pipe2(exec_err, O_CLOEXEC) != 0)
    return errno_fail("pipe");
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int ram_fd = ram_fd_.get();
  pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) return errno_fail("fork");
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::fcntl(ram_fd, F_SETFD, 0);  // QEMU opens it as /proc/self/fd/N
    ::execvp(argv[0], argv.data());
    int e = errno;
    [[maybe_unused]] ssize_t n = ::write(exec_err[1], &e, sizeof(e));
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::close(exec_err[1]);
  console_fd_.reset(out[0]);
  stderr_fd_.reset(err[0]);
  int exec_errno = 0;
  ssize_t n = ::read(exec_err[0], &exec_errno, sizeof(exec_errno));
  ::close(exec_err[0]);
  if (n == sizeof(exec_errno)) {
    ::waitpid(pid, nullptr, 0);
    return fail(fmt::format("cannot run '{}': {}", args[0], std::strerror(exec_errno)), "",
                "install QEMU (apt-get install qemu-system-x86)");
  }
  pid_ = pid;
  pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));  // -1: polled instead
  ::fcntl(console_fd_.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(stderr_fd_.get(), F_SETFL, O_NONBLOCK);
  return {};
}

Error QemuMachine::boot_failure(std::string what) {
  ExitEvent exit = kill();
  Error e(std::move(what));
  std::string tail;
  {
    std::lock_guard lk(mu_);
    tail = stderr_tail_;
  }
  if (!tail.empty()) e.message += "; QEMU said: " + tail;
  if (!exit.console_tail.empty()) e.message += "; console: " + exit.console_tail.back();
  e.hint = fmt::format("see {}/qemu.log and {}/console.log", config_.run_dir, config_.run_dir);
  return e;
}

Status QemuMachine::connect_qmp(Clock::time_point deadline) {
  const std::string path = socket_dir_ + "/" + kQmpSocket;
  UniqueFd fd;
  while (true) {
    auto conn = connect_unix(path);
    if (conn) {
      fd = std::move(*conn);
      break;
    }
    {
      std::lock_guard lk(mu_);
      if (exit_) return fail("QEMU exited during startup");
    }
    if (Clock::now() > deadline) return fail("QMP socket never appeared");
    std::this_thread::sleep_for(Millis(10));
  }
  std::string buffer;
  KTEST_ASSIGN(std::string greeting, read_line(fd.get(), buffer, deadline));
  KTEST_ASSIGN(qmp::Message hello, qmp::parse_qmp_message(greeting));
  if (hello.type != qmp::MessageType::Greeting) return fail("QMP did not greet: " + greeting);
  KTEST_TRY(write_all(fd.get(), qmp::encode_qmp_command("qmp_capabilities", nullptr, 0)));
  while (true) {
    KTEST_ASSIGN(std::string line, read_line(fd.get(), buffer, deadline));
    KTEST_ASSIGN(qmp::Message msg, qmp::parse_qmp_message(line));
    if (msg.type == qmp::MessageType::Error) return fail("qmp_capabilities failed: " + msg.error_desc);
    if (msg.type == qmp::MessageType::Return) break;
  }
  ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  std::lock_guard lk(mu_);
  qmp_partial_ = buffer;
  qmp_fd_ = std::move(fd);
  qmp_ready_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
  return {};
}

Status QemuMachine::connect_control(Clock::time_point deadline) {
  const std::string path = socket_dir_ + "/" + kControlSocket;
  while (true) {
    auto conn = connect_unix(path);
    if (conn) {
      ctl_fd_ = std::move(*conn);
      return {};
    }
    {
      std::lock_guard lk(mu_);
      if (exit_) return fail("QEMU exited during startup");
    }
    if (Clock::now() > deadline) return std::move(conn).context("control channel");
    std::this_thread::sleep_for(Millis(10));
  }
}

Status QemuMachine::boot(const MachineConfig& config) {
  if (pid_ > 0 || monitor_.joinable()) return fail("this machine was already booted");
  KTEST_TRY(validate(config));
  config_ = config;
  use_kvm_ = resolve_use_kvm(config.accel);
  if (config.accel == Accel::Kvm && !kvm_usable())
    return fail("accel = kvm but /dev/kvm cannot be opened read-write", "",
                "use accel = auto or tcg, or give this user access to /dev/kvm");
  KTEST_TRY(create_resources());

  QemuLaunch launch{socket_dir_, ram_fd_.get(), use_kvm_};
  std::vector<std::string> args = qemu_arguments(config_, launch);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  [[maybe_unused]] ssize_t w = ::write(qemu_log_.get(), (joined + "\n").data(), joined.size() + 1);

  // QEMU is forked by the monitor thread: PR_SET_PDEATHSIG fires when the
  // forking *thread* exits, and the monitor lives exactly as long as QEMU,
  // whereas the caller's thread may be a short-lived worker.
  std::promise<Status> spawned;
  auto spawn_result = spawned.get_future();
  monitor_ = std::thread([this, &args, &spawned] {
    Status st = spawn(args);
    bool ok = st.ok();
    spawned.set_value(std::move(st));
    if (ok) monitor_loop();
  });
  if (Status st = spawn_result.get(); !st) {
    monitor_.join();
    return st;
  }

  auto deadline = Clock::now() + config_.boot_timeout;
  if (auto st = connect_qmp(deadline); !st) return fail(boot_failure("QEMU did not start: " + st.error().to_string()));
  if (auto st = connect_control(deadline); !st) return fail(boot_failure(st.error().to_string()));
  // QEMU realizes ivshmem-doorbell (and so runs our handshake) before QMP is up.
  bool doorbell_connected;
  {
    std::unique_lock lk(mu_);
    doorbell_connected = cv_.wait_until(
        lk, deadline, [&] { return ivshmem_->client_connected() || exit_.has_value(); });
    doorbell_connected = doorbell_connected && ivshmem_->client_connected();
  }
  if (!doorbell_connected)
    return fail(boot_failure("QEMU's ivshmem device never connected to the doorbell server"));
  {
    std::lock_guard lk(mu_);
    run_deadline_ = Clock::now() + config_.run_timeout;
  }
  // Everyone is connected: the socket files are no longer needed (the
  // gdbstub's stays, it is connected on the first watchpoint).
  for (const char* name : {kQmpSocket, kControlSocket, kIvshmemSocket})
    ::unlink((socket_dir_ + "/" + name).c_str());
  if (auto st = qmp("cont"); !st) return fail(boot_failure("cannot start the guest: " + st.error().to_string()));
  return {};
}

Status QemuMachine::ensure_alive() const {
  if (exit_) return fail(exited_error());
  return {};
}

Error QemuMachine::exited_error() const {
  Error e(fmt::format("the guest is gone ({}{}{})", to_string(exit_->reason),
                      exit_->detail.empty() ? "" : ": ", exit_->detail));
  e.hint = fmt::format("see {}/console.log", config_.run_dir);
  return e;
}

Result<nlohmann::json> QemuMachine::qmp(std::string_view command, const nlohmann::json& args) {
  uint64_t id;
  {
    std::lock_guard lk(mu_);
    KTEST_TRY(ensure_alive());
    if (!qmp_ready_) return fail("QMP is not connected");
    id = next_qmp_id_++;
  }
  {
    std::lock_guard wl(qmp_write_mu_);
    if (auto st = write_all(qmp_fd_.get(), qmp::encode_qmp_command(command, args, id)); !st)
      return std::move(st).context(fmt::format("QMP {}", command));
  }
  std::unique_lock lk(mu_);
  bool got = cv_.wait_for(lk, config_.command_timeout,
                          [&] { return qmp_replies_.contains(id) || exit_.has_value(); });
  auto it = qmp_replies_.find(id);
  if (it == qmp_replies_.end()) {
    if (exit_) return fail(exited_error());
    return fail(fmt::format("QMP {} got no reply within {} ms", command, config_.command_timeout.count()));
  }
  (void)got;
  qmp::Message msg = std::move(it->second);
  qmp_replies_.erase(it);
  if (msg.type == qmp::MessageType::Error)
    return fail(fmt::format("QMP {} failed: {} ({})", command, msg.error_desc, msg.error_class));
  return std::move(msg.data);
}

Result<bool> QemuMachine::running_now() {
  KTEST_ASSIGN(nlohmann::json status, qmp("query-status"));
  if (!status.is_object() || !status.contains("running") || !status["running"].is_boolean())
    return fail("QMP query-status returned no 'running' field");
  return status["running"].get<bool>();
}

Status QemuMachine::pause_all() {
  std::lock_guard run(run_mu_);
  KTEST_TRY(qmp("stop"));
  KTEST_ASSIGN(bool running, running_now());
  if (running) return fail("vCPUs still running after QMP stop");
  return {};
}

Status QemuMachine::resume() {
  std::lock_guard run(run_mu_);
  KTEST_ASSIGN(bool running, running_now());
  if (running) return {};
  KTEST_TRY(qmp("cont"));
  return {};
}

Result<bool> QemuMachine::is_paused() {
  KTEST_ASSIGN(bool running, running_now());
  return !running;
}

Status QemuMachine::read_physical_into(uint64_t gpa, uint8_t* out, uint64_t len) {
  if (!ram_) return fail("guest RAM is not mapped (machine not booted)");
  if (gpa > ram_size_ || len > ram_size_ - gpa)
    return fail(fmt::format("guest physical range [{:#x}, {:#x}) is outside guest RAM (size {:#x})",
                            gpa, gpa + len, ram_size_));
  std::memcpy(out, ram_ + gpa, len);
  return {};
}

Result<std::vector<uint8_t>> QemuMachine::read_physical(uint64_t gpa, uint64_t len) {
  if (len > ram_size_) return fail(fmt::format("read of {} bytes exceeds guest RAM", len));
  std::vector<uint8_t> out(len);
  KTEST_TRY(read_physical_into(gpa, out.data(), len));
  return out;
}

Result<VcpuRegisters> QemuMachine::read_registers(uint32_t cpu) {
  if (cpu >= config_.cpus)
    return fail(fmt::format("vCPU {} does not exist (the guest has {})", cpu, config_.cpus));
  std::lock_guard run(run_mu_);
  KTEST_ASSIGN(bool running, running_now());
  if (running) return fail("read_registers needs the machine paused", "", "call pause_all() first");
  KTEST_ASSIGN(nlohmann::json text,
               qmp("human-monitor-command", {{"command-line", "info registers"}, {"cpu-index", cpu}}));
  if (!text.is_string()) return fail("QMP info registers returned no text");
  auto regs = parse_info_registers(text.get<std::string>());
  if (!regs) return std::move(regs).context(fmt::format("vCPU {}", cpu));
  return regs;
}

Status QemuMachine::connect_gdb() {
  if (gdb_fd_.valid()) return {};
  // Connecting stops the VM (it is paused already). QEMU 7.2 has no
  // QStartNoAckMode, so the monitor acks every packet as it decodes it.
  KTEST_ASSIGN(UniqueFd fd, connect_unix(socket_dir_ + "/" + kGdbSocket));
  ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  std::lock_guard lk(mu_);
  gdb_fd_ = std::move(fd);
  gdb_ready_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof(one));
  return {};
}

Result<std::string> QemuMachine::gdb_command(const std::string& payload) {
  {
    std::lock_guard lk(mu_);
    KTEST_TRY(ensure_alive());
    gdb_replies_.clear();
  }
  {
    std::lock_guard wl(gdb_write_mu_);
    KTEST_TRY(write_all(gdb_fd_.get(), gdb::encode_gdb_packet(payload)));
  }
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, config_.command_timeout, [&] { return !gdb_replies_.empty() || exit_.has_value(); });
  if (gdb_replies_.empty()) {
    if (exit_) return fail(exited_error());
    return fail(fmt::format("gdbstub did not answer '{}'", payload));
  }
  std::string reply = std::move(gdb_replies_.front());
  gdb_replies_.pop_front();
  return reply;
}

Result<WatchpointId> QemuMachine::set_watchpoint(uint64_t gva, uint32_t len, WatchKind kind) {
  if ((len != 1 && len != 2 && len != 4 && len != 8) || gva % len != 0)
    return fail(fmt::format("watchpoint at {:#x} len {} is not a naturally aligned 1/2/4/8-byte range", gva, len));
  std::lock_guard run(run_mu_);
  std::lock_guard gdb_lock(gdb_mu_);
  KTEST_ASSIGN(bool was_running, running_now());
  if (was_running) KTEST_TRY(qmp("stop"));
  auto armed = [&]() -> Result<WatchpointId> {
    KTEST_TRY(connect_gdb());
    KTEST_ASSIGN(std::string reply, gdb_command(gdb::watchpoint_packet(true, kind, gva, len)));
    if (reply != "OK")
      return fail(fmt::format("gdbstub refused the watchpoint at {:#x} ('{}')", gva, reply), "",
                  use_kvm_ ? "KVM has 4 hardware watchpoints; clear one first" : "");
    std::lock_guard lk(mu_);
    WatchpointId id = next_watch_id_++;
    watches_[id] = Watch{gva, len, kind};
    return id;
  }();
  if (was_running) KTEST_TRY(qmp("cont"));
  return armed;
}

Status QemuMachine::clear_watchpoint(WatchpointId id) {
  std::lock_guard run(run_mu_);
  std::lock_guard gdb_lock(gdb_mu_);
  Watch watch;
  {
    std::lock_guard lk(mu_);
    auto it = watches_.find(id);
    if (it == watches_.end()) return fail(fmt::format("no watchpoint with id {}", id));
    watch = it->second;
  }
  KTEST_ASSIGN(bool was_running, running_now());
  if (was_running) KTEST_TRY(qmp("stop"));
  auto reply = gdb_command(gdb::watchpoint_packet(false, watch.kind, watch.addr, watch.len));
  if (was_running) KTEST_TRY(qmp("cont"));
  if (!reply) return fail(std::move(reply).error());
  if (*reply != "OK") return fail(fmt::format("gdbstub refused to clear watchpoint {} ('{}')", id, *reply));
  std::lock_guard lk(mu_);
  watches_.erase(id);
  return {};
}

Result<std::optional<MachineEvent>> QemuMachine::wait_event(Millis timeout) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return !events_.empty() || (exit_ && exit_delivered_); });
  if (events_.empty() && exit_ && exit_delivered_) return fail(exited_error());
  std::optional<MachineEvent> out;
  if (!events_.empty()) {
    out.emplace(std::move(events_.front()));
    events_.pop_front();
    if (std::holds_alternative<ExitEvent>(*out)) exit_delivered_ = true;
  }
  return out;
}

Status QemuMachine::reply_doorbell(uint64_t serial, doorbell::ReplyStatus status,
                                   const std::vector<uint8_t>& payload) {
  if (!shm_) return fail("doorbell page is not mapped (machine not booted)");
  if (payload.size() > doorbell::kPayloadMax)
    return fail(fmt::format("doorbell reply of {} bytes exceeds the {}-byte limit", payload.size(),
                            doorbell::kPayloadMax));
  auto* page = reinterpret_cast<DoorbellPage*>(shm_);
  page->reply_status = static_cast<int32_t>(status);
  page->reply_length = static_cast<uint32_t>(payload.size());
  if (!payload.empty()) std::memcpy(page->reply_payload, payload.data(), payload.size());
  std::atomic_ref<uint64_t>(page->reply_serial).store(serial, std::memory_order_release);
  return {};
}

std::vector<std::string> QemuMachine::console_tail() const {
  std::lock_guard lk(mu_);
  return {console_tail_.begin(), console_tail_.end()};
}

void QemuMachine::send_signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

ExitEvent QemuMachine::kill() {
  std::unique_lock lk(mu_);
  if (pid_ <= 0) return ExitEvent{ExitReason::Killed, -1, "never started", {}};
  if (!exit_) {
    if (!forced_reason_) forced_reason_ = ExitReason::Killed;
    send_signal(SIGTERM);
    if (!cv_.wait_for(lk, std::chrono::seconds(3), [&] { return exit_.has_value(); })) {
      send_signal(SIGKILL);
      cv_.wait_for(lk, std::chrono::seconds(10), [&] { return exit_.has_value(); });
    }
  }
  if (!exit_) return ExitEvent{ExitReason::Killed, -1, "QEMU did not die after SIGKILL", {}};
  return *exit_;
}

}  // namespace ktest::kvm
