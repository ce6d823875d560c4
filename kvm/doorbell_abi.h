// The guest↔host doorbell ABI: the layout of the ivshmem shared-memory BAR.
//
// Contract (shared by the host engine in kvm/ and the guest agent): the
// shared memory (BAR2 of the ivshmem-doorbell device, a host file the
// engine maps) starts with one DoorbellPage. The host writes the header
// once before boot. To make a request the guest fills `request_*`, bumps
// `request_serial` last (release), then writes (host_peer_id << 16 | 0)
// to the doorbell register at BAR0 + kDoorbellRegisterOffset. The host
// answers by filling `reply_*` and storing reply_serial = request_serial
// last (release); the guest polls reply_serial. One request is in flight
// at a time. Every length here is untrusted on the host side: the host
// clamps it to the array size before reading.
#pragma once

#include <cstdint>

namespace ktest::doorbell {

inline constexpr uint32_t kMagic = 0x4B544442;  // "KTDB"
inline constexpr uint32_t kVersion = 1;
inline constexpr uint32_t kDoorbellRegisterOffset = 12;  // ivshmem BAR0 "Doorbell"
inline constexpr uint64_t kSharedMemorySize = 1 << 20;   // ivshmem needs a power of two
inline constexpr uint32_t kPayloadMax = 4096;

enum class RequestKind : uint32_t {
  None = 0,
  Capture = 1,        // payload: the snapshot name (UTF-8, no NUL)
  RegisterWatch = 2,  // payload: JSON {"name":..., "symbol":..., ...}
  // payload ignored; answered once the host has read what the guest sent
  // before it (kallsyms): the agent's last word before its first step.
  Ping = 3,
  // payload ignored; sent after `done` on the control channel, answered
  // once the host has read `done`, so no control message is still queued
  // in the guest when it powers off (a userspace virtio-serial write
  // returns before the host consumed it).
  Goodbye = 4,
  // After the last step, before any cleanup, when the plan offers a shell
  // (PlanSettings::offer_shell). Payload: JSON {"ok": the steps' verdict,
  // "steps_run": N}. The host answers once it has read those steps' results:
  // Ok with JSON {"shell": bool, "rows": R, "cols": C, "term": "$TERM",
  // "why": "..."}; with "shell": true the agent opens an interactive shell
  // on the terminal port and serves the guest's ktest-* commands until it
  // exits, then cleans up as usual.
  Shell = 5,
};

enum class ReplyStatus : int32_t { Ok = 0, Error = 1, Degraded = 2 };

struct DoorbellPage {
  // Header, written by the host before boot.
  uint32_t magic;
  uint32_t version;
  uint32_t host_peer_id;  // the ivshmem peer the guest rings
  uint32_t reserved0;

  // Request, written by the guest; request_serial last.
  uint64_t request_serial;
  uint32_t request_kind;    // RequestKind
  uint32_t request_length;  // bytes used in request_payload
  uint8_t request_payload[kPayloadMax];

  // Reply, written by the host; reply_serial last.
  uint64_t reply_serial;
  int32_t reply_status;   // ReplyStatus
  uint32_t reply_length;  // bytes used in reply_payload
  uint8_t reply_payload[kPayloadMax];
};

static_assert(sizeof(DoorbellPage) <= kSharedMemorySize);

}  // namespace ktest::doorbell
