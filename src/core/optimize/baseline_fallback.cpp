// TEMPORARY until src/core/timing*.cpp defines run_baseline: weak definitions so kopt links.
// They report no numbers (ok = false). Remove this file once the real ones land.
#include "kopt/core/timing.hpp"

namespace kopt::core {

__attribute__((weak)) BaselineReport run_baseline(const BaselineOptions&) {
  BaselineReport r;
  r.error = "baseline timing is not available in this build";
  return r;
}
__attribute__((weak)) nlohmann::json baseline_json(const BaselineReport& r) { return {{"ok", r.ok}, {"error", r.error}}; }
__attribute__((weak)) std::string baseline_text(const BaselineReport& r) { return r.error; }

}  // namespace kopt::core
