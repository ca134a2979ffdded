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

#include "kopt/sandbox/isolation.hpp"
#include "kopt/util/result.hpp"

namespace kopt::core {

// One candidate of a run. Times are UNIX epoch seconds (comparable across resumes).
struct CandidateRecord {
  int id = 0;             // >= 1; its folder is candidates/NNNN
  int round = 0;          // round that proposed it (1-based)
  // queued (source saved, not evaluated yet) | running (being evaluated) | done |
  // pending (a provider request without a reply yet) | interrupted (its evaluation was
  // stopped by SIGINT/SIGTERM; evaluated again on --resume, like queued and running)
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
  // The ranking's quartile range of that ratio: the best baseline's Q1 / the candidate's Q3
  // to its Q3 / the candidate's Q1 (both timed by kopt, at different times: a spread, not
  // the final gate's confidence interval). Absent for runs timed before kopt kept it.
  std::optional<double> speedup_low, speedup_high;
  std::string timing_error;         // why no ranking time (correct candidates only)
  nlohmann::json claim;   // null, or the final gate: {outcome, median, low, high, pairs, faster, ...}
  // The candidate worker's confinement layers, as the evaluation reported them: {name:
  // {active, detail}} (docs/eval.md, "isolation"); null before it was evaluated.
  nlohmann::json isolation;
  nlohmann::json ncu;     // null, or --ncu's profile of a correct candidate: {ok, kernels, text} / {ok, error}
  // null, or torch.profiler's profile of a timed candidate after its ranking timing
  // ({kernels: [{name, us_per_call, launches_per_call, share}], bytes, flops} / {error}).
  nlohmann::json profile;
  double proposed_at = 0, verify_start = 0, verify_end = 0;
  // The span the candidate held the device for timing (epoch seconds; 0: not timed).
  double timing_start = 0, timing_end = 0;
  // The phases of its latest evaluation as each ended, in order: [{name, seconds, end}]
  // (end: epoch seconds). Written while it runs, so a run killed or interrupted mid-way
  // keeps how far it got.
  nlohmann::json phases = nlohmann::json::array();
  // The last lines of the candidate worker's log while running or once interrupted (a
  // finished candidate's whole log is candidates/NNNN/log); empty otherwise.
  std::string log_tail;
  // A sandbox kept with the candidate's build caches for its final-gate claim (one of the
  // run's top candidates), named here so that a later session's claim reuses the build
  // (sandbox::is_kept_sandbox checks it first); "" when none is kept.
  std::string build_sandbox;
  long long input_tokens = 0, output_tokens = 0;
  bool tokens_estimated = false;  // counted from the text (files provider), not reported by a server
  double cost_usd = 0;
};

nlohmann::json record_json(const CandidateRecord& record);
// Failure kind "state" when a field is missing or of the wrong type: one line naming the
// field (`field "status" is missing`).
Result<CandidateRecord> record_from_json(const nlohmann::json& j);
// The message of a JSON library exception without its "[json.exception.type_error.302] "
// prefix (kopt prints no library exception as it is).
std::string json_error_text(const std::exception& e);

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
// write_atomic, with a warning naming the file when it fails (a folder in the way, a full
// disk): for files whose loss does not stop the run (reports, logs, prompts).
void write_or_warn(const std::string& path, const std::string& content);
// Reads a whole regular file; nullopt when missing, unreadable or not a regular file.
std::optional<std::string> read_text(const std::string& path);
// Whether a file's text looks like a KernelBench workload: it defines `class Model(` and
// `def get_inputs` (a folder's workloads are its files that do).
bool looks_like_workload(const std::string& text);
bool is_directory(const std::string& path);
// The path with links and ".." resolved (realpath), or as given where it cannot be.
std::string real_path(const std::string& path);
bool is_regular_file(const std::string& path);
// Names in `dir` (no "." or ".."), sorted; empty when unreadable.
using sandbox::list_dir;
// Creates `path` and its missing parents. Failure kind "io".
Status make_dirs(const std::string& path);

// Writes candidates/NNNN/record.json. Failure kind "io".
Status save_record(const std::string& run_dir, const CandidateRecord& record);
// Writes run.json from `state.header` plus a summary of the candidates. Failure kind "io".
Status save_run(const RunState& state);
// Rebuilds the state of the run in `dir`: run.json, then every candidates/*/record.json.
// A candidate folder without a record (killed before it was written) is ignored. Every
// field read back is checked first. Failure kinds "io" (no run.json), "state" (a damaged
// or foreign run.json or record.json: one line naming the file and the field).
Result<RunState> load_run(const std::string& dir);

// The absolute form of an existing path (realpath); `path` itself when it cannot be resolved.
std::string absolute_path(const std::string& path);

// One workload of a suite directory (several workloads in one `kopt optimize`).
struct SuiteEntry {
  std::string workload;  // the workload file, absolute; empty in an older suite.json (runs only)
  std::string run_dir;   // its run directory (run.json is there once the run has started)
};
// Writes DIR/suite.json: {"kopt_suite": 1, "workloads": [{"workload", "run"}, ...]}, run
// directories inside DIR written relative to it. Failure kind "io".
Status save_suite(const std::string& dir, const std::vector<SuiteEntry>& entries);
// Reads DIR/suite.json (also an older {"runs": [DIR, ...]}); relative run directories
// are resolved against DIR. Failure kinds "io" (unreadable), "state" (damaged: one line
// naming the file and the field).
Result<std::vector<SuiteEntry>> load_suite(const std::string& dir);

}  // namespace kopt::core
