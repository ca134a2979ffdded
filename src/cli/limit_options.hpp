#pragma once
// The candidate limits shared by `kopt eval` and `kopt optimize`.
#include <CLI/CLI.hpp>

#include "kopt/core/eval.hpp"
#include "validators.hpp"

namespace kopt::cli {

inline void add_limit_options(CLI::App* sub, core::CandidateLimits& limits) {
  sub->add_option("--candidate-gpu-memory", limits.gpu_memory_fraction,
                  "Share of the GPU's memory a candidate's torch allocator may take (0: no cap; default 0.5)")
      ->check(number_in(0, true, 1, "of the GPU's memory"));
  sub->add_option("--candidate-max-file", limits.max_file_gib, "Largest file a candidate may write, GiB (default 16)")
      ->check(number_in(0, false, 1 << 20, "GiB"));
  sub->add_option("--candidate-max-memory", limits.max_memory_gib,
                  "Address space of a CPU candidate, GiB (default: 3/4 of the host's memory)")
      ->check(number_in(0, true, 1 << 20, "GiB"));
  sub->add_option("--candidate-max-processes", limits.process_margin,
                  "Processes and threads a candidate may add to those its user runs already (default 1024)")
      ->check(CLI::Range(16L, 1000000L));
}

}  // namespace kopt::cli
