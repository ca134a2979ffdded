#pragma once
// `kopt eval`: verify one candidate against one workload (DESIGN.md, "Verification").
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <mutex>

#include "kopt/core/gpu_gate.hpp"

#include "kopt/core/outcome.hpp"
#include "kopt/core/timing.hpp"
#include "kopt/verify/compare.hpp"

namespace kopt::core {

// One phase of an evaluation that has just ended (EvalOptions::on_phase).
struct EvalPhase {
  std::string name;             // a phase_seconds key: setup, reference_start, candidate_import, ...
  double seconds = 0;           // this phase's time (kopt's clock)
  std::string candidate_log;    // the candidate worker's log so far (stripped, redacted)
};

// Limits on a candidate worker (docs/ARCHITECTURE.md, "Candidate isolation").
struct CandidateLimits {
  double gpu_memory_fraction = 0.5;  // of the device, through torch's caching allocator; 0: none
  double max_file_gib = 16;          // RLIMIT_FSIZE: the largest file it may write
  double max_memory_gib = 0;         // RLIMIT_AS on cpu (0: three quarters of the host's memory)
  long cpu_seconds = 6 * 3600;       // RLIMIT_CPU, a backstop behind the per-phase deadlines
  long process_margin = 1024;        // RLIMIT_NPROC: the user's tasks at start plus this
};

class Prestarts;

struct EvalOptions {
  std::string reference;          // workload file (Model, get_inputs, get_init_inputs)
  std::string candidate;          // candidate file (ModelNew)
  std::string device = "cpu";     // cpu | cuda
  std::string python;             // --python (empty: KOPT_PYTHON, then search)
  std::string precision = "fp32"; // lowest precision the candidate may compute in
  int trials = 6;                 // ordinary trials; four stress trials are added
  bool eval_mode = false;         // call both models in eval mode
  bool allow_ties = false;
  double import_timeout = 600;    // seconds: start-up, import and build of a worker
  double call_timeout = 120;      // seconds: init and each call
  double recheck_seconds = 0.05;  // wait before re-reading outputs (background writers)
  // Where outputs are compared: "auto" (on the device by the reference worker's comparer
  // when the device is cuda and CUDA IPC works there, else in kopt), "device", "host".
  std::string compare = "auto";
  int max_unchecked = 3;          // unchecked calls before each checked trial: 0..max, drawn at run time
  std::string work_dir;           // parent of the sandbox (default: $TMPDIR or /tmp)
  bool keep_work = false;         // keep the sandbox for inspection
  // Keep the candidate's build caches (its sandbox's cache/: torch extensions, Triton,
  // inductor) when the evaluation ends: report.kept_sandbox names the sandbox, which the
  // caller then owns (kopt optimize hands it to the candidate's final-gate claim).
  bool keep_builds = false;
  // A sandbox an earlier evaluation of the same candidate source kept (keep_builds): this
  // evaluation runs in it, so a load_inline build finds its objects at the same paths and
  // is not redone (ninja compares the command lines, which hold the paths). Emptied first
  // except the caches; removed at the end. Empty or not a directory: a fresh sandbox.
  std::string reuse_sandbox;
  bool announce = false;          // log each phase as it ends (kopt eval: minutes on large outputs)
  // Timing after a correct verdict: "none"; "rank" (the candidate timed once in its
  // verifying process: report.timing["candidate"]); "claim" (a fresh candidate process
  // timed ABAB against eager and torch.compile: report.timing["speedup"]).
  std::string timing = "none";
  std::string target;             // --target preset (empty: the device's own)
  // The device a run's baselines were measured on (kopt optimize): a GPU's name, on a CPU
  // the host CPU's model. When the reference says it runs on another, nothing is run and
  // the report says so (reference_failed_at = device): times from two devices are never
  // ranked together. Empty: no expectation.
  std::string expect_device;
  std::vector<std::string> compile_modes{"default"};
  TimingOptions timing_options;
  // The longest opening sleep of the run's baselines (kopt baseline, µs; 0: unknown): in
  // ranking the candidate's own sleep may grow to it, no further (stopwatch.hpp).
  double baseline_head_us = 0;
  std::string ncu;                // --ncu: Nsight Compute to run a correct candidate under (report.ncu)
  CandidateLimits limits;
  // Held exclusively while timing (the GPU to itself) and shared during verification calls.
  GpuGate* exclusive = nullptr;
  // With `exclusive`, on CUDA: hold its residency from the first verification call until the
  // workers are gone (GpuGate::residency; kopt optimize --workloads-at-once).
  bool resident = false;
  // Called as each phase ends, on the evaluating thread, before the next phase starts (kopt
  // optimize writes it into the candidate's record, so an interrupted or killed evaluation
  // leaves its phases and log behind). Must not throw. Empty: not called.
  std::function<void(const EvalPhase& phase)> on_phase;
  // Evaluations prepared ahead (prestart.hpp): run_eval takes the next one when set.
  Prestarts* prestarts = nullptr;
};

// The step of the reference's worker that failed: its process could not be spawned
// (worker), the interpreter and torch did not start (start), the workload file did not
// import (import), Model was not constructed (init).
// Where the reference failed; device: it runs on another device than the run's baselines
// (EvalOptions::expect_device).
enum class ReferencePhase { none, worker, start, import, init, device };

struct RuleStatus {
  std::string id;
  std::string title;
  std::string status;  // passed | failed | warning | not_applicable | not_implemented | not_run
  std::string detail;
};

struct EvalReport {
  Outcome outcome = Outcome::correct;
  std::string check;   // the rule or check that decided a non-correct outcome
  std::string reason;  // one line for people
  // The reference's step whose failure decided the outcome (input_error); none otherwise.
  ReferencePhase reference_failed_at = ReferencePhase::none;
  verify::ErrorFigures figures;  // worst over all trials
  int trials_run = 0;
  int trials_planned = 0;
  int calls_unchecked = 0;        // calls with fresh inputs between checked trials, their number drawn at run time
  std::string compare_where;      // "device" (the comparer on the GPU) or "host" (kopt)
  std::string compare_note;       // why host, where device was asked for or possible
  bool random_workload = false;
  std::vector<RuleStatus> rules;
  std::vector<std::string> notes;
  std::map<std::string, double> phase_seconds;
  nlohmann::json environment;     // python, torch, device, user the candidate ran as
  std::string kept_sandbox;       // options.keep_builds: the sandbox kept with the candidate's caches
  // Each confinement layer of the candidate worker: {name: {active, detail}} (docs/eval.md).
  nlohmann::json isolation = nlohmann::json::object();
  std::string candidate_log;      // stripped, redacted, capped
  std::string reference_log;
  // Present when options.timing != "none" and the candidate was correct:
  //   candidate: Timing json (median_ms, q1_ms, q3_ms, min_ms, ...)
  //   eager, compile:<mode>: Timing json (claim)
  //   speedup: {vs_eager, vs_compile, vs_best: {median, low, high, pairs, faster}} (claim)
  //   faster: bool (claim), null_spread, sol, cross_check
  nlohmann::json timing;
  // --ncu and a correct candidate: {ok, kernels, text} or {ok: false, error} (never a verdict).
  nlohmann::json ncu;
};

// Runs the whole evaluation. Never throws for a bad workload or candidate: those are
// outcomes (input_error for the workload). Throws only on kopt's own bugs.
EvalReport run_eval(const EvalOptions& options);

// The --json document (fields documented in docs/eval.md).
nlohmann::json report_json(const EvalReport& report, const EvalOptions& options);
// The human summary printed on stdout without --json.
std::string report_text(const EvalReport& report);
// The process exit code: 0 correct, 1 not correct, 2 input error.
int exit_code(const EvalReport& report);
// Whether the reference's worker could not start or import the workload (not its Model's
// construction, not for want of memory): where the workload's baseline ran, that is the
// machine's fault (a GPU, a driver or a module gone), not the workload's.
bool reference_could_not_start(const EvalReport& report);
// The reference ran on another device than options.expect_device: nothing was judged.
bool reference_on_other_device(const EvalReport& report);
// The identity a device is known by in kopt's records: a GPU's name, or on a CPU the host
// CPU's model (device facts "name" and "host_cpu"; empty when unknown).
std::string device_identity(const nlohmann::json& facts, const std::string& device);

}  // namespace kopt::core
