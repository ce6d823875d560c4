// read_scx_state: the whole sched_ext picture of a frozen guest, every
// part read on its own so one bad pointer costs that part only.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "freeze/scx_internal.h"

namespace ktest::freeze {
namespace {

template <typename T>
T load(const std::vector<uint8_t>& bytes, uint64_t offset) {
  T v{};
  if (offset <= bytes.size() && sizeof v <= bytes.size() - offset) {
    std::memcpy(&v, bytes.data() + offset, sizeof v);
  }
  return v;
}

// "SCX_ENABLED" -> "enabled".
std::string state_name(std::string_view name) {
  if (name.substr(0, 4) == "SCX_") name.remove_prefix(4);
  std::string out;
  for (char c : name) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

class ScxReader {
 public:
  ScxReader(GuestKernel& kernel, const ScxLayout& layout, const ScxReadContext& ctx)
      : k_(kernel), l_(layout), ctx_(ctx) {}

  ScxState run() {
    s_.hz = ctx_.hz;
    if (ctx_.hz == 0) {
      s_.errors.push_back("CONFIG_HZ is unknown: watchdog_timeout_ms, wait_ms and "
                          "longest_wait_ms are in jiffies, not milliseconds");
    }
    read_enable_state();
    if (auto j = scx_detail::read_jiffies(k_)) s_.jiffies = *j;
    else error("jiffies", j.error());
    uint64_t root = 0;
    if (auto r = read_scx_root(k_)) root = *r;
    else error("scx_root", r.error());
    if (root != 0) read_root(root);
    read_cpus();
    if (root != 0) read_user_dsqs(root);
    finish();
    return std::move(s_);
  }

 private:
  void error(std::string_view what, const Error& e) {
    s_.errors.push_back(fmt::format("{}: {}", what, e.to_string()));
  }

  uint64_t to_ms(uint64_t jiffies) const {
    if (ctx_.hz == 0) return jiffies;
    return jiffies / ctx_.hz * 1000 + jiffies % ctx_.hz * 1000 / ctx_.hz;
  }

  void read_enable_state() {
    auto at = k_.symbol("scx_enable_state_var");
    if (!at) return error("scx_enable_state_var", at.error());
    auto raw = k_.read_u32(*at);
    if (!raw) return error("scx_enable_state_var", raw.error());
    s_.state_value = static_cast<int32_t>(*raw);
    std::string name = scx_enum_name(l_.enable_states, s_.state_value);
    if (name.empty()) {
      s_.state = std::to_string(s_.state_value);
      s_.errors.push_back(fmt::format("scx_enable_state_var: {} is not in enum scx_enable_state",
                                      s_.state_value));
    } else {
      s_.state = state_name(name);
    }
  }

  void read_root(uint64_t root) {
    auto raw = k_.read(root, l_.sched_size);
    if (!raw) return error(fmt::format("scx_root {:#x}", root), raw.error());
    const auto& b = *raw;
    ScxState::Ops ops;
    if (l_.sched_ops_name < b.size()) {
      const char* name = reinterpret_cast<const char*>(b.data() + l_.sched_ops_name);
      ops.name.assign(name, strnlen(name, std::min(l_.ops_name_len, b.size() - l_.sched_ops_name)));
    }
    ops.flags = load<uint64_t>(b, l_.sched_ops_flags);
    ops.timeout_ms = load<uint32_t>(b, l_.sched_ops_timeout_ms);
    s_.ops = std::move(ops);
    s_.watchdog_timeout_ms = to_ms(load<uint64_t>(b, l_.sched_watchdog_timeout));
    s_.bypass_depth = load<int32_t>(b, l_.sched_bypass_depth);
    pcpu_ = load<uint64_t>(b, l_.sched_pcpu);
    int64_t exit_kind = load<int32_t>(b, l_.sched_exit_kind);
    if (exit_kind != l_.exit_none) {
      read_exit(exit_kind, load<uint64_t>(b, l_.sched_exit_info),
                load<uint32_t>(b, l_.sched_ops_exit_dump_len));
    }
    read_global_dsqs(load<uint64_t>(b, l_.sched_pnode));
  }

  void read_exit(int64_t exit_kind, uint64_t ei, uint32_t exit_dump_len) {
    ScxExit e;
    e.kind_value = exit_kind;
    auto raw = ei != 0 ? k_.read(ei, l_.ei_size) : Result<std::vector<uint8_t>>(fail("it is NULL"));
    if (!raw) {
      error(fmt::format("exit_info {:#x}", ei), raw.error());
    } else {
      const auto& b = *raw;
      // Once the disable work claimed the exit, exit_kind is DONE and
      // ei->kind tells (unless it is not rewritten yet: then DONE stays).
      int64_t ei_kind = load<int32_t>(b, l_.ei_kind);
      if (exit_kind == l_.exit_done && ei_kind != l_.exit_none) e.kind_value = ei_kind;
      e.exit_code = load<int64_t>(b, l_.ei_exit_code);
      e.reason = read_text("exit_info.reason", load<uint64_t>(b, l_.ei_reason), kMaxExitReasonBytes);
      e.msg = read_text("exit_info.msg", load<uint64_t>(b, l_.ei_msg), l_.exit_msg_len);
      uint64_t dump_len = exit_dump_len != 0 ? exit_dump_len : l_.exit_dump_default_len;
      if (dump_len > kMaxExitDumpBytes) {
        s_.errors.push_back(fmt::format("exit_info.dump: ops.exit_dump_len {} exceeds {}; "
                                        "reading the first {} bytes",
                                        dump_len, kMaxExitDumpBytes, kMaxExitDumpBytes));
        dump_len = kMaxExitDumpBytes;
      }
      e.dump = read_text("exit_info.dump", load<uint64_t>(b, l_.ei_dump), dump_len);
      read_backtrace(load<uint64_t>(b, l_.ei_bt), load<uint32_t>(b, l_.ei_bt_len), e.backtrace);
    }
    e.kind = scx_enum_name(l_.exit_kinds, e.kind_value);
    if (e.kind.empty()) {
      e.kind = std::to_string(e.kind_value);
      s_.errors.push_back(fmt::format("exit kind {} is not in enum scx_exit_kind", e.kind_value));
    }
    s_.exit = std::move(e);
  }

  std::string read_text(std::string_view what, uint64_t va, uint64_t max) {
    if (va == 0) return "";
    std::string problem;
    std::string text = read_guest_cstring(k_, va, max, &problem);
    if (!problem.empty()) s_.errors.push_back(fmt::format("{}: {}", what, problem));
    return text;
  }

  void read_backtrace(uint64_t bt, uint32_t bt_len, std::vector<std::string>& out) {
    if (bt_len == 0) return;
    uint32_t limit = std::min(l_.exit_bt_len, kMaxBacktrace);
    if (bt_len > limit) {
      s_.errors.push_back(fmt::format("exit_info.bt_len {} exceeds {}; reading {} entries", bt_len,
                                      limit, limit));
      bt_len = limit;
    }
    auto raw = k_.read(bt, bt_len * 8ULL);
    if (!raw) return error(fmt::format("exit_info.bt {:#x}", bt), raw.error());
    if (!ctx_.symbols) s_.errors.push_back("exit_info.bt: no kallsyms, addresses not symbolised");
    for (uint32_t i = 0; i < bt_len; ++i) {
      auto address = load<uint64_t>(*raw, i * 8ULL);
      out.push_back(ctx_.symbols ? ctx_.symbols->symbolize(address)
                                 : fmt::format("{:#x}", address));
    }
  }

  Result<ScxDsq> read_dsq(uint64_t dsq, std::string kind, int32_t cpu, int32_t node) {
    ScxDsq out;
    KTEST_ASSIGN(out.nr, k_.read_u32(dsq + l_.dsq_nr));
    KTEST_ASSIGN(out.id, k_.read_u64(dsq + l_.dsq_id));
    out.kind = std::move(kind);
    out.cpu = cpu;
    out.node = node;
    return out;
  }

  void read_global_dsqs(uint64_t pnode) {
    uint32_t nodes = 1;  // without NUMA there is no nr_node_ids: one node
    if (auto at = k_.symbol("nr_node_ids")) {
      auto nr = k_.read_u32(*at);
      if (!nr) return error("nr_node_ids", nr.error());
      nodes = *nr;
    }
    if (nodes == 0 || nodes > kMaxScxNodes) {
      s_.errors.push_back(fmt::format("nr_node_ids {} is outside 1..{}; reading {} node(s)", nodes,
                                      kMaxScxNodes, nodes == 0 ? 1 : kMaxScxNodes));
      nodes = nodes == 0 ? 1 : kMaxScxNodes;
    }
    auto raw = k_.read(pnode, nodes * 8ULL);
    if (!raw) return error(fmt::format("scx_root->pnode {:#x}", pnode), raw.error());
    for (uint32_t n = 0; n < nodes; ++n) {
      auto at = load<uint64_t>(*raw, n * 8ULL);
      if (at == 0) continue;  // no such node
      auto dsq = read_dsq(at + l_.pnode_global_dsq, "global", -1, static_cast<int32_t>(n));
      if (dsq) global_.push_back(std::move(*dsq));
      else error(fmt::format("node {}'s global DSQ (pnode {:#x})", n, at), dsq.error());
    }
  }

  void read_cpus() {
    auto runqueues = k_.symbol("runqueues");
    if (!runqueues) return error("run queues", runqueues.error());
    auto ext_class = k_.symbol("ext_sched_class");
    if (!ext_class) error("rq->curr's class", ext_class.error());
    std::size_t cpus = ctx_.per_cpu_offsets.size();
    if (cpus > kMaxScxCpus) {
      s_.errors.push_back(fmt::format("{} CPUs: reading the first {}", cpus, kMaxScxCpus));
      cpus = kMaxScxCpus;
    }
    for (std::size_t cpu = 0; cpu < cpus; ++cpu) {
      uint64_t off = ctx_.per_cpu_offsets[cpu];
      read_cpu(static_cast<uint32_t>(cpu), *runqueues + off, ext_class ? *ext_class : 0);
      if (pcpu_ != 0) {
        auto dsq = read_dsq(pcpu_ + off + l_.pcpu_bypass_dsq, "bypass", static_cast<int32_t>(cpu), -1);
        if (dsq) per_cpu_.push_back(std::move(*dsq));
        else error(fmt::format("CPU {}'s bypass DSQ", cpu), dsq.error());
      }
    }
  }

  void read_cpu(uint32_t cpu, uint64_t rq, uint64_t ext_class) {
    auto raw = k_.read(rq, l_.rq_size);
    if (!raw) return error(fmt::format("CPU {}'s rq {:#x}", cpu, rq), raw.error());
    const auto& b = *raw;
    ScxCpu c;
    c.cpu = cpu;
    c.nr_running = load<uint32_t>(b, l_.rq_nr_running);
    c.local_dsq_nr = load<uint32_t>(b, l_.rq_local_dsq + l_.dsq_nr);
    c.flags = load<uint32_t>(b, l_.rq_flags);
    if (uint64_t curr = load<uint64_t>(b, l_.rq_curr); curr != 0) {
      auto who = scx_detail::read_task_identity(k_, curr, l_);
      auto cls = k_.read_u64(curr + l_.task_sched_class);
      if (who && cls) {
        c.curr_pid = who->pid;
        c.curr_comm = std::move(who->comm);
        c.curr_is_scx = ext_class != 0 && *cls == ext_class;
      } else {
        error(fmt::format("CPU {}'s rq->curr {:#x}", cpu, curr), who ? cls.error() : who.error());
      }
    }
    s_.cpus.push_back(std::move(c));
    per_cpu_.push_back({load<uint64_t>(b, l_.rq_local_dsq + l_.dsq_id), "local",
                        static_cast<int32_t>(cpu), -1, load<uint32_t>(b, l_.rq_local_dsq + l_.dsq_nr)});
    read_runnable(cpu, rq + l_.rq_runnable_list);
  }

  void read_runnable(uint32_t cpu, uint64_t head) {
    std::vector<uint64_t> nodes;
    std::size_t budget = kMaxScxTasks - std::min(kMaxScxTasks, tasks_seen_);
    if (Status st = collect_list_nodes(k_, head, budget, nodes); !st) {
      error(fmt::format("CPU {}'s runnable list", cpu), st.error());
    }
    tasks_seen_ += nodes.size();
    for (uint64_t node : nodes) {
      uint64_t task = node - l_.task_runnable_node;
      auto t = read_task(cpu, task);
      if (t) s_.runnable.push_back(std::move(*t));
      else error(fmt::format("CPU {}'s runnable task {:#x}", cpu, task), t.error());
    }
  }

  Result<ScxTask> read_task(uint32_t cpu, uint64_t task) {
    KTEST_ASSIGN(auto who, scx_detail::read_task_identity(k_, task, l_));
    ScxTask t;
    t.pid = who.pid;
    t.comm = std::move(who.comm);
    t.cpu = cpu;
    KTEST_ASSIGN(t.runnable_at, k_.read_u64(task + l_.task_runnable_at));
    t.wait_ms = to_ms(scx_detail::wait_jiffies(s_.jiffies, t.runnable_at));
    KTEST_ASSIGN(uint64_t dsq, k_.read_u64(task + l_.task_dsq));
    if (dsq != 0) {
      auto id = dsq_id(dsq);
      if (id) t.dsq_id = *id;
      else error(fmt::format("task {} ({:#x})'s DSQ {:#x}", t.pid, task, dsq), id.error());
    }
    return t;
  }

  Result<uint64_t> dsq_id(uint64_t dsq) {
    if (auto it = dsq_ids_.find(dsq); it != dsq_ids_.end()) return it->second;
    KTEST_ASSIGN(uint64_t id, k_.read_u64(dsq + l_.dsq_id));
    dsq_ids_.emplace(dsq, id);
    return id;
  }

  void read_user_dsqs(uint64_t root) {
    std::vector<uint64_t> dsqs;
    Status st = collect_rhashtable_objects(k_, root + l_.sched_dsq_hash, l_, l_.dsq_hash_node,
                                           kMaxUserDsqs, dsqs);
    if (!st) error("user DSQs (scx_root->dsq_hash)", st.error());
    for (uint64_t dsq : dsqs) {
      auto d = read_dsq(dsq, "user", -1, -1);
      if (d) user_.push_back(std::move(*d));
      else error(fmt::format("user DSQ {:#x}", dsq), d.error());
    }
    std::sort(user_.begin(), user_.end(), [](const ScxDsq& a, const ScxDsq& b) { return a.id < b.id; });
  }

  void finish() {
    s_.dsqs = std::move(global_);
    for (auto* part : {&per_cpu_, &user_}) {
      for (auto& d : *part) s_.dsqs.push_back(std::move(d));
    }
    std::stable_sort(s_.runnable.begin(), s_.runnable.end(), [](const ScxTask& a, const ScxTask& b) {
      if (a.wait_ms != b.wait_ms) return a.wait_ms > b.wait_ms;
      return a.pid < b.pid;
    });
    s_.longest_wait_ms = s_.runnable.empty() ? 0 : s_.runnable.front().wait_ms;
  }

  GuestKernel& k_;
  const ScxLayout& l_;
  const ScxReadContext& ctx_;
  ScxState s_;
  uint64_t pcpu_ = 0;
  std::size_t tasks_seen_ = 0;
  std::vector<ScxDsq> global_, per_cpu_, user_;
  std::map<uint64_t, uint64_t> dsq_ids_;
};

}  // namespace

ScxState read_scx_state(GuestKernel& kernel, const ScxLayout& layout, const ScxReadContext& ctx) {
  return ScxReader(kernel, layout, ctx).run();
}

}  // namespace ktest::freeze
