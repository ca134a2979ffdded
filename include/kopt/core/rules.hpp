#pragma once
// The verification rules that verify.json and `kopt eval --json` list, in order.
#include <string>
#include <vector>

#include "kopt/core/eval.hpp"

namespace kopt::core {

// Every rule, status "not_run".
std::vector<RuleStatus> make_rules();
void set_rule(std::vector<RuleStatus>& rules, const std::string& id, const std::string& status,
              const std::string& detail);
std::string rule_status(const std::vector<RuleStatus>& rules, const std::string& id);
std::string rule_detail(const std::vector<RuleStatus>& rules, const std::string& id);

}  // namespace kopt::core
