// Durations, sizes and cpu lists as written in scenario files.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "dsl/scenario.h"

namespace ktest::dsl {
namespace {

struct NumberAndUnit {
  double number = 0;
  std::string digits;
  std::string unit;
};

// Splits "1.5s" into 1.5 and "s"; nullopt when there is no leading number.
std::optional<NumberAndUnit> split_number(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0) return std::nullopt;
  NumberAndUnit out;
  out.digits = text.substr(0, i);
  if (std::count(out.digits.begin(), out.digits.end(), '.') > 1 || out.digits == ".")
    return std::nullopt;
  out.number = std::strtod(out.digits.c_str(), nullptr);
  std::size_t j = i;
  while (j < text.size() && text[j] == ' ') ++j;
  out.unit = text.substr(j);
  return out;
}

template <typename Table>
std::string unit_list(const Table& table) {
  std::string out;
  for (const auto& [name, factor] : table) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

}  // namespace

Result<std::chrono::nanoseconds> parse_duration(const std::string& text) {
  static const std::pair<const char*, double> units[] = {
      {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  auto parts = split_number(text);
  if (!parts)
    return fail(fmt::format("'{}' is not a duration", text), "",
                "write a number with a unit, e.g. 30s or 500ms");
  if (parts->unit.empty())
    return fail(fmt::format("duration '{}' has no unit", text), "",
                fmt::format("add a unit: {}s", parts->digits));
  for (const auto& [name, factor] : units) {
    if (parts->unit != name) continue;
    double ns = parts->number * factor;
    if (!std::isfinite(ns) || ns > 1e18) return fail(fmt::format("duration '{}' is too long", text));
    return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
  }
  return fail(fmt::format("unknown duration unit '{}' in '{}'", parts->unit, text), "",
              fmt::format("use one of {}", unit_list(units)));
}

Result<uint64_t> parse_size(const std::string& text) {
  static const std::pair<const char*, double> units[] = {
      {"B", 1},          {"K", 1024.0},      {"M", 1048576.0},      {"G", 1073741824.0},
      {"T", 1099511627776.0}, {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0}};
  auto parts = split_number(text);
  if (!parts)
    return fail(fmt::format("'{}' is not a size", text), "",
                "write a number with a unit, e.g. 512M or 1G");
  if (parts->unit.empty())
    return fail(fmt::format("size '{}' has no unit", text), "",
                fmt::format("add a unit: {}M", parts->digits));
  for (const auto& [name, factor] : units) {
    if (parts->unit != name) continue;
    double bytes = parts->number * factor;
    if (!std::isfinite(bytes) || bytes > 1.8e19) return fail(fmt::format("size '{}' is too large", text));
    return static_cast<uint64_t>(std::llround(bytes));
  }
  return fail(fmt::format("unknown size unit '{}' in '{}'", parts->unit, text), "",
              fmt::format("use one of {}", unit_list(units)));
}

Result<std::vector<uint32_t>> parse_cpu_list(const std::string& text) {
  constexpr uint32_t kMaxCpu = 4096;
  std::vector<uint32_t> cpus;
  auto number = [](const std::string& s) -> std::optional<uint32_t> {
    if (s.empty() || s.size() > 5 ||
        !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      return std::nullopt;
    return static_cast<uint32_t>(std::stoul(s));
  };
  const std::string hint = "write cpus and ranges separated by commas, e.g. \"0-1,3\"";
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    std::size_t dash = item.find('-');
    auto lo = number(item.substr(0, dash));
    auto hi = dash == std::string::npos ? lo : number(item.substr(dash + 1));
    if (!lo || !hi) return fail(fmt::format("'{}' is not a cpu or cpu range", item), "", hint);
    if (*hi < *lo) return fail(fmt::format("cpu range '{}' runs backwards", item), "",
                               fmt::format("write {}-{}", *hi, *lo));
    if (*hi >= kMaxCpu) return fail(fmt::format("cpu {} is out of range", *hi));
    for (uint32_t c = *lo; c <= *hi; ++c) {
      if (std::find(cpus.begin(), cpus.end(), c) != cpus.end())
        return fail(fmt::format("cpu {} is listed twice", c), "", hint);
      cpus.push_back(c);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::sort(cpus.begin(), cpus.end());
  return cpus;
}

std::string format_duration(std::chrono::nanoseconds d) {
  static const std::pair<const char*, int64_t> units[] = {
      {"h", 3600'000'000'000}, {"m", 60'000'000'000}, {"s", 1'000'000'000},
      {"ms", 1'000'000}, {"us", 1'000}, {"ns", 1}};
  int64_t ns = d.count();
  for (const auto& [name, factor] : units) {
    if (ns == 0 || std::llabs(ns) < factor) continue;
    if (ns % factor == 0) return fmt::format("{}{}", ns / factor, name);
    if (factor >= 1000 && ns % (factor / 10) == 0)
      return fmt::format("{}{}", static_cast<double>(ns) / static_cast<double>(factor), name);
  }
  return fmt::format("{}ns", ns);
}

}  // namespace ktest::dsl
