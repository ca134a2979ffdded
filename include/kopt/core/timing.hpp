#pragma once
// Timing (DESIGN.md, "Timing: what faster means"): the method's knobs, what one timed
// model gives, and `kopt baseline` (eager and torch.compile, timed the same way).
#include <map>
#include <mutex>

#include "kopt/core/gpu_gate.hpp"
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace kopt::core {

// Diagnostic overrides of the timing method (docs/measurement.md, "Diagnostics"): figures
// for diagnosis, not verdicts. The CLI reads them from KOPT_TIMING_* once
// (timing_diagnostics_from_env); the default is none.
struct TimingDiagnostics {
  bool keep_all = false;          // KOPT_TIMING_KEEP_ALL=1: every timed batch keeps its outputs
  double hold_us = 0;             // KOPT_TIMING_HOLD_US: a GPU sleep ahead of every batch
  double wake_us = 0;             // KOPT_TIMING_WAKE_US: a GPU sleep before the opening synchronize
  std::optional<double> head_us;  // KOPT_TIMING_HEAD_US: every batch opens with exactly this sleep
  double input_mb = 0;            // KOPT_TIMING_INPUT_MB: fresh inputs a batch may hold (0: the default)
  double batch_ms = 0;            // KOPT_TIMING_BATCH_MS: the shortest batch (0: the default)
  bool keep_gc = false;           // KOPT_TIMING_GC=1: garbage collection stays on while timed
  std::string nvml = "on";        // KOPT_TIMING_NVML: "0" (no GPU state sampled) or "adjacent"
  bool reuse_inputs = false;      // KOPT_TIMING_REUSE_INPUTS=1: inputs prepared once per batch size
  bool any() const;
};
// The KOPT_TIMING_* variables of this process (values as documented above; durations in
// whole microseconds, clamped to 0..1 s; anything else leaves the default).
TimingDiagnostics timing_diagnostics_from_env();

struct TimingOptions {
  bool flush_l2 = true;        // flush L2 before every timed call (its cost is subtracted)
  double warmup_seconds = 0.2; // at least this much work before timing, and until batches agree
  int min_batches = 15;        // timed batches per measurement
  double min_seconds = 0.3;    // ... and at least this much timed work
  double max_seconds = 20;     // cap per measurement (warm-up included)
  double batch_seconds = 0.002;// short work is timed in batches of calls at least this long
  int pairs = 10;              // ABAB pairs before a speedup is claimed
  double input_memory = 1 << 30; // bytes of fresh inputs one batch may hold (CPU)
  // On a GPU: up to this much, and at most 1/16 of the device's memory. A batch of few
  // calls carries its start-up (the host's first launches) over few calls.
  double gpu_input_memory = 4.0 * (1 << 30);
  // A GPU sleep opening every timed span (null batches too, so it cancels): the host
  // queues the first calls meanwhile, which it does slowly after the idle time between
  // batches (docs/measurement.md, "Where kopt's pipeline read high, and what fixed it").
  double head_us = 200;
  TimingDiagnostics diagnostics;
};

// One model timed with the method: per-call times in milliseconds.
struct Timing {
  bool ok = false;
  std::string error;      // one line when !ok
  std::string label;      // "eager", "compile:default", "candidate"
  double median_ms = 0, q1_ms = 0, q3_ms = 0, min_ms = 0;
  int calls_per_batch = 0;
  int batches = 0;
  int voided = 0;         // batches repeated: contended or throttled
  double warmup_s = 0;
  nlohmann::json detail;  // batch times, overheads, GPU state, cross-check figures
};
nlohmann::json timing_json(const Timing& t);

// A speedup from ABAB pairs: the median of the pair ratios (baseline / candidate) with a
// bootstrap 95% interval.
struct Speedup {
  double median = 0, low = 0, high = 0;
  int pairs = 0;
  bool faster = false;  // low > 1 and low > the null test's upper spread
};

struct BaselineOptions {
  std::string workload;
  std::string device = "cuda";
  std::string python;
  std::string target;                      // preset name; empty: the device's own
  std::vector<std::string> compile_modes{"default"};  // "default", "max-autotune", ...
  bool eval_mode = false;
  bool profile = true;                     // top kernels of the eager run (torch.profiler)
  std::string ncu;                         // Nsight Compute to run the eager reference under (--ncu); empty: none
  TimingOptions timing;
  double import_timeout = 600;
  double call_timeout = 600;               // compile and autotune included
  std::string work_dir;
  bool keep_work = false;
  GpuGate* exclusive = nullptr;            // held exclusively while compiling and timing
  bool resident = false;                   // and its residency throughout (EvalOptions::resident)
};

struct BaselineReport {
  bool ok = false;
  std::string error;                        // one line when !ok (the workload is unusable)
  std::string check;                        // when !ok: "memory" (the machine ran out), else "reference"
  Timing eager;
  std::map<std::string, Timing> compiled;   // mode -> timing (ok=false: unavailable, with why)
  std::string best;                         // "eager" or "compile:<mode>"
  double best_ms = 0;
  nlohmann::json device;                    // name, capability, clocks, versions, target, warnings
  nlohmann::json profile;                   // top kernels, achieved fractions (may be null)
  nlohmann::json sol;                       // speed-of-light bound (may be null)
  nlohmann::json ncu;                       // --ncu: {ok, kernels, text} or {ok: false, error} (else null)
  std::vector<std::string> notes;
};

BaselineReport run_baseline(const BaselineOptions& options);
nlohmann::json baseline_json(const BaselineReport& report);
std::string baseline_text(const BaselineReport& report);

}  // namespace kopt::core
