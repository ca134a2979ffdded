#pragma once
// What a `kopt optimize` invocation will run (internal to the CLI): the workloads and their
// run directories, for a new run or a resumed one.
#include <string>
#include <vector>

#include "cmd_optimize.hpp"
#include "kopt/util/result.hpp"

namespace kopt::cli {

// --resume: the run's (or suite's) workloads and run directories, and the settings its
// run.json fixes (device, trials, precision...) taken into `cmd` unless given again where
// that is allowed (budgets, -j, the provider's options); --from as a candidate id.
Status apply_resume(OptimizeCommand& cmd, std::vector<std::string>& workloads, std::vector<std::string>& run_dirs);

// A new run: the workloads (files as given, folders' workload files, a --shard of them),
// one run directory each (one under --out for a suite, with its suite.json), the time budget.
Status plan_new_run(OptimizeCommand& cmd, const std::vector<std::string>& env, std::vector<std::string>& workloads,
                    std::vector<std::string>& run_dirs);

// --time-budget in seconds: a duration (core::parse_duration) within the range of run.json's
// time_budget_s (core::option_range), so that the run it is given to can be resumed.
Result<double> time_budget_seconds(const std::string& text);

}  // namespace kopt::cli
