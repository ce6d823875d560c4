#include "cli/report/events_log.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>

namespace ktest::cli {

const char* event_kind_name(EventKind kind) {
  switch (kind) {
    case EventKind::Step: return "step";
    case EventKind::Capture: return "capture";
    case EventKind::Watchpoint: return "watchpoint";
    case EventKind::Other: return "other";
  }
  return "other";
}

std::string format_event_line(double seconds, std::string_view text) {
  return fmt::format("{:9.3f} {}\n", seconds, text);
}

namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

void classify(EventLine& event) {
  std::string_view text = event.text;
  if (starts_with(text, kEventStepPrefix)) {
    // "step I/N ...": I is 1-based.
    std::string_view rest = text.substr(kEventStepPrefix.size());
    std::size_t index = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), index);
    if (ec == std::errc() && index > 0 && end != rest.data() + rest.size() && *end == '/') {
      event.kind = EventKind::Step;
      event.step = index - 1;
    }
  } else if (starts_with(text, kEventCapturePrefix)) {
    event.kind = EventKind::Capture;
    event.subject = std::string(text.substr(kEventCapturePrefix.size()));
  } else if (starts_with(text, kEventWatchpointPrefix)) {
    event.kind = EventKind::Watchpoint;
  }
}

}  // namespace

std::vector<EventLine> parse_events_log(std::string_view text, std::size_t max_lines, std::size_t* dropped) {
  std::vector<EventLine> events;
  std::size_t skipped = 0;
  double last = 0;
  while (!text.empty()) {
    std::size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (line.empty()) continue;
    if (events.size() >= max_lines) {
      ++skipped;
      continue;
    }
    EventLine event;
    event.seconds = last;
    std::string_view body = line;
    std::size_t start = line.find_first_not_of(' ');
    std::size_t space = start == std::string_view::npos ? start : line.find(' ', start);
    if (space != std::string_view::npos) {
      double seconds = 0;
      auto [end, ec] = std::from_chars(line.data() + start, line.data() + space, seconds);
      if (ec == std::errc() && end == line.data() + space) {
        event.seconds = last = seconds;
        body = line.substr(space + 1);
      }
    }
    event.text = std::string(body);
    classify(event);
    events.push_back(std::move(event));
  }
  if (dropped) *dropped = skipped;
  return events;
}

}  // namespace ktest::cli
