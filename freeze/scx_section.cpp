// The report section that fills report.scx from the frozen guest.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "freeze/scx_state.h"
#include "freeze/vmlinux.h"

namespace ktest::freeze {
namespace {

class ScxSection final : public ReportSection {
 public:
  ScxSection(std::shared_ptr<const Vmlinux> vmlinux, std::string unavailable,
             std::shared_ptr<const SharedSymbols> symbols, uint32_t hz)
      : vmlinux_(std::move(vmlinux)), symbols_(std::move(symbols)), hz_(hz) {
    if (!vmlinux_) {
      unavailable_ = std::move(unavailable);
    } else if (!vmlinux_->scx) {
      unavailable_ = vmlinux_->scx_unavailable;
    }
  }

  std::string_view name() const override { return "sched_ext"; }

  Status fill(kvm::Machine& machine, Report& report) override {
    auto symbols = symbols_ ? symbols_->get() : nullptr;
    if (!symbols) return fail("the guest's kallsyms has not arrived yet; sched_ext cannot be located");
    if (!vmlinux_ || !vmlinux_->scx) return fail(unavailable_);
    KTEST_ASSIGN(auto frozen, open_frozen_kernel(machine, *symbols));
    ScxReadContext ctx;
    ctx.hz = hz_;
    ctx.symbols = symbols.get();
    auto offsets = frozen.kernel->per_cpu_offsets(machine.vcpu_count());
    if (offsets) ctx.per_cpu_offsets = std::move(*offsets);
    ScxState state = read_scx_state(*frozen.kernel, *vmlinux_->scx, ctx);
    if (!offsets) {
      state.errors.insert(state.errors.begin(),
                          fmt::format("__per_cpu_offset: {}; no CPU was read", offsets.error().to_string()));
    }
    report.scx = std::move(state);
    return {};
  }

 private:
  std::shared_ptr<const Vmlinux> vmlinux_;
  std::string unavailable_;  // why there is no ScxLayout ("" when there is)
  std::shared_ptr<const SharedSymbols> symbols_;
  uint32_t hz_ = 0;
};

}  // namespace

std::unique_ptr<ReportSection> make_scx_section(std::shared_ptr<const Vmlinux> vmlinux,
                                                std::string unavailable,
                                                std::shared_ptr<const SharedSymbols> symbols,
                                                uint32_t hz) {
  return std::make_unique<ScxSection>(std::move(vmlinux), std::move(unavailable), std::move(symbols), hz);
}

}  // namespace ktest::freeze
