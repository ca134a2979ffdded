#pragma once
// `kopt optimize`: the search loop (DESIGN.md, "The loop"; docs/optimize.md). Per
// workload: baselines once, then rounds of candidates from a Generator, verified in
// parallel and timed one at a time, feedback into the next round, budgets, a final gate
// on the top few, best.py and report.md, all written to the run directory as it happens.
#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kopt/core/eval.hpp"
#include "kopt/core/generator.hpp"
#include "kopt/core/timing.hpp"
#include "kopt/util/result.hpp"

namespace kopt::core {

class GpuGate;

// Exit codes of kopt optimize (README, "Exit codes").
inline constexpr int kExitFaster = 0;       // a correct candidate faster than the best baseline
inline constexpr int kExitUsage = 2;        // usage or input error
inline constexpr int kExitNotFaster = 3;    // no faster correct candidate
inline constexpr int kExitWaiting = 4;      // requests wait for replies (files provider); --resume later
inline constexpr int kExitInterrupted = 130;

struct OptimizeOptions {
  std::vector<std::string> workloads;  // files (or folders, expanded by the CLI)
  std::string out;                     // run directory (one workload) or parent (several)
  std::string resume;                  // --resume DIR
  int refine_from = 0;                 // --from CANDIDATE_ID (with --resume)
  // --rebaseline (with --resume): a run moved to another device times its baselines again
  // there and evaluates its candidates again; the earlier device's baseline goes to
  // run.json's earlier_baselines, its candidates' reports to candidates/NNNN/before-rebaseline/.
  bool rebaseline = false;
  std::string device = "cpu";
  std::string python;
  std::string precision = "fp32";
  std::string target;
  bool eval_mode = false;
  bool allow_ties = false;
  int trials = 6;
  int final_trials = 24;               // trials of the final gate
  int final_top = 3;                   // candidates re-timed ABAB in the final gate
  int candidates_per_round = 4;
  int jobs = 0;                        // parallel evaluations (0: cores on cuda, 1 on cpu)
  bool prestart = true;                // the next candidates' workers start while earlier ones are verified
  int max_candidates = 32;
  double time_budget_s = 0;            // 0: none
  double max_cost = -1;                // < 0: none (LLM providers)
  long long max_tokens_total = -1;     // < 0: none (LLM providers)
  int patience = 3;                    // rounds without improvement before stopping
  double import_timeout = 600, call_timeout = 120;
  std::vector<std::string> compile_modes{"default"};
  std::vector<std::string> hints;
  CandidateLimits limits;              // --candidate-gpu-memory, --candidate-max-file, ...
  std::string ncu;                     // --ncu: Nsight Compute for the baseline (its metrics go into prompts)
  std::string work_dir;
  nlohmann::json provider;             // provider settings recorded in run.json (no secrets)
  std::vector<std::string> secrets;    // replaced by [REDACTED] in saved prompts and replies
  bool quiet = false, json = false, progress = false, color = false;
  // Called with the best result so far as one phrase ("best 1.23x (0004)", "best -") when
  // a run opens and after each round's evaluations, for a display that runs while the
  // generator blocks (a files provider waiting for replies). From the loop's thread.
  std::function<void(const std::string& best)> on_best;
  // The GPU gate when several workloads of a suite run at once (--workloads-at-once): one
  // gate for all, so no run's timing overlaps another's verification or timing. Null: the
  // run's own.
  GpuGate* gpu = nullptr;
  // KOPT_TIMING_* diagnostics (read once by the CLI): every baseline, ranking and claim.
  TimingDiagnostics timing_diagnostics;
};

// What one workload's run found (also the per-workload part of --json).
struct WorkloadResult {
  std::string workload, run_dir;
  std::string status;  // finished | interrupted | waiting | input_error | not_started
  std::string error;   // one line for input_error
  // not_started only: the run's status as its folder last saved it ("" for a new run),
  // whose summary (run.json's) then stands in `summary`: a finished run an interrupt kept
  // from being reached is still finished, and counts in the suite's figures.
  std::string saved_status;
  nlohmann::json summary;  // baselines, best, counts, speedups, gpu idle share
  int exit_code = kExitNotFaster;
  std::optional<double> best_speedup;  // claimed (final gate) speedup vs the best baseline
  bool faster = false;
};

// Builds the generator for a run (the CLI's provider choice); called once per workload.
using GeneratorFactory = std::function<Result<std::unique_ptr<Generator>>(const std::string& run_dir)>;

// Runs (or resumes) one workload. `stop` is polled; when set, in-flight workers are
// stopped, state is saved and the result says "interrupted". Never throws for bad input.
WorkloadResult optimize_workload(const OptimizeOptions& options, const std::string& workload,
                                 const std::string& run_dir, const GeneratorFactory& make_generator,
                                 const std::atomic<bool>& stop);

// ---- pure helpers (unit-tested) ------------------------------------------------------

// "90", "90s", "20m", "1h", "1h30m", "1.5h" -> seconds. Failure kind "usage".
Result<double> parse_duration(const std::string& text);
// "I/N" (0 <= I < N) -> {I, N}. Failure kind "usage".
Result<std::pair<int, int>> parse_shard(const std::string& text);
// The shard index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX in `env`
// ("NAME=value" entries), if either is set to an integer.
std::optional<int> shard_index_from_env(const std::vector<std::string>& env);
// The workloads of shard `index` of `count`: every count-th, starting at index, of the
// sorted list (so shards are disjoint and together cover the list).
std::vector<std::string> select_shard(std::vector<std::string> workloads, int index, int count);
// "linear_gelu" for ".../linear_gelu.py".
std::string workload_stem(const std::string& path);
// Each result's name in a suite's tables: its workload's stem, or, where two workloads share
// a stem (a/softmax.py and b/softmax.py), the run folder's name (softmax, softmax-2).
std::vector<std::string> suite_names(const std::vector<WorkloadResult>& results);
// The suite summary over several results: per-workload best speedup, geometric mean,
// fast_p for p in {1.0, 1.5, 2.0} (fraction correct and faster than p x the best baseline),
// and each workload's ceiling (headroom()) with their geometric mean over those that have one.
nlohmann::json suite_summary(const std::vector<WorkloadResult>& results);
// The result of a workload this session did not reach (an interrupt came first): status
// not_started, with what its run folder saved (saved_status, run.json's summary, the gate's
// speedup) where run.json holds them; a damaged or absent run.json gives no summary.
WorkloadResult unreached_result(const std::string& workload, const std::string& run_dir);
// The order a suite's runs start in (indices into run_dirs): those that only have their
// final gate left (run.json's gate_left, from a session stopped during it) after the rest,
// each group in the suite's order. Side by side (--workloads-at-once) a gate holds its slot
// for minutes, and a run still searching, whose results write the next prompts, waited
// behind four of them in two calls of the quality suite.
std::vector<size_t> start_order(const std::vector<std::string>& run_dirs);
// The share of `window` intervals during which no timing ran: [start, end] intervals
// when candidates were waiting, and the busy [start, end] timing intervals. 0..1.
double idle_share(const std::vector<std::pair<double, double>>& waiting,
                  const std::vector<std::pair<double, double>>& busy);
// A candidate's distance to the workload's speed-of-light bound: the baseline's bound
// figures (run.json baseline.sol: seconds, memory_seconds, compute_seconds, bytes, flops,
// bound, precision) with the fractions recomputed for `median_ms`. Null when the bound
// or the time is missing or not a positive number.
nlohmann::json sol_at(const nlohmann::json& bound, double median_ms);
// How much faster than the best baseline any implementation could be: that baseline's
// distance to the speed-of-light bound (run.json baseline.sol) at its median `best_ms`:
// {baseline, bound, precision, seconds, fraction_of_light, ceiling = 1 / fraction}. A
// memory bound's ceiling holds for any implementation; a compute bound's holds at its
// peak (an error-compensated tensor-core scheme can pass the fp32 FMA peak). A baseline
// faster than the bound gets "below_light": true and no ceiling (the bound's inputs are
// off; the baseline's text names the likely cause). Null without a bound or a time.
nlohmann::json headroom(const nlohmann::json& bound, const std::string& baseline, double best_ms);
// A memory bound's copy test: its copy_fraction (a plain copy's share of the peak
// bandwidth, from the baseline), or 0 for a compute bound, no copy test, or a figure
// outside (0, 1.5], which is damage, not a copy. The headroom and the choice of ideas read it.
double copy_fraction(const nlohmann::json& sol);
// A ceiling below this is worth a warning before the search starts (the baseline is
// within 10% of the bound).
inline constexpr double kLittleHeadroom = 1.1;
// Where the final gate's medians of the baselines (a claim's baselines_ms) and the run's
// baseline measurement (a summary's baselines: eager, compiled) disagree by more than the
// gate's null spread, at least kDriftFloor: [{baseline, run_ms, gate_ms, change}] (change =
// gate / run - 1), [] when they agree or nothing can be held against each other. The
// gate's speedups stand (they time candidate and baselines alternately in one process);
// ranking figures and the ceiling came from the run's measurement.
nlohmann::json baseline_drift(const nlohmann::json& baselines, const nlohmann::json& claim);
// The headroom where the final gate's figure of the best baseline stands: `room` with the
// distance recomputed at the gate's median (and "timed_by": "gate") when `drift` names
// `best`; else `room` as it is.
nlohmann::json headroom_after_drift(const nlohmann::json& room, const nlohmann::json& drift, const nlohmann::json& bound,
                                    const std::string& best);
// From a claim's timing (claim.json "timing"): {baselines_ms: {eager, compile:MODE: median},
// null_spread}, the fields baseline_drift() reads; {} without timed baselines.
nlohmann::json gate_baselines(const nlohmann::json& timing);
inline constexpr double kDriftFloor = 0.03;
// baseline_drift() as one line, "" for none: "the final gate timed compile:default at
// 0.4799 ms, 9.8% slower than the run's baseline (0.4371 ms); ...".
std::string baseline_drift_text(const nlohmann::json& drift);
// run.json's earlier_baselines (--rebaseline) as one phrase: "timed again on this device
// (--rebaseline); before: compile:default 0.4814 ms on NVIDIA H200"; "" when none.
std::string earlier_baselines_text(const nlohmann::json& earlier);
// headroom() as one line: "speed of light 0.3355 ms (memory-bound, fp32): compile:default
// is at 88.9% of it, so at most 1.12x is left"; "" for null.
std::string headroom_text(const nlohmann::json& headroom);
// A ranked candidate's speedup for the log: ", speedup: 1.126x (ranking quartiles
// 1.102-1.151)"; without a quartile range ", speedup: 1.126x (ranking)"; "" untimed.
std::string ranking_speedup_text(const CandidateRecord& r);
// "quartiles 1.102-1.151; " from a summary's best (ranking_low, ranking_high), "" without.
std::string ranking_range_text(const nlohmann::json& best);
// A torch.profiler profile ({"kernels": [{name, share, us_per_call, launches_per_call}],
// "bytes", "flops", "math": {cudnn_allow_tf32, matmul_allow_tf32}}) as the prompt's table:
// "torch.profiler, WHOSE, per call (...)" and its top 8 kernels (names cut at 160
// characters), then the work per call and the math settings where recorded. "" without
// kernels. Fields of the wrong type count as absent (the profile comes from a run directory).
std::string profile_table(const nlohmann::json& profile, const std::string& whose);
// The baseline's text (run.json baseline.text) without its "top kernels (eager, per
// call):" block: prompts give the reference's kernels in full in their own table
// (profile_table), so the Timing and Baseline sections need not repeat them cut short.
std::string baseline_without_kernels(const std::string& text);
// The target GPU for a prompt from the baseline's device facts (run.json baseline.device:
// name, capability, sm_count, memory, L2, the --target preset's peaks, the software, the
// clocks when the baselines ran) in a few lines; "CPU (no GPU): ..." on the CPU.
std::string target_summary(const nlohmann::json& device);
// A ranked, profiled record without a distance to the bound (ranking profiles the candidate
// but bounds only the claim's) takes it from the run's bound and its ranking median
// (profile.sol: the refine prompt's "Speed of light" line). Records ranked before the
// thirteenth session have none, so a resumed run fills them in too.
void bound_ranked_profile(CandidateRecord& r, const nlohmann::json& bound);

}  // namespace kopt::core
