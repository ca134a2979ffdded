#pragma once
// Nsight Compute for `--ncu`: a small set of metrics per kernel, for people reading a
// baseline or a candidate and for the LLM's prompt. kopt runs a worker under `ncu`
// (--profile-from-start off: only the calls between the harness's cudaProfilerStart and
// Stop are profiled) and reads its CSV log. Nothing of ncu is needed to build kopt.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kopt/util/result.hpp"

namespace kopt::measure {

// The ncu to run: `flag` (--ncu-path) when given, else $KOPT_NCU, else `ncu` on `path_env`,
// else /usr/local/cuda/bin/ncu. Only executable regular files count. nullopt: none.
std::optional<std::string> find_ncu(const std::string& flag, const std::string& env, const std::string& path_env);

// The metrics asked for: duration, DRAM and SM throughput (% of peak), achieved
// occupancy, L2 hit rate, registers per thread, block and grid size.
const std::vector<std::string>& ncu_metrics();

// ncu's own arguments, to go before the profiled program's argv. Its CSV goes to `log_file`.
std::vector<std::string> ncu_command(const std::string& ncu, const std::string& log_file);

// The CSV log (--csv, the default details page: a row per kernel launch and metric) as
// kernels, heaviest first, at most `max_kernels`:
//   [{name, launches_per_call, us_per_call, share, dram_pct, sm_pct, occupancy_pct,
//     l2_hit_pct, registers, block, grid}]
// averaged over launches of the same name; `calls` is how many calls were profiled.
// Failure kind "ncu": no kernel rows, with ncu's own error line when the log has one
// (==ERROR== ..., e.g. no permission for the performance counters).
Result<nlohmann::json> parse_ncu_csv(const std::string& text, int calls, size_t max_kernels = 12);

// ncu's own first error line in its log (==ERROR== ...), without the prefix; "" for none.
std::string ncu_log_error(const std::string& text);

// The kernels as a few lines of text, for the report and the prompt.
std::string ncu_text(const nlohmann::json& kernels, size_t max_kernels = 8);

}  // namespace kopt::measure
