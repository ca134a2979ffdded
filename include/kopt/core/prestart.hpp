#pragma once
// Evaluations prepared ahead (docs/optimize.md, "Prestarted workers"). A fresh
// interpreter that imports CUDA torch takes 3-6 s on an H200 host, twice per candidate
// (the reference and the candidate worker), before any verification starts. kopt optimize
// knows which candidates a round will evaluate; while some are verified, the next ones'
// sandboxes are laid out and their workers started: the reference loaded and constructed,
// the candidate's interpreter waiting at hello, having run no candidate code. Each
// candidate still gets processes and a sandbox of its own, used by no other candidate.
#include <memory>

#include "kopt/core/eval.hpp"

namespace kopt::core {

class Prestarts {
 public:
  // base: what every candidate of the batch shares (its workload and settings; its
  // candidate and on_phase are not used). count: evaluations to prepare in all; ahead:
  // how many are prepared at once (kopt optimize: -j, one for each evaluating thread).
  Prestarts(const EvalOptions& base, int count, int ahead);
  // Stops the prepared evaluations no candidate took (their workers, their sandboxes).
  ~Prestarts();
  Prestarts(const Prestarts&) = delete;
  Prestarts& operator=(const Prestarts&) = delete;

  // Evaluates options' candidate in the next prepared evaluation, waiting while it still
  // starts, and prepares another; a fresh evaluation when none is left or options differ
  // from the base in anything a preparation used. Thread-safe.
  EvalReport run(const EvalOptions& options);

  // Whether `options` can use an evaluation prepared with `base`.
  static bool compatible(const EvalOptions& base, const EvalOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> m;
};

}  // namespace kopt::core
