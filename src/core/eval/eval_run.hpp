#pragma once
// One `kopt eval` (internal to core): the phases of an evaluation, its trials and its
// verdict. eval.cpp holds the phases and the verdict, eval_trials.cpp the trials.
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kopt/core/eval.hpp"
#include "kopt/core/rules.hpp"
#include "kopt/core/worker_pool.hpp"
#include "kopt/sandbox/worker.hpp"
#include "kopt/verify/compare.hpp"
#include "kopt/verify/value.hpp"

namespace kopt::core {

// Whether the candidate's source names torch.compile and kin, so that its worker imports
// torch._dynamo before the tripwire's snapshot (eval.cpp).
bool needs_dynamo(const std::string& path);

// Seconds as a worker request's timeout.
inline std::chrono::milliseconds ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

// eval.cpp holds the phases and the verdict; prestart.cpp the prepared evaluation's
// prepare, run_prepared and discard.
class EvalRun {
  using Clock = std::chrono::steady_clock;
  using Value = verify::Value;

 public:
  explicit EvalRun(const EvalOptions& options) : m_opt(options), m_rules(make_rules()) {}

  EvalReport run();

  // A prestarted evaluation (kopt/core/prestart.hpp): the sandbox laid out and both workers
  // started (the reference loaded and constructed, the candidate's interpreter at hello,
  // no candidate code) before the candidate is known. The options name no candidate.
  void prepare();
  // The prepared evaluation goes on with `options`' candidate (the same workload and
  // settings as prepare's); `waited`: seconds the caller waited for the preparation.
  EvalReport run_prepared(const EvalOptions& options, double waited);
  // A prepared evaluation that is not used: its workers stopped, its sandbox removed.
  void discard();

 private:
  // Boots the candidate and starts the reference (the start of every evaluation).
  void start_workers();
  // From the candidate's start to the verdict: load, trials, timing, teardown.
  EvalReport proceed(Clock::time_point start);
  // --- outcome bookkeeping -------------------------------------------------

  bool decided() const { return m_decided; }

  // The first verdict wins; later ones are ignored.
  void decide(Outcome outcome, const std::string& check, const std::string& reason);

  void rule(const std::string& id, const std::string& status, const std::string& detail) {
    set_rule(m_rules, id, status, detail);
  }

  void fail_rule(const std::string& id, Outcome outcome, const std::string& reason) {
    rule(id, "failed", reason);
    decide(outcome, id, reason);
  }

  // The GPU gate's shared side (share_gpu); the time spent waiting for it while another
  // candidate's timing held the gate is recorded as phase gpu_wait when there was any,
  // silently (it is part of another phase).
  std::shared_lock<GpuGate> share_gpu_timed() {
    const auto since = Clock::now();
    auto lock = share_gpu(m_opt.exclusive, m_opt.device);
    note_gpu_wait(since);
    return lock;
  }

  // The gate's residency (EvalOptions::resident) until teardown; the wait is gpu_wait too.
  void hold_residency_timed() {
    const auto since = Clock::now();
    m_resident = hold_residency(m_opt.exclusive, m_opt.resident, m_opt.device);
    note_gpu_wait(since);
  }

  // The time since `since` as phase gpu_wait, where there was any.
  void note_gpu_wait(Clock::time_point since) {
    const double seconds = std::chrono::duration<double>(Clock::now() - since).count();
    if (seconds >= 1e-3) m_report.phase_seconds["gpu_wait"] += seconds;
  }

  void timed(const std::string& phase, Clock::time_point since) {
    const double seconds = std::chrono::duration<double>(Clock::now() - since).count();
    m_report.phase_seconds[phase] += seconds;
    if (m_opt.announce) spdlog::info("Phase done. [phase: {}, seconds: {:.1f}]", phase, seconds);
    if (m_opt.on_phase) m_opt.on_phase({phase, seconds, m_report.candidate_log + (m_cand ? m_cand->log() : "")});
  }

  // --- phases (eval.cpp) and trials (eval_trials.cpp) ----------------------

  bool setup();
  // Spawns the candidate worker and says hello to it on a thread, so that its
  // interpreter, torch and CUDA start while the reference starts; join_boot() waits.
  void boot_candidate();
  void join_boot();
  nlohmann::json candidate_hello() const;
  // The candidate's hello reply: its uid, and whether the GPU memory cap took.
  void note_candidate_hello(const nlohmann::json& header);
  bool start_reference();
  // The verdict on a failed step of the reference (input_error), with the step recorded
  // in the report (reference_failed_at). Returns false.
  bool reference_failed(ReferencePhase phase, const Failure& f);
  // Starts, loads and constructs a candidate worker into m_cand (run under `wrapper`, ncu
  // and its arguments, for --ncu). On failure, where it failed and why, for the caller to
  // judge: a verdict (start_candidate) or only the profile's news (ncu_candidate).
  struct StartFailure {
    std::string phase;  // worker, start, import, init; for kind "tampered", when
    Failure failure;
  };
  std::optional<StartFailure> launch_candidate(const std::vector<std::string>& wrapper, bool with_workload);
  bool start_candidate();
  bool candidate_failed(const std::string& phase, const Failure& f);
  bool check_tamper(const nlohmann::json& header, const std::string& when);
  // After a candidate call: records its threads and processes (for stray_work's growth
  // check) and fails stray_work at once when one has left the worker's tree or session;
  // false then.
  bool note_processes();
  void trials();
  void trial(const std::string& stress, size_t index);
  // The reference's notes on a trial (time, random, mutating) from its reply header.
  void note_reference(const nlohmann::json& h);
  // The common verdict on a comparison: false (and decided) when it failed.
  bool judge(const verify::Comparison& cmp, size_t index, bool is_stress);
  // Calls with fresh inputs whose outputs are not checked, 0..max_unchecked of them,
  // drawn at run time, so that no candidate can be right only on the first N calls.
  void unchecked_calls(size_t index);
  void unchecked_call();
  void unchecked_call_host();
  // The host path's spill file (stream.hpp), opened at the first trial, emptied for each.
  bool open_spill();
  // Fields every candidate call carries, checked or not: its id, the earlier outputs
  // the harness may now drop, and (host path) the earlier call to read again.
  void bookkeeping(nlohmann::json& call, bool checked);
  // Host path: the earlier call's outputs, fingerprinted again by the harness after this
  // call (self-reported, like the host path's other snapshots), must be unchanged.
  bool check_earlier(const nlohmann::json& header);
  // --- the device path (eval_device.cpp): outputs compared on the GPU by the comparer
  enum class Fed { ok, fallback, failed };
  // false: CUDA IPC does not work here; the caller runs the trial on the host path.
  bool device_trial(const std::string& stress, size_t index);
  Fed feed_inputs(const nlohmann::json& spec);
  void fall_back(const std::string& why);
  // Buffers present on both sides (BatchNorm running statistics) compared like outputs.
  void compare_buffers(const Value& cand, const Value& r32, const Value& r64,
                       const verify::CompareOptions& copt, verify::Comparison& cmp);
  void sanity(const Value& out32, size_t index, bool is_stress);
  // Ends the candidate worker: an acknowledged bye, then processes it left behind.
  void stop_candidate();
  // Timing after a correct verification: in the verifying process ("rank"), or in a
  // fresh one against the baselines ("claim").
  void time_candidate();
  void ncu_candidate();
  void teardown();
  EvalReport finish(Clock::time_point start);

  EvalOptions m_opt;
  bool m_reference_ok = false;
  bool m_prestarting = false;  // prepare(): the candidate is not known yet
  std::vector<RuleStatus> m_rules;
  EvalReport m_report;
  bool m_decided = false;
  std::unique_ptr<WorkerPool> m_pool;
  std::unique_ptr<sandbox::Worker> m_ref, m_cand;
  std::unique_lock<std::mutex> m_resident;  // hold_residency_timed() until teardown
  struct Boot {
    std::optional<Failure> failure;
    nlohmann::json header;  // the hello reply
    double seconds = 0;
  };
  std::future<Boot> m_boot;
  bool m_booted = false;               // m_cand is started and has said hello
  std::optional<Failure> m_boot_failure;
  sandbox::Message m_init;
  uint64_t m_init_seed = 0;
  uint64_t m_call_seed = 0;
  nlohmann::json m_ref_hello;
  double m_bytes_per_call = 0;
  uint64_t m_output_bytes = 0;  // the reference's out32 tree of one call (host path)
  bool m_timed_checks = false;
  bool m_for_timing = false;
  std::string m_timing_note;
  bool m_ref_mutates = false;
  bool m_device = false;           // outputs compared on the device (eval_device.cpp)
  bool m_device_confirmed = false; // a fill through CUDA IPC has worked
  int64_t m_call_id = 0;
  int64_t m_last_checked = -1;
  std::vector<int64_t> m_live_calls;  // calls whose outputs the harness still holds
  nlohmann::json m_poison = nlohmann::json::array();
  std::string m_first_print;          // device path: the first trial's reference fingerprint
  std::vector<std::pair<int, int>> m_threads;
  std::shared_ptr<verify::Spill> m_spill;
  Value m_first_out;
  bool m_sanity_zero = false, m_sanity_constant = false, m_sanity_same = false;
};

}  // namespace kopt::core
