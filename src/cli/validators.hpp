#pragma once
// Number checks for options, with short messages: CLI11's PositiveNumber lets NaN through
// and its ranges print the largest double in full, and a huge value would overflow the
// deadline or limit it becomes ("--call-timeout 1e10" read as a deadline already passed,
// "--candidate-max-memory 1e30" as a tiny address space).
#include <CLI/CLI.hpp>
#include <sys/stat.h>
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kopt/core/option_ranges.hpp"

namespace kopt::cli {

// "must be at least 0 and at most 1000000 seconds (it is 1e10)": a number (`text` as
// given) outside its range.
inline std::string out_of_range_text(double low, bool inclusive, double high, const std::string& unit,
                                     const std::string& text) {
  return fmt::format("must be {} {} and at most {}{} (it is {})", inclusive ? "at least" : "more than", low, high,
                     unit.empty() ? "" : " " + unit, text);
}

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
        return core::in_range(low, inclusive, high, v) ? "" : out_of_range_text(low, inclusive, high, unit, text);
      },
      unit == "seconds" ? "SECONDS" : "", "number_in");
}

// Seconds for a timeout: above 0, at most core::kMaxTimeoutSeconds.
inline CLI::Validator timeout_seconds() { return number_in(0, false, core::kMaxTimeoutSeconds, "seconds"); }

// The check of the option that run.json saves as `key` (core::option_range): CLI11's Range
// for a count, number_in for the rest. Throws std::logic_error for a key not in the table.
inline CLI::Validator option_range_check(const char* key) {
  const auto& r = core::option_range(key);
  if (r.integer) return CLI::Range(static_cast<int>(r.inclusive ? r.low : r.low + 1), static_cast<int>(r.high));
  return number_in(r.low, r.inclusive, r.high, r.unit);
}

// For a value the CLI reads itself (--time-budget's duration): out_of_range_text when
// `value` is outside `r`, else "".
inline std::string option_range_error(const core::OptionRange& r, double value, const std::string& text) {
  return core::in_option_range(r, value) ? "" : out_of_range_text(r.low, r.inclusive, r.high, r.unit, text);
}

// torch.compile's modes, and "none" (eager only): an empty or misspelt mode is refused
// here rather than reported later as a baseline that is "unavailable".
inline CLI::Validator compile_mode_check() {
  return CLI::IsMember({"default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs", "none"});
}

// "none" among the compile modes means eager only: it is dropped, leaving the real modes.
inline void drop_compile_mode_none(std::vector<std::string>& modes) {
  modes.erase(std::remove(modes.begin(), modes.end(), "none"), modes.end());
}

// A folder that exists, for --work-dir: a missing one would be reported as the workload's
// failure to start.
inline CLI::Validator existing_folder() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        struct stat st {};
        return stat(text.c_str(), &st) == 0 && S_ISDIR(st.st_mode) ? "" : "no such folder: " + text;
      },
      "DIR", "existing_folder");
}

}  // namespace kopt::cli
