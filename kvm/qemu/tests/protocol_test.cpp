// Unit tests of the engine's pure pieces: QMP messages, gdb packets,
// the gdbstub's register layout and 'g' replies, the QEMU command line.
#include <doctest/doctest.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "kvm/qemu/gdb_remote.h"
#include "kvm/qemu/gdb_registers.h"
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

// A target description as QEMU 7.2 serves it for x86-64 (the register list
// abridged: the same kinds of entries, in its order).
static const char* kTargetXml =
    "<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\"><target>"
    "<architecture>i386:x86-64</architecture><xi:include href=\"i386-64bit.xml\"/></target>";
static const char* kCoreXml =
    "<feature name=\"org.gnu.gdb.i386.core\">\n"
    "  <flags id=\"i386_eflags\" size=\"4\"><field name=\"CF\" start=\"0\" end=\"0\"/></flags>\n"
    "  <reg name=\"rax\" bitsize=\"64\" type=\"int64\"/>\n"
    "  <reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
    "  <reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
    "  <reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>\n"
    "  <reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
    "  <reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
    "  <reg name='cr3' bitsize='64' type='int64'/>\n"
    "  <reg name=\"efer\" bitsize=\"64\" type=\"int64\"/>\n"
    "</feature>\n";

static ktest::Result<std::string> serve_core(std::string_view href) {
  if (href == "i386-64bit.xml") return std::string(kCoreXml);
  return ktest::fail(fmt::format("no document '{}'", href));
}

// A 'g' reply for the layout above: each register's bytes little-endian.
static std::string g_reply(uint64_t rsp, uint64_t rip, uint64_t cr3) {
  auto le = [](uint64_t v, int bytes) {
    std::string hex;
    for (int i = 0; i < bytes; ++i) hex += fmt::format("{:02x}", (v >> (8 * i)) & 0xff);
    return hex;
  };
  return le(7, 8) + le(rsp, 8) + le(rip, 8) + le(0x246, 4) + le(0x10, 4) + std::string(20, '0') + le(cr3, 8) +
         le(0xd01, 8);
}

TEST_CASE("gdb registers: the layout follows the include, in document order") {
  auto layout = gdb::parse_register_layout(kTargetXml, serve_core);
  REQUIRE_MESSAGE(layout.ok(), layout.error().to_string());
  REQUIRE(layout->slots.size() == 8);
  CHECK(layout->find("rip")->offset == 16);
  CHECK(layout->find("st0")->size == 10);
  CHECK(layout->find("cr3")->offset == 42);  // single-quoted attributes read too
  CHECK(layout->total == 58);
  CHECK(layout->find("xmm0") == nullptr);
}

TEST_CASE("gdb registers: a description ktest cannot lay out is an error saying why") {
  auto error_of = [](std::string core) {
    auto layout = gdb::parse_register_layout(kTargetXml, [&](std::string_view) -> ktest::Result<std::string> {
      return core;
    });
    REQUIRE_FALSE(layout.ok());
    return layout.error().to_string();
  };
  std::string core = kCoreXml;
  CHECK(error_of(std::string(core).replace(core.find("<reg name='cr3'"), 15, "<reg name='cr9'"))
            .find("no register 'cr3'") != std::string::npos);
  CHECK(error_of(std::string(core).replace(core.find("bitsize=\"80\""), 12, "bitsize=\"81\""))
            .find("register 'st0' has bitsize '81'") != std::string::npos);
  CHECK(error_of(std::string(core).replace(core.find("type=\"code_ptr\""), 15, "regnum=\"9\""))
            .find("register 'rip' has regnum 9 where 2 comes next") != std::string::npos);
  CHECK(error_of("<reg name=\"rip\"/>").find("without name or bitsize") != std::string::npos);
  CHECK(error_of("<xi:include href=\"deeper.xml\"/>").find("more than one level deep") != std::string::npos);
  CHECK(error_of("<reg name=\"rip\" bitsize=\"64\"").find("ends inside a tag") != std::string::npos);
  auto missing = gdb::parse_register_layout(kTargetXml, [](std::string_view) -> ktest::Result<std::string> {
    return ktest::fail("E00");
  });
  CHECK_FALSE(missing.ok());
}

TEST_CASE("gdb registers: the layout is fitted to what 'g' sends (QEMU 7.2 leaves out three bases)") {
  std::string core = kCoreXml;
  core.insert(core.find("  <reg name='cr3'"), "  <reg name=\"ss_base\" bitsize=\"64\"/><reg name=\"ds_base\" "
                                                "bitsize=\"64\"/><reg name=\"es_base\" bitsize=\"64\"/>\n");
  auto described = gdb::parse_register_layout(kTargetXml, [&](std::string_view) -> ktest::Result<std::string> {
    return core;
  });
  REQUIRE(described.ok());
  CHECK(described->total == 82);
  auto as_described = gdb::fit_layout(*described, 164);
  REQUIRE(as_described.ok());
  CHECK(as_described->find("cr3")->offset == 66);
  auto as_sent = gdb::fit_layout(*described, 116);
  REQUIRE(as_sent.ok());
  CHECK(as_sent->find("cr3")->offset == 42);
  CHECK(as_sent->find("ss_base") == nullptr);
  CHECK(gdb::parse_g_reply(g_reply(1, 2, 0x2a0a000), *as_sent)->cr3 == 0x2a0a000);
  auto neither = gdb::fit_layout(*described, 100);
  REQUIRE_FALSE(neither.ok());
  CHECK(neither.error().to_string() == "the gdbstub's 'g' reply has 50 bytes where its target description lays out 82");
}

TEST_CASE("gdb registers: a 'g' reply fills VcpuRegisters; short or unavailable is an error") {
  auto layout = gdb::parse_register_layout(kTargetXml, serve_core);
  REQUIRE(layout.ok());
  auto regs = gdb::parse_g_reply(g_reply(0xffffc90000083ea8, 0xffffffff81e6b7ef, 0x2a0a000), *layout);
  REQUIRE_MESSAGE(regs.ok(), regs.error().to_string());
  CHECK(regs->rax == 7);
  CHECK(regs->rsp == 0xffffc90000083ea8ULL);
  CHECK(regs->rip == 0xffffffff81e6b7efULL);
  CHECK(regs->rflags == 0x246);
  CHECK(regs->cpl == 0);
  CHECK(regs->cr3 == 0x2a0a000);
  CHECK(regs->efer == 0xd01);
  CHECK(regs->cr4 == 0);  // not in this layout

  std::string user = g_reply(1, 2, 3);
  user.replace(2 * 28, 8, "33000000");  // cs 0x33: user mode
  CHECK(gdb::parse_g_reply(user, *layout)->cpl == 3);

  std::string reply = g_reply(1, 2, 3);
  CHECK(gdb::parse_g_reply(reply.substr(0, reply.size() - 2), *layout).error().to_string().find(
            "reply of 114 hex digits, the layout needs 116") != std::string::npos);
  std::string no_rip = reply;
  no_rip.replace(2 * 16, 16, std::string(16, 'x'));
  CHECK(gdb::parse_g_reply(no_rip, *layout).error().to_string().find("register 'rip' is not available") !=
        std::string::npos);
  std::string no_rax = reply;
  no_rax.replace(0, 16, std::string(16, 'x'));
  CHECK(gdb::parse_g_reply(no_rax, *layout)->rax == 0);
}

TEST_CASE("gdb registers: feature documents come in bounded chunks") {
  std::string document;
  CHECK(gdb::feature_read_packet("target.xml", 0) == "qXfer:features:read:target.xml:0,8000");
  CHECK(gdb::append_feature_chunk("m<target>", document).value() == false);
  CHECK(gdb::feature_read_packet("target.xml", document.size()) == "qXfer:features:read:target.xml:8,8000");
  CHECK(gdb::append_feature_chunk("l</target>", document).value() == true);
  CHECK(document == "<target></target>");
  CHECK_FALSE(gdb::append_feature_chunk("E00", document).ok());
  CHECK_FALSE(gdb::append_feature_chunk("", document).ok());
  CHECK_FALSE(gdb::append_feature_chunk("m", document).ok());  // no progress
  std::string big(gdb::kMaxFeatureDocument, 'x');
  CHECK(gdb::append_feature_chunk("m" + big, document).error().to_string().find("over") != std::string::npos);
}

TEST_CASE("command line: TCG vs KVM, memory backend, devices") {
  MachineConfig config;
  config.kernel_image = "/k/vmlinux";
  config.initrd = "/k/initrd";
  config.cpus = 2;
  config.memory_mib = 256;
  config.extra_cmdline = "ktest.x=1";
  QemuLaunch launch{"/tmp/s", {9}, false, std::nullopt};
  auto args = qemu_arguments(config, launch);
  auto has = [&](const std::string& a) { return std::find(args.begin(), args.end(), a) != args.end(); };
  CHECK(has("tcg,thread=single"));
  CHECK(has("memory-backend-file,id=ram,size=256M,mem-path=/proc/self/fd/9,share=on"));
  CHECK(has("-no-reboot"));
  CHECK(has("-S"));
  CHECK(has("/k/initrd"));
  CHECK(has("ivshmem-doorbell,chardev=ivsh,vectors=1"));
  CHECK(has("virtserialport,bus=vser.0,chardev=ctl,name=ktest.ctl"));
  // TCG: the guest is told the host's TSC rate, when it is known.
  CHECK(kernel_cmdline(config, launch) == "console=ttyS0 quiet panic=-1 reboot=t nokaslr ktest.x=1");
  launch.tsc_khz = 2596148;
  CHECK(kernel_cmdline(config, launch) ==
        "console=ttyS0 quiet panic=-1 reboot=t nokaslr tsc_early_khz=2596148 ktest.x=1");
  launch.use_kvm = true;  // KVM: kvmclock keeps the guest's time
  CHECK(kernel_cmdline(config, launch) == "console=ttyS0 quiet panic=-1 reboot=t nokaslr ktest.x=1");
  args = qemu_arguments(config, launch);
  CHECK(has("kvm"));
  CHECK_FALSE(has("tcg,thread=single"));
}
