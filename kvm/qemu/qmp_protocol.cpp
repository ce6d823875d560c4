#include "kvm/qemu/qmp_protocol.h"

#include <algorithm>

#include <fmt/format.h>

namespace ktest::kvm::qmp {

namespace {

std::string shorten(std::string_view line) {
  constexpr size_t kMax = 120;
  if (line.size() <= kMax) return std::string(line);
  return std::string(line.substr(0, kMax)) + "…";
}

std::optional<uint64_t> id_of(const nlohmann::json& obj) {
  auto it = obj.find("id");
  if (it == obj.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

}  // namespace

Result<Message> parse_qmp_message(std::string_view line) {
  nlohmann::json obj;
  try {
    obj = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return fail(fmt::format("QMP sent a line that is not JSON ({}): {}", e.what(), shorten(line)));
  }
  if (!obj.is_object())
    return fail(fmt::format("QMP sent a JSON value that is not an object: {}", shorten(line)));

  Message msg;
  if (auto it = obj.find("QMP"); it != obj.end()) {
    msg.type = MessageType::Greeting;
    msg.data = *it;
  } else if (auto ret = obj.find("return"); ret != obj.end()) {
    msg.type = MessageType::Return;
    msg.id = id_of(obj);
    msg.data = *ret;
  } else if (auto err = obj.find("error"); err != obj.end()) {
    msg.type = MessageType::Error;
    msg.id = id_of(obj);
    if (err->is_object()) {
      msg.error_class = err->value("class", "");
      msg.error_desc = err->value("desc", "");
    }
  } else if (auto ev = obj.find("event"); ev != obj.end() && ev->is_string()) {
    msg.type = MessageType::Event;
    msg.event = ev->get<std::string>();
    if (auto data = obj.find("data"); data != obj.end()) msg.data = *data;
  } else {
    return fail(fmt::format("QMP sent an object that is neither greeting, return, error nor event: {}",
                            shorten(line)));
  }
  return msg;
}

Result<std::map<std::string, uint64_t>> parse_kvm_vcpu_stats(const nlohmann::json& reply) {
  if (!reply.is_array()) return fail("QMP query-stats returned " + shorten(reply.dump()) + ", not a list");
  std::map<std::string, uint64_t> sums;
  std::size_t vcpus = 0;
  for (const auto& vcpu : reply) {
    if (++vcpus > kMaxStatsEntries) break;
    if (!vcpu.is_object() || vcpu.value("provider", "") != "kvm") continue;
    auto stats = vcpu.find("stats");
    if (stats == vcpu.end() || !stats->is_array()) continue;
    std::size_t read = 0;
    for (const auto& stat : *stats) {
      if (++read > kMaxStatsEntries) break;
      if (!stat.is_object()) continue;
      auto name = stat.find("name");
      auto value = stat.find("value");
      if (name == stat.end() || !name->is_string() || value == stat.end() || !value->is_number_unsigned()) continue;
      const std::string key = name->get<std::string>();
      if (std::find(std::begin(kKvmExitCounters), std::end(kKvmExitCounters), key) == std::end(kKvmExitCounters))
        continue;
      sums[key] += value->get<uint64_t>();
    }
  }
  return sums;
}

std::string encode_qmp_command(std::string_view command, const nlohmann::json& arguments,
                               uint64_t id) {
  nlohmann::json obj = {{"execute", command}, {"id", id}};
  if (!arguments.is_null()) obj["arguments"] = arguments;
  return obj.dump() + "\n";
}

}  // namespace ktest::kvm::qmp
