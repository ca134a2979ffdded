#pragma once
// Run directories written by hand for the report tests, in the shapes `kopt optimize`
// leaves them (docs/optimize.md): finished, interrupted, killed mid-run, waiting for
// replies, every candidate failed, a suite whose first workload had no baseline. Each
// function returns the directory it made under `root`.
#include <nlohmann/json.hpp>
#include <string>

namespace kopt::testing {

// How many times `needle` occurs in `text` (candidate sections in a page, open ones).
inline size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// What a candidate's reason and source carry in the fixtures: markup a report must escape.
inline constexpr const char* kInjected = "<script>alert('pwned')</script>";

// run.json's header for a run of workload `name` on the CPU with the given status; a
// baseline at 2 ms unless `baseline_ok` is false.
nlohmann::json run_header(const std::string& name, const std::string& status, bool baseline_ok = true);
// record.json of a finished candidate (status done) with `outcome`; correct ones get a
// ranking time `ms` and speedup 2 / ms.
nlohmann::json candidate(int id, int round, const std::string& outcome, double ms = 0, int parent = 0);
// Writes run.json (header plus a summary when `summary` is an object), baseline.json
// (when the baseline is ok), workload.py and each record with a candidate.py.
void write_run(const std::string& dir, const nlohmann::json& header, const std::vector<nlohmann::json>& records,
               const nlohmann::json& summary);
// The summary kopt writes at a stop, computed from the records (best: the fastest correct).
nlohmann::json summary_of(const nlohmann::json& header, const std::vector<nlohmann::json>& records);

std::string finished_run(const std::string& root);        // 3 candidates, 0003 refines 0001 and is confirmed faster
std::string interrupted_run(const std::string& root);     // status interrupted, one candidate interrupted mid-trials
std::string killed_run(const std::string& root);          // no summary: kill -9 while candidate 2 was running
std::string waiting_run(const std::string& root);         // files provider, candidates 2 and 3 pending with prompts
std::string all_failed_run(const std::string& root);      // every candidate failed; kInjected in reason and source
std::string suite_with_failed_baseline(const std::string& root);  // suite.json: input_error, finished, not started

}  // namespace kopt::testing
