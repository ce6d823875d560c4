// Internal to freeze/: BTF rendering taken out of the freeze window.
//
// Contract:
// - While the guest is paused, a map reader hands render() the bytes it
//   read. A type whose rendering can read no guest memory (it holds no
//   pointer: btf::reads_memory) is not rendered then: its bytes are copied
//   and a placeholder is returned in the rendered value's place. A type
//   with pointers is rendered at once, while what they point at is frozen.
// - After the guest resumed, place() renders each queued value from its
//   copy and puts it where its placeholder lies in the maps, at any depth.
//   render() is a pure function of (BTF, type, bytes), so the report is
//   the one rendering in the pause would have made. place() fails (an
//   internal error) when a placeholder is missing or left over.
// - One capture at a time: place() empties the queue; clear() drops it
//   (a capture that never reached place()).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "btf/btf.h"
#include "btf/render.h"
#include "snapshot/report.h"
#include "util/result.h"

namespace ktest::freeze {

class DeferredRenders {
 public:
  // `btf` is kept alive until place().
  RenderedValue render(const std::shared_ptr<const btf::Btf>& btf, uint32_t type, std::span<const uint8_t> bytes,
                       const btf::RenderOptions& options);
  Status place(std::vector<MapDump>& maps);
  void clear();
  std::size_t queued() const { return pending_.size(); }

 private:
  struct Pending {
    const btf::Btf* btf = nullptr;
    uint32_t type = 0;
    std::size_t offset = 0, size = 0;  // in bytes_
    btf::RenderOptions options;
    bool placed = false;
  };
  std::optional<RenderedValue> take(const RenderedValue& placeholder);
  void place_in(RenderedValue& value, std::size_t& placed);
  void place_in(std::optional<RenderedValue>& value, std::size_t& placed);

  std::vector<Pending> pending_;
  std::vector<uint8_t> bytes_;  // every queued value's bytes, back to back
  std::vector<std::shared_ptr<const btf::Btf>> btfs_;
  std::map<std::pair<const btf::Btf*, uint32_t>, bool> reads_memory_;  // per type, asked once
};

}  // namespace ktest::freeze
