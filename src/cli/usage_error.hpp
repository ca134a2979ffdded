#pragma once
// The one place the command line prints an error: one line, "kopt: error: MESSAGE", on
// stderr; the result is the usage/input-error exit code, 2 (kExitUsage).
#include <iostream>
#include <string>

#include "kopt/core/optimize.hpp"

namespace kopt::cli {

inline int usage_error(const std::string& message) {
  std::cerr << "kopt: error: " << message << std::endl;
  return core::kExitUsage;
}

}  // namespace kopt::cli
