// SnapshotBridge: capped, named capture storage with eviction events.
#include "snapshot/bridge.h"

#include <fmt/format.h>

namespace ktest {

SnapshotBridge::SnapshotBridge(std::size_t cap, CaptureCallback capture)
    : cap_(cap == 0 ? 1 : cap), capture_(std::move(capture)) {}

void SnapshotBridge::set_capture(CaptureCallback capture) {
  std::lock_guard<std::mutex> lock(mu_);
  capture_ = std::move(capture);
}

void SnapshotBridge::add_eviction_observer(EvictionObserver observer) {
  std::lock_guard<std::mutex> lock(mu_);
  observers_.push_back(std::move(observer));
}

void SnapshotBridge::insert(const std::string& name, Report report) {
  if (report.snapshot_name.empty()) report.snapshot_name = name;
  std::vector<std::string> evicted;
  std::vector<EvictionObserver> observers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = stored_.begin(); it != stored_.end(); ++it) {
      if (it->name == name) {
        stored_.erase(it);
        break;
      }
    }
    stored_.push_back(NamedReport{name, std::move(report)});
    while (stored_.size() > cap_) {
      evicted.push_back(std::move(stored_.front().name));
      stored_.pop_front();
      ++evicted_;
    }
    if (!evicted.empty()) observers = observers_;
  }
  // Observers run unlocked so they may call back into the bridge.
  for (const auto& name_out : evicted) {
    for (const auto& observer : observers) observer(name_out);
  }
}

Status SnapshotBridge::capture(const std::string& name) {
  std::lock_guard<std::mutex> one_at_a_time(capture_mu_);
  CaptureCallback capture;
  {
    std::lock_guard<std::mutex> lock(mu_);
    capture = capture_;
  }
  if (!capture) {
    return fail(fmt::format("cannot capture snapshot '{}': the bridge has no capture callback", name),
                "", "install one with SnapshotBridge::set_capture()");
  }
  auto report = capture(name);
  if (!report) return std::move(report).context(fmt::format("capturing snapshot '{}'", name));
  insert(name, std::move(*report));
  return {};
}

bool SnapshotBridge::contains(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& nr : stored_) {
    if (nr.name == name) return true;
  }
  return false;
}

Result<Snapshot> SnapshotBridge::get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& nr : stored_) {
    if (nr.name == name) return Snapshot(nr.report);
    names.push_back(nr.name);
  }
  return fail(SnapshotError::no_such_snapshot(name, std::move(names)));
}

std::vector<std::string> SnapshotBridge::names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  for (const auto& nr : stored_) names.push_back(nr.name);
  return names;
}

std::vector<NamedReport> SnapshotBridge::drain() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<NamedReport> out(std::make_move_iterator(stored_.begin()),
                               std::make_move_iterator(stored_.end()));
  stored_.clear();
  return out;
}

std::vector<NamedReport> SnapshotBridge::copy_all() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {stored_.begin(), stored_.end()};
}

std::optional<NamedReport> SnapshotBridge::copy(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& nr : stored_)
    if (nr.name == name) return nr;
  return std::nullopt;
}

std::size_t SnapshotBridge::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stored_.size();
}

std::size_t SnapshotBridge::evicted_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return evicted_;
}

}  // namespace ktest
