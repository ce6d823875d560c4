// SnapshotBridge: named storage for the captures one scenario takes.
//
// Contract:
// - insert(name, report) stores the report under `name` (the report's
//   snapshot_name is set to `name`); re-inserting a name replaces it and
//   makes it the newest. When more than cap() names are stored, the oldest
//   are evicted first and each eviction observer is called with the evicted
//   name (after the bridge's lock is released). A cap of 0 is taken as 1.
// - capture(name) runs the installed CaptureCallback (the freeze path) and
//   stores its report; a bridge without a callback fails with a clear error.
// - drain() hands back every report in insertion order and empties the
//   bridge; copy_all() and copy(name) copy them and leave it as it is (a
//   live session saves and evaluates captures while it goes on).
// - All members are thread-safe (capture and inspection may run on
//   different threads). At most one capture runs at a time.
// - The design's thread-local bridge for the executor has no counterpart:
//   ktest's executor is the guest agent, which reaches the bridge through
//   the doorbell (freeze/coordinator.h); the session owns the bridge.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "snapshot/report.h"
#include "snapshot/snapshot.h"
#include "util/result.h"

namespace ktest {

using CaptureCallback = std::function<Result<Report>(const std::string& name)>;
using EvictionObserver = std::function<void(const std::string& evicted_name)>;

class SnapshotBridge {
 public:
  // `cap`: the snapshots kept (the run's: kvm::kMaxCaptures, through dsl/).
  explicit SnapshotBridge(std::size_t cap, CaptureCallback capture = {});
  SnapshotBridge(const SnapshotBridge&) = delete;
  SnapshotBridge& operator=(const SnapshotBridge&) = delete;

  void set_capture(CaptureCallback capture);
  void add_eviction_observer(EvictionObserver observer);

  Status capture(const std::string& name);
  void insert(const std::string& name, Report report);

  bool contains(const std::string& name) const;
  Result<Snapshot> get(const std::string& name) const;  // NoSuchSnapshot lists names
  std::vector<std::string> names() const;                // insertion order
  std::vector<NamedReport> drain();
  // Copies, the bridge unchanged: every report (insertion order), or one.
  std::vector<NamedReport> copy_all() const;
  std::optional<NamedReport> copy(const std::string& name) const;
  std::size_t size() const;
  std::size_t cap() const { return cap_; }
  std::size_t evicted_count() const;

 private:
  std::size_t cap_;
  mutable std::mutex mu_;
  std::mutex capture_mu_;  // one capture in flight
  CaptureCallback capture_;
  std::vector<EvictionObserver> observers_;
  std::deque<NamedReport> stored_;
  std::size_t evicted_ = 0;
};

}  // namespace ktest
