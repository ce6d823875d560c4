#include "kvm/qemu/qmp_protocol.h"

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

std::string encode_qmp_command(std::string_view command, const nlohmann::json& arguments,
                               uint64_t id) {
  nlohmann::json obj = {{"execute", command}, {"id", id}};
  if (!arguments.is_null()) obj["arguments"] = arguments;
  return obj.dump() + "\n";
}

}  // namespace ktest::kvm::qmp
