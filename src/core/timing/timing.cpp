#include "kopt/core/timing.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace kopt::core {

namespace {

// A variable's value, or "" when unset.
std::string env_text(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A duration variable in whole microseconds (atol, as before), 0 when unset or not positive.
double env_us(const char* name) {
  const char* v = std::getenv(name);
  return v ? static_cast<double>(std::clamp(std::atol(v), 0L, 1000000L)) : 0.0;
}

}  // namespace

bool TimingDiagnostics::any() const {
  return keep_all || hold_us > 0 || wake_us > 0 || head_us || input_mb > 0 || batch_ms > 0 || keep_gc || nvml != "on" ||
         reuse_inputs;
}

TimingDiagnostics timing_diagnostics_from_env() {
  TimingDiagnostics d;
  d.keep_all = env_text("KOPT_TIMING_KEEP_ALL") == "1";
  d.hold_us = env_us("KOPT_TIMING_HOLD_US");
  d.wake_us = env_us("KOPT_TIMING_WAKE_US");
  if (std::getenv("KOPT_TIMING_HEAD_US")) d.head_us = env_us("KOPT_TIMING_HEAD_US");
  d.input_mb = std::max(0L, std::atol(env_text("KOPT_TIMING_INPUT_MB").c_str()));
  d.batch_ms = std::max(0.0, std::atof(env_text("KOPT_TIMING_BATCH_MS").c_str()));
  d.keep_gc = env_text("KOPT_TIMING_GC") == "1";
  const std::string nvml = env_text("KOPT_TIMING_NVML");
  if (nvml == "0" || nvml == "adjacent") d.nvml = nvml;
  d.reuse_inputs = env_text("KOPT_TIMING_REUSE_INPUTS") == "1";
  return d;
}

nlohmann::json timing_json(const Timing& t) {
  nlohmann::json j = {{"ok", t.ok}, {"label", t.label}};
  if (!t.ok) {
    j["error"] = t.error;
    return j;
  }
  j.update({{"median_ms", t.median_ms}, {"q1_ms", t.q1_ms}, {"q3_ms", t.q3_ms}, {"iqr_ms", t.q3_ms - t.q1_ms},
            {"min_ms", t.min_ms}, {"calls_per_batch", t.calls_per_batch}, {"batches", t.batches},
            {"voided", t.voided}, {"warmup_s", t.warmup_s}});
  if (!t.detail.is_null()) j["detail"] = t.detail;
  return j;
}

}  // namespace kopt::core
