// A scenario's events.log: what the session saw, one line per event, in
// order ("%9.3f <text>", seconds since the session began).
//
// Contract: the session writes every progress line there (cli/run/session.cpp);
// the lines that start a step, take a capture on the agent's request, or
// report a watchpoint hit begin with the prefixes below, which the session
// uses to write them and parse_events_log() to classify them (the HTML
// report's timeline). Other lines are kept as EventKind::Other. Reading is
// total: a line that does not parse is kept as Other at the last time seen.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ktest::cli {

// "step 2/7 Spawn worker": 1-based index, count, op, subject.
inline constexpr std::string_view kEventStepPrefix = "step ";
// "capture early": the agent asked for snapshot `early`.
inline constexpr std::string_view kEventCapturePrefix = "capture ";
// "watchpoint hit on vCPU 0": a WatchSnapshot's watchpoint fired.
inline constexpr std::string_view kEventWatchpointPrefix = "watchpoint hit";

enum class EventKind { Step, Capture, Watchpoint, Other };
const char* event_kind_name(EventKind kind);  // "step", "capture", "watchpoint", "other"

struct EventLine {
  double seconds = 0;  // since the session began
  EventKind kind = EventKind::Other;
  std::string text;     // the line without its time
  std::size_t step = 0; // Step: the 0-based step index
  std::string subject;  // Capture: the snapshot name
};

// "%9.3f <text>\n", as the session appends it.
std::string format_event_line(double seconds, std::string_view text);

// Every line of `text`, at most `max_lines` (the rest are counted in *dropped).
std::vector<EventLine> parse_events_log(std::string_view text, std::size_t max_lines, std::size_t* dropped);

}  // namespace ktest::cli
