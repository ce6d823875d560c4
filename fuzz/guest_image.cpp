#include "fuzz/guest_image.h"

#include <algorithm>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace ktest::fuzz {

const kvm::control::SymbolTable& image_symbols() {
  static const kvm::control::SymbolTable table = [] {
    std::string text = fmt::format("{:016x} T _text\n", freeze::kNoKaslrText);
    const std::pair<const char*, uint64_t> symbols[] = {
        {"phys_base", kPhysBase},          {"page_offset_base", kPageOffsetBase},
        {"map_idr", kMapIdr},              {"prog_idr", kProgIdr},
        {"link_idr", kLinkIdr},            {"__per_cpu_offset", kPerCpuOffset},
        {"scx_root", kScxRoot},            {"scx_enable_state_var", kScxEnableState},
        {"jiffies_64", kJiffies},          {"nr_node_ids", kNrNodeIds},
        {"vmemmap_base", kVmemmapBase},    {"ext_sched_class", kExtSchedClass},
        {"runqueues", kRunqueues},         {"init_top_pgt", kPgd}};
    for (const auto& [name, gpa] : symbols) text += fmt::format("{:016x} D {}\n", image_va(gpa), name);
    auto parsed = kvm::control::SymbolTable::parse(text);
    fuzz_check(parsed.ok(), "the image guest's kallsyms parse");
    return std::move(*parsed);
  }();
  return table;
}

uint64_t ImageGuest::arg(uint32_t i) const {
  uint64_t v = 0;
  std::memcpy(&v, ram.bytes.data() + kArgs + 8ULL * (i % kArgCount), sizeof v);
  return v;
}

std::vector<uint64_t> ImageGuest::per_cpu_offsets(uint64_t n) {
  auto offsets = kernel->per_cpu_offsets(static_cast<uint32_t>(std::min<uint64_t>(n, kImageCpus)));
  return offsets ? std::move(*offsets) : std::vector<uint64_t>{};
}

std::unique_ptr<ImageGuest> open_image(std::span<const uint8_t> data) {
  auto guest = std::make_unique<ImageGuest>();
  std::memcpy(guest->ram.bytes.data(), data.data(), std::min<std::size_t>(data.size(), kImageBytes));
  uint64_t cr4 = 0;
  std::memcpy(&cr4, guest->ram.bytes.data() + kCr4, sizeof cr4);
  // cr3 is unused: init_top_pgt is in kallsyms, as on a real kernel.
  if (auto kernel = freeze::GuestKernel::open(guest->ram, image_symbols(), 0, cr4)) {
    guest->kernel = std::move(*kernel);
  }
  return guest;
}

ImageWriter::ImageWriter() : bytes_(kImageBytes) {
  put64(kPhysBase, 0);
  put64(kPageOffsetBase, kPob);
}

void ImageWriter::put32(uint64_t gpa, uint32_t v) {
  fuzz_check(gpa + 4 <= bytes_.size(), "a seed writes inside the image");
  std::memcpy(bytes_.data() + gpa, &v, sizeof v);
}

void ImageWriter::put64(uint64_t gpa, uint64_t v) {
  fuzz_check(gpa + 8 <= bytes_.size(), "a seed writes inside the image");
  std::memcpy(bytes_.data() + gpa, &v, sizeof v);
}

uint64_t ImageWriter::get64(uint64_t gpa) const {
  fuzz_check(gpa + 8 <= bytes_.size(), "a seed reads inside the image");
  uint64_t v = 0;
  std::memcpy(&v, bytes_.data() + gpa, sizeof v);
  return v;
}

void ImageWriter::put_bytes(uint64_t gpa, std::span<const uint8_t> data) {
  fuzz_check(gpa + data.size() <= bytes_.size(), "a seed writes inside the image");
  std::copy(data.begin(), data.end(), bytes_.begin() + static_cast<std::ptrdiff_t>(gpa));
}

void ImageWriter::put_text(uint64_t gpa, std::string_view text) {
  put_bytes(gpa, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  put8(gpa + text.size(), 0);
}

void ImageWriter::map_page(uint64_t va, uint64_t gpa, uint64_t* next_table) {
  constexpr uint64_t kPresentWritable = 3;
  uint64_t table = kPgd;
  for (int level = 4; level >= 2; --level) {
    uint64_t slot = table + ((va >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
    uint64_t entry = 0;
    std::memcpy(&entry, bytes_.data() + slot, sizeof entry);
    if (!(entry & 1)) {
      entry = *next_table | kPresentWritable;
      *next_table += freeze::kPageSize;
      put64(slot, entry);
    }
    table = entry & ~0xfffULL;
  }
  put64(table + ((va >> 12) & 0x1ff) * 8, gpa | kPresentWritable);
}

Seed ImageWriter::seed(std::string label) const {
  auto end = std::find_if(bytes_.rbegin(), bytes_.rend(), [](uint8_t b) { return b != 0; }).base();
  return Seed{std::move(label), Bytes(bytes_.begin(), end)};
}

}  // namespace ktest::fuzz
