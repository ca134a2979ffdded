#pragma once
// The files of one candidate's folder, read for reports (collect.cpp, show.cpp).
#include <nlohmann/json.hpp>
#include <string>

#include "kopt/core/run_state.hpp"

namespace kopt::report {

// The JSON in `path`, or null when it is missing or malformed (never throws).
nlohmann::json read_json_file(const std::string& path);
// At most `max` bytes of the file at `path` (empty when unreadable); `truncated` says
// whether it was longer.
std::string read_capped(const std::string& path, size_t max, bool* truncated = nullptr);
// RUN/candidates/NNNN
std::string candidate_folder(const std::string& run_dir, int id);
// The detail of the rule that decided a candidate's outcome, from its verify.json ("" when none).
std::string rule_detail(const nlohmann::json& verify, const std::string& check);
// One candidate as a row of the report document (docs/report-schema.md, "records").
nlohmann::json record_row(const std::string& run_dir, const core::CandidateRecord& record);

}  // namespace kopt::report
