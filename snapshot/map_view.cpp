// SnapshotMap and SnapshotEntry: entries of one captured map, per-CPU views
// and aggregates.
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "snapshot/dump.h"
#include "snapshot/snapshot.h"

namespace ktest {

namespace {

// Which list an entry index falls into (see SnapshotMap::size()).
struct EntryRef {
  const MapEntry* hash = nullptr;
  const PercpuEntry* percpu = nullptr;
  const PercpuHashEntry* percpu_hash = nullptr;
  const RenderedValue* single = nullptr;  // ARRAY-style value as entry 0
};

std::size_t entry_count(const MapDump& m) {
  std::size_t n = m.entries.size() + m.percpu_entries.size() + m.percpu_hash_entries.size();
  return n == 0 && m.value ? 1 : n;
}

EntryRef locate(const MapDump& m, std::size_t i) {
  EntryRef r;
  if (i < m.entries.size()) {
    r.hash = &m.entries[i];
    return r;
  }
  i -= m.entries.size();
  if (i < m.percpu_entries.size()) {
    r.percpu = &m.percpu_entries[i];
    return r;
  }
  i -= m.percpu_entries.size();
  if (i < m.percpu_hash_entries.size()) {
    r.percpu_hash = &m.percpu_hash_entries[i];
    return r;
  }
  if (m.value) r.single = &*m.value;
  return r;
}

const std::vector<std::optional<RenderedValue>>* slots_of(const EntryRef& r) {
  if (r.percpu) return &r.percpu->per_cpu;
  if (r.percpu_hash) return &r.percpu_hash->per_cpu;
  return nullptr;
}

const std::string kEmpty;

uint64_t saturating_add(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

int64_t saturating_add(int64_t a, int64_t b) {
  if (b > 0 && a > std::numeric_limits<int64_t>::max() - b) {
    return std::numeric_limits<int64_t>::max();
  }
  if (b < 0 && a < std::numeric_limits<int64_t>::min() - b) {
    return std::numeric_limits<int64_t>::min();
  }
  return a + b;
}

enum class Agg { Sum, Max, Min };

template <typename T, typename Get>
Result<T> aggregate(const std::vector<SnapshotField>& fields, Agg agg, const std::string& where,
                    Get get) {
  if (fields.empty() && agg != Agg::Sum) {
    return fail(SnapshotError::value_unavailable(where, "no readable values to aggregate"));
  }
  T acc = agg == Agg::Min ? std::numeric_limits<T>::max()
          : agg == Agg::Max ? std::numeric_limits<T>::min()
                            : T{0};
  for (const auto& f : fields) {
    KTEST_ASSIGN(T v, get(f));
    if (agg == Agg::Sum) acc = saturating_add(acc, v);
    if (agg == Agg::Max) acc = std::max(acc, v);
    if (agg == Agg::Min) acc = std::min(acc, v);
  }
  return acc;
}

Result<uint64_t> agg_u64(const std::vector<SnapshotField>& fs, Agg agg, const std::string& w) {
  return aggregate<uint64_t>(fs, agg, w, [](const SnapshotField& f) { return f.as_u64(); });
}

Result<int64_t> agg_i64(const std::vector<SnapshotField>& fs, Agg agg, const std::string& w) {
  return aggregate<int64_t>(fs, agg, w, [](const SnapshotField& f) { return f.as_i64(); });
}

}  // namespace

// ---------------------------------------------------------------- entry

const std::string& SnapshotEntry::map_name() const { return report_->maps[map_index_].name; }

static std::string entry_label(const SnapshotEntry& e) {
  return fmt::format("{}[{}]", e.map_name(), e.index());
}

SnapshotField SnapshotEntry::key() const {
  const MapDump& m = report_->maps[map_index_];
  EntryRef r = locate(m, index_);
  const std::optional<RenderedValue>* key = r.hash          ? &r.hash->key
                                            : r.percpu_hash ? &r.percpu_hash->key
                                                            : nullptr;
  if (key != nullptr) {
    if (*key) return SnapshotField(report_, &**key, "");
    return SnapshotField::missing(SnapshotError::value_unavailable(
        entry_label(*this) + ".key",
        fmt::format("the key had no BTF type at capture; raw bytes: {}{}", HEX_KEY_PREFIX,
                    key_hex())));
  }
  return SnapshotField(synthesized_key_, synthesized_key_.get(), "");
}

const std::string& SnapshotEntry::key_hex() const {
  EntryRef r = locate(report_->maps[map_index_], index_);
  if (r.hash) return r.hash->key_hex;
  if (r.percpu_hash) return r.percpu_hash->key_hex;
  return kEmpty;
}

std::string SnapshotEntry::key_text() const {
  SnapshotField k = key();
  if (k.ok()) return k.render();
  return std::string(HEX_KEY_PREFIX) + key_hex();
}

bool SnapshotEntry::is_per_cpu() const {
  return !cpu_ && slots_of(locate(report_->maps[map_index_], index_)) != nullptr;
}

std::size_t SnapshotEntry::nr_cpus() const {
  const auto* slots = slots_of(locate(report_->maps[map_index_], index_));
  return slots ? slots->size() : 0;
}

Result<SnapshotEntry> SnapshotEntry::cpu(std::size_t n) const {
  const MapDump& m = report_->maps[map_index_];
  const auto* slots = slots_of(locate(m, index_));
  if (slots == nullptr) return fail(SnapshotError::not_per_cpu(m.name, map_type_name(m.map_type)));
  if (n >= slots->size()) {
    return fail(SnapshotError::cpu_out_of_range(entry_label(*this), n, slots->size(), false));
  }
  SnapshotEntry e = *this;
  e.cpu_ = n;
  return e;
}

SnapshotField SnapshotEntry::value() const {
  EntryRef r = locate(report_->maps[map_index_], index_);
  if (r.single) return SnapshotField(report_, r.single, "");
  if (r.hash) {
    if (r.hash->value) return SnapshotField(report_, &*r.hash->value, "");
    return SnapshotField::missing(SnapshotError::value_unavailable(
        entry_label(*this),
        fmt::format("the value had no BTF type at capture; raw bytes: {}",
                    r.hash->value_hex.substr(0, 96))));
  }
  const auto* slots = slots_of(r);
  if (slots == nullptr) {
    return SnapshotField::missing(
        SnapshotError::value_unavailable(entry_label(*this), "entry has no value"));
  }
  if (!cpu_) return SnapshotField::missing(SnapshotError::per_cpu_needs_cpu(entry_label(*this), slots->size()));
  if (*cpu_ >= slots->size() || !(*slots)[*cpu_]) {
    return SnapshotField::missing(SnapshotError::cpu_out_of_range(
        entry_label(*this), *cpu_, slots->size(), *cpu_ < slots->size()));
  }
  return SnapshotField(report_, &*(*slots)[*cpu_], "");
}

SnapshotField SnapshotEntry::payload() const {
  EntryRef r = locate(report_->maps[map_index_], index_);
  if (r.hash && r.hash->payload) return SnapshotField(report_, &*r.hash->payload, "");
  return SnapshotField::missing(
      SnapshotError::value_unavailable(entry_label(*this) + ".payload", "no payload captured"));
}

const std::string& SnapshotEntry::value_hex() const {
  EntryRef r = locate(report_->maps[map_index_], index_);
  return r.hash ? r.hash->value_hex : kEmpty;
}

std::vector<SnapshotField> SnapshotEntry::per_cpu_values(std::string_view path) const {
  std::vector<SnapshotField> out;
  const auto* slots = slots_of(locate(report_->maps[map_index_], index_));
  if (cpu_ || slots == nullptr) {
    out.push_back(value().get(path));
    return out;
  }
  for (const auto& slot : *slots) {
    if (slot) out.push_back(SnapshotField(report_, &*slot, "").get(path));
  }
  return out;
}

Result<uint64_t> SnapshotEntry::sum_u64(std::string_view p) const {
  return agg_u64(per_cpu_values(p), Agg::Sum, entry_label(*this));
}
Result<uint64_t> SnapshotEntry::max_u64(std::string_view p) const {
  return agg_u64(per_cpu_values(p), Agg::Max, entry_label(*this));
}
Result<uint64_t> SnapshotEntry::min_u64(std::string_view p) const {
  return agg_u64(per_cpu_values(p), Agg::Min, entry_label(*this));
}
Result<int64_t> SnapshotEntry::sum_i64(std::string_view p) const {
  return agg_i64(per_cpu_values(p), Agg::Sum, entry_label(*this));
}
Result<int64_t> SnapshotEntry::max_i64(std::string_view p) const {
  return agg_i64(per_cpu_values(p), Agg::Max, entry_label(*this));
}
Result<int64_t> SnapshotEntry::min_i64(std::string_view p) const {
  return agg_i64(per_cpu_values(p), Agg::Min, entry_label(*this));
}

// ---------------------------------------------------------------- map

const std::string& SnapshotMap::name() const { return raw().name; }
uint32_t SnapshotMap::map_type() const { return raw().map_type; }
const MapDump& SnapshotMap::raw() const { return report_->maps[map_index_]; }

bool SnapshotMap::is_per_cpu() const {
  return !cpu_ && (!raw().percpu_entries.empty() || !raw().percpu_hash_entries.empty());
}

std::size_t SnapshotMap::size() const { return entry_count(raw()); }

Result<SnapshotMap> SnapshotMap::ready() const {
  if (size() == 0 && raw().error) {
    return fail(SnapshotError::map_unavailable(name(), *raw().error));
  }
  return *this;
}

std::vector<SnapshotEntry> SnapshotMap::entries() const {
  std::vector<SnapshotEntry> out;
  std::size_t n = size();
  out.reserve(n);
  const MapDump& m = raw();
  for (std::size_t i = 0; i < n; ++i) {
    SnapshotEntry e;
    e.report_ = report_;
    e.map_index_ = map_index_;
    e.index_ = i;
    EntryRef r = locate(m, i);
    if (r.percpu || r.single) {
      e.synthesized_key_ =
          std::make_shared<const RenderedValue>(make_uint(32, r.percpu ? r.percpu->key : 0));
    }
    if (slots_of(r) != nullptr) e.cpu_ = cpu_;
    out.push_back(std::move(e));
  }
  return out;
}

Result<SnapshotEntry> SnapshotMap::at(std::size_t i) const {
  KTEST_TRY(ready());
  if (i >= size()) return fail(SnapshotError::entry_out_of_range(name(), i, size()));
  return entries()[i];
}

SnapshotField SnapshotMap::value() const {
  auto r = ready();
  if (!r) {
    return SnapshotField::missing(SnapshotError::map_unavailable(name(), raw().error.value_or("")));
  }
  if (size() == 0) return SnapshotField::missing(SnapshotError::entry_out_of_range(name(), 0, 0));
  return entries()[0].value();
}

static std::vector<std::string> sample_keys(const std::vector<SnapshotEntry>& entries) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < entries.size() && i < NO_MATCH_KEY_SAMPLE; ++i) {
    keys.push_back(entries[i].key_text());
  }
  return keys;
}

Result<SnapshotEntry> SnapshotMap::find(const EntryPredicate& pred) const {
  KTEST_TRY(ready());
  auto all = entries();
  for (const auto& e : all) {
    KTEST_ASSIGN(bool hit, pred(e));
    if (hit) return e;
  }
  return fail(SnapshotError::no_match(name(), "the predicate", all.size(), sample_keys(all)));
}

Result<std::vector<SnapshotEntry>> SnapshotMap::filter(const EntryPredicate& pred) const {
  KTEST_TRY(ready());
  std::vector<SnapshotEntry> out;
  for (const auto& e : entries()) {
    KTEST_ASSIGN(bool hit, pred(e));
    if (hit) out.push_back(e);
  }
  return out;
}

namespace {

// Ordering key for max_by/min_by: integers compare exactly, others as f64.
struct OrderKey {
  bool integral = false;
  int128_t i = 0;
  double d = 0;
  bool less(const OrderKey& o) const {
    if (integral && o.integral) return i < o.i;
    double a = integral ? static_cast<double>(i) : d;
    double b = o.integral ? static_cast<double>(o.i) : o.d;
    return a < b;
  }
};

std::optional<OrderKey> order_key(const SnapshotField& f) {
  if (!f.ok()) return std::nullopt;
  if (auto i = f.as_i128()) return OrderKey{true, *i, 0};
  if (auto d = f.as_f64()) return OrderKey{false, 0, *d};
  return std::nullopt;
}

}  // namespace

static Result<SnapshotEntry> extreme_by(const SnapshotMap& m, std::string_view path, bool want_max) {
  if (m.is_per_cpu()) return fail(SnapshotError::per_cpu_needs_cpu(m.name(), m.nr_cpus()));
  auto all = m.entries();
  std::optional<std::size_t> best;
  OrderKey best_key;
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto k = order_key(all[i].get(path));
    if (!k) continue;
    if (!best || (want_max ? best_key.less(*k) : k->less(best_key))) {
      best = i;
      best_key = *k;
    }
  }
  if (!best) {
    return fail(SnapshotError::no_match(m.name(), fmt::format("a numeric value at '{}'", path),
                                        all.size(), sample_keys(all)));
  }
  return all[*best];
}

Result<SnapshotEntry> SnapshotMap::max_by(std::string_view path) const {
  KTEST_TRY(ready());
  return extreme_by(*this, path, true);
}

Result<SnapshotEntry> SnapshotMap::min_by(std::string_view path) const {
  KTEST_TRY(ready());
  return extreme_by(*this, path, false);
}

std::size_t SnapshotMap::nr_cpus() const {
  std::size_t n = 0;
  for (const auto& e : raw().percpu_entries) n = std::max(n, e.per_cpu.size());
  for (const auto& e : raw().percpu_hash_entries) n = std::max(n, e.per_cpu.size());
  return n;
}

Result<SnapshotMap> SnapshotMap::cpu(std::size_t n) const {
  if (raw().percpu_entries.empty() && raw().percpu_hash_entries.empty()) {
    return fail(SnapshotError::not_per_cpu(name(), map_type_name(map_type())));
  }
  if (n >= nr_cpus()) return fail(SnapshotError::cpu_out_of_range(name(), n, nr_cpus(), false));
  SnapshotMap m = *this;
  m.cpu_ = n;
  return m;
}

static std::vector<SnapshotField> all_values(const SnapshotMap& m, std::string_view path) {
  std::vector<SnapshotField> out;
  for (const auto& e : m.entries()) {
    auto vs = e.per_cpu_values(path);
    out.insert(out.end(), vs.begin(), vs.end());
  }
  return out;
}

Result<uint64_t> SnapshotMap::sum_u64(std::string_view p) const {
  KTEST_TRY(ready());
  return agg_u64(all_values(*this, p), Agg::Sum, name());
}
Result<uint64_t> SnapshotMap::max_u64(std::string_view p) const {
  KTEST_TRY(ready());
  return agg_u64(all_values(*this, p), Agg::Max, name());
}
Result<uint64_t> SnapshotMap::min_u64(std::string_view p) const {
  KTEST_TRY(ready());
  return agg_u64(all_values(*this, p), Agg::Min, name());
}
Result<int64_t> SnapshotMap::sum_i64(std::string_view p) const {
  KTEST_TRY(ready());
  return agg_i64(all_values(*this, p), Agg::Sum, name());
}
Result<int64_t> SnapshotMap::max_i64(std::string_view p) const {
  KTEST_TRY(ready());
  return agg_i64(all_values(*this, p), Agg::Max, name());
}
Result<int64_t> SnapshotMap::min_i64(std::string_view p) const {
  KTEST_TRY(ready());
  return agg_i64(all_values(*this, p), Agg::Min, name());
}

}  // namespace ktest
