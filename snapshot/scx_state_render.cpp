// ScxState as a value tree (the assertion language's scx()) and as
// `snapshot dump` text (snapshot/scx_state.h).
#include <algorithm>

#include <fmt/format.h>

#include "snapshot/scx_state.h"

namespace ktest {

namespace {

// Char elements kept per string node, as the BTF renderer keeps per array;
// the node's text always holds the whole string.
constexpr std::size_t kMaxStringElements = 4096;
constexpr std::size_t kTextTasks = 10;  // runnable tasks listed by scx_to_text

// A string as BTF renders a char array: one char element per byte, plus the text.
RenderedValue str(const std::string& s) {
  std::vector<RenderedValue> chars;
  const std::size_t keep = std::min(s.size(), kMaxStringElements);
  chars.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) chars.push_back(make_char(static_cast<uint8_t>(s[i])));
  RenderedValue v = make_array(s.size(), std::move(chars));
  v.text = s;
  return v;
}

RenderedValue name_enum(const std::string& name, int64_t value) {
  return make_enum(32, value, name.empty() ? std::nullopt : std::optional<std::string>(name), false);
}

RenderedValue strings(const std::vector<std::string>& xs) {
  std::vector<RenderedValue> out;
  out.reserve(xs.size());
  for (const auto& x : xs) out.push_back(str(x));
  return make_array(xs.size(), std::move(out));
}

RenderedValue exit_value(const ScxExit& e) {
  return make_struct("scx_exit", {{"kind", name_enum(e.kind, e.kind_value)},
                                  {"kind_value", make_int(64, e.kind_value)},
                                  {"exit_code", make_int(64, e.exit_code)},
                                  {"reason", str(e.reason)},
                                  {"msg", str(e.msg)},
                                  {"backtrace", strings(e.backtrace)},
                                  {"dump", str(e.dump)}});
}

RenderedValue cpu_value(const ScxCpu& c) {
  return make_struct("scx_cpu", {{"cpu", make_uint(32, c.cpu)},
                                 {"nr_running", make_uint(32, c.nr_running)},
                                 {"local_dsq_nr", make_uint(32, c.local_dsq_nr)},
                                 {"flags", make_uint(64, c.flags)},
                                 {"curr_pid", make_int(32, c.curr_pid)},
                                 {"curr_comm", str(c.curr_comm)},
                                 {"curr_is_scx", make_bool(c.curr_is_scx)}});
}

RenderedValue dsq_value(const ScxDsq& d) {
  return make_struct("scx_dsq", {{"id", make_uint(64, d.id)},
                                 {"kind", str(d.kind)},
                                 {"cpu", make_int(32, d.cpu)},
                                 {"node", make_int(32, d.node)},
                                 {"nr", make_uint(32, d.nr)}});
}

RenderedValue task_value(const ScxTask& t) {
  std::vector<RenderedMember> m = {{"pid", make_int(32, t.pid)},
                                   {"comm", str(t.comm)},
                                   {"cpu", make_uint(32, t.cpu)}};
  if (t.dsq_id) m.push_back({"dsq_id", make_uint(64, *t.dsq_id)});
  m.push_back({"runnable_at", make_uint(64, t.runnable_at)});
  m.push_back({"wait_ms", make_uint(64, t.wait_ms)});
  return make_struct("scx_task", std::move(m));
}

template <typename T, typename Fn>
RenderedValue array_of(const std::vector<T>& xs, Fn one) {
  std::vector<RenderedValue> out;
  out.reserve(xs.size());
  for (const T& x : xs) out.push_back(one(x));
  return make_array(xs.size(), std::move(out));
}

// ---- text ----

// Guest text for a terminal: control bytes other than \n and \t as \xNN.
std::string printable(std::string_view s, bool keep_newlines = false) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto b = static_cast<unsigned char>(c);
    if ((b < 0x20 && !(keep_newlines && (c == '\n' || c == '\t'))) || b == 0x7f) {
      out += fmt::format("\\x{:02x}", b);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string dsq_id_text(uint64_t id) {
  return id >> 63 ? fmt::format("0x{:x}", id) : fmt::format("0x{:x} ({})", id, id);
}

std::string dsq_label(const ScxDsq& d) {
  if (d.kind == "global") return d.node >= 0 ? fmt::format("global node {}", d.node) : "global";
  if ((d.kind == "local" || d.kind == "bypass") && d.cpu >= 0) return fmt::format("{} cpu {}", d.kind, d.cpu);
  return d.kind.empty() ? "dsq" : printable(d.kind);
}

void header(std::string& out, const ScxState& s) {
  out += fmt::format("sched_ext: {}", s.state.empty() ? "(state unknown)" : printable(s.state));
  if (s.ops) {
    out += fmt::format(", scheduler {} (flags 0x{:x}, timeout {} ms)",
                       s.ops->name.empty() ? "(unnamed)" : printable(s.ops->name), s.ops->flags,
                       s.ops->timeout_ms);
  } else {
    out += ", no scheduler attached";
  }
  out += "\n";
  out += fmt::format("  watchdog timeout {} ms, longest wait {} ms, bypass depth {}, jiffies {} (HZ {})\n",
                     s.watchdog_timeout_ms, s.longest_wait_ms, s.bypass_depth, s.jiffies, s.hz);
}

void cpus(std::string& out, const ScxState& s) {
  if (s.cpus.empty()) return;
  out += "  cpus:\n";
  out += "    cpu  nr_running  local_dsq  flags       curr\n";
  for (const auto& c : s.cpus) {
    std::string curr = c.curr_pid == 0 && c.curr_comm.empty()
                           ? "idle"
                           : fmt::format("{} {}{}", c.curr_pid, printable(c.curr_comm),
                                         c.curr_is_scx ? " (scx)" : "");
    out += fmt::format("    {:>3}  {:>10}  {:>9}  0x{:<8x}  {}\n", c.cpu, c.nr_running, c.local_dsq_nr,
                       c.flags, curr);
  }
}

// Global and user DSQs always; per-CPU ones (local, bypass) only when not empty.
void dsqs(std::string& out, const ScxState& s) {
  if (s.dsqs.empty()) return;
  out += "  dsqs:\n";
  std::size_t hidden = 0;
  for (const auto& d : s.dsqs) {
    if (d.nr == 0 && (d.kind == "local" || d.kind == "bypass")) {
      ++hidden;
      continue;
    }
    out += fmt::format("    {:<16}  id {:<24}  nr {}\n", dsq_label(d), dsq_id_text(d.id), d.nr);
  }
  if (hidden != 0) out += fmt::format("    ({} empty local/bypass DSQ{} hidden)\n", hidden, hidden == 1 ? "" : "s");
}

void runnable(std::string& out, const ScxState& s) {
  if (s.runnable.empty()) {
    out += "  runnable: none\n";
    return;
  }
  out += fmt::format("  runnable: {} task{}, longest wait first\n", s.runnable.size(),
                     s.runnable.size() == 1 ? "" : "s");
  for (std::size_t i = 0; i < s.runnable.size() && i < kTextTasks; ++i) {
    const ScxTask& t = s.runnable[i];
    out += fmt::format("    pid {:<7} {:<16} cpu {:<3} dsq {:<18} waited {} ms\n", t.pid,
                       printable(t.comm), t.cpu, t.dsq_id ? fmt::format("0x{:x}", *t.dsq_id) : "none",
                       t.wait_ms);
  }
  if (s.runnable.size() > kTextTasks) {
    out += fmt::format("    (+{} more; see --json)\n", s.runnable.size() - kTextTasks);
  }
}

// `text` with every line indented by `pad`; a trailing newline is dropped.
void block(std::string& out, std::string_view text, std::string_view pad) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::size_t end = nl == std::string_view::npos ? text.size() : nl;
    if (end != pos) out += pad;
    out += printable(text.substr(pos, end - pos), true);
    out += '\n';
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
}

void exit_info(std::string& out, const ScxExit& e) {
  out += fmt::format("  exit: {} ({}), exit code {}\n", e.kind.empty() ? "(unknown kind)" : printable(e.kind),
                     e.kind_value, e.exit_code);
  if (!e.reason.empty()) out += fmt::format("    reason: {}\n", printable(e.reason));
  if (!e.msg.empty()) {
    out += "    msg:\n";
    block(out, e.msg, "      ");
  }
  if (!e.backtrace.empty()) {
    out += "    backtrace:\n";
    for (const auto& frame : e.backtrace) out += fmt::format("      {}\n", printable(frame));
  }
  if (e.dump.empty()) {
    out += "    dump: (not written)\n";
  } else {
    out += "    dump:\n";
    block(out, e.dump, "      ");
  }
}

}  // namespace

RenderedValue scx_to_rendered(const ScxState& s) {
  std::vector<RenderedMember> m;
  m.push_back({"state", name_enum(s.state, s.state_value)});
  m.push_back({"state_value", make_int(64, s.state_value)});
  if (s.ops) {
    m.push_back({"ops", make_struct("scx_ops", {{"name", str(s.ops->name)},
                                                {"flags", make_uint(64, s.ops->flags)},
                                                {"timeout_ms", make_uint(32, s.ops->timeout_ms)}})});
  }
  if (s.exit) m.push_back({"exit", exit_value(*s.exit)});
  m.push_back({"watchdog_timeout_ms", make_uint(64, s.watchdog_timeout_ms)});
  m.push_back({"bypass_depth", make_int(64, s.bypass_depth)});
  m.push_back({"hz", make_uint(32, s.hz)});
  m.push_back({"jiffies", make_uint(64, s.jiffies)});
  m.push_back({"cpus", array_of(s.cpus, cpu_value)});
  m.push_back({"dsqs", array_of(s.dsqs, dsq_value)});
  m.push_back({"runnable", array_of(s.runnable, task_value)});
  m.push_back({"longest_wait_ms", make_uint(64, s.longest_wait_ms)});
  m.push_back({"errors", strings(s.errors)});
  return make_struct(std::string(kScxTypeName), std::move(m));
}

std::string scx_to_text(const ScxState& s) {
  std::string out;
  header(out, s);
  cpus(out, s);
  dsqs(out, s);
  runnable(out, s);
  if (s.exit) exit_info(out, *s.exit);
  for (const auto& e : s.errors) out += fmt::format("  not read: {}\n", printable(e));
  return out;
}

}  // namespace ktest
