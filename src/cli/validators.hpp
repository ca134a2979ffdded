#pragma once
// Number checks for options, with short messages: CLI11's PositiveNumber lets NaN through
// and its ranges print the largest double in full, and a huge value would overflow the
// deadline or limit it becomes ("--call-timeout 1e10" read as a deadline already passed,
// "--candidate-max-memory 1e30" as a tiny address space).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cmath>
#include <string>

#include "kopt/core/optimize.hpp"

namespace kopt::cli {

// A finite number above `low` (or at least `low` when `inclusive`) and at most `high`, in `unit`.
inline CLI::Validator number_in(double low, bool inclusive, double high, const std::string& unit) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != text.size()) return "not a number: " + text;
        const bool low_ok = inclusive ? v >= low : v > low;
        if (!std::isfinite(v) || !low_ok || v > high)
          return fmt::format("must be {} {} and at most {} {} (it is {})", inclusive ? "at least" : "more than", low,
                             high, unit, text);
        return "";
      },
      unit == "seconds" ? "SECONDS" : "", "number_in");
}

// Seconds for a timeout: above 0, at most core::kMaxTimeoutSeconds.
inline CLI::Validator timeout_seconds() { return number_in(0, false, core::kMaxTimeoutSeconds, "seconds"); }

}  // namespace kopt::cli
