#include "kopt/core/rules.hpp"

namespace kopt::core {

std::vector<RuleStatus> make_rules() {
  const std::vector<std::pair<const char*, const char*>> rules = {
      {"structure", "same output structure, shapes, dtypes and devices as the reference"},
      {"finite", "NaN/Inf exactly where the reference has them"},
      {"close", "close to the float64 reference (normwise and elementwise), integers exact"},
      {"trials", "several trials with fresh inputs from run-time seeds, plus stress trials"},
      {"memo", "repeated calls with different inputs give the matching different outputs"},
      {"background", "outputs do not change after the call returns"},
      {"reuse", "a later call does not change earlier outputs nor return memory they use"},
      {"stray_work", "no threads or processes grow between calls or outlive the worker"},
      {"inputs", "inputs unchanged by the call (unless the reference changes them alike)"},
      {"poison", "allocator memory poisoned before each call"},
      {"timed_outputs", "outputs produced while timing are checked"},
      {"sanity", "the workload's outputs depend on its inputs and are not constant"},
      {"tamper", "no patched timers, torch functions or harness functions"},
      {"process", "the candidate imports, runs and exits within its deadlines"},
  };
  std::vector<RuleStatus> out;
  for (const auto& [id, title] : rules) out.push_back({id, title, "not_run", ""});
  return out;
}

void set_rule(std::vector<RuleStatus>& rules, const std::string& id, const std::string& status,
              const std::string& detail) {
  for (auto& r : rules) {
    if (r.id != id) continue;
    if (r.status == "failed") return;  // the first failure stays
    r.status = status;
    r.detail = detail;
  }
}

std::string rule_status(const std::vector<RuleStatus>& rules, const std::string& id) {
  for (const auto& r : rules)
    if (r.id == id) return r.status;
  return "";
}

std::string rule_detail(const std::vector<RuleStatus>& rules, const std::string& id) {
  for (const auto& r : rules)
    if (r.id == id) return r.detail;
  return "";
}

}  // namespace kopt::core
