#include "freeze/coordinator.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <ctime>

#include "freeze/bpf_globals.h"

namespace ktest::freeze {

namespace {

using Clock = std::chrono::steady_clock;

std::string utc_now_iso8601() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<kvm::WatchKind> parse_access(std::string_view access) {
  if (access == "w" || access == "write") return kvm::WatchKind::Write;
  if (access == "r" || access == "read") return kvm::WatchKind::Read;
  if (access == "rw" || access == "access") return kvm::WatchKind::Access;
  return fail(fmt::format("unknown watch access '{}'", access), "", "use r, w or rw");
}

// Where the registers read at the pause are filed (report section_errors).
constexpr std::string_view kVcpuRegistersSection = "vcpu registers";

// Records `why` under the section error `section`, after any it has already.
void add_section_error(Report& report, std::string_view section, const std::string& why) {
  nlohmann::json& errors = report.extra["section_errors"];
  if (!errors.is_object()) errors = nlohmann::json::object();
  nlohmann::json& error = errors[std::string(section)];
  error = error.is_string() ? error.get<std::string>() + "; " + why : why;
}

int64_t micros(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

}  // namespace

const char* trigger_name(Trigger trigger) {
  switch (trigger) {
    case Trigger::Doorbell: return "doorbell";
    case Trigger::Watchpoint: return "watchpoint";
    case Trigger::SchedulerExit: return "scheduler-exit";
    case Trigger::Stall: return "stall";
  }
  return "doorbell";
}

Result<std::string> validate_snapshot_name(std::string_view raw) {
  if (raw.empty() || raw.size() > kMaxSnapshotNameBytes) {
    return fail(fmt::format("snapshot name of {} bytes (must be 1..{})", raw.size(),
                            kMaxSnapshotNameBytes));
  }
  for (char c : raw) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) {
      return fail(fmt::format("snapshot name contains byte 0x{:02x}", static_cast<unsigned char>(c)),
                  "", "names use letters, digits, '_', '.', ':' and '-'");
    }
  }
  return std::string(raw);
}

FreezeCoordinator::FreezeCoordinator(kvm::Machine& machine, SnapshotBridge& bridge,
                                     FreezeOptions options)
    : machine_(machine), bridge_(bridge), options_(std::move(options)) {}

FreezeCoordinator::~FreezeCoordinator() = default;

void FreezeCoordinator::add_section(std::unique_ptr<ReportSection> section) {
  sections_.push_back(std::move(section));
}

void FreezeCoordinator::set_symbols(std::shared_ptr<const kvm::control::SymbolTable> symbols) {
  symbols_ = std::move(symbols);
}

void FreezeCoordinator::set_bpf_globals(std::unique_ptr<BpfGlobalResolver> resolver) {
  bpf_globals_ = std::move(resolver);
}

Report FreezeCoordinator::build_report(const std::string& name, Trigger trigger,
                                       const kvm::PausedReadingRegisters& pause) {
  Report report;
  report.snapshot_name = name;
  report.captured_at = utc_now_iso8601();
  report.kernel_version = options_.kernel_version;
  report.extra["trigger"] = trigger_name(trigger);
  if (!pause.paused) {
    // Without a rendezvous nothing read from the guest would be consistent.
    report.schema = std::string(kSchemaDegraded);
    report.degraded = DegradedInfo{};
    report.degraded->reason = "the vCPUs could not be paused: " + pause.paused.error().to_string();
    report.degraded->watchpoint_hit = trigger == Trigger::Watchpoint;
    return report;
  }
  report.vcpu_regs.assign(machine_.vcpu_count(), std::nullopt);
  if (!pause.registers)
    add_section_error(report, kVcpuRegistersSection, pause.registers.error().to_string());
  else if (pause.registers->size() != machine_.vcpu_count())
    add_section_error(report, kVcpuRegistersSection,
                      fmt::format("the engine read {} vCPU(s) of {}", pause.registers->size(), machine_.vcpu_count()));
  else
    for (uint32_t cpu = 0; cpu < pause.registers->size(); ++cpu) {
      const kvm::VcpuRegisters& regs = (*pause.registers)[cpu];
      report.vcpu_regs[cpu] = VcpuRegs{regs.rip, regs.rsp, regs.cr3};
    }
  nlohmann::json section_us = nlohmann::json::object();
  for (auto& section : sections_) {
    auto start = Clock::now();
    Status filled = section->fill(machine_, report);
    section_us[std::string(section->name())] = micros(Clock::now() - start);
    if (!filled) add_section_error(report, section->name(), filled.error().to_string());
  }
  report.extra["section_us"] = std::move(section_us);
  return report;
}

FreezeCoordinator::Frozen FreezeCoordinator::freeze_and_build(const std::string& name,
                                                               Trigger trigger) {
  std::lock_guard lock(capture_mu_);
  auto start = Clock::now();
  kvm::PausedReadingRegisters pause = machine_.pause_reading_registers();
  auto paused_at = Clock::now();
  const bool paused = pause.paused.ok();
  // KVM's exit counters at each capture show what the doorbell cost: a ring
  // served in the kernel (ioeventfd) adds no mmio_exits. Best effort.
  kvm::AccelCounters counters;
  if (paused)
    if (auto c = machine_.accel_counters(); c) counters = std::move(*c);
  Frozen out{build_report(name, trigger, pause), {}};
  auto resuming_at = Clock::now();
  if (paused) {
    kvm::ResumedAfterHold resume = machine_.resume_confirming_hold();
    out.resumed = std::move(resume.resumed);
    out.report.extra["freeze_verified"] = resume.held.ok();
    if (!resume.held)
      add_section_error(out.report, "freeze",
                        fmt::format("the pause did not hold: {}: what was read may be inconsistent",
                                    resume.held.error().to_string()));
  } else {
    out.resumed = machine_.resume();  // whatever part of the rendezvous happened
  }
  auto resumed_at = Clock::now();
  auto window = std::chrono::duration_cast<std::chrono::microseconds>(resumed_at - start);
  out.report.extra["freeze_window_us"] = window.count();
  // Where the window went: the two rendezvous against the sections' reading.
  out.report.extra["freeze_phase_us"] = {{"pause", micros(paused_at - start)},
                                         {"resume", micros(resumed_at - resuming_at)}};
  if (paused) {
    finish_sections(out.report);
    out.report.extra["after_resume_us"] = micros(Clock::now() - resumed_at);
  }
  if (!counters.empty()) out.report.extra["accel_counters"] = counters;
  std::map<std::string, std::string> section_errors;
  if (auto it = out.report.extra.find("section_errors"); it != out.report.extra.end() && it->is_object())
    for (const auto& [section, why] : it->items()) section_errors[section] = why.get<std::string>();
  stats_.push_back(CaptureStats{name, trigger, !paused, paused ? "" : pause.paused.error().to_string(), start,
                                window, std::move(counters), std::move(section_errors)});
  if (!out.resumed) {
    out.resumed = std::move(out.resumed).context(
        fmt::format("snapshot '{}' was captured but the guest could not be resumed", name));
  }
  return out;
}

void FreezeCoordinator::finish_sections(Report& report) {
  for (auto& section : sections_)
    if (Status finished = section->finish(report); !finished)
      add_section_error(report, section->name(), finished.error().to_string());
}

Result<Report> FreezeCoordinator::capture(const std::string& name, Trigger trigger) {
  Frozen frozen = freeze_and_build(name, trigger);
  bridge_.insert(name, frozen.report);  // kept also when the guest could not be resumed
  if (!frozen.resumed) return fail(std::move(frozen.resumed).error());
  return std::move(frozen.report);
}

Result<Report> FreezeCoordinator::take(const std::string& name, Trigger trigger) {
  Frozen frozen = freeze_and_build(name, trigger);
  if (!frozen.resumed) return fail(std::move(frozen.resumed).error());
  return std::move(frozen.report);
}

FreezeCoordinator::Reply FreezeCoordinator::handle_capture(const std::vector<uint8_t>& payload) {
  auto name = validate_snapshot_name(
      std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size()));
  if (!name) return {doorbell::ReplyStatus::Error, name.error().to_string()};
  auto report = capture(*name, Trigger::Doorbell);
  if (!report) return {doorbell::ReplyStatus::Error, report.error().to_string()};
  if (report->schema == kSchemaDegraded) {
    return {doorbell::ReplyStatus::Degraded, report->degraded->reason};
  }
  // The agent's answer to a person's ktest-capture, and the step's reply text.
  std::size_t entries = 0;
  for (const auto& map : report->maps)
    entries += map.entries.size() + map.percpu_entries.size() + map.percpu_hash_entries.size();
  std::chrono::microseconds window{report->extra.value("freeze_window_us", int64_t{0})};
  return {doorbell::ReplyStatus::Ok, fmt::format("captured {}: {} maps, {} entries, frozen {:.1f} ms", *name,
                                                 report->maps.size(), entries, window.count() / 1000.0)};
}

FreezeCoordinator::Reply FreezeCoordinator::handle_register_watch(
    const std::vector<uint8_t>& payload) {
  auto error = [](std::string text) { return Reply{doorbell::ReplyStatus::Error, std::move(text)}; };
  nlohmann::json request = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    return error("watch registration is not a JSON object");
  }
  auto field = [&](const char* key) -> std::string {
    auto it = request.find(key);
    return it != request.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto name = validate_snapshot_name(field("name"));
  if (!name) return error("watch name: " + name.error().to_string());
  std::string symbol = field("symbol");
  if (symbol.empty() || symbol.size() > kvm::control::kMaxSymbolNameBytes) {
    return error("watch symbol is missing or too long");
  }
  auto access = parse_access(field("access").empty() ? "w" : field("access"));
  if (!access) return error(access.error().to_string());
  uint32_t len = 8;
  if (auto it = request.find("len"); it != request.end()) {
    if (!it->is_number_unsigned() || it->get<uint64_t>() > 8) return error("watch len must be 1, 2, 4 or 8");
    len = it->get<uint32_t>();
  }
  if (!symbols_) return error("no kernel symbols yet: the agent sends kallsyms before any step");
  auto target = bpf_globals_ ? bpf_globals_->resolve(machine_, symbol, len, *symbols_)
                             : resolve_watch_symbol(symbol, len, *symbols_, {});
  if (!target) return error(target.error().to_string());
  auto id = machine_.set_watchpoint(target->address, len, *access);
  if (!id) {
    Error refused = std::move(id).error();
    refused.with_context(fmt::format("cannot arm the watchpoint on {} at {:#x}", target->description,
                                     target->address));
    refused.hint = fmt::format(
        "{} WatchSnapshot watchpoint(s) are armed now (each is cleared when it fires), and ktest "
        "holds one more on the scheduler's exit while one is attached; a guest under KVM has 4 in "
        "all (the x86 debug registers), under TCG QEMU sets no fixed limit: let an armed watch "
        "fire before arming another, or watch fewer symbols at once",
        watches_.size());
    return error(refused.to_string());
  }
  watches_[*id] = *name;
  std::string text = fmt::format("{} at {:#x}", symbol, target->address);
  if (target->global) text += ": " + target->description;
  return {doorbell::ReplyStatus::Ok, std::move(text)};
}

Status FreezeCoordinator::on_doorbell(const kvm::DoorbellEvent& event) {
  Reply reply;
  switch (static_cast<doorbell::RequestKind>(event.kind)) {
    case doorbell::RequestKind::Capture: reply = handle_capture(event.payload); break;
    case doorbell::RequestKind::RegisterWatch: reply = handle_register_watch(event.payload); break;
    case doorbell::RequestKind::Ping: reply = {doorbell::ReplyStatus::Ok, "pong"}; break;
    default:
      reply = {doorbell::ReplyStatus::Error, fmt::format("unknown request kind {}", event.kind)};
  }
  if (reply.text.size() > doorbell::kPayloadMax) reply.text.resize(doorbell::kPayloadMax);
  std::vector<uint8_t> bytes(reply.text.begin(), reply.text.end());
  return machine_.reply_doorbell(event.serial, reply.status, bytes);
}

Status FreezeCoordinator::on_watchpoint(const kvm::WatchpointHit& hit) {
  auto it = watches_.find(hit.id);
  if (it == watches_.end()) {
    // Not ours (or already fired): let the guest go on.
    return machine_.resume();
  }
  std::string name = it->second;
  watches_.erase(it);
  Status cleared = machine_.clear_watchpoint(hit.id);
  auto report = capture(name, Trigger::Watchpoint);
  if (!report) return fail(std::move(report.error()));
  if (!cleared) return std::move(cleared).context("clearing the one-shot watchpoint for '" + name + "'");
  return {};
}

}  // namespace ktest::freeze
