#pragma once
// The trusted comparison: a candidate's outputs against the reference's float32 and
// float64 runs, in float64, in kopt's own process (DESIGN.md, "Verification").
#include <cstdint>
#include <string>

#include "kopt/verify/value.hpp"

namespace kopt::verify {

struct CompareOptions {
  std::string precision = "fp32";  // fp32 | tf32 | fp16 | bf16: the lowest precision allowed
  bool allow_ties = false;         // accept integer mismatches where fp32 and fp64 references disagree
  bool stress = false;             // stress trial: compare elements finite in both references
  bool fp32_only = false;          // no usable fp64 reference (random workload): explicit fp32 tolerance
};

// The deciding figures, over the worst tensor. Errors are against the fp64 reference.
struct ErrorFigures {
  double norm_error = 0;         // ||c - r64||_2
  double norm_ref_error = 0;     // ||r32 - r64||_2 (the fp32 reference's own error)
  double norm_bound = 0;         // the normwise limit that applied
  double norm_ratio = 0;         // norm_error / norm_bound (> 1 fails)
  double max_abs_error = 0;      // max |c - r64|
  double max_ref_abs_error = 0;  // max |r32 - r64|
  double elem_ratio = 0;         // max over elements of |c - r64| / limit (> 1 fails)
  int64_t elements_over = 0;     // elements beyond their elementwise limit
  int64_t elements_compared = 0;
  int64_t ties = 0;              // integer mismatches where the references disagree
  bool fp32_fallback = false;    // r32 == r64 exactly: explicit fp32 tolerance applied
};

// Folds `f` into `into`: the worst normwise and elementwise figures, counts summed.
void merge_figures(ErrorFigures& into, const ErrorFigures& f);

struct Comparison {
  bool ok = true;
  std::string check;   // deciding check when !ok: structure, dtype, shape, device, finite,
                       // normwise, elementwise, exact, tie
  std::string detail;  // one line for people (no element positions)
  ErrorFigures figures;
};

// Compares `candidate` with the references of the same trial. Thread-compatible.
Comparison compare_outputs(const Value& candidate, const Value& ref32, const Value& ref64,
                           const CompareOptions& options);

// Unit roundoff of a dtype name ("float32" -> 2^-24) or precision name ("bf16" -> 2^-8).
double unit_roundoff(const std::string& name);

// Summary statistics used for the workload sanity rule: does this output hold any
// non-zero, non-constant floating data? Sets `all_zero` / `constant` over all tensors.
void output_sanity(const Value& v, bool& all_zero, bool& constant);

}  // namespace kopt::verify
