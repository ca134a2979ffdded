#pragma once
// The pieces of the HTML report (html.cpp assembles them). Each takes parts of the report
// document (docs/report-schema.md) and returns HTML whose every run-derived text is escaped.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace kopt::report {

// "1.234" with `digits` decimals; "-" for a missing number.
std::string fixed(const std::optional<double>& x, int digits);
// A colour per outcome (correct, wrong_result, compile_error, ...); grey for others.
const char* outcome_color(const std::string& outcome);
// What a record is, for tables and markers: its outcome when done, else its status.
std::string record_state(const nlohmann::json& record);

// SVG: the best ranking speedup so far after each candidate (a step line), every correct
// candidate's own speedup as a dot, 1.0 (the best baseline) as a dashed line.
std::string speedup_plot(const nlohmann::json& records);
// SVG: every candidate's ranking time by round; failed ones along the bottom band, marked
// by outcome; the best baseline's median as a dashed line; log scale when times span 20x.
std::string time_plot(const nlohmann::json& records, std::optional<double> baseline_ms);

// The table of all candidates (each row linking to its section) and the sections, each
// collapsed in a <details>; `run_key` keeps anchors unique when a page holds several runs.
std::string candidates_html(const nlohmann::json& run, const std::string& run_key);
// The suite page's table: a row per workload, geometric mean, fast_p, counts by outcome.
std::string suite_html(const nlohmann::json& suite, const nlohmann::json& runs);

}  // namespace kopt::report
