#pragma once
// The one place the command line prints an error: one line, "kopt: error: MESSAGE", on
// stderr; the result is the usage/input-error exit code, 2 (kExitUsage). Under a
// subcommand's --json (json_errors), stdout also gets the error as the command's one JSON
// document, {"error": MESSAGE, "exit_code": 2}, so a script reading stdout always reads JSON.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "kopt/core/optimize.hpp"
#include "kopt/util/json.hpp"

namespace kopt::cli {

// Whether errors also go to stdout as JSON: set once the command line asked for --json.
inline bool& json_errors() {
  static bool on = false;
  return on;
}

inline void print_json_error(const std::string& message, int code) {
  std::cout << util::dump_json(nlohmann::json{{"error", message}, {"exit_code", code}}, 2) << std::endl;
}

inline int usage_error(const std::string& message) {
  std::cerr << "kopt: error: " << message << std::endl;
  if (json_errors()) print_json_error(message, core::kExitUsage);
  return core::kExitUsage;
}

}  // namespace kopt::cli
