// QMP (QEMU Machine Protocol) messages: one JSON object per line.
//
// Contract: parse_qmp_message() classifies a line QEMU sent as the greeting,
// a command's return, a command's error, or an asynchronous event, and
// never throws (malformed JSON becomes an Error). encode_qmp_command()
// produces one line (with the trailing newline) carrying a numeric id
// that the matching return/error echoes back.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace ktest::kvm::qmp {

enum class MessageType { Greeting, Return, Error, Event };

struct Message {
  MessageType type = MessageType::Event;
  std::optional<uint64_t> id;  // Return / Error: the command's id, if any
  nlohmann::json data;         // Return: "return"; Event: "data"; Greeting: "QMP"
  std::string event;           // Event: its name, e.g. "STOP"
  std::string error_class;     // Error: "GenericError", ...
  std::string error_desc;      // Error: QEMU's human-readable description
};

Result<Message> parse_qmp_message(std::string_view line);

// From a query-stats reply for target "vcpu", provider "kvm": each counter
// in kKvmExitCounters summed over the vCPUs (histograms and other names are
// skipped; at most kMaxStatsEntries vCPUs and stats each are read).
inline constexpr const char* kKvmExitCounters[] = {"exits",     "mmio_exits",   "io_exits",
                                                   "irq_exits", "halt_exits",   "signal_exits"};
inline constexpr std::size_t kMaxStatsEntries = 4096;
Result<std::map<std::string, uint64_t>> parse_kvm_vcpu_stats(const nlohmann::json& reply);

std::string encode_qmp_command(std::string_view command, const nlohmann::json& arguments,
                               uint64_t id);

}  // namespace ktest::kvm::qmp
