#pragma once
// `kopt show RUN_DIR ID`: one candidate of a run, as text for a terminal.
#include <string>

#include "kopt/util/result.hpp"

namespace kopt::report {

// Its source, the prompt and reply that produced it, its outcome with the deciding rule
// and its figures, the last lines of its log, its timing distribution and profile, and a
// unified diff against its parent (or the workload), made by the system's `diff -u`.
// Control characters are removed from everything that came from the run. Failure kinds
// "io", "state" (as core::load_run), "usage" (no such candidate).
Result<std::string> show_candidate(const std::string& run_dir, int id);

}  // namespace kopt::report
