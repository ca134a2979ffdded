#pragma once
// What `kopt optimize` prints: a summary per workload, the suite summary, --json.
#include <string>
#include <vector>

#include "kopt/core/optimize.hpp"
#include "kopt/report/report.hpp"

namespace kopt::cli {

// The text summary of one workload's run (stdout), with the prompts still waiting.
std::string optimize_text(const core::WorkloadResult& result);
// One row per workload: the best baseline's median, the best candidate (id, strategy,
// median), its speedup, the ceiling (core::headroom), what backs it (final gate, ranking
// only), how many were tried.
// Starts with a header line; every line ends with a newline.
std::string suite_table(const std::vector<core::WorkloadResult>& results);
// The suite's last line (core::suite_summary): workloads, geometric mean speedup, fast_p,
// and the geometric mean ceiling where the workloads have a bound; ends with a newline.
std::string suite_line(const nlohmann::json& suite, size_t workloads);
// Prints the suite summary (text) or the --json document; returns the exit code:
// 130 interrupted, 4 waiting for replies, 2 when every workload was unusable, 0 when a
// faster correct candidate was found (for every workload given, when several), else 3.
int finish_optimize(const core::OptimizeOptions& options, const std::vector<core::WorkloadResult>& results,
                    size_t workloads, bool interrupted);

}  // namespace kopt::cli
