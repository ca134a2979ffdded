#pragma once
// The shape of a run directory's JSON files (private to src/core/optimize): run.json's
// header, candidates/NNNN/record.json and suite.json, checked field by field before they
// are used, so that a damaged or foreign file is one line naming the field, never a JSON
// library exception later.
#include <nlohmann/json.hpp>
#include <string>

namespace kopt::core {

// Each returns "" when `j` is usable, else one line such as
// `field "options.trials" must be an integer (it is a string)` or `field "workload" is missing`.
std::string run_header_error(const nlohmann::json& j);
// run.json's "summary" alone (a suite reads it for a workload an interrupt kept it from reaching).
std::string run_summary_error(const nlohmann::json& j);
std::string record_error(const nlohmann::json& j);
std::string suite_error(const nlohmann::json& j);

}  // namespace kopt::core
