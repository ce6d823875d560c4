// The doorbell, host side: the guest's request (kind, payload) as the
// engine hands it on (kvm/qemu/qemu_monitor.cpp clamps the guest's length
// to kPayloadMax) through FreezeCoordinator::on_doorbell, which validates
// the payload (a snapshot name; RegisterWatch's JSON), resolves the watch
// symbol (kallsyms, or a BPF global read from the guest) and arms it; then
// every armed watch fires and captures. The guest is bpf_maps' struct_ops
// seed image, whose object has BPF globals (obj.nr_events, ...).
// Input: kind (u32), then the payload.
#include <cstring>

#include "freeze/bpf_globals.h"
#include "freeze/tests/fake_machine.h"
#include "fuzz/capture.h"
#include "fuzz/mini_kernel.h"
#include "fuzz/seeds.h"
#include "kvm/doorbell_abi.h"

namespace ktest::fuzz {
namespace {

// The guest RAM every run reads (built once; nothing writes to it).
freeze::testing::Ram& guest_ram() {
  static freeze::testing::Ram ram = [] {
    freeze::testing::Ram r(kImageBytes);
    for (const auto& seed : bpf_maps_seeds()) {
      if (seed.label != "struct_ops") continue;
      std::memcpy(r.bytes.data(), seed.bytes.data(), seed.bytes.size());
      return r;
    }
    fuzz_check(false, "bpf_maps has a struct_ops seed");
    return r;
  }();
  return ram;
}

Seed request(std::string label, doorbell::RequestKind kind, std::string_view payload) {
  Bytes out(4);
  auto k = static_cast<uint32_t>(kind);
  std::memcpy(out.data(), &k, 4);
  out.insert(out.end(), payload.begin(), payload.end());
  return Seed{std::move(label), std::move(out)};
}

std::vector<Seed> doorbell_seeds() {
  using doorbell::RequestKind;
  return {request("capture", RequestKind::Capture, "after_attach"),
          request("watch_kernel", RequestKind::RegisterWatch,
                  R"({"name":"on_jiffies","symbol":"jiffies_64","access":"w","len":8})"),
          request("watch_global", RequestKind::RegisterWatch,
                  R"({"name":"on_events","symbol":"obj.nr_events","access":"rw","len":4})"),
          request("ping", RequestKind::Ping, ""), request("goodbye", RequestKind::Goodbye, "")};
}

}  // namespace
}  // namespace ktest::fuzz

using namespace ktest;
using namespace ktest::fuzz;

KTEST_FUZZ_TARGET(doorbell, doorbell_seeds) {
  if (data.size() < 4) return;
  kvm::DoorbellEvent event;
  event.serial = 1;
  std::memcpy(&event.kind, data.data(), 4);
  auto payload = data.subspan(4, std::min<std::size_t>(data.size() - 4, doorbell::kPayloadMax));
  event.payload.assign(payload.begin(), payload.end());

  freeze::testing::FakeMachine machine(guest_ram(), 2);
  SnapshotBridge bridge{64};
  freeze::FreezeCoordinator coordinator(machine, bridge, {});
  coordinator.set_symbols(std::make_shared<const kvm::control::SymbolTable>(image_symbols()));
  coordinator.set_bpf_globals(std::make_unique<freeze::BpfGlobalResolver>(mini_vmlinux(), ""));
  fuzz_check(coordinator.on_doorbell(event).ok(), "the fake machine takes every reply");
  fuzz_check(machine.replies.size() == 1, "every request gets exactly one reply");
  fuzz_check(machine.last_reply.size() <= doorbell::kPayloadMax, "a reply fits the page");
  fuzz_check(!machine.paused, "a request never leaves the guest paused");
  if (event.kind == static_cast<uint32_t>(doorbell::RequestKind::Capture) &&
      machine.last_status == doorbell::ReplyStatus::Ok) {
    std::string name(event.payload.begin(), event.payload.end());
    fuzz_check(bridge.contains(name), "an Ok capture is stored under its name");
  }
  for (auto armed = machine.armed; const auto& w : armed) {
    fuzz_check(coordinator.on_watchpoint(machine.hit(w.id)).ok(), "a fired watch captures");
  }
  fuzz_check(machine.armed.empty(), "every fired watch is cleared (one-shot)");
  fuzz_check(!machine.paused, "a fired watch never leaves the guest paused");
}
