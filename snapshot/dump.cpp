// `ktest snapshot dump`: indented text and JSON selections of reports.
#include "snapshot/dump.h"

#include <fmt/format.h>

#include "snapshot/json_read.h"
#include "snapshot/render_util.h"
#include "snapshot/snapshot.h"

namespace ktest {

namespace {

constexpr std::size_t kMaxTextDepth = 32;
constexpr std::size_t kInlineArrayMax = 16;

bool is_padding_name(std::string_view name) {
  return name.empty() || name.rfind("__pad", 0) == 0 || name.rfind("_pad", 0) == 0 ||
         name.rfind("__reserved", 0) == 0;
}

bool is_scalar_array(const RenderedValue& v) {
  for (const auto& e : v.elements) {
    if (e.kind == ValueKind::Struct || e.kind == ValueKind::Array ||
        (e.kind == ValueKind::Ptr && e.detail().deref) || e.kind == ValueKind::Truncated) {
      return false;
    }
  }
  return true;
}

std::string inline_array(const RenderedValue& v) {
  if (auto text = char_array_text(v)) return quote_text(*text);
  if (!v.elements.empty() && is_zero_value(v)) return fmt::format("[all {} zero]", v.len);
  std::size_t nonzero = 0;
  for (const auto& e : v.elements) nonzero += is_zero_value(e) ? 0 : 1;
  std::string out = "[";
  if (v.elements.size() <= kInlineArrayMax) {
    for (std::size_t i = 0; i < v.elements.size(); ++i) {
      out += (i ? ", " : "") + scalar_text(v.elements[i]);
    }
  } else if (nonzero <= kInlineArrayMax) {
    // Sparse: only the non-zero slots, by index.
    bool first = true;
    for (std::size_t i = 0; i < v.elements.size(); ++i) {
      if (is_zero_value(v.elements[i])) continue;
      out += fmt::format("{}[{}]={}", first ? "" : ", ", i, scalar_text(v.elements[i]));
      first = false;
    }
    out += ", others zero";
  } else {
    for (std::size_t i = 0; i < kInlineArrayMax; ++i) {
      out += (i ? ", " : "") + scalar_text(v.elements[i]);
    }
    out += fmt::format(", … (+{} more)", v.elements.size() - kInlineArrayMax);
  }
  if (v.len > v.elements.size()) out += fmt::format(" (len {}, {} captured)", v.len, v.elements.size());
  return out + "]";
}

class TextWriter {
 public:
  explicit TextWriter(const DumpOptions& o) : opts_(o) {}
  std::string out;

  void line(std::size_t indent, std::string_view text) {
    out.append(indent * 2, ' ');
    out += text;
    out += '\n';
  }

  // `label` is the member name / path shown for this node.
  void node(const RenderedValue& v, const std::string& label, std::size_t indent,
            std::size_t depth) {
    if (depth > kMaxTextDepth) {
      line(indent, fmt::format("{} = …", label));
      return;
    }
    switch (v.kind) {
      case ValueKind::Struct:
        line(indent, v.type_name ? fmt::format("{}: {{{}}}", label, *v.type_name) : label + ":");
        members(v, indent + 1, depth);
        return;
      case ValueKind::Array:
        if (is_scalar_array(v)) {
          line(indent, fmt::format("{} = {}", label, inline_array(v)));
        } else {
          line(indent, fmt::format("{}: array len {}", label, v.len));
          elements(v, indent + 1, depth);
        }
        return;
      case ValueKind::Ptr: {
        const RenderedDetail& d = v.detail();
        if (d.deref && (d.deref->kind == ValueKind::Struct || d.deref->kind == ValueKind::Array)) {
          line(indent, fmt::format("{} = {} ->", label, scalar_text(v)));
          node(*d.deref, "*" + label, indent + 1, depth + 1);
        } else if (d.deref) {
          line(indent, fmt::format("{} = {} -> {}", label, scalar_text(v), render_value_inline(*d.deref)));
        } else {
          line(indent, fmt::format("{} = {}{}", label, scalar_text(v),
                                   d.deref_skipped_reason ? fmt::format(" [chase: {}]", *d.deref_skipped_reason)
                                                          : ""));
        }
        return;
      }
      case ValueKind::Truncated: {
        const RenderedDetail& d = v.detail();
        line(indent, fmt::format("{}: <truncated needed={} had={}>", label, d.needed, d.had));
        if (d.partial) node(*d.partial, label, indent + 1, depth + 1);
        return;
      }
      default: line(indent, fmt::format("{} = {}", label, scalar_text(v)));
    }
  }

  void members(const RenderedValue& s, std::size_t indent, std::size_t depth) {
    std::size_t hidden = 0;
    for (const auto& m : s.members) {
      bool zero = is_zero_value(m.value);
      if (zero && (!opts_.show_zero || is_padding_name(m.name))) {
        ++hidden;
        continue;
      }
      node(m.value, m.name.empty() ? "<anon>" : m.name, indent, depth + 1);
    }
    if (hidden != 0) {
      line(indent, fmt::format("({} zero member{} hidden)", hidden, hidden == 1 ? "" : "s"));
    }
  }

  void elements(const RenderedValue& a, std::size_t indent, std::size_t depth) {
    std::size_t hidden = 0;
    for (std::size_t i = 0; i < a.elements.size(); ++i) {
      if (!opts_.show_zero && is_zero_value(a.elements[i])) {
        ++hidden;
        continue;
      }
      node(a.elements[i], fmt::format("[{}]", i), indent, depth + 1);
    }
    if (hidden != 0) {
      line(indent, fmt::format("({} zero element{} hidden)", hidden, hidden == 1 ? "" : "s"));
    }
    if (a.len > a.elements.size()) {
      line(indent, fmt::format("({} more elements not captured)", a.len - a.elements.size()));
    }
  }

  // A value printed under an already-written header (entry, CPU slot).
  void body(const RenderedValue& v, std::size_t indent) {
    if (v.kind == ValueKind::Struct) {
      members(v, indent, 0);
    } else {
      node(v, "value", indent, 0);
    }
  }

 private:
  const DumpOptions& opts_;
};

// Returns how many entries max_entries left out.
std::size_t write_map(TextWriter& w, const MapDump& m, const DumpOptions& opts) {
  std::size_t n = m.entries.size() + m.percpu_entries.size() + m.percpu_hash_entries.size();
  std::string shape = m.value && n == 0 ? "value" : fmt::format("{} entr{}", n, n == 1 ? "y" : "ies");
  std::string type = m.type_name.empty() ? map_type_name(m.map_type) : m.type_name;
  w.line(0, fmt::format("map {} ({}, {}, value_size {}, max_entries {})", m.name, type, shape,
                        m.value_size, m.max_entries));
  if (m.error) w.line(1, fmt::format("error: {}", *m.error));
  if (const auto& a = m.arena) {
    w.line(1, fmt::format("arena: user {:#x}..{:#x}, kernel {:#x}, {} page{} present, globals at {:#x} "
                          "({} bytes)", a->user_vm_start, a->user_vm_end, a->kern_vm_start,
                          a->pages_present, a->pages_present == 1 ? "" : "s", a->globals_addr,
                          a->globals_size));
  }
  if (const auto& r = m.ringbuf) {
    w.line(1, fmt::format("ringbuf: capacity {}, consumer {}, producer {}, pending {} bytes in {} "
                          "record{}{}", r->capacity, r->consumer_pos, r->producer_pos,
                          r->pending_bytes, r->records.size(), r->records.size() == 1 ? "" : "s",
                          r->record_type.empty() ? "" : ", samples as " + r->record_type));
    for (const auto& rec : r->records) {
      if (rec.busy || rec.discarded) {
        w.line(2, fmt::format("record at {}: {} bytes, {}", rec.pos, rec.len,
                              rec.busy ? "busy (not committed)" : "discarded"));
      }
    }
  }
  if (m.value && n == 0) w.body(*m.value, 1);
  std::size_t limit = opts.max_entries == 0 ? SIZE_MAX : opts.max_entries;
  std::size_t shown = 0;
  auto per_cpu = [&](const std::vector<std::optional<RenderedValue>>& slots) {
    std::size_t zero = 0;
    for (std::size_t c = 0; c < slots.size(); ++c) {
      if (!slots[c]) {
        w.line(2, fmt::format("cpu{}: <unreadable>", c));
      } else if (!opts.show_zero && is_zero_value(*slots[c])) {
        ++zero;
      } else if (slots[c]->kind == ValueKind::Struct) {
        w.line(2, fmt::format("cpu{}:", c));
        w.body(*slots[c], 3);
      } else {
        w.node(*slots[c], fmt::format("cpu{}", c), 2, 0);
      }
    }
    if (zero != 0) w.line(2, fmt::format("({} all-zero CPU slot{} hidden)", zero, zero == 1 ? "" : "s"));
  };
  for (std::size_t i = 0; i < m.entries.size() && shown < limit; ++i, ++shown) {
    const MapEntry& e = m.entries[i];
    w.line(1, fmt::format("[{}] key = {}", i,
                          e.key ? render_value_inline(*e.key)
                                : std::string(HEX_KEY_PREFIX) + e.key_hex));
    if (opts.show_hex) {
      w.line(2, fmt::format("key_hex = {}", e.key_hex));
      w.line(2, fmt::format("value_hex = {}", e.value_hex));
    }
    if (e.value) {
      w.body(*e.value, 2);
    } else {
      w.line(2, fmt::format("value = hex:{}", e.value_hex));
    }
    if (e.payload) w.node(*e.payload, "payload", 2, 0);
  }
  for (std::size_t i = 0; i < m.percpu_entries.size() && shown < limit; ++i, ++shown) {
    w.line(1, fmt::format("[{}] key = {}", i, m.percpu_entries[i].key));
    per_cpu(m.percpu_entries[i].per_cpu);
  }
  for (std::size_t i = 0; i < m.percpu_hash_entries.size() && shown < limit; ++i, ++shown) {
    const auto& e = m.percpu_hash_entries[i];
    w.line(1, fmt::format("[{}] key = {}", i,
                          e.key ? render_value_inline(*e.key)
                                : std::string(HEX_KEY_PREFIX) + e.key_hex));
    per_cpu(e.per_cpu);
  }
  if (n > shown) w.line(1, fmt::format("({} more entries; --max-entries 0 lists all)", n - shown));
  return n - shown;
}

void write_header(TextWriter& w, const NamedReport& nr) {
  const Report& r = nr.report;
  w.line(0, fmt::format("snapshot {}", nr.name.empty() ? "(unnamed)" : nr.name));
  if (!r.captured_at.empty()) w.line(1, fmt::format("captured_at: {}", r.captured_at));
  if (!r.kernel_version.empty()) w.line(1, fmt::format("kernel: {}", r.kernel_version));
  if (r.degraded) w.line(1, fmt::format("degraded: {}", r.degraded->reason));
  if (r.is_placeholder) w.line(1, "placeholder: the capture produced no data");
  if (r.active_obj_name) w.line(1, fmt::format("active scheduler: {}", *r.active_obj_name));
  for (std::size_t i = 0; i < r.vcpu_regs.size(); ++i) {
    const auto& reg = r.vcpu_regs[i];
    w.line(1, reg ? fmt::format("vcpu{}: ip=0x{:x} sp=0x{:x} pt_root=0x{:x}", i,
                                reg->instruction_pointer, reg->stack_pointer, reg->page_table_root)
                  : fmt::format("vcpu{}: <not parked>", i));
  }
  if (r.extra.is_object() && !r.extra.empty()) {
    std::string names;
    for (const auto& [k, v] : r.extra.items()) names += (names.empty() ? "" : ", ") + k;
    w.line(1, fmt::format("other fields (see --json): {}", names));
  }
}

}  // namespace

std::string render_value_text(const RenderedValue& v, const std::string& root_path,
                              const DumpOptions& options) {
  TextWriter w(options);
  w.node(v, root_path.empty() ? "value" : root_path, 0, 0);
  return w.out;
}

std::string render_map_text(const MapDump& map, const DumpOptions& options) {
  TextWriter w(options);
  write_map(w, map, options);
  return w.out;
}

std::string render_report_text(const NamedReport& report, const DumpOptions& options) {
  TextWriter w(options);
  write_header(w, report);
  if (report.report.scx) w.out += scx_to_text(*report.report.scx);
  std::vector<std::string> constants;
  std::size_t entries_left = 0;
  for (const auto& m : report.report.maps) {
    if (!options.show_constants && is_constant_section(m.name)) {
      constants.push_back(m.name);
    } else {
      entries_left += write_map(w, m, options);
    }
  }
  std::string hidden;
  if (!constants.empty()) {
    std::string names;
    for (const auto& n : constants) names += (names.empty() ? "" : ", ") + n;
    hidden = fmt::format("{} constant section{} ({})", constants.size(), constants.size() == 1 ? "" : "s", names);
  }
  if (entries_left != 0)
    hidden += fmt::format("{}{} entr{} past --max-entries {}", hidden.empty() ? "" : ", ", entries_left,
                          entries_left == 1 ? "y" : "ies", options.max_entries);
  if (!hidden.empty()) w.line(0, fmt::format("(hidden: {}; --all shows them)", hidden));
  return w.out;
}

}  // namespace ktest
