// The expression language's call vocabulary, shared by the parser (arity and
// "did you mean" checks) and the evaluator. Internal to dsl/.
#pragma once

#include <string>
#include <vector>

namespace ktest::dsl {

enum class ArgKind {
  None,       // no argument
  String,     // one string literal: a name or a dotted path
  Int,        // one integer expression
  Predicate,  // one expression evaluated per entry (bare names = entry fields)
  IdOrName,   // one integer expression, or a string literal naming it
};

struct Signature {
  const char* name;
  int arity;
  ArgKind arg;
  const char* example;  // shown in hints
};

const Signature* find_root(const std::string& name);    // var, map, pid, ...
const Signature* find_method(const std::string& name);  // find, get, as_u64, ...
const std::vector<std::string>& root_names();
const std::vector<std::string>& method_names();

}  // namespace ktest::dsl
