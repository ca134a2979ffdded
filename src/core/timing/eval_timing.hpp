#pragma once
// Timing inside `kopt eval` after a correct verdict (internal to core): "rank" times the
// candidate in its verifying process; "claim" times a fresh candidate process ABAB
// against eager and torch.compile and derives speedups with bootstrap intervals.
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "kopt/core/eval.hpp"
#include "kopt/measure/nvml.hpp"
#include "kopt/measure/target.hpp"
#include "kopt/measure/target.hpp"
#include "kopt/sandbox/worker.hpp"

namespace kopt::core {

struct TimingContext {
  const EvalOptions* options = nullptr;
  sandbox::Worker* reference = nullptr;
  sandbox::Worker* candidate = nullptr;
  double bytes_per_call = 0;         // fresh inputs plus outputs of one call
  uint64_t output_bytes = 0;         // the reference's outputs (buffers too) of one call
  bool check_outputs = true;         // false for random workloads (no reproducible output)
  bool fp32_only = false;            // no float64 reference
  bool device_compare = false;       // timed outputs compared on the GPU by the comparer (CUDA IPC)
  nlohmann::json device;             // the reference worker's hello
  std::function<std::set<pid_t>()> own_pids;
};

struct TimingVerdict {
  bool ok = true;          // false: the candidate failed while timed (see outcome/rule)
  Outcome outcome = Outcome::correct;
  std::string rule;        // "timed_outputs", "tamper", "process"
  std::string reason;
  nlohmann::json timing;   // EvalReport::timing
  std::vector<std::string> notes;
};

TimingVerdict time_rank(TimingContext& context);
TimingVerdict time_claim(TimingContext& context);

// The device facts a timing report carries, and the target they are judged against.
nlohmann::json device_facts(const nlohmann::json& hello, const std::string& target_name,
                            std::vector<std::string>& warnings);
// The target: the --target preset when named (an unknown name is a warning), else the
// preset matching the device in the worker's hello; none for an unknown device.
std::optional<measure::Target> resolve_target(const nlohmann::json& hello, const std::string& target_name,
                                              std::vector<std::string>* warnings = nullptr);

// NVML for the worker's GPU (by UUID, else PCI bus id), or null on a CPU device or
// without NVML; `info` gets "nvml" ("ok" or why not) and "driver".
std::unique_ptr<measure::Nvml> open_nvml(const std::string& device, const nlohmann::json& hello, nlohmann::json& info);

// The speed-of-light figures for one call (bytes moved, flops), and, for a measured
// time, the achieved fractions of the bound, of bandwidth and of compute.
nlohmann::json sol_figures(const measure::Target& target, double bytes, double flops,
                           const std::string& precision, double time_ms);

// The peak a reference's bound uses, from its profile (the classes of its kernels, the
// math modes it ran under): cuDNN convolutions are TF32 under PyTorch's defaults, matmuls
// only when allowed. The baseline's bound and the final gate's use the same choice.
measure::PeakChoice reference_peak(const nlohmann::json& profile, const std::string& precision);

// The note for a candidate timed below the reference's bound (`sol`: sol_figures' object):
// it did not run the reference's arithmetic at that peak (tensor cores, less work, less
// traffic), or its timing is off. Its verdict stands on verification either way.
std::string below_light_note(const nlohmann::json& sol, double candidate_ms, const std::string& target);

}  // namespace kopt::core
