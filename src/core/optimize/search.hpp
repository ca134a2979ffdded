#pragma once
// One workload's run of `kopt optimize` (private to src/core/optimize).
#include <atomic>
#include <chrono>
#include <mutex>

#include "kopt/core/gpu_gate.hpp"
#include <map>
#include <set>

#include "kopt/core/eval.hpp"
#include "kopt/core/optimize.hpp"
#include "kopt/core/timing.hpp"

namespace kopt::core {

double now_epoch();

class SearchRun {
 public:
  SearchRun(const OptimizeOptions& options, std::string workload, std::string run_dir,
            const GeneratorFactory& make_generator, const std::atomic<bool>& stop);
  WorkloadResult run();
  ~SearchRun();  // removes the build caches still held for claims (m_builds), unless the gate is still to come

 private:
  // search_loop.cpp
  Status open();
  bool baseline();
  // m_best_q1/q3 from run.json's baseline, else (runs started before kopt kept them there)
  // from baseline.json.
  void best_quartiles();
  void loop();
  bool budget_left(std::string& why);
  // Seconds spent on the search, which --time-budget limits: the run's time less the
  // baselines' measurement (under --workloads-at-once that waits for the others' timing).
  double search_seconds() const;
  // Every candidate is done with input_error (the workload itself fails): sets the status
  // input_error and the stop reason.
  bool unusable_workload();
  // The reference could not start although its baseline ran: status interrupted, why in
  // the stop reason (m_environment_failure); true when so.
  bool environment_failed();
  void add_proposals(std::vector<Proposal> proposals, int round, bool replace_ids, const std::vector<int>& ids);
  void evaluate(const std::vector<int>& ids, bool claim);
  void evaluate_one(int id, bool claim);
  // A phase of candidate `id`'s evaluation ended: its record gets the phase and the log's
  // tail (from the evaluating thread).
  void note_phase(int id, const EvalPhase& phase);
  // Candidate `id`'s evaluation kept its sandbox with its build caches (`sandbox`, or ""):
  // held for its final-gate claim while it ranks among the --final-top fastest correct
  // candidates; every held sandbox that no longer does is removed. Under m_mutex.
  void hold_builds(int id, const std::string& sandbox);
  // On resume: the builds an earlier session kept for claims (records' build_sandbox), held
  // again where the sandbox checks out and the claim is still to run; others are let go.
  void restore_builds();
  void progress(bool final = false);
  RoundRequest round_request(int round, int count);
  std::vector<int> take_pending_replies();
  nlohmann::json token_totals() const;
  std::string best_phrase() const;
  void publish_best();
  std::vector<int> ranked_correct() const;
  void save_header();
  void rebaseline();  // --rebaseline: see search_open.cpp
  // search_results.cpp
  void apply_eval(CandidateRecord& record, const EvalReport& report, const EvalOptions& eo, bool claim);
  EvalOptions eval_options(int id, bool claim) const;
  void final_gate();
  int choose_best() const;
  void write_outputs(int best);
  nlohmann::json summary(int best) const;
  std::string report_markdown(int best, const nlohmann::json& summary) const;
  std::string best_file(int best) const;
  // True when the final gate confirmed candidate `id` faster than the best baseline: the
  // only way a candidate becomes best.py.
  bool confirmed_faster(int id) const;
  // The baseline best.py falls back to: the fastest measured one ("eager",
  // "compile:MODE"), or "eager" when none was measured.
  std::string fallback_baseline() const;
  // best.py when no candidate is confirmed faster: the fallback baseline as a drop-in
  // ModelNew (the workload embedded). Fails on a baseline no builtin engine reproduces.
  Result<std::string> baseline_file() const;
  // One line for the summary, report.md and the terminal: what best.py is and why.
  std::string verdict(int best) const;

  const OptimizeOptions& m_opt;
  std::string m_workload, m_workload_abs, m_source;
  RunState m_state;
  const GeneratorFactory& m_make_generator;
  const std::atomic<bool>& m_stop;
  std::unique_ptr<Generator> m_generator;
  mutable std::mutex m_mutex;  // m_state and files written from pool threads
  GpuGate m_gpu;               // exclusive for run_eval / run_baseline timing, shared for verification calls
  // The gate this run uses: the suite's when workloads run at once, else m_gpu.
  GpuGate& gate() const { return m_opt.gpu ? *m_opt.gpu : const_cast<GpuGate&>(m_gpu); }
  std::set<int> m_in_flight;
  Prestarts* m_prestarts = nullptr;  // evaluate()'s, while a batch of verifications runs
  // Sandboxes kept with a candidate's build caches until its claim runs in them (id → path,
  // also in the candidate's record as build_sandbox): a claim's load_inline build then finds
  // its objects instead of compiling for a minute, in this session or a later one.
  std::map<int, std::string> m_builds;
  std::string m_status = "finished", m_stop_reason;
  bool m_gate_left = false;  // stopped during the final gate: only the gate is left (run.json's gate_left)
  bool m_opened = false;     // open() succeeded: the run went on, and its status says what became of it
  // Set when the reference could not start although its baseline ran (another machine, a
  // driver gone): not the workload's fault, so no verdict; the run stops, resumable.
  std::string m_environment_failure;
  double m_session_start = 0, m_elapsed_before = 0;
  double m_baseline_seconds = 0;  // the baselines' measurement, not counted by --time-budget
  std::chrono::steady_clock::time_point m_last_progress{};
  // Baseline facts (from this session or run.json).
  bool m_baseline_ok = false;
  double m_best_ms = 0;
  double m_best_q1 = 0, m_best_q3 = 0;  // the best baseline's quartiles (0: not known)
  nlohmann::json m_baseline_sol;  // run.json baseline.sol: the bound a candidate's distance is measured to
  double m_baseline_head_us = 0;  // the longest opening sleep of the baselines (ranking caps the candidate's)
  std::string m_best_baseline;
  std::optional<bool> m_compile_available;
  std::string m_baseline_text;
  int m_rounds = 0, m_stale_rounds = 0;
  double m_best_seen = 0;
};

}  // namespace kopt::core
