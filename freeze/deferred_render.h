// Internal to freeze/: BTF rendering taken out of the freeze window.
//
// Contract:
// - While the guest is paused, a map reader hands render() the bytes it
//   read. A type whose rendering can read no guest memory (it holds no
//   pointer: btf::reads_memory) is not rendered then: its bytes are copied
//   and a placeholder is returned in the rendered value's place. A type
//   with pointers is rendered at once, while what they point at is frozen.
// - A map reader whose key and value types both hold no pointer (or whose
//   map has no BTF) may instead hand over whole entries: copy_entries()
//   gives it an EntryCopies to add each key and value to, and the pause
//   costs a copy of their bytes and nothing else.
// - After the guest resumed, place() renders each queued value from its
//   copy and puts it where its placeholder lies in the maps, at any depth,
//   then appends each map's copied entries (key and value rendered, their
//   bytes in hex) after the entries its reader made itself.
//   render() is a pure function of (BTF, type, bytes), so the report is
//   the one rendering in the pause would have made. place() fails (an
//   internal error) when it cannot find, in the maps, a placeholder or the
//   map that some copied entries came from.
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

// The entries of one map, copied in the pause (DeferredRenders::copy_entries).
class EntryCopies {
 public:
  void add(std::span<const uint8_t> key, std::span<const uint8_t> value);

 private:
  friend class DeferredRenders;
  uint64_t map_kva_ = 0;
  std::shared_ptr<const btf::Btf> btf_;  // null: the map has no BTF
  uint32_t key_type_ = 0, value_type_ = 0;
  std::size_t key_size_ = 0, value_size_ = 0;
  btf::RenderOptions options_;
  std::vector<uint8_t> bytes_;  // key, value, key, value, ...
};

class DeferredRenders {
 public:
  // `btf` is kept alive until place().
  RenderedValue render(const std::shared_ptr<const btf::Btf>& btf, uint32_t type, std::span<const uint8_t> bytes,
                       const btf::RenderOptions& options);
  // For the entries of the map at `map_kva`; null when its key or value
  // type holds a pointer (the reader renders those in the pause).
  EntryCopies* copy_entries(uint64_t map_kva, const std::shared_ptr<const btf::Btf>& btf, uint32_t key_type,
                            uint32_t value_type, std::size_t key_size, std::size_t value_size,
                            const btf::RenderOptions& options);
  Status place(std::vector<MapDump>& maps);
  void clear();
  // Values and entries waiting for place().
  std::size_t queued() const;

 private:
  struct Pending {
    std::shared_ptr<const btf::Btf> btf;  // kept alive until place()
    uint32_t type = 0;
    std::size_t offset = 0, size = 0;  // in bytes_
    btf::RenderOptions options;
    bool placed = false;
  };
  std::optional<RenderedValue> take(const RenderedValue& placeholder);
  void place_in(RenderedValue& value, std::size_t& placed);
  void place_in(std::optional<RenderedValue>& value, std::size_t& placed);
  bool renders_from_bytes(const std::shared_ptr<const btf::Btf>& btf, uint32_t type, const btf::RenderOptions& options);
  Status append(const EntryCopies& copies, std::vector<MapDump>& maps);

  std::vector<Pending> pending_;
  std::vector<uint8_t> bytes_;  // every queued value's bytes, back to back
  std::vector<std::unique_ptr<EntryCopies>> entries_;  // unique_ptr: readers hold pointers
  std::map<std::pair<const btf::Btf*, uint32_t>, bool> reads_memory_;  // per type, asked once
};

}  // namespace ktest::freeze
