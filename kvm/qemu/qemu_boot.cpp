// QemuMachine's startup and teardown: validate the config, create the
// host resources, fork QEMU, connect QMP, control channel and doorbell.
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

#include "kvm/qemu/host_check.h"
#include "kvm/qemu/qemu_command_line.h"
#include "kvm/qemu/socket_io.h"

namespace ktest::kvm {

namespace fs = std::filesystem;
using doorbell::DoorbellPage;

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
  if (c.cpus < kMinCpus || c.cpus > kMaxCpus)
    return fail(fmt::format("cpus = {} is out of range", c.cpus), "",
                fmt::format("use {} to {} vCPUs", kMinCpus, kMaxCpus));
  if (c.memory_mib < kMinMemoryMiB || c.memory_mib > kMaxMemoryMiB)
    return fail(fmt::format("memory = {} MiB is out of range", c.memory_mib), "",
                fmt::format("use {} to {} MiB (guest RAM must stay below the PCI hole)", kMinMemoryMiB,
                            kMaxMemoryMiB));
  if (c.run_dir.empty()) return fail("run_dir is empty", "", "give the machine a directory for its logs");
  if (std::string why = check_shape(c); !why.empty())
    return fail("inconsistent CPU topology or NUMA nodes: " + why, "",
                "make sockets x cores x threads equal cpus, and the NUMA nodes cover every cpu once "
                "and sum to the memory");
  if (!c.cpu_model.empty() && !valid_cpu_model(c.cpu_model))
    return fail(fmt::format("CPU model '{}' is not a QEMU model name", c.cpu_model), "",
                "write a model name as `qemu-system-x86_64 -cpu help` lists it, e.g. qemu64, "
                "optionally with ,+feature/,-feature");
  return {};
}

MachineInfo QemuMachine::info() const { return machine_info(config_, use_kvm_); }

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
  // One memfd per NUMA node, mapped back to back into one reserved range:
  // QEMU lays the nodes out from GPA 0 in the same order.
  std::vector<uint64_t> sizes;
  for (const auto& node : config_.numa) sizes.push_back(uint64_t{node.memory_mib} << 20);
  if (sizes.empty()) sizes.push_back(ram_size_);
  void* ram = ::mmap(nullptr, ram_size_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (ram == MAP_FAILED) return errno_fail("reserve guest RAM mapping");
  ram_ = static_cast<const uint8_t*>(ram);
  uint64_t offset = 0;
  for (uint64_t size : sizes) {
    UniqueFd fd(::memfd_create("ktest-guest-ram", MFD_CLOEXEC));
    if (!fd.valid() || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
      return errno_fail("guest RAM memfd");
    void* at = const_cast<uint8_t*>(ram_) + offset;
    if (::mmap(at, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd.get(), 0) == MAP_FAILED)
      return errno_fail("map guest RAM");
    ram_fds_.push_back(std::move(fd));
    offset += size;
  }

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
  std::vector<int> ram_fds;  // plain ints: the child may not allocate
  for (const auto& fd : ram_fds_) ram_fds.push_back(fd.get());
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
    for (int fd : ram_fds) ::fcntl(fd, F_SETFD, 0);  // QEMU opens them as /proc/self/fd/N
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

Result<UniqueFd> QemuMachine::connect_chardev(const char* name, Clock::time_point deadline) {
  const std::string path = socket_dir_ + "/" + name;
  while (true) {
    auto conn = connect_unix(path);
    if (conn) return conn;
    {
      std::lock_guard lk(mu_);
      if (exit_) return fail("QEMU exited during startup");
    }
    if (Clock::now() > deadline) return std::move(conn).context(name);
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

  QemuLaunch launch{socket_dir_, {}, use_kvm_, use_kvm_ ? std::nullopt : host_tsc_khz()};
  for (const auto& fd : ram_fds_) launch.ram_fds.push_back(fd.get());
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
  auto ctl = connect_chardev(kControlSocket, deadline);
  if (!ctl) return fail(boot_failure("control channel: " + ctl.error().to_string()));
  ctl_fd_ = std::move(*ctl);
  if (config_.terminal) {
    auto term = connect_chardev(kTerminalSocket, deadline);
    if (!term) return fail(boot_failure("terminal: " + term.error().to_string()));
    term_fd_ = std::move(*term);
  }
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
  // The gdbstub now, while the guest waits to start (-S): connecting would
  // stop a running guest, and the first capture then reads registers in one
  // round trip. A failure here is met again, and reported, by that capture.
  {
    std::lock_guard gdb_lock(gdb_mu_);
    static_cast<void>(prepare_register_reads());
  }
  // Everyone is connected: the socket files are no longer needed (the
  // gdbstub's stays when it was not: a watchpoint or capture retries).
  for (const char* name : {kQmpSocket, kControlSocket, kIvshmemSocket, kTerminalSocket})
    ::unlink((socket_dir_ + "/" + name).c_str());
  if (auto st = qmp("cont"); !st) return fail(boot_failure("cannot start the guest: " + st.error().to_string()));
  return {};
}

}  // namespace ktest::kvm
