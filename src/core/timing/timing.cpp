#include "kopt/core/timing.hpp"

namespace kopt::core {

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
