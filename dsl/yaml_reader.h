// Internal to dsl/: typed reads of YAML nodes that report located errors
// into a LoadState instead of throwing. Every reader returns nullopt after
// reporting; callers keep going so one load reports every problem.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dsl/loader_state.h"
#include "dsl/scenario.h"

namespace ktest::dsl {

class FieldReader {
 public:
  explicit FieldReader(LoadState& state) : state_(state) {}
  LoadState& state() { return state_; }

  Location loc(const YAML::Node& node) const;
  int width(const YAML::Node& node) const;  // caret length of a scalar as written
  void error(const YAML::Node& at, std::string message, std::string hint = {});

  // The keys of a mapping, in order, without duplicates. Reports unknown keys
  // (hint: nearest allowed key) and duplicate keys. `what` names the mapping
  // in messages ("vm", "Spawn"). Reports and returns {} when not a mapping.
  using Fields = std::vector<std::pair<std::string, YAML::Node>>;
  Fields fields(const YAML::Node& map, const std::vector<std::string>& allowed,
                const std::string& what, const std::string& example);
  static const YAML::Node* find(const Fields& fields, const std::string& key);
  // Reports "<what> needs '<key>'" at `owner` when the key is missing.
  const YAML::Node* require(const Fields& fields, const std::string& key, const YAML::Node& owner,
                            const std::string& what, const std::string& example);

  std::optional<std::string> string(const YAML::Node& node, const std::string& field);
  std::optional<int64_t> integer(const YAML::Node& node, const std::string& field, int64_t lo,
                                 int64_t hi);
  std::optional<std::chrono::nanoseconds> duration(const YAML::Node& node, const std::string& field);
  std::optional<uint64_t> size(const YAML::Node& node, const std::string& field);
  // A string (run by /bin/sh -c) or a non-empty list of strings (argv).
  std::optional<Command> command(const YAML::Node& node, const std::string& field);
  // {object, ops?, name?} (or a plain object path; relative to `dir`), or
  // {command, ops?, name?, timeout?}: exactly one of object and command.
  std::optional<SchedulerRef> scheduler(const YAML::Node& node, const YAML::Node& owner,
                                        const std::string& what, const std::string& dir);
  // A loader's argv: a non-empty list whose program is a bare name or an
  // absolute path (the vm.tools rule).
  std::optional<std::vector<std::string>> loader_command(const YAML::Node& node);
  // A list of non-empty strings; `example` goes into the hint.
  std::optional<std::vector<std::string>> string_list(const YAML::Node& node, const std::string& field,
                                                      const std::string& example);

 private:
  LoadState& state_;
};

// `object` resolved against `dir` (absolute paths kept), `name` defaulting
// to the object's file stem without ".bpf.o"/".o".
BpfObjectRef resolve_object(const std::string& object, const std::string& name, Location loc,
                            const std::string& dir);

// Steps: reads the `steps` sequence (scenario_steps.cpp).
std::vector<Step> read_steps(const YAML::Node& steps, FieldReader& reader, const std::string& dir);

}  // namespace ktest::dsl
