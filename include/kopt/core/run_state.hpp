#pragma once
// The state of one `kopt optimize` run, as it lives in its run directory
// (docs/optimize.md): run.json (the run and its baselines) and one record.json per
// candidate (candidates/NNNN/record.json, the source of truth for that candidate).
// Every file is written atomically (temp file, fsync, rename), so a run killed at any
// instant (even SIGKILL) leaves a directory from which the state is rebuilt.
// POSIX calls only: no std::filesystem (a pip libtorch.so interposes it).
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kopt/util/result.hpp"

namespace kopt::core {

// One candidate of a run. Times are UNIX epoch seconds (comparable across resumes).
struct CandidateRecord {
  int id = 0;             // >= 1; its folder is candidates/NNNN
  int round = 0;          // round that proposed it (1-based)
  // queued (source saved, not evaluated yet) | running (being evaluated) | done |
  // pending (a provider request without a reply yet)
  std::string status = "queued";
  std::string strategy;   // builtin strategy, replay file name, "first_attempt", "refine"
  std::string origin;     // where it came from (generator name and detail)
  int parent = 0;         // the candidate it refines (0: none)
  // Once done: an eval outcome name (correct, wrong_result, ...), or no_candidate (a reply
  // without code), provider_error (the request failed).
  std::string outcome;
  std::string check;      // deciding rule for a non-correct outcome
  std::string reason;     // one line
  std::optional<double> median_ms;  // ranking time (timing "rank")
  std::optional<double> speedup;    // baseline best_ms / median_ms
  std::string timing_error;         // why no ranking time (correct candidates only)
  nlohmann::json claim;   // null, or the final gate: {outcome, median, low, high, pairs, faster, ...}
  nlohmann::json ncu;     // null, or --ncu's profile of a correct candidate: {ok, kernels, text} / {ok, error}
  double proposed_at = 0, verify_start = 0, verify_end = 0;
  // The span the candidate held the device for timing (epoch seconds; 0: not timed).
  double timing_start = 0, timing_end = 0;
  long long input_tokens = 0, output_tokens = 0;
  bool tokens_estimated = false;  // counted from the text (files provider), not reported by a server
  double cost_usd = 0;
};

nlohmann::json record_json(const CandidateRecord& record);
// Failure kind "state" when a required field is missing or of the wrong type.
Result<CandidateRecord> record_from_json(const nlohmann::json& j);

// The whole run: header from run.json, candidates from their record files.
struct RunState {
  std::string dir;
  nlohmann::json header;  // workload, device, options, baseline, sessions, status, ...
  std::map<int, CandidateRecord> candidates;
  int next_id() const { return candidates.empty() ? 1 : candidates.rbegin()->first + 1; }
};

// "0007"
std::string candidate_dir_name(int id);

// Writes `content` to `path` atomically (PATH.tmp.PID, fsync, rename). Failure kind "io".
Status write_atomic(const std::string& path, const std::string& content);
// Reads a whole file; nullopt when missing or unreadable.
std::optional<std::string> read_text(const std::string& path);
bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path);
// Names in `dir` (no "." or ".."), sorted; empty when unreadable.
std::vector<std::string> list_dir(const std::string& dir);
// Creates `path` and its missing parents. Failure kind "io".
Status make_dirs(const std::string& path);

// Writes candidates/NNNN/record.json. Failure kind "io".
Status save_record(const std::string& run_dir, const CandidateRecord& record);
// Writes run.json from `state.header` plus a summary of the candidates. Failure kind "io".
Status save_run(const RunState& state);
// Rebuilds the state of the run in `dir`: run.json, then every candidates/*/record.json.
// A candidate folder without a readable record (killed before it was written) is ignored.
// Failure kinds "io" (no run.json), "state" (run.json unreadable).
Result<RunState> load_run(const std::string& dir);

}  // namespace kopt::core
