// Unit tests of the engine's pure pieces: QMP messages, gdb packets,
// "info registers" text, the QEMU command line.
#include <doctest/doctest.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "kvm/qemu/gdb_remote.h"
#include "kvm/qemu/info_registers.h"
#include "kvm/qemu/qemu_command_line.h"
#include "kvm/qemu/qmp_protocol.h"

using namespace ktest::kvm;

TEST_CASE("QMP: greeting, return with id, error, event") {
  auto greeting = qmp::parse_qmp_message(
      R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": []}})");
  REQUIRE(greeting.ok());
  CHECK(greeting->type == qmp::MessageType::Greeting);

  auto ret = qmp::parse_qmp_message(R"({"return": {"status": "paused", "running": false}, "id": 7})");
  REQUIRE(ret.ok());
  CHECK(ret->type == qmp::MessageType::Return);
  REQUIRE(ret->id.has_value());
  CHECK(*ret->id == 7);
  CHECK(ret->data["running"] == false);

  auto err = qmp::parse_qmp_message(
      R"({"id": 3, "error": {"class": "GenericError", "desc": "CPU index out of range"}})");
  REQUIRE(err.ok());
  CHECK(err->type == qmp::MessageType::Error);
  CHECK(err->error_class == "GenericError");
  CHECK(err->error_desc == "CPU index out of range");

  auto ev = qmp::parse_qmp_message(
      R"({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}})");
  REQUIRE(ev.ok());
  CHECK(ev->type == qmp::MessageType::Event);
  CHECK(ev->event == "SHUTDOWN");
  CHECK(ev->data["reason"] == "guest-shutdown");
}

TEST_CASE("QMP: malformed lines are errors, not exceptions") {
  CHECK_FALSE(qmp::parse_qmp_message("{not json").ok());
  CHECK_FALSE(qmp::parse_qmp_message("[1, 2]").ok());
  CHECK_FALSE(qmp::parse_qmp_message(R"({"something": "else"})").ok());
  auto no_id = qmp::parse_qmp_message(R"({"return": {}})");
  REQUIRE(no_id.ok());
  CHECK_FALSE(no_id->id.has_value());
}

TEST_CASE("QMP: commands are one line with id and arguments") {
  std::string line = qmp::encode_qmp_command("human-monitor-command",
                                             {{"command-line", "info registers"}, {"cpu-index", 1}}, 42);
  CHECK(line.back() == '\n');
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
  auto parsed = nlohmann::json::parse(line);
  CHECK(parsed["execute"] == "human-monitor-command");
  CHECK(parsed["id"] == 42);
  CHECK(parsed["arguments"]["cpu-index"] == 1);
  CHECK_FALSE(nlohmann::json::parse(qmp::encode_qmp_command("stop", nullptr, 1)).contains("arguments"));
}

TEST_CASE("QMP: query-stats sums KVM's exit counters over the vCPUs") {
  // The shape QEMU 7.2 answers for target "vcpu", provider "kvm".
  auto reply = nlohmann::json::parse(R"([
    {"provider": "kvm", "qom-path": "/machine/unattached/device[0]",
     "stats": [{"name": "exits", "value": 1000}, {"name": "mmio_exits", "value": 7},
               {"name": "halt_poll_success_hist", "value": [1, 2, 3]}, {"name": "guest_mode", "value": false},
               {"name": "io_exits", "value": 40}]},
    {"provider": "kvm", "qom-path": "/machine/unattached/device[1]",
     "stats": [{"name": "exits", "value": 500}, {"name": "mmio_exits", "value": 3}, {"name": "io_exits", "value": -1}]},
    {"provider": "other", "stats": [{"name": "exits", "value": 99}]},
    "junk", {"provider": "kvm", "stats": "junk"}])");
  auto sums = qmp::parse_kvm_vcpu_stats(reply);
  REQUIRE(sums);
  CHECK(sums->at("exits") == 1500);
  CHECK(sums->at("mmio_exits") == 10);
  CHECK(sums->at("io_exits") == 40);  // a negative value is not a counter
  CHECK_FALSE(sums->contains("halt_poll_success_hist"));
  CHECK_FALSE(sums->contains("guest_mode"));
  CHECK_FALSE(qmp::parse_kvm_vcpu_stats(nlohmann::json::object()));
  auto none = qmp::parse_kvm_vcpu_stats(nlohmann::json::array());  // TCG's answer
  REQUIRE(none);
  CHECK(none->empty());
}

TEST_CASE("gdb: checksums and framing") {
  CHECK(gdb::gdb_checksum("OK") == 0x9a);
  CHECK(gdb::encode_gdb_packet("OK") == "$OK#9a");
  CHECK(gdb::encode_gdb_packet("QStartNoAckMode") == "$QStartNoAckMode#b0");
  // '$', '#', '}' and '*' are escaped as '}' followed by the byte ^ 0x20.
  CHECK(gdb::encode_gdb_packet("a#b") == "$a}\x03" "b#" + fmt::format("{:02x}", gdb::gdb_checksum("a}\x03" "b")));
}

TEST_CASE("gdb: decoder reassembles split packets and skips acks") {
  gdb::GdbPacketDecoder d;
  d.feed("++$O");
  CHECK_FALSE(d.next().has_value());
  d.feed("K#9a$T05thread:01;watch:ffffffff81000000;#");
  auto first = d.next();
  REQUIRE(first.has_value());
  REQUIRE(first->ok());
  CHECK(**first == "OK");
  CHECK_FALSE(d.next().has_value());  // checksum digits still missing
  std::string body = "T05thread:01;watch:ffffffff81000000;";
  d.feed(fmt::format("{:02x}", gdb::gdb_checksum(body)));
  auto second = d.next();
  REQUIRE(second.has_value());
  REQUIRE(second->ok());
  CHECK(**second == body);
}

TEST_CASE("gdb: a corrupt packet is an error and the next one still decodes") {
  gdb::GdbPacketDecoder d;
  d.feed("$OK#00$OK#9a");
  auto bad = d.next();
  REQUIRE(bad.has_value());
  CHECK_FALSE(bad->ok());
  auto good = d.next();
  REQUIRE(good.has_value());
  REQUIRE(good->ok());
  CHECK(**good == "OK");
}

TEST_CASE("gdb: escaped and run-length encoded payloads decode") {
  gdb::GdbPacketDecoder d;
  std::string wire = gdb::encode_gdb_packet("x$y}z");
  d.feed(wire);
  auto p = d.next();
  REQUIRE(p.has_value());
  REQUIRE(p->ok());
  CHECK(**p == "x$y}z");
  // "0* " = '0' repeated 1 + (' ' - 29) = 4 times in total.
  std::string rle = "0* ";
  d.feed(fmt::format("${}#{:02x}", rle, gdb::gdb_checksum(rle)));
  auto q = d.next();
  REQUIRE(q.has_value());
  REQUIRE(q->ok());
  CHECK(**q == "0000");
}

TEST_CASE("gdb: stop replies") {
  auto watch = gdb::parse_stop_reply("T05thread:02;watch:ffffffff82a0b000;");
  REQUIRE(watch.ok());
  CHECK(watch->signal == 5);
  CHECK(watch->thread == 2);
  CHECK(watch->watch_addr == 0xffffffff82a0b000ULL);
  CHECK(watch->watch_kind == WatchKind::Write);

  auto awatch = gdb::parse_stop_reply("T05thread:p01.01;awatch:1000;");
  REQUIRE(awatch.ok());
  CHECK(awatch->thread == 1);
  CHECK(awatch->watch_kind == WatchKind::Access);

  auto paused = gdb::parse_stop_reply("T02thread:01;");
  REQUIRE(paused.ok());
  CHECK(paused->signal == 2);
  CHECK_FALSE(paused->watch_addr.has_value());

  CHECK(gdb::parse_stop_reply("W00")->exited);
  CHECK_FALSE(gdb::parse_stop_reply("OK").ok());
  CHECK_FALSE(gdb::parse_stop_reply("T05watch:nothex;").ok());
  CHECK(gdb::is_stop_reply("T05"));
  CHECK_FALSE(gdb::is_stop_reply("OK"));
  CHECK_FALSE(gdb::is_stop_reply("E22"));
}

TEST_CASE("gdb: watchpoint packets") {
  CHECK(gdb::watchpoint_packet(true, WatchKind::Write, 0xffffffff81000000ULL, 4) == "Z2,ffffffff81000000,4");
  CHECK(gdb::watchpoint_packet(true, WatchKind::Read, 0x1000, 8) == "Z3,1000,8");
  CHECK(gdb::watchpoint_packet(false, WatchKind::Access, 0x10, 1) == "z4,10,1");
}

// What QEMU 7.2 prints for one vCPU (trimmed of the FPU/SSE lines' tail).
static const char* kInfoRegisters =
    "RAX=0000000000000000 RBX=0000000000000001 RCX=0000000000000000 RDX=0000000000000000\r\n"
    "RSI=0000000000000087 RDI=0000000000000087 RBP=ffff888002840000 RSP=ffffc90000083ea8\r\n"
    "R8 =ffff88801f22c5a0 R9 =0000000000000000 R10=0000000000000001 R11=0000000000000000\r\n"
    "R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000000000\r\n"
    "RIP=ffffffff81e6b7ef RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\n"
    "ES =0000 0000000000000000 00000000 00000000\r\n"
    "CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]\r\n"
    "SS =0018 0000000000000000 ffffffff 00c09300 DPL=0 DS   [-WA]\r\n"
    "DS =0000 0000000000000000 00000000 00000000\r\n"
    "FS =0000 00007f1234560000 00000000 00000000\r\n"
    "GS =0000 ffff88801f200000 00000000 00000000\r\n"
    "LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT\r\n"
    "TR =0040 fffffe0000003000 00004087 00008900 DPL=0 TSS64-avl\r\n"
    "GDT=     fffffe0000001000 0000007f\r\n"
    "IDT=     fffffe0000000000 00000fff\r\n"
    "CR0=80050033 CR2=00007f0d3c1d2000 CR3=0000000002a0a000 CR4=000006f0\r\n"
    "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \r\n"
    "DR6=00000000ffff0ff0 DR7=0000000000000400\r\n"
    "EFER=0000000000000d01\r\n"
    "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\r\n";

TEST_CASE("info registers: every field lands in its place") {
  auto regs = parse_info_registers(kInfoRegisters);
  REQUIRE(regs.ok());
  CHECK(regs->rbx == 1);
  CHECK(regs->rsi == 0x87);
  CHECK(regs->r8 == 0xffff88801f22c5a0ULL);
  CHECK(regs->r10 == 1);
  CHECK(regs->rip == 0xffffffff81e6b7efULL);
  CHECK(regs->rsp == 0xffffc90000083ea8ULL);
  CHECK(regs->rflags == 0x246);
  CHECK(regs->cpl == 0);
  CHECK(regs->halted);
  CHECK(regs->fs_base == 0x00007f1234560000ULL);
  CHECK(regs->gs_base == 0xffff88801f200000ULL);
  CHECK(regs->cr0 == 0x80050033);
  CHECK(regs->cr2 == 0x00007f0d3c1d2000ULL);
  CHECK(regs->cr3 == 0x2a0a000);
  CHECK(regs->cr4 == 0x6f0);
  CHECK(regs->efer == 0xd01);
}

TEST_CASE("info registers: a missing register is reported by name") {
  std::string text = kInfoRegisters;
  text.erase(text.find("CR3="), 21);
  auto regs = parse_info_registers(text);
  REQUIRE_FALSE(regs.ok());
  CHECK(regs.error().message.find("CR3") != std::string::npos);
  CHECK_FALSE(parse_info_registers("").ok());
  CHECK_FALSE(parse_info_registers("garbage = = =\n==").ok());
}

// "info registers -a" as QEMU 7.2 prints it: "\nCPU#<index>\n" before each
// vCPU's dump (here CPU#1's RIP is made to differ).
static std::string all_registers(std::initializer_list<std::string_view> headers) {
  std::string text;
  for (std::string_view header : headers) {
    std::string dump = kInfoRegisters;
    if (header == "CPU#1") dump.replace(dump.find("RIP=ffffffff81e6b7ef"), 20, "RIP=ffffffff81000111");
    text += fmt::format("\r\n{}\r\n{}", header, dump);
  }
  return text;
}

TEST_CASE("info registers -a: each CPU#N block lands at index N") {
  auto in_order = parse_all_info_registers(all_registers({"CPU#0", "CPU#1"}), 2);
  REQUIRE_MESSAGE(in_order.ok(), in_order.error().to_string());
  REQUIRE(in_order->size() == 2);
  CHECK((*in_order)[0] == *parse_info_registers(kInfoRegisters));
  CHECK((*in_order)[1].rip == 0xffffffff81000111ULL);
  CHECK((*in_order)[1].cr3 == 0x2a0a000);

  auto reversed = parse_all_info_registers(all_registers({"CPU#1", "CPU#0"}), 2);
  REQUIRE(reversed.ok());
  CHECK((*reversed)[0].rip == 0xffffffff81e6b7efULL);
  CHECK((*reversed)[1].rip == 0xffffffff81000111ULL);
}

TEST_CASE("info registers -a: a missing, repeated or unknown CPU block is an error naming it") {
  auto message = [](const std::string& text, uint32_t cpus) {
    auto all = parse_all_info_registers(text, cpus);
    REQUIRE_FALSE(all.ok());
    return all.error().to_string();
  };
  CHECK(message(all_registers({"CPU#0"}), 2) == "QEMU's 'info registers -a' output has no block for CPU#1");
  CHECK(message(all_registers({"CPU#0", "CPU#0"}), 2) == "QEMU's 'info registers -a' output has two blocks for CPU#0");
  CHECK(message(all_registers({"CPU#1", "CPU#0", "CPU#1"}), 2) ==
        "QEMU's 'info registers -a' output has two blocks for CPU#1");
  CHECK(message(all_registers({"CPU#0", "CPU#2"}), 2) ==
        "QEMU's 'info registers -a' output has a block for CPU#2, but the guest has 2 vCPU(s)");
  CHECK(message("", 1) == "QEMU's 'info registers -a' output has no block for CPU#0");
  // A header that is not "CPU#<decimal>" opens no block.
  for (const char* header : {"CPU#", "CPU#x", "CPU#-1", "CPU#99999999999", "CPU #0", "cpu#0"})
    CHECK(message(all_registers({header}), 1).find("does not begin with a CPU#<index> line") != std::string::npos);
  // The dump of one vCPU without the registers ktest needs names that vCPU.
  std::string torn = all_registers({"CPU#0", "CPU#1"});
  torn.erase(torn.rfind("CR3="), 21);
  CHECK(message(torn, 2).find("CPU#1: QEMU's 'info registers' output has no CR3 register") == 0);
}

TEST_CASE("info registers -a: the text is bounded by the vCPU count") {
  std::string text = all_registers({"CPU#0"});
  REQUIRE(parse_all_info_registers(text, 1).ok());
  CHECK_FALSE(parse_all_info_registers(text, 0).ok());
  text.append(kMaxInfoRegistersBytesPerCpu - text.size() + 1, ' ');
  auto oversized = parse_all_info_registers(text, 1);
  REQUIRE_FALSE(oversized.ok());
  CHECK(oversized.error().to_string() ==
        "QEMU's 'info registers -a' output is 16385 bytes, over the 16384 bytes 1 vCPU(s) allow");
}

TEST_CASE("command line: TCG vs KVM, memory backend, devices") {
  MachineConfig config;
  config.kernel_image = "/k/vmlinux";
  config.initrd = "/k/initrd";
  config.cpus = 2;
  config.memory_mib = 256;
  config.extra_cmdline = "ktest.x=1";
  QemuLaunch launch{"/tmp/s", {9}, false};
  auto args = qemu_arguments(config, launch);
  auto has = [&](const std::string& a) { return std::find(args.begin(), args.end(), a) != args.end(); };
  CHECK(has("tcg,thread=single"));
  CHECK(has("memory-backend-file,id=ram,size=256M,mem-path=/proc/self/fd/9,share=on"));
  CHECK(has("-no-reboot"));
  CHECK(has("-S"));
  CHECK(has("/k/initrd"));
  CHECK(has("ivshmem-doorbell,chardev=ivsh,vectors=1"));
  CHECK(has("virtserialport,bus=vser.0,chardev=ctl,name=ktest.ctl"));
  CHECK(kernel_cmdline(config, false) == "console=ttyS0 quiet panic=-1 nokaslr tsc_early_khz=2000000 ktest.x=1");
  CHECK(kernel_cmdline(config, true) == "console=ttyS0 quiet panic=-1 nokaslr ktest.x=1");
  launch.use_kvm = true;
  args = qemu_arguments(config, launch);
  CHECK(has("kvm"));
  CHECK_FALSE(has("tcg,thread=single"));
}
