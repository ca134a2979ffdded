#pragma once
// The limits of kopt optimize's numeric options, in one table: the CLI checks what is
// given (cli/validators.hpp) and run_schema.cpp what a resumed run's run.json holds, so
// the two cannot drift apart (a run started with a value its own resume would refuse).
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kopt::core {

// The longest timeout kopt takes, in seconds (11.6 days): a larger one overflows the
// deadline it becomes ("--call-timeout 1e10" read as a deadline already passed).
inline constexpr double kMaxTimeoutSeconds = 1e6;

struct OptionRange {
  const char* key;    // the field in run.json's "options"
  const char* flag;   // the CLI option that sets it
  double low;
  bool inclusive;     // low itself is allowed
  double high;        // allowed
  bool integer;       // a count (CLI11's Range checks it, with its own message)
  const char* unit;   // in the CLI's message ("seconds", "USD"); "" for counts
  // A value below `low` that run.json holds for "no limit" (the default, which the CLI
  // never takes): run.json may hold anything from it up to `high`. NaN: none.
  double none = std::numeric_limits<double>::quiet_NaN();
};

// In the order run_schema.cpp reports them (the first out of range is the one named).
inline constexpr std::array<OptionRange, 12> kOptionRanges{{
    {"trials", "--trials", 2, true, 1000, true, ""},
    {"final_trials", "--final-trials", 2, true, 1000, true, ""},
    {"final_top", "--final-top", 0, true, 100, true, ""},
    {"candidates_per_round", "--candidates-per-round", 1, true, 256, true, ""},
    {"jobs", "--jobs", 1, true, 1024, true, ""},
    {"max_candidates", "--max-candidates", 1, true, 100000, true, ""},
    {"patience", "--patience", 0, true, 100000, true, ""},
    {"import_timeout", "--import-timeout", 0, false, kMaxTimeoutSeconds, false, "seconds"},
    {"call_timeout", "--call-timeout", 0, false, kMaxTimeoutSeconds, false, "seconds"},
    {"time_budget_s", "--time-budget", 0, true, 1e9, false, "seconds"},  // 0: none
    {"max_cost", "--max-cost", 0, true, 1e9, false, "USD", -1},
    {"max_tokens_total", "--max-tokens-total", 0, true, 2e9, true, "", -1},
}};

// The range of run.json's options.<key>. Throws std::logic_error for a key not in the
// table (kopt's own bug: the keys are literals in kopt's code).
inline const OptionRange& option_range(std::string_view key) {
  for (const auto& r : kOptionRanges)
    if (key == r.key) return r;
  throw std::logic_error("no option range for \"" + std::string(key) + "\"");
}

// Whether `v` is finite, above `low` (or at least `low` when `inclusive`) and at most `high`:
// the one range test of the CLI's checks and run.json's.
inline bool in_range(double low, bool inclusive, double high, double v) {
  return std::isfinite(v) && (inclusive ? v >= low : v > low) && v <= high;
}

// Whether `v` is within `r` as the CLI takes it (`none` is not taken).
inline bool in_option_range(const OptionRange& r, double v) { return in_range(r.low, r.inclusive, r.high, v); }

}  // namespace kopt::core
