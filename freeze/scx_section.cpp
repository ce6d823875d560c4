// The report section that fills report.scx from the frozen guest.
#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "freeze/scx_state.h"

namespace ktest::freeze {
namespace {

class ScxSection final : public ReportSection {
 public:
  ScxSection(std::string vmlinux_path, std::shared_ptr<const SharedSymbols> symbols, uint32_t hz)
      : vmlinux_path_(std::move(vmlinux_path)), symbols_(std::move(symbols)), hz_(hz) {
    // Parsed before any capture so the freeze window does not pay for it;
    // on failure fill() tries again and reports the error.
    static_cast<void>(load_layout());
  }

  std::string_view name() const override { return "sched_ext"; }

  Status fill(kvm::Machine& machine, Report& report) override {
    auto symbols = symbols_ ? symbols_->get() : nullptr;
    if (!symbols) return fail("the guest's kallsyms has not arrived yet; sched_ext cannot be located");
    KTEST_TRY(load_layout());
    KTEST_ASSIGN(auto frozen, open_frozen_kernel(machine, *symbols));
    ScxReadContext ctx;
    ctx.hz = hz_;
    ctx.symbols = symbols.get();
    auto offsets = frozen.kernel->per_cpu_offsets(machine.vcpu_count());
    if (offsets) ctx.per_cpu_offsets = std::move(*offsets);
    ScxState state = read_scx_state(*frozen.kernel, *layout_, ctx);
    if (!offsets) {
      state.errors.insert(state.errors.begin(),
                          fmt::format("__per_cpu_offset: {}; no CPU was read", offsets.error().to_string()));
    }
    report.scx = std::move(state);
    return {};
  }

 private:
  Status load_layout() {
    if (layout_) return {};
    if (vmlinux_path_.empty()) return fail("no vmlinux BTF for the guest kernel");
    KTEST_ASSIGN(auto btf, btf::Btf::from_elf(vmlinux_path_));
    KTEST_ASSIGN(layout_, ScxLayout::from_btf(btf));
    return {};
  }

  std::string vmlinux_path_;
  std::shared_ptr<const SharedSymbols> symbols_;
  uint32_t hz_ = 0;
  std::optional<ScxLayout> layout_;
};

}  // namespace

std::unique_ptr<ReportSection> make_scx_section(std::string vmlinux_btf_path,
                                                std::shared_ptr<const SharedSymbols> symbols,
                                                uint32_t hz) {
  return std::make_unique<ScxSection>(std::move(vmlinux_btf_path), std::move(symbols), hz);
}

}  // namespace ktest::freeze
